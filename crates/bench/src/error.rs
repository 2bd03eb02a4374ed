//! The bench's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("saker bench needs root (BPF programs, auditd); run it with sudo")]
    NotRoot,
    #[error("unknown {what} {name:?}; known: {known}")]
    UnknownName { what: &'static str, name: String, known: String },
    #[error("{0}")]
    Usage(String),
    #[error("interrupted; the configurations were torn down")]
    Interrupted,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Proc {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("workload {workload} failed: {detail}")]
    Workload { workload: String, detail: String },
    #[error("the agent under test failed: {0}")]
    Agent(String),
    #[error("the floor probe: {0}")]
    Floor(String),
    #[error("auditd: {0}")]
    Auditd(String),
    #[error("the latency bench's server: {0}")]
    Server(String),
    #[error("runc container: {0}")]
    Runc(String),
    #[error("writing the report: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io { what: what.into(), source }
    }
}
