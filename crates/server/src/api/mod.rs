//! The REST API, `/api/v1`: JSON in and out, bearer tokens, a JSON error for
//! every bad request. One file per resource; `openapi.rs` documents them all.

pub mod accounts;
pub mod auth;
pub mod coverage;
pub mod error;
pub mod filters;
pub mod findings;
pub mod lists;
pub mod openapi;
pub mod telemetry;

use crate::app::App;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use error::ApiError;
use std::sync::Arc;

/// Request bodies above this are refused (413) — lists have their own cap,
/// which fits under it.
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/whoami", get(accounts::whoami))
        .route("/api/v1/findings/search", post(findings::search))
        .route("/api/v1/findings/statistics", get(findings::statistics))
        .route("/api/v1/findings/archive", post(findings::archive))
        .route("/api/v1/findings/unarchive", post(findings::unarchive))
        .route("/api/v1/findings/{id}", get(findings::get))
        .route("/api/v1/filters", get(filters::list))
        .route("/api/v1/filters/{name}", put(filters::put).delete(filters::delete))
        .route("/api/v1/lists", get(lists::list).post(lists::upload))
        .route("/api/v1/lists/{id}/activate", post(lists::activate))
        .route("/api/v1/lists/{id}/deactivate", post(lists::deactivate))
        .route("/api/v1/lists/{id}", delete(lists::delete))
        .route("/api/v1/coverage", get(coverage::get))
        .route("/api/v1/telemetry", get(telemetry::search))
        .route("/api/v1/accounts", get(accounts::list).post(accounts::create))
        .route("/api/v1/accounts/{id}/tokens", post(accounts::issue_token))
        .route("/api/v1/tokens", get(accounts::tokens))
        .route("/api/v1/tokens/{id}", delete(accounts::revoke))
        .route("/api/v1/settings", get(accounts::settings).put(accounts::put_settings))
        .fallback(not_found)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

/// Store errors as API errors: the caller's mistakes are 4xx, the rest 500
/// (logged; the message does not leak database details).
pub fn store_error(e: saker_store::StoreError) -> ApiError {
    use saker_store::StoreError as E;
    match e {
        E::InvalidInput(m) => ApiError::bad_request(m),
        E::NotFound(m) => ApiError::not_found(m),
        E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m),
        other => {
            tracing::error!(error = %other, "store error");
            ApiError::internal("the store failed; see the server log")
        }
    }
}
