//! Why the server could not start or keep running.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("generating the server certificate: {0}")]
    Certificate(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("binding {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("store: {0}")]
    Store(#[from] saker_store::StoreError),
    #[error("{0} must use TLS off loopback (it would carry tokens in the clear)")]
    PlaintextOffLoopback(&'static str),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("serving: {0}")]
    Serve(String),
}
