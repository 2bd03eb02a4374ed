//! The crate's one error type. Sinks turn these into `DeliveryReport`s: a
//! failed delivery is data for the server's counters, not a crash.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The export configuration is unusable (bad URL, duplicate name, ...).
    #[error("export configuration: {0}")]
    Config(String),

    /// A value the formats need is malformed (an account id that is not 12
    /// digits, ...).
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },

    #[error("serializing a finding: {0}")]
    Json(#[from] serde_json::Error),

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A network sink could not reach or write to its peer.
    #[error("{what} {peer}: {source}")]
    Net {
        what: &'static str,
        peer: String,
        #[source]
        source: std::io::Error,
    },

    /// A syslog message larger than one UDP datagram can carry.
    #[error("syslog message of {size} bytes exceeds the UDP limit of {limit}")]
    MessageTooLarge { size: usize, limit: usize },

    /// The webhook answered with a status that retrying cannot fix (4xx
    /// other than 408 and 429).
    #[error("webhook {url} rejected the event with HTTP {status}")]
    Rejected { url: String, status: u16 },

    /// The webhook kept failing (connect errors, timeouts, 5xx, 429) for
    /// every allowed attempt.
    #[error("webhook {url}: gave up after {attempts} attempts: {last}")]
    GaveUp { url: String, attempts: u32, last: String },

    /// The background exporter's queue is full or the exporter has stopped.
    #[error("export queue {0}")]
    Queue(&'static str),
}

impl ExportError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ExportError::Invalid { field, message: message.into() }
    }
}
