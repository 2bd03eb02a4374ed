//! Who is calling: the bearer token of every `/api/v1` request, resolved to
//! a [`Principal`] by the store (argon2 hashes at rest, cached after the
//! first check). Only `api` tokens may call the REST API.

use super::error::ApiError;
use crate::app::App;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use saker_store::{Principal, Scope, TokenKind};
use std::sync::Arc;

/// The authenticated caller of a handler.
pub struct Caller(pub Principal);

impl Caller {
    /// What this caller may see: everything for the administrator, its own
    /// account otherwise.
    pub fn scope(&self) -> Scope {
        if self.0.is_admin { Scope::All } else { Scope::Account(self.0.account_id.clone()) }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin { Ok(()) } else { Err(ApiError::forbidden("only the administrator account may do this")) }
    }

    pub fn account_id(&self) -> &str {
        &self.0.account_id
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        let principal = app
            .store
            .authenticate(token)
            .await
            .map_err(|e| ApiError::internal(format!("checking the token: {e}")))?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        if principal.kind != TokenKind::Api {
            return Err(ApiError::forbidden("agent tokens may only send findings; use an api token"));
        }
        Ok(Caller(principal))
    }
}
