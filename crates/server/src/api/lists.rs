//! `/api/v1/lists`: threat and trusted lists — upload (parsed at once with
//! the agent's own loaders, so a bad list is refused here, not on every
//! agent), activate, deactivate, delete. Agents are told of every change
//! and fetch the active lists without restarting.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use crate::app::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use saker_detect::intel::{Format, ThreatCategory, parse_list};
use saker_store::NewList;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Lists larger than this are refused (413): a list is pushed to every agent.
pub const MAX_LIST_BYTES: usize = 32 * 1024 * 1024;

pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let lists = app.store.lists(&caller.scope()).await?;
    Ok(Json(json!({ "lists": lists })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Upload {
    name: String,
    kind: String,
    category: Option<String>,
    format: Option<String>,
    content: String,
}

pub async fn upload(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(req): ApiJson<Upload>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if req.name.trim().is_empty() || req.name.len() > 128 || req.name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("name must be 1 to 128 characters without control characters"));
    }
    if req.content.len() > MAX_LIST_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", "lists are at most 32 MiB"));
    }
    let category = match (req.kind.as_str(), req.category.as_deref()) {
        ("threat", Some(c)) => c.parse::<ThreatCategory>().map_err(|e| ApiError::bad_request(e.to_string()))?,
        ("threat", None) => {
            return Err(ApiError::bad_request("a threat list needs a category (`saker findings categories`)"));
        }
        // Trusted lists have no category; parse them as the loaders do.
        ("trusted", _) => ThreatCategory::CommandAndControl,
        (other, _) => return Err(ApiError::bad_request(format!("kind {other:?}: use threat or trusted"))),
    };
    let format = match req.format.as_deref() {
        Some(f) => f.parse::<Format>().map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => Format::Auto,
    };
    let parsed = parse_list(&req.name, category, &req.content, format)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "InvalidList", e.to_string()))?;
    if parsed.is_empty() {
        let why = parsed.stats.messages.join("; ");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "InvalidList",
            format!("no usable entries: {why}"),
        ));
    }
    let new = NewList {
        name: req.name,
        kind: req.kind,
        category: req.category,
        format: req.format.unwrap_or_else(|| "auto".into()),
        content: req.content.into_bytes(),
        ips: parsed.stats.ips as u64,
        domains: parsed.stats.domains as u64,
        hashes: parsed.stats.hashes as u64,
        skipped: parsed.stats.skipped as u64,
        messages: parsed.stats.messages,
    };
    let info = app.store.put_list(caller.account_id(), &new).await?;
    app.lists_changed().await;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

pub async fn activate(state: State<Arc<App>>, caller: Caller, id: Path<String>) -> Result<Json<Value>, ApiError> {
    set_active(state, caller, id, true).await
}

pub async fn deactivate(state: State<Arc<App>>, caller: Caller, id: Path<String>) -> Result<Json<Value>, ApiError> {
    set_active(state, caller, id, false).await
}

async fn set_active(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    active: bool,
) -> Result<Json<Value>, ApiError> {
    if !app.store.set_list_active(&caller.scope(), &id, active).await? {
        return Err(ApiError::not_found(format!("no list {id}")));
    }
    app.lists_changed().await;
    Ok(Json(json!({ "id": id, "active": active })))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !app.store.delete_list(&caller.scope(), &id).await? {
        return Err(ApiError::not_found(format!("no list {id}")));
    }
    app.lists_changed().await;
    Ok(Json(json!({ "deleted": id })))
}
