//! The detection stage's setup: which threat and trusted lists to load, and
//! the detector's settings. Loading happens once at start (a bad list stops
//! the start with a clear error; bad *lines* are skipped, counted and logged).

use crate::AgentError;
use crate::yara::{YaraConfig, YaraWorker};
use saker_detect::intel::{self, Intel, IntelHandle, ListSpec, ThreatList};
use saker_detect::{DetectConfig, Detector};
use std::path::PathBuf;

/// Detection settings: defaults, then the config file's `[detect]`, then flags.
#[derive(Debug, Clone)]
pub struct DetectionConfig {
    pub detect: DetectConfig,
    pub threat_lists: Vec<ListSpec>,
    pub trusted_lists: Vec<PathBuf>,
    /// Include GuardDuty's published test domains, so Saker can be tested
    /// the way GuardDuty is.
    pub builtin_test_domains: bool,
    /// YARA rule files: new executables are scanned with them (feature `yara`).
    pub yara_rules: Vec<PathBuf>,
    /// Where the loaded lists are published. Keep a clone to swap new lists
    /// in while the agent runs: the detector picks them up at its next event.
    pub intel: IntelHandle,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            detect: DetectConfig::default(),
            threat_lists: Vec::new(),
            trusted_lists: Vec::new(),
            builtin_test_domains: true,
            yara_rules: Vec::new(),
            intel: IntelHandle::default(),
        }
    }
}

impl DetectionConfig {
    /// Load every list and index them.
    pub fn load_intel(&self) -> Result<Intel, AgentError> {
        let mut lists: Vec<ThreatList> =
            if self.builtin_test_domains { intel::builtin::guardduty_test_domains() } else { Vec::new() };
        for spec in &self.threat_lists {
            let list = intel::load_list(spec)?;
            report(&list);
            lists.push(list);
        }
        let mut trusted = Vec::new();
        for path in &self.trusted_lists {
            let list = intel::load_list(&ListSpec::trusted(path.clone()))?;
            report(&list);
            trusted.push(list);
        }
        Ok(Intel::build(&lists, &trusted))
    }

    /// Load the lists into [`DetectionConfig::intel`] and build the detector
    /// reading from it.
    pub fn detector(&self) -> Result<Detector, AgentError> {
        self.intel.swap(self.load_intel()?);
        let mut cfg = self.detect.clone();
        cfg.scan_new_executables = !self.yara_rules.is_empty();
        Ok(Detector::new(cfg, self.intel.clone()))
    }

    /// The YARA worker, when rules are configured (compiled here: a rule
    /// error stops the start).
    pub fn yara(&self) -> Result<Option<YaraWorker>, AgentError> {
        if self.yara_rules.is_empty() {
            return Ok(None);
        }
        YaraWorker::start(&YaraConfig::new(self.yara_rules.clone())).map(Some)
    }
}

fn report(list: &ThreatList) {
    let s = &list.stats;
    tracing::info!(
        list = %list.name, category = %list.category, ips = s.ips, domains = s.domains, hashes = s.hashes,
        skipped = s.skipped, "threat list loaded"
    );
    for m in &s.messages {
        tracing::warn!(list = %list.name, "skipped: {m}");
    }
}
