//! Webhook destination: one HTTP POST per finding, the body an EventBridge
//! event (`eventbridge.rs`), signed so the receiver knows it came from this
//! server and is fresh.
//!
//! Headers:
//! - `Content-Type: application/json`
//! - `X-Saker-Timestamp: <unix seconds when this attempt was sent>`
//! - `X-Saker-Signature: sha256=<lower-case hex HMAC-SHA256>`
//!
//! The signed string is the timestamp header's exact value, a `.`, and the
//! raw body bytes: `HMAC-SHA256(key = secret, msg = timestamp + "." + body)`.
//! A receiver recomputes it over the bytes it received, compares in constant
//! time, and rejects timestamps too far from its clock (replays). [`verify`]
//! does that.
//!
//! Retries: connect errors, timeouts, 5xx, 408 and 429 are retried with
//! exponential backoff and jitter (a `Retry-After` in seconds is honoured up
//! to the maximum backoff); other answers are final. Every attempt re-signs
//! with a fresh timestamp; the body, and so the event `id`, stays the same,
//! so a receiver that saw an attempt whose answer was lost can drop the
//! duplicate. Redirects are not followed: the signature is for this URL.

use crate::clock::Clock;
use crate::config::{Secret, WebhookConfig};
use crate::context::{ExportContext, ExportItem};
use crate::error::ExportError;
use crate::eventbridge;
use crate::sink::{DeliveryReport, Sink, SinkFuture};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

pub const TIMESTAMP_HEADER: &str = "X-Saker-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Saker-Signature";

/// `sha256=<hex HMAC-SHA256(secret, timestamp "." body)>`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Checks a received signature in constant time, and that the timestamp is
/// within `tolerance_secs` of `now_unix`.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], header: &str, now_unix: i64, tolerance_secs: i64) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (now_unix - ts).abs() > tolerance_secs {
        return false;
    }
    let Some(Ok(expected)) = header.strip_prefix("sha256=").map(hex::decode) else { return false };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

pub struct WebhookSink {
    name: String,
    url: reqwest::Url,
    /// The URL without user info, query or fragment, which may hold tokens:
    /// what errors and logs show.
    shown_url: String,
    secret: Secret,
    client: reqwest::Client,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    ctx: ExportContext,
    clock: Arc<dyn Clock>,
}

impl WebhookSink {
    pub fn new(cfg: &WebhookConfig, ctx: ExportContext, clock: Arc<dyn Clock>) -> Result<Self, ExportError> {
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| ExportError::Config(format!("{}: url: {e}", cfg.name)))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(cfg.timeout_secs.clamp(1, 10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("saker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ExportError::Config(format!("{}: HTTP client: {e}", cfg.name)))?;
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        Ok(WebhookSink {
            name: cfg.name.clone(),
            shown_url: shown.to_string(),
            url,
            secret: cfg.secret.clone(),
            client,
            max_attempts: cfg.max_attempts.max(1),
            initial_backoff: Duration::from_millis(cfg.initial_backoff_ms),
            max_backoff: Duration::from_millis(cfg.max_backoff_ms.max(cfg.initial_backoff_ms)),
            ctx,
            clock,
        })
    }

    /// POST one body until it is accepted or the attempts run out. Returns
    /// the number of attempts made.
    pub async fn post(&self, body: &[u8]) -> Result<u32, ExportError> {
        let url = &self.shown_url;
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            let ts = self.clock.now().timestamp().to_string();
            let sig = signature(self.secret.expose().as_bytes(), &ts, body);
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, &ts)
                .header(SIGNATURE_HEADER, sig)
                .body(body.to_vec())
                .send()
                .await;
            let mut retry_after = None;
            match sent {
                Ok(resp) if resp.status().is_success() => return Ok(attempt),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if !(status >= 500 || status == 408 || status == 429) {
                        return Err(ExportError::Rejected { url: url.to_owned(), status });
                    }
                    retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    last = format!("HTTP {status}");
                }
                Err(e) => last = describe(e),
            }
            if attempt < self.max_attempts {
                let wait = self.backoff(attempt).max(retry_after.unwrap_or_default()).min(self.max_backoff);
                tracing::debug!(destination = %self.name, attempt, error = %last, ?wait, "webhook attempt failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(ExportError::GaveUp { url: url.to_owned(), attempts: self.max_attempts, last })
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half
    /// random, so retries from many findings do not arrive together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let base = exp.min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// The error and its causes ("error sending request: … connection
/// refused"), without the URL, which may hold a token.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn deliver<'a>(&'a self, items: &'a [ExportItem]) -> SinkFuture<'a> {
        Box::pin(async move {
            let mut report = DeliveryReport::new(&self.name, "webhook");
            for item in items {
                let now = self.clock.now();
                let body = eventbridge::event(item, &self.ctx, eventbridge::new_event_id(), now)
                    .and_then(|v| serde_json::to_vec(&v).map_err(ExportError::from));
                let outcome = match body {
                    Ok(body) => self.post(&body).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(attempts) => {
                        report.delivered += 1;
                        report.retries += attempts - 1;
                    }
                    Err(e) => {
                        if let ExportError::GaveUp { attempts, .. } = &e {
                            report.retries += attempts - 1;
                        }
                        tracing::warn!(destination = %self.name, finding = %item.finding.id, error = %e, "webhook delivery failed");
                        report.failed += 1;
                        report.last_error = Some(e.to_string());
                    }
                }
            }
            report
        })
    }
}
