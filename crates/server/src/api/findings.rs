//! `/api/v1/findings…`: search with GuardDuty-style criteria, get one,
//! archive and unarchive, and counts over time for the console's chart.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use crate::app::App;
use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Duration, Utc};
use saker_store::{Criteria, FindingQuery, Sort};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchRequest {
    finding_criteria: Option<Value>,
    sort_criteria: Option<Value>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

pub async fn search(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<Value>, ApiError> {
    let criteria = match &req.finding_criteria {
        Some(v) => Criteria::parse(v).map_err(|e| ApiError::bad_request(format!("findingCriteria: {e}")))?,
        None => Criteria::default(),
    };
    let sort = match &req.sort_criteria {
        Some(v) => Sort::parse(v).map_err(|e| ApiError::bad_request(format!("sortCriteria: {e}")))?,
        None => Sort::default(),
    };
    let max_results = req.max_results.unwrap_or(50);
    if !(1..=500).contains(&max_results) {
        return Err(ApiError::bad_request("maxResults must be 1 to 500"));
    }
    let q = FindingQuery { criteria, sort, max_results, next_token: req.next_token };
    let page = app.store.search_findings(&caller.scope(), &q).await?;
    Ok(Json(json!({ "findings": page.findings, "nextToken": page.next_token })))
}

pub async fn get(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    match app.store.finding(&caller.scope(), &id).await? {
        Some(f) => Ok(Json(f)),
        None => Err(ApiError::not_found(format!("no finding {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdsRequest {
    finding_ids: Vec<String>,
}

pub async fn archive(
    state: State<Arc<App>>,
    caller: Caller,
    req: ApiJson<IdsRequest>,
) -> Result<Json<Value>, ApiError> {
    set_archived(state, caller, req, true).await
}

pub async fn unarchive(
    state: State<Arc<App>>,
    caller: Caller,
    req: ApiJson<IdsRequest>,
) -> Result<Json<Value>, ApiError> {
    set_archived(state, caller, req, false).await
}

async fn set_archived(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(req): ApiJson<IdsRequest>,
    archived: bool,
) -> Result<Json<Value>, ApiError> {
    if req.finding_ids.is_empty() || req.finding_ids.len() > 1000 {
        return Err(ApiError::bad_request("findingIds must hold 1 to 1000 ids"));
    }
    let by = format!("user:{}", caller.0.token_id);
    let updated = app.store.set_archived(&caller.scope(), &req.finding_ids, archived, &by).await?;
    // Ids outside the caller's scope are simply not updated: no 403 that
    // would confirm they exist.
    Ok(Json(json!({ "updated": updated })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    bucket: Option<String>,
}

pub async fn statistics(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
    let bucket = match q.bucket.as_deref().unwrap_or("hour") {
        "minute" => Duration::minutes(1),
        "hour" => Duration::hours(1),
        "day" => Duration::days(1),
        other => return Err(ApiError::bad_request(format!("bucket {other:?}: use minute, hour or day"))),
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(1));
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    if (to - from).num_seconds() / bucket.num_seconds().max(1) > 2000 {
        return Err(ApiError::bad_request("too many buckets (at most 2000): widen the bucket or narrow the range"));
    }
    let buckets = app.store.severity_histogram(&caller.scope(), from, to, bucket).await?;
    Ok(Json(json!({ "buckets": buckets })))
}
