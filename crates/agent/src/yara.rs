//! Malware scanning with YARA rules (the `yara-x` crate, feature `yara`): a
//! bounded background worker scans executables the detector flags as new.
//! The pipeline never waits for it: a full queue drops the request and counts
//! it (`agent.loss`, stage `yara`).

use crate::AgentError;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use saker_detect::ScanRequest;
use std::path::PathBuf;

/// What to scan with, and the bounds.
#[derive(Debug, Clone)]
pub struct YaraConfig {
    /// Rule files, compiled together at start.
    pub rules: Vec<PathBuf>,
    /// Larger files are not scanned (counted as skipped).
    pub max_file_size: u64,
    /// Requests waiting at most; more are dropped and counted.
    pub queue: usize,
    pub timeout: std::time::Duration,
}

impl YaraConfig {
    pub fn new(rules: Vec<PathBuf>) -> Self {
        YaraConfig { rules, max_file_size: 64 << 20, queue: 64, timeout: std::time::Duration::from_secs(5) }
    }

    /// The name findings cite as their evidence's list.
    pub fn source_name(&self) -> String {
        let names: Vec<String> = self.rules.iter().map(|p| p.display().to_string()).collect();
        format!("yara:{}", names.join(","))
    }
}

/// A finished scan: the request and the rules that matched (often none).
pub type ScanResult = (ScanRequest, Vec<String>);

pub struct YaraWorker {
    tx: Sender<ScanRequest>,
    rx: Receiver<ScanResult>,
    pub source: String,
    /// Requests dropped because the queue was full.
    pub dropped: u64,
}

impl YaraWorker {
    /// Compile the rules (errors name the file and line) and start the worker.
    pub fn start(cfg: &YaraConfig) -> Result<YaraWorker, AgentError> {
        let rules = compile(&cfg.rules)?;
        let (tx, work) = bounded::<ScanRequest>(cfg.queue.max(1));
        let (done, rx) = bounded::<ScanResult>(cfg.queue.max(1));
        let (max, timeout) = (cfg.max_file_size, cfg.timeout);
        std::thread::Builder::new()
            .name("saker-yara".into())
            .spawn(move || worker(rules, max, timeout, &work, &done))
            .map_err(|source| AgentError::Thread { name: "saker-yara", source })?;
        Ok(YaraWorker { tx, rx, source: cfg.source_name(), dropped: 0 })
    }

    pub fn submit(&mut self, req: ScanRequest) {
        match self.tx.try_send(req) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.dropped += 1,
        }
    }

    /// Scans finished since the last call.
    pub fn results(&self) -> Vec<ScanResult> {
        self.rx.try_iter().collect()
    }
}

#[cfg(feature = "yara")]
fn compile(paths: &[PathBuf]) -> Result<yara_x::Rules, AgentError> {
    let mut compiler = yara_x::Compiler::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AgentError::Yara(format!("reading YARA rules {}: {e}", path.display())))?;
        let origin = path.display().to_string();
        compiler
            .add_source(yara_x::SourceCode::from(text.as_str()).with_origin(origin.as_str()))
            .map_err(|e| AgentError::Yara(format!("compiling YARA rules {}: {e}", path.display())))?;
    }
    Ok(compiler.build())
}

/// Stands in for compiled rules when YARA support is not built in.
#[cfg(not(feature = "yara"))]
struct NoRules;

#[cfg(not(feature = "yara"))]
fn compile(_paths: &[PathBuf]) -> Result<NoRules, AgentError> {
    Err(AgentError::Yara("this saker was built without YARA support (cargo feature `yara`)".into()))
}

/// The file behind a request: the running process's executable when it is
/// still there (works for deleted files and inside containers), else the
/// path through the process's root.
fn read_target(req: &ScanRequest, max: u64) -> Option<Vec<u8>> {
    let candidates =
        [PathBuf::from(format!("/proc/{}/exe", req.pid)), PathBuf::from(format!("/proc/{}/root{}", req.pid, req.path))];
    for path in candidates {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.len() > max {
            tracing::debug!(path = %req.path, size = meta.len(), "not scanned: larger than the YARA size limit");
            return None;
        }
        if let Ok(data) = std::fs::read(&path) {
            return Some(data);
        }
    }
    None
}

#[cfg(feature = "yara")]
fn worker(
    rules: yara_x::Rules,
    max: u64,
    timeout: std::time::Duration,
    work: &Receiver<ScanRequest>,
    done: &Sender<ScanResult>,
) {
    let mut scanner = yara_x::Scanner::new(&rules);
    scanner.set_timeout(timeout);
    for req in work.iter() {
        let Some(data) = read_target(&req, max) else { continue };
        let matched = match scanner.scan(&data) {
            Ok(results) => results.matching_rules().map(|r| r.identifier().to_owned()).collect(),
            Err(e) => {
                tracing::debug!(path = %req.path, error = %e, "YARA scan failed");
                continue;
            }
        };
        if done.send((req, matched)).is_err() {
            return;
        }
    }
}

#[cfg(not(feature = "yara"))]
fn worker(
    _rules: NoRules,
    max: u64,
    _timeout: std::time::Duration,
    work: &Receiver<ScanRequest>,
    _done: &Sender<ScanResult>,
) {
    for req in work.iter() {
        let _ = read_target(&req, max);
    }
}
