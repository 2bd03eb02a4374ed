//! `/api/v1/coverage`: each agent's health, each ECS cluster's coverage,
//! and the recent health changes (see `crate::coverage` for the rules).

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn get(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let scope = caller.scope();
    let agents = app.store.agents(&scope).await?;
    let report = crate::coverage::report(&agents, chrono::Utc::now(), &app.coverage_rules().await?);
    let events = app.store.health_events(&scope, 100).await?;
    Ok(Json(json!({ "resources": report.resources, "clusters": report.clusters, "events": events })))
}
