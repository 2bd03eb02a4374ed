//! `/api/v1/accounts`, `/api/v1/tokens`, `/api/v1/whoami`, `/api/v1/settings`:
//! tenancy. The administrator creates member accounts and issues tokens for
//! any account; a member issues and revokes its own.

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use crate::app::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use saker_store::TokenKind;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({ "accountId": caller.0.account_id, "isAdmin": caller.0.is_admin, "tokenId": caller.0.token_id }))
}

pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let accounts = app.store.accounts().await?;
    let visible: Vec<_> = accounts.into_iter().filter(|a| caller.0.is_admin || a.id == caller.0.account_id).collect();
    Ok(Json(json!({ "accounts": visible })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    name: String,
}

pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    check_label("name", &req.name)?;
    let account = app.store.create_account(&req.name).await?;
    Ok((StatusCode::CREATED, Json(json!(account))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    kind: String,
    name: String,
}

pub async fn issue_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(account_id): Path<String>,
    ApiJson(req): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Another account's id is "not found" to a member: no hint it exists.
    if !caller.0.is_admin && account_id != caller.0.account_id {
        return Err(ApiError::not_found(format!("no account {account_id}")));
    }
    if app.store.account(&account_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no account {account_id}")));
    }
    let kind = match req.kind.as_str() {
        "api" => TokenKind::Api,
        "agent" => TokenKind::Agent,
        other => return Err(ApiError::bad_request(format!("kind {other:?}: use api or agent"))),
    };
    check_label("name", &req.name)?;
    let (info, token) = app.store.issue_token(&account_id, kind, &req.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": info.id, "token": token, "info": info }))))
}

pub async fn tokens(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let tokens = app.store.tokens(&caller.scope()).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

pub async fn revoke(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !app.store.revoke_token(&caller.scope(), &id).await? {
        return Err(ApiError::not_found(format!("no token {id}")));
    }
    Ok(Json(json!({ "revoked": id })))
}

pub async fn settings(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let _ = caller;
    Ok(Json(json!(app.settings().await?)))
}

pub async fn put_settings(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(req): ApiJson<crate::app::Settings>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    for c in &req.excluded_ecs_clusters {
        check_label("excludedEcsClusters", c)?;
    }
    app.put_settings(&req).await?;
    Ok(Json(json!(req)))
}

fn check_label(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("{field} must be 1 to 256 characters without control characters")));
    }
    Ok(())
}
