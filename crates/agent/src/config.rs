//! The agent's configuration file: *what* to watch. (Flags say *how* the
//! process runs: output, buffer sizes, logging.)
//!
//! Raw (serde, unknown fields rejected) → validated → applied onto an
//! [`AgentConfig`]. The sample shipped in `config/agent.toml` documents every
//! field and is parsed by a test.

use crate::uplink::{ServerSection, UplinkConfig};
use crate::{AgentConfig, DetectionConfig, KindFilter};
use saker_detect::FindingType;
use saker_detect::intel::{Format, ListSpec, ThreatCategory};
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
    #[serde(default)]
    pub detect: DetectSection,
    /// Send findings to a Saker server (absent: no uplink).
    #[serde(default)]
    pub server: Option<ServerSection>,
}

/// The detection engine: on or off, threat and trusted lists, types to mute.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSection {
    /// Run detection (findings). Off: events only.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Include GuardDuty's published test domains (c2.guarddutyc2activityb.com, ...).
    #[serde(default = "yes")]
    pub builtin_test_domains: bool,
    /// Seconds between updates of a repeating finding (count, last seen).
    #[serde(default)]
    pub update_interval_secs: Option<u64>,
    /// Finding types not to report, by GuardDuty name.
    #[serde(default)]
    pub disabled_types: Vec<String>,
    #[serde(default)]
    pub threat_lists: Vec<ThreatListEntry>,
    /// Trusted lists: IPs, CIDRs and domains never reported.
    #[serde(default)]
    pub trusted_lists: Vec<PathBuf>,
    /// YARA rule files: new executables are scanned with them.
    #[serde(default)]
    pub yara_rules: Vec<PathBuf>,
    /// Written into every finding; by default taken from the ECS task's ARN
    /// when there is one.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

impl Default for DetectSection {
    fn default() -> Self {
        DetectSection {
            enabled: true,
            builtin_test_domains: true,
            update_interval_secs: None,
            disabled_types: Vec::new(),
            threat_lists: Vec::new(),
            trusted_lists: Vec::new(),
            yara_rules: Vec::new(),
            account_id: None,
            region: None,
        }
    }
}

/// One threat list: `--threat-list NAME=CATEGORY:PATH` as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatListEntry {
    pub name: String,
    pub category: String,
    pub path: PathBuf,
    /// `auto` (default), `plain`, `csv`, `tor-exit`, `stix`.
    #[serde(default)]
    pub format: Option<String>,
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
    if let Some(server) = &file.server {
        cfg.uplink = Some(UplinkConfig::from_section(server).map_err(invalid)?);
    }
    apply_detect(&file.detect, cfg).map_err(invalid)
}

fn apply_detect(d: &DetectSection, cfg: &mut AgentConfig) -> Result<(), String> {
    if !d.enabled {
        cfg.detection = None;
        return Ok(());
    }
    let det = cfg.detection.get_or_insert_with(DetectionConfig::default);
    det.builtin_test_domains = d.builtin_test_domains;
    if let Some(secs) = d.update_interval_secs {
        det.detect.update_interval = std::time::Duration::from_secs(secs);
    }
    for name in &d.disabled_types {
        let t = name.parse::<FindingType>().map_err(|e| format!("detect.disabled_types: {e}"))?;
        det.detect.disabled.insert(t);
    }
    for l in &d.threat_lists {
        let category =
            l.category.parse::<ThreatCategory>().map_err(|e| format!("detect.threat_lists {:?}: {e}", l.name))?;
        let format = match &l.format {
            Some(f) => f.parse::<Format>().map_err(|e| format!("detect.threat_lists {:?}: {e}", l.name))?,
            None => Format::Auto,
        };
        det.threat_lists.push(ListSpec { name: l.name.clone(), category, path: l.path.clone(), format });
    }
    det.trusted_lists.extend(d.trusted_lists.iter().cloned());
    det.yara_rules.extend(d.yara_rules.iter().cloned());
    if d.account_id.is_some() {
        det.detect.account_id.clone_from(&d.account_id);
    }
    if d.region.is_some() {
        det.detect.region.clone_from(&d.region);
    }
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
        let det = cfg.detection.unwrap();
        assert!(det.builtin_test_domains && det.detect.disabled.is_empty());
        assert_eq!(det.detect.update_interval.as_secs(), 10);
    }

    #[test]
    fn detect_section_applies_and_refuses_bad_input() {
        let cfg = apply(
            r#"
            [detect]
            disabled_types = ["Execution:Runtime/SuspiciousTool"]
            update_interval_secs = 60
            threat_lists = [{ name = "feodo", category = "c2", path = "/x.csv", format = "csv" }]
            "#,
        )
        .unwrap();
        let det = cfg.detection.unwrap();
        assert!(det.detect.disabled.contains(&FindingType::SuspiciousTool));
        assert_eq!(det.detect.update_interval.as_secs(), 60);
        assert_eq!(det.threat_lists[0].category, ThreatCategory::CommandAndControl);
        assert!(apply("[detect]\nenabled = false").unwrap().detection.is_none());
        let err = apply("[detect]\ndisabled_types = [\"Nope:Runtime/X\"]").unwrap_err().to_string();
        assert!(err.contains("Nope:Runtime/X"), "{err}");
        let err = apply("[detect]\nthreat_lists = [{ name = \"a\", category = \"evil\", path = \"/a\" }]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("evil") && err.contains("c2"), "{err}");
    }

    #[test]
    fn server_section_configures_the_uplink() {
        assert!(apply("").unwrap().uplink.is_none());
        let cfg = apply(
            r#"
            [server]
            url = "http://127.0.0.1:8651"
            token = "sk_agent_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
            data_dir = "/tmp/saker-agent"
            spool_max_bytes = 16777216
            send_telemetry = true
            "#,
        )
        .unwrap();
        let u = cfg.uplink.unwrap();
        assert_eq!(u.spool.dir, PathBuf::from("/tmp/saker-agent/spool"));
        assert!(u.send_telemetry && u.spool.max_bytes == 16 << 20);
        let err = apply("[server]\nurl = \"http://203.0.113.5:8651\"\ntoken = \"sk_agent_x\"").unwrap_err().to_string();
        assert!(err.contains("test.toml") && err.contains("loopback"), "{err}");
        let err = apply("[server]\nurl = \"https://h\"\ntokn = \"x\"").unwrap_err().to_string();
        assert!(err.contains("tokn"), "{err}");
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
