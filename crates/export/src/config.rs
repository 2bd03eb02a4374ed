//! The `[exports]` table of the server's configuration: how often updates go
//! out, and the list of destinations, each with its kind, settings and format.
//!
//! ```toml
//! [exports]
//! update_interval = "FIFTEEN_MINUTES"   # or ONE_HOUR, SIX_HOURS
//!
//! [[exports.destinations]]
//! kind = "webhook"
//! name = "siem"
//! url = "https://siem.example.com/saker"
//! secret = "change-me-to-32-random-chars" # HMAC-SHA256 key for X-Saker-Signature (16+ characters)
//!
//! [[exports.destinations]]
//! kind = "files"
//! name = "lake"
//! root = "exports"                      # relative to the server's data directory
//! prefix = "saker"
//! format = "ocsf"                       # raw | asff | ocsf | eventbridge | falco
//!
//! [[exports.destinations]]
//! kind = "syslog"
//! name = "rsyslog"
//! address = "127.0.0.1:514"
//! transport = "tcp"                     # udp | tcp
//! facility = "authpriv"
//! ```
//!
//! Field docs below are the user documentation. Unknown fields are errors.

use crate::context::{ExportContext, ExportItem};
use crate::error::ExportError;
use crate::syslog::Facility;
use crate::{asff, eventbridge, falco, ocsf};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportsConfig {
    /// How often a finding that keeps changing is exported again
    /// (GuardDuty's finding publishing frequency). New findings go out at once.
    pub update_interval: UpdateInterval,
    /// Exports waiting for the background exporter, at most. When the queue
    /// is full the newest export is dropped and reported (a counter).
    pub queue_capacity: usize,
    pub destinations: Vec<Destination>,
}

impl Default for ExportsConfig {
    fn default() -> Self {
        ExportsConfig { update_interval: UpdateInterval::default(), queue_capacity: 10_000, destinations: Vec::new() }
    }
}

/// GuardDuty's `FindingPublishingFrequency` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateInterval {
    #[default]
    FifteenMinutes,
    OneHour,
    SixHours,
}

impl UpdateInterval {
    pub fn duration(self) -> chrono::Duration {
        match self {
            UpdateInterval::FifteenMinutes => chrono::Duration::minutes(15),
            UpdateInterval::OneHour => chrono::Duration::hours(1),
            UpdateInterval::SixHours => chrono::Duration::hours(6),
        }
    }
}

/// One place findings go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    /// HTTP POST of one EventBridge-shaped event per finding, signed.
    Webhook(WebhookConfig),
    /// Gzip JSON Lines files laid out like an S3 export.
    Files(FilesConfig),
    /// RFC 5424 syslog over UDP or TCP.
    Syslog(SyslogConfig),
}

impl Destination {
    pub fn name(&self) -> &str {
        match self {
            Destination::Webhook(c) => &c.name,
            Destination::Files(c) => &c.name,
            Destination::Syslog(c) => &c.name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the destination in logs and metrics.
    pub name: String,
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// Key of the HMAC-SHA256 in `X-Saker-Signature` (see `webhook`).
    pub secret: Secret,
    /// Only `eventbridge`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Attempts per event before giving up (connect errors, timeouts, 5xx,
    /// 408 and 429 are retried; other 4xx are not).
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with random jitter.
    #[serde(default = "defaults::initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "defaults::max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Per-request timeout.
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Eventbridge,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    pub name: String,
    /// Directory the layout starts in; relative paths are under the server's
    /// data directory.
    pub root: PathBuf,
    /// First path segment under `root` (like an S3 key prefix).
    #[serde(default = "defaults::prefix")]
    pub prefix: String,
    /// What each line holds.
    #[serde(default)]
    pub format: JsonFormat,
    /// A file is closed once this many bytes of JSON (uncompressed) are in it.
    #[serde(default = "defaults::max_file_bytes")]
    pub max_file_bytes: u64,
    /// A file is closed this long after it was opened, even if small.
    #[serde(default = "defaults::max_file_age_secs")]
    pub max_file_age_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    pub name: String,
    /// `host:port` of the syslog receiver.
    pub address: String,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub facility: Facility,
    /// Only `rfc5424`.
    #[serde(default)]
    pub format: SyslogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    /// With RFC 6587 octet-counting framing.
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    #[default]
    Rfc5424,
}

/// The JSON a files destination writes, one per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonFormat {
    /// The finding itself (docs/findings.md §2).
    #[default]
    Raw,
    Asff,
    Ocsf,
    Eventbridge,
    Falco,
}

impl JsonFormat {
    pub fn render(self, item: &ExportItem, ctx: &ExportContext, now: DateTime<Utc>) -> Result<Value, ExportError> {
        Ok(match self {
            JsonFormat::Raw => serde_json::to_value(&item.finding)?,
            JsonFormat::Asff => asff::finding(item, ctx),
            JsonFormat::Ocsf => ocsf::detection_finding(item, ctx),
            JsonFormat::Eventbridge => eventbridge::event(item, ctx, eventbridge::new_event_id(), now)?,
            JsonFormat::Falco => falco::alert(item, ctx),
        })
    }
}

/// A secret that never shows in logs: `Debug` and `Display` print
/// `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl ExportsConfig {
    /// Checks what serde cannot: names unique and metric-safe, URLs and
    /// addresses well-formed, limits positive, prefixes inside the root.
    pub fn validate(&self) -> Result<(), ExportError> {
        let bad = |msg: String| Err(ExportError::Config(msg));
        if self.queue_capacity == 0 {
            return bad("queue_capacity must be at least 1".into());
        }
        let mut names = HashSet::new();
        for d in &self.destinations {
            let name = d.name();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return bad(format!("destination name {name:?}: use letters, digits, '-' and '_'"));
            }
            if !names.insert(name) {
                return bad(format!("two destinations are named {name:?}"));
            }
            match d {
                Destination::Webhook(w) => {
                    let url =
                        reqwest::Url::parse(&w.url).map_err(|e| ExportError::Config(format!("{name}: url: {e}")))?;
                    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                        return bad(format!("{name}: url must be http:// or https:// with a host"));
                    }
                    if w.secret.expose().len() < 16 {
                        return bad(format!("{name}: secret must be at least 16 characters"));
                    }
                    if w.max_attempts == 0 || w.timeout_secs == 0 {
                        return bad(format!("{name}: max_attempts and timeout_secs must be at least 1"));
                    }
                }
                Destination::Files(fc) => {
                    if fc.root.as_os_str().is_empty() {
                        return bad(format!("{name}: root is empty"));
                    }
                    if !crate::s3files::is_safe_prefix(&fc.prefix) {
                        return bad(format!(
                            "{name}: prefix {:?} must be relative segments of [A-Za-z0-9._-]",
                            fc.prefix
                        ));
                    }
                    if fc.max_file_bytes == 0 || fc.max_file_age_secs == 0 {
                        return bad(format!("{name}: max_file_bytes and max_file_age_secs must be at least 1"));
                    }
                }
                Destination::Syslog(s) => {
                    let ok = s
                        .address
                        .rsplit_once(':')
                        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
                    if !ok {
                        return bad(format!("{name}: address {:?} is not host:port", s.address));
                    }
                }
            }
        }
        Ok(())
    }
}

mod defaults {
    pub fn max_attempts() -> u32 {
        5
    }
    pub fn initial_backoff_ms() -> u64 {
        500
    }
    pub fn max_backoff_ms() -> u64 {
        30_000
    }
    pub fn timeout_secs() -> u64 {
        10
    }
    pub fn prefix() -> String {
        "saker".into()
    }
    pub fn max_file_bytes() -> u64 {
        64 * 1024 * 1024
    }
    pub fn max_file_age_secs() -> u64 {
        300
    }
}
