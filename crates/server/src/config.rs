//! `saker server`'s configuration: where it listens, where it keeps its
//! data, which store it uses. A TOML file (`[server]` table) and command-line
//! flags fill the same struct.

use crate::ServerError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The console's and API's default port (`saker up` prints it).
pub const DEFAULT_HTTP_PORT: u16 = 8650;
/// Agents connect here (gRPC).
pub const DEFAULT_GRPC_PORT: u16 = 8651;
/// Raw telemetry is kept this long by default: three days of hunting.
pub const DEFAULT_TELEMETRY_RETENTION_HOURS: u64 = 72;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct ServerConfig {
    /// Where the embedded store, the TLS certificate and export files live.
    pub data_dir: PathBuf,
    /// Console and REST API.
    pub listen: SocketAddr,
    /// gRPC for agents.
    pub grpc_listen: SocketAddr,
    /// `sqlite:PATH` or `postgres://…`; default: `sqlite:<data_dir>/saker.db`.
    pub database: Option<String>,
    /// Serve the console and API over TLS even on loopback.
    pub https: bool,
    /// Agents heartbeat this often; three missed beats is "Agent not reporting".
    pub heartbeat_secs: u64,
    /// The region exported findings name when theirs is unknown (ASFF and
    /// EventBridge need one).
    pub region: String,
    /// How long raw telemetry (agents with `send_telemetry = true`) is kept
    /// for hunting, counted from its arrival; pruned hourly. 0 keeps none:
    /// batches are acknowledged and dropped (counted), and what an earlier
    /// run stored is deleted.
    pub telemetry_retention_hours: u64,
    /// Where findings go (`[exports]` of the file, not of `[server]`).
    #[serde(skip)]
    pub exports: saker_export::ExportsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("/var/lib/saker/server"),
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_GRPC_PORT)),
            database: None,
            https: false,
            heartbeat_secs: 10,
            region: "us-east-1".into(),
            telemetry_retention_hours: DEFAULT_TELEMETRY_RETENTION_HOURS,
            exports: saker_export::ExportsConfig::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: Option<ServerConfig>,
    exports: Option<saker_export::ExportsConfig>,
}

impl ServerConfig {
    /// Read the `[server]` table of a TOML file; a missing table is the defaults.
    pub fn load(path: &Path) -> Result<ServerConfig, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
            what: "reading configuration",
            path: path.to_owned(),
            source,
        })?;
        let f: File =
            toml::from_str(&text).map_err(|e| ServerError::Config { path: path.to_owned(), message: e.to_string() })?;
        let mut cfg = f.server.unwrap_or_default();
        if let Some(exports) = f.exports {
            exports.validate().map_err(|e| ServerError::Config { path: path.to_owned(), message: e.to_string() })?;
            cfg.exports = exports;
        }
        Ok(cfg)
    }

    /// The store URL: the configured one, else a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("saker.db").display()),
        }
    }

    /// The console serves TLS when asked or when it listens off loopback.
    pub fn http_tls(&self) -> bool {
        self.https || !self.listen.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_file() {
        let c = ServerConfig::default();
        assert_eq!(c.listen.port(), 8650);
        assert!(!c.http_tls());
        assert!(c.database_url().starts_with("sqlite:/var/lib/saker/server/saker.db"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "[server]\nlisten = \"0.0.0.0:9000\"\ndatabase = \"postgres://x/y\"\n").unwrap_or_default();
        let c = ServerConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.http_tls(), "off loopback means TLS");
        assert_eq!(c.database_url(), "postgres://x/y");
        assert_eq!(c.telemetry_retention_hours, 72, "the default");
        std::fs::write(&p, "[server]\ntelemetry_retention_hours = 0\n").unwrap_or_default();
        assert_eq!(ServerConfig::load(&p).map(|c| c.telemetry_retention_hours).ok(), Some(0));
        std::fs::write(&p, "[server]\nlisten = 5\n").unwrap_or_default();
        let e = ServerConfig::load(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("s.toml") && e.contains("listen"), "{e}");
    }
}
