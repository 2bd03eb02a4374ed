//! The agent's error enum.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error(transparent)]
    Sensor(#[from] saker_sensor::SensorError),
    #[error(transparent)]
    Enrich(#[from] saker_enrich::EnrichError),
    #[error(transparent)]
    Scope(#[from] crate::scope::ScopeError),
    #[error("workload attribution: {0}")]
    Workload(#[from] saker_workload::ResolverError),
    #[error(transparent)]
    Intel(#[from] saker_detect::intel::IntelError),
    #[error("{0}")]
    Yara(String),
    #[error("writing events to {sink}: {source}")]
    Sink { sink: String, source: std::io::Error },
    #[error("the sensor thread ended before reporting whether it loaded")]
    SensorThreadDied,
    /// The agent's own files: the uplink spool, the agent id.
    #[error("{what} {path}: {source}")]
    State { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("starting thread {name}: {source}")]
    Thread { name: &'static str, source: std::io::Error },
}
