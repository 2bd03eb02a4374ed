//! The agent's configuration file: *what* to watch. (Flags say *how* the
//! process runs: output, buffer sizes, logging.)
//!
//! Raw (serde, unknown fields rejected) → validated → applied onto an
//! [`AgentConfig`]. The sample shipped in `config/agent.toml` documents every
//! field and is parsed by a test.

use crate::{AgentConfig, KindFilter};
use saker_model::Kind;
use saker_sensor::{PathInterest, default_path_interest};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a configuration file was refused. Nothing is applied then.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// Event kinds to report (`process.exec`, `dns.query`, ...). Empty or
    /// absent: every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub files: FilesSection,
}

/// Which paths produce `file.*` events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// Keep Saker's default interest set (system config, credentials,
    /// persistence locations, binaries, runtime sockets...).
    #[serde(default = "yes")]
    pub default_paths: bool,
    /// More paths: a prefix string, or a table with `prefix` and optionally
    /// `basename` (only files of that name) or `dot_files_only`.
    #[serde(default)]
    pub watch: Vec<WatchEntry>,
}

impl Default for FilesSection {
    fn default() -> Self {
        FilesSection { default_paths: true, watch: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WatchEntry {
    Prefix(String),
    Detailed {
        prefix: String,
        #[serde(default)]
        basename: Option<String>,
        #[serde(default)]
        dot_files_only: bool,
    },
}

impl WatchEntry {
    fn interest(&self) -> PathInterest {
        match self {
            WatchEntry::Prefix(p) => PathInterest::prefix(p),
            WatchEntry::Detailed { prefix, basename, dot_files_only } => {
                PathInterest { prefix: prefix.clone(), dot_component: *dot_files_only, basename: basename.clone() }
            }
        }
    }
}

/// Read, validate and apply a configuration file onto `cfg`.
pub fn apply_file(path: &Path, cfg: &mut AgentConfig) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    apply_str(path, &text, cfg)
}

/// As [`apply_file`], from text (`origin` names it in errors).
pub fn apply_str(origin: &Path, text: &str, cfg: &mut AgentConfig) -> Result<(), ConfigError> {
    let file: AgentFile =
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: origin.into(), message: e.to_string() })?;
    let invalid = |message: String| ConfigError::Invalid { path: origin.into(), message };

    let kinds = file
        .kinds
        .iter()
        .map(|k| k.parse::<Kind>().map_err(|e| invalid(format!("kinds: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut paths = if file.files.default_paths { default_path_interest() } else { Vec::new() };
    for entry in &file.files.watch {
        let p = entry.interest();
        p.validate().map_err(|e| invalid(format!("files.watch: {e}")))?;
        if !p.prefix.starts_with('/') {
            return Err(invalid(format!("files.watch: {:?} is not an absolute path", p.prefix)));
        }
        paths.push(p);
    }
    if paths.is_empty() && kinds.iter().any(|k| k.as_str().starts_with("file.")) {
        return Err(invalid("file.* kinds are enabled but no path is watched".into()));
    }

    if !kinds.is_empty() {
        cfg.kinds = KindFilter::only(kinds);
    }
    cfg.sensor.paths = paths;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> Result<AgentConfig, ConfigError> {
        let mut cfg = AgentConfig::default();
        apply_str(Path::new("test.toml"), text, &mut cfg).map(|()| cfg)
    }

    #[test]
    fn the_shipped_sample_parses() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/agent.toml");
        let mut cfg = AgentConfig::default();
        apply_file(Path::new(sample), &mut cfg).unwrap();
        assert!(cfg.sensor.paths.iter().any(|p| p.prefix == "/opt/app/config/"));
        assert!(cfg.sensor.paths.len() > default_path_interest().len());
    }

    #[test]
    fn empty_file_keeps_defaults() {
        let cfg = apply("").unwrap();
        assert_eq!(cfg.sensor.paths, default_path_interest());
        assert!(cfg.kinds.allows(Kind::Mount));
    }

    #[test]
    fn entries_and_kinds_apply() {
        let cfg = apply(
            r#"
            kinds = ["process.exec", "file.write"]
            [files]
            default_paths = false
            watch = ["/srv/", { prefix = "/var/www/", basename = ".htaccess" }]
            "#,
        )
        .unwrap();
        assert_eq!(cfg.sensor.paths.len(), 2);
        assert_eq!(cfg.sensor.paths[1].basename.as_deref(), Some(".htaccess"));
        assert!(cfg.kinds.allows(Kind::FileWrite) && !cfg.kinds.allows(Kind::Mount));
    }

    #[test]
    fn bad_input_is_refused_with_a_clear_error() {
        let err = apply("kinds = [\"process.nope\"]").unwrap_err().to_string();
        assert!(err.contains("test.toml") && err.contains("process.nope"), "{err}");
        let err = apply("[files]\nwatchh = []").unwrap_err().to_string();
        assert!(err.contains("watchh"), "unknown field named: {err}");
        let err = apply("[files]\nwatch = [\"relative/\"]").unwrap_err().to_string();
        assert!(err.contains("not an absolute path"), "{err}");
        let long = format!("[files]\nwatch = [\"/{}\"]", "x".repeat(80));
        assert!(apply(&long).unwrap_err().to_string().contains("files.watch"));
        let err = apply("[files]\ndefault_paths = false\nwatch = []\nkinds = 3").unwrap_err().to_string();
        assert!(err.contains("test.toml"), "{err}");
    }
}
