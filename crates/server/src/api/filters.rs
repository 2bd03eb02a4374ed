//! `/api/v1/filters`: suppression rules, GuardDuty's model — a named filter
//! with a rank and an action. ARCHIVE filters archive matching findings as
//! they arrive (they are still stored, and never exported); creating one
//! also archives what already matches.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use crate::app::App;
use axum::Json;
use axum::extract::{Path, State};
use saker_store::{Criteria, Filter, FilterAction, FindingQuery, Sort};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let filters = app.store.filters(&caller.scope()).await?;
    Ok(Json(json!({ "filters": filters })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutFilter {
    #[serde(default)]
    description: String,
    action: String,
    rank: u32,
    finding_criteria: Value,
}

pub async fn put(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PutFilter>,
) -> Result<Json<Value>, ApiError> {
    validate_name(&name)?;
    let action = match req.action.as_str() {
        "ARCHIVE" => FilterAction::Archive,
        "NOOP" => FilterAction::Noop,
        other => return Err(ApiError::bad_request(format!("action {other:?}: use ARCHIVE or NOOP"))),
    };
    if req.description.len() > 512 {
        return Err(ApiError::bad_request("description is longer than 512 characters"));
    }
    let criteria =
        Criteria::parse(&req.finding_criteria).map_err(|e| ApiError::bad_request(format!("findingCriteria: {e}")))?;
    if criteria.is_empty() {
        return Err(ApiError::bad_request("findingCriteria must have at least one criterion"));
    }
    let filter = Filter {
        name: name.clone(),
        description: req.description,
        action,
        rank: req.rank,
        criteria: criteria.clone(),
        account_id: caller.account_id().to_owned(),
    };
    app.store.put_filter(caller.account_id(), &filter).await?;
    let archived =
        if action == FilterAction::Archive { archive_existing(&app, &caller, criteria, &name).await? } else { 0 };
    app.filters_changed();
    Ok(Json(json!({ "name": name, "archived": archived })))
}

/// Archive stored, unarchived findings the new rule matches — in the rule
/// owner's scope (the administrator's rules reach every account).
async fn archive_existing(app: &App, caller: &Caller, criteria: Criteria, name: &str) -> Result<u64, ApiError> {
    let scope = caller.scope();
    let criteria = criteria.and_not_archived();
    let mut next_token = None;
    let mut total = 0;
    loop {
        let q = FindingQuery { criteria: criteria.clone(), sort: Sort::default(), max_results: 500, next_token };
        let page = app.store.search_findings(&scope, &q).await?;
        let ids: Vec<String> =
            page.findings.iter().filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_owned)).collect();
        if !ids.is_empty() {
            total += app.store.set_archived(&scope, &ids, true, &format!("suppression:{name}")).await?;
        }
        match page.next_token {
            Some(t) if !ids.is_empty() => next_token = Some(t),
            _ => return Ok(total),
        }
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !app.store.delete_filter(caller.account_id(), &name).await? {
        return Err(ApiError::not_found(format!("no filter {name:?}")));
    }
    app.filters_changed();
    Ok(Json(json!({ "deleted": name })))
}

/// GuardDuty's filter names: 3–64 characters of letters, digits, `-`, `_`, `.`.
fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = (3..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(ApiError::bad_request("filter names are 3 to 64 letters, digits, '-', '_' or '.'")) }
}
