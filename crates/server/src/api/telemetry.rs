//! `GET /api/v1/telemetry`: hunt in the raw events agents send with
//! `send_telemetry = true` (kept for `[server] telemetry_retention_hours`).
//! Newest first, keyset-paged; a member sees only its own account's events.

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use saker_store::{DEFAULT_TELEMETRY_RESULTS, MAX_TELEMETRY_RESULTS, TelemetryQuery};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The query string. Unknown parameters are refused, so a misspelt filter
/// is a 400 rather than a silently wider hunt; an empty one (what a form
/// sends for a blank field) is no filter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Params {
    kind: Option<String>,
    agent_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    executable: Option<String>,
    container: Option<String>,
    cluster: Option<String>,
    remote_ip: Option<String>,
    dns_name: Option<String>,
    contains: Option<String>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

pub async fn search(
    State(app): State<Arc<App>>,
    caller: Caller,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    // axum's own rejection is plain text: every API error is JSON.
    let Query(p) = params.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let max_results = p.max_results.unwrap_or(DEFAULT_TELEMETRY_RESULTS);
    if !(1..=MAX_TELEMETRY_RESULTS).contains(&max_results) {
        return Err(ApiError::bad_request(format!("maxResults must be 1 to {MAX_TELEMETRY_RESULTS}")));
    }
    let q = TelemetryQuery {
        kind: given(p.kind),
        agent_id: given(p.agent_id),
        since: time("since", p.since)?,
        until: time("until", p.until)?,
        executable: given(p.executable),
        container: given(p.container),
        cluster: given(p.cluster),
        remote_ip: given(p.remote_ip),
        dns_name: given(p.dns_name),
        contains: given(p.contains),
        max_results,
        next_token: given(p.next_token),
    };
    let page = app.store.search_telemetry(&caller.scope(), &q).await?;
    Ok(Json(json!({ "events": page.events, "nextToken": page.next_token })))
}

fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn time(name: &str, v: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    given(v)
        .map(|s| {
            DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
                ApiError::bad_request(format!("{name}: {e}; give an RFC 3339 time (2026-11-28T12:00:00Z)"))
            })
        })
        .transpose()
}
