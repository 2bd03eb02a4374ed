//! Threat and trusted lists pushed by the server (`ListsUpdate`), swapped
//! into the detector's live [`IntelHandle`] while the agent runs.
//!
//! An update is the complete set of server lists for this agent; the lists
//! the agent was started with (command line, configuration, the built-in
//! test domains) stay. Those are read from disk again at the first update
//! (the start-up loaders, not a copy of them) and kept; if that fails, the
//! update is not applied, so a server push can never make the agent lose a
//! list it was given.

use crate::DetectionConfig;
use saker_detect::intel::{self, Format, Intel, ListSpec, ThreatCategory, ThreatList};
use saker_proto::{ListsUpdate, ThreatListBlob};

/// The detector's lists, as the uplink maintains them.
pub struct Lists {
    detection: DetectionConfig,
    /// (threat, trusted) lists the agent was started with; loaded lazily.
    local: Option<(Vec<ThreatList>, Vec<ThreatList>)>,
}

/// What applying an update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub threat: usize,
    pub trusted: usize,
    /// Server lists that could not be parsed (skipped), with why.
    pub rejected: Vec<String>,
}

impl Lists {
    pub fn new(detection: DetectionConfig) -> Self {
        Lists { detection, local: None }
    }

    /// Rebuild the intel from the local lists and `update`, and swap it in.
    pub fn apply(&mut self, update: &ListsUpdate) -> Result<Applied, String> {
        if self.local.is_none() {
            self.local =
                Some(load_local(&self.detection).map_err(|e| format!("reloading the agent's own lists: {e}"))?);
        }
        let Some((threat, trusted)) = self.local.as_mut() else { return Err("no local lists".into()) };
        // The server's lists go after the local ones for the build, and are
        // taken off again after it (no copy of the local lists).
        let (own_threat, own_trusted) = (threat.len(), trusted.len());
        let mut applied = Applied::default();
        for blob in &update.lists {
            match parse_blob(blob) {
                Ok((list, true)) => {
                    trusted.push(list);
                    applied.trusted += 1;
                }
                Ok((list, false)) => {
                    threat.push(list);
                    applied.threat += 1;
                }
                Err(e) => {
                    tracing::warn!(list = %blob.name, error = %e, "server list skipped");
                    applied.rejected.push(format!("{}: {e}", blob.name));
                }
            }
        }
        let intel = Intel::build(threat, trusted);
        threat.truncate(own_threat);
        trusted.truncate(own_trusted);
        self.detection.intel.swap(intel);
        Ok(applied)
    }
}

/// The lists the agent was configured with, as `DetectionConfig::load_intel`
/// loads them.
fn load_local(d: &DetectionConfig) -> Result<(Vec<ThreatList>, Vec<ThreatList>), intel::IntelError> {
    let mut threat = if d.builtin_test_domains { intel::guardduty_test_domains() } else { Vec::new() };
    for spec in &d.threat_lists {
        threat.push(intel::load_list(spec)?);
    }
    let trusted =
        d.trusted_lists.iter().map(|p| intel::load_list(&ListSpec::trusted(p.clone()))).collect::<Result<_, _>>()?;
    Ok((threat, trusted))
}

/// A server list → (list, is it trusted).
fn parse_blob(b: &ThreatListBlob) -> Result<(ThreatList, bool), String> {
    let trusted = match b.kind.as_str() {
        "trusted" => true,
        "threat" => false,
        other => return Err(format!("unknown list kind {other:?} (threat or trusted)")),
    };
    let category = if trusted {
        // Trusted entries are never reported: the category is a placeholder.
        ThreatCategory::SuspiciousDomain
    } else {
        b.category.parse::<ThreatCategory>().map_err(|e| e.to_string())?
    };
    let format =
        if b.format.is_empty() { Format::Auto } else { b.format.parse::<Format>().map_err(|e| e.to_string())? };
    let text = String::from_utf8_lossy(&b.content);
    let list = intel::parse_list(&b.name, category, &text, format).map_err(|e| e.to_string())?;
    Ok((list, trusted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn blob(name: &str, kind: &str, category: &str, content: &str) -> ThreatListBlob {
        ThreatListBlob {
            name: name.into(),
            kind: kind.into(),
            category: category.into(),
            format: String::new(),
            content: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn server_lists_join_the_local_ones_and_replace_earlier_server_lists() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local.txt");
        std::fs::write(&local, "198.51.100.7\n").unwrap();
        let det = DetectionConfig {
            threat_lists: vec![ListSpec::parse(&format!("mine=c2:{}", local.display())).unwrap()],
            ..DetectionConfig::default()
        };
        let handle = det.intel.clone();
        let mut lists = Lists::new(det);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let update = ListsUpdate {
            version: 3,
            lists: vec![
                blob("srv", "threat", "crypto", "203.0.113.9\n"),
                blob("ok", "trusted", "", "203.0.113.10\n"),
                blob("bad", "threat", "nope", "x"),
            ],
        };
        let a = lists.apply(&update).unwrap();
        assert_eq!((a.threat, a.trusted, a.rejected.len()), (1, 1, 1));
        let intel = handle.load();
        assert!(intel.lookup_ip(ip("203.0.113.9")).is_some(), "server list in");
        assert!(intel.lookup_ip(ip("198.51.100.7")).is_some(), "local list kept");
        assert!(intel.trusted_ip(ip("203.0.113.10")));
        assert!(intel.lookup_domain("c2.guarddutyc2activityb.com").is_some(), "built-in kept");
        drop(intel);
        // The local file going away later does not matter: it was kept.
        std::fs::remove_file(&local).unwrap();
        lists.apply(&ListsUpdate { version: 4, lists: vec![] }).unwrap();
        let intel = handle.load();
        assert!(intel.lookup_ip(ip("203.0.113.9")).is_none(), "server list withdrawn");
        assert!(intel.lookup_ip(ip("198.51.100.7")).is_some());
    }
}
