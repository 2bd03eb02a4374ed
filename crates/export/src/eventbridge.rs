//! The EventBridge event envelope, exactly as GuardDuty sends its findings to
//! EventBridge, with Saker's source and detail type:
//!
//! ```json
//! { "version": "0", "id": "<uuid>", "detail-type": "Saker Finding", "source": "saker",
//!   "account": "123456789012", "time": "2026-11-28T14:31:07Z", "region": "eu-west-1",
//!   "resources": [], "detail": { <the finding, docs/findings.md §2> } }
//! ```
//!
//! An EventBridge rule written for GuardDuty (`detail.type`, `detail.severity`,
//! `detail.resource.…`) works on these events once its `source` and
//! `detail-type` say Saker.

use crate::context::{ExportContext, ExportItem};
use crate::error::ExportError;
use crate::facts::rfc3339_s;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

pub const SOURCE: &str = "saker";
pub const DETAIL_TYPE: &str = "Saker Finding";

/// The envelope for one finding. `id` identifies this event (a delivery and
/// its retries share it, so a receiver can drop duplicates); `time` is when
/// the event was emitted, in whole seconds as EventBridge writes it.
pub fn event(item: &ExportItem, ctx: &ExportContext, id: Uuid, time: DateTime<Utc>) -> Result<Value, ExportError> {
    let f = &item.finding;
    Ok(json!({
        "version": "0",
        "id": id.to_string(),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": ctx.account_of(f),
        "time": rfc3339_s(time),
        "region": ctx.region_of(f),
        "resources": [],
        "detail": serde_json::to_value(f)?,
    }))
}

/// A fresh random event id (UUID version 4).
pub fn new_event_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}
