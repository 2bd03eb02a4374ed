//! Threat intelligence: named lists of IPs/CIDRs, domains and SHA-256 hashes,
//! each mapped to a threat category, plus trusted lists that win over them.
//!
//! An [`Intel`] is an immutable snapshot built once from its lists; the
//! detector reads it through an [`IntelHandle`] whose swap never blocks event
//! processing (readers keep the old snapshot until they next load).
//!
//! - `index.rs` — [`Intel`] and [`IntelHandle`]: the lookup structures.
//! - `entry.rs` — one entry as written (address, CIDR, domain pattern,
//!   SHA-256), validated; the builder every loader feeds.
//! - `formats/` — the list formats: plain text, CSV (Feodo Tracker, OTX), the
//!   Tor exit lists, STIX 2.1 bundles; [`parse_list`] with format detection.
//! - `spec.rs` — [`ListSpec`] (`--threat-list NAME=CATEGORY:PATH`) and
//!   [`load_list`], the only place here that reads files. Loading happens at
//!   start-up and on reload, never on the event path.
//! - `builtin.rs` — lists compiled in ([`guardduty_test_domains`]).

pub mod builtin;
mod entry;
mod formats;
mod index;
mod spec;

pub use builtin::guardduty_test_domains;
pub use formats::{Format, parse_list};
pub use index::{Intel, IntelHandle};
pub use spec::{ListSpec, load_list};

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// What a list's entries are evidence of; decides the finding type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThreatCategory {
    CommandAndControl,
    Crypto,
    Blackhole,
    DropPoint,
    Dga,
    DriveBy,
    Phishing,
    TorRelay,
    TorClient,
    MaliciousFile,
    /// A user-supplied malware hash list (`MaliciousFileExecuted.Custom`).
    CustomMaliciousFile,
    AbusedDomain,
    BitcoinDomain,
    MaliciousDomain,
    SuspiciousDomain,
}

impl ThreatCategory {
    /// Every category with its configuration name.
    pub const ALL: &'static [(ThreatCategory, &'static str)] = &[
        (ThreatCategory::CommandAndControl, "c2"),
        (ThreatCategory::Crypto, "crypto"),
        (ThreatCategory::Blackhole, "blackhole"),
        (ThreatCategory::DropPoint, "drop-point"),
        (ThreatCategory::Dga, "dga"),
        (ThreatCategory::DriveBy, "drive-by"),
        (ThreatCategory::Phishing, "phishing"),
        (ThreatCategory::TorRelay, "tor-relay"),
        (ThreatCategory::TorClient, "tor-client"),
        (ThreatCategory::MaliciousFile, "malicious-file"),
        (ThreatCategory::CustomMaliciousFile, "custom-malicious-file"),
        (ThreatCategory::AbusedDomain, "abused-domain"),
        (ThreatCategory::BitcoinDomain, "bitcoin-domain"),
        (ThreatCategory::MaliciousDomain, "malicious-domain"),
        (ThreatCategory::SuspiciousDomain, "suspicious-domain"),
    ];

    /// The configuration name (`c2`, `crypto`, ...).
    pub fn as_str(self) -> &'static str {
        ThreatCategory::ALL.iter().find(|(c, _)| *c == self).map(|(_, n)| *n).unwrap_or("unknown")
    }

    /// Which entry kinds give a finding in a list of this category:
    /// (addresses, domains). Tor lists are addresses of nodes; the
    /// domain-reputation categories name hosts only by name; malware lists
    /// are hashes. A hash gives a finding in any list: a file on a threat
    /// list is a known malicious file.
    pub fn entry_kinds(self) -> (bool, bool) {
        use ThreatCategory as C;
        match self {
            C::TorRelay | C::TorClient => (true, false),
            C::MaliciousFile | C::CustomMaliciousFile => (false, false),
            C::CommandAndControl | C::Crypto | C::Blackhole | C::DropPoint | C::BitcoinDomain => (true, true),
            C::Dga | C::DriveBy | C::Phishing | C::AbusedDomain | C::MaliciousDomain | C::SuspiciousDomain => {
                (false, true)
            }
        }
    }

    /// The configuration names, comma-separated, for error messages.
    pub(crate) fn known_names() -> String {
        let names: Vec<&str> = ThreatCategory::ALL.iter().map(|(_, n)| *n).collect();
        names.join(", ")
    }
}

impl fmt::Display for ThreatCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ThreatCategory {
    type Err = IntelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThreatCategory::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(c, _)| *c)
            .ok_or_else(|| IntelError::UnknownCategory { name: s.to_owned(), known: ThreatCategory::known_names() })
    }
}

/// Why a list could not be loaded. Malformed *lines* are not errors: they
/// are skipped and counted in [`LoadStats`].
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("reading threat list {path}: {source}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("unknown threat category {name:?}; known: {known}")]
    UnknownCategory { name: String, known: String },
    #[error("threat list {list}: {message}")]
    Format { list: String, message: String },
    #[error("unknown threat list format {name:?}; known: {known}")]
    UnknownFormat { name: String, known: String },
    /// A `NAME=CATEGORY:PATH` list spec that does not parse.
    #[error("invalid threat list {spec:?}: {message}")]
    Spec { spec: String, message: String },
}

/// What loading one list found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Distinct addresses and networks.
    pub ips: usize,
    /// Distinct domain entries.
    pub domains: usize,
    /// Distinct SHA-256 hashes.
    pub hashes: usize,
    /// Lines or indicators that were skipped (malformed or unsupported).
    pub skipped: usize,
    /// The first few skip reasons, `line N: why` (STIX: `<indicator id>: why`).
    pub messages: Vec<String>,
}

/// How a domain entry matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainMatch {
    /// The name itself only.
    Exact,
    /// Subdomains only (`*.example.com`).
    Wildcard,
    /// The name and every subdomain (`.example.com` or a plain feed entry
    /// marked as suffix).
    Suffix,
}

/// One named list.
#[derive(Debug, Clone)]
pub struct ThreatList {
    pub name: String,
    pub category: ThreatCategory,
    /// (network, prefix length) pairs; a single address has the full length.
    pub networks: Vec<(IpAddr, u8)>,
    pub domains: Vec<(String, DomainMatch)>,
    /// Lower-case hex SHA-256.
    pub hashes: Vec<String>,
    /// What individual entries are known as (a malware family, an indicator's
    /// name); most entries of most lists have none.
    pub threat_names: ThreatNames,
    pub stats: LoadStats,
}

impl ThreatList {
    pub fn new(name: impl Into<String>, category: ThreatCategory) -> Self {
        ThreatList {
            name: name.into(),
            category,
            networks: Vec::new(),
            domains: Vec::new(),
            hashes: Vec::new(),
            threat_names: ThreatNames::default(),
            stats: LoadStats::default(),
        }
    }

    /// Append a network (counted in `stats.ips`), optionally named.
    pub fn add_network(&mut self, ip: IpAddr, prefix_len: u8, threat_name: Option<&str>) {
        self.networks.push((ip, prefix_len));
        self.stats.ips += 1;
        if let Some(n) = threat_name {
            self.threat_names.set_network(ip, prefix_len, n);
        }
    }

    /// Append a domain entry (counted in `stats.domains`), optionally named.
    pub fn add_domain(&mut self, domain: impl Into<String>, how: DomainMatch, threat_name: Option<&str>) {
        let domain = domain.into();
        if let Some(n) = threat_name {
            self.threat_names.set_domain(&domain, how, n);
        }
        self.domains.push((domain, how));
        self.stats.domains += 1;
    }

    /// Append a lower-case hex SHA-256 (counted in `stats.hashes`), optionally named.
    pub fn add_hash(&mut self, sha256: impl Into<String>, threat_name: Option<&str>) {
        let sha256 = sha256.into();
        if let Some(n) = threat_name {
            self.threat_names.set_hash(&sha256, n);
        }
        self.hashes.push(sha256);
        self.stats.hashes += 1;
    }

    /// Every entry counted: addresses, domains and hashes.
    pub fn len(&self) -> usize {
        self.networks.len() + self.domains.len() + self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-entry threat names of one [`ThreatList`], keyed by the entry as it
/// appears in the list's vectors. Kept beside the entry vectors rather than in
/// them so that the common unnamed list costs nothing, and keyed by value (not
/// position) so that reordering or filtering the vectors cannot misattribute a
/// name. Names are interned: a feed of ten thousand Emotet addresses stores
/// "Emotet" once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreatNames {
    names: Vec<String>,
    by_name: HashMap<String, u32>,
    networks: HashMap<(IpAddr, u8), u32>,
    domains: HashMap<(String, DomainMatch), u32>,
    hashes: HashMap<String, u32>,
}

impl ThreatNames {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        // A list never holds four billion distinct names; saturate rather
        // than wrap so that an absurd list misnames instead of panicking.
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.by_name.insert(name.to_owned(), i);
        i
    }

    fn name(&self, i: u32) -> Option<&str> {
        self.names.get(i as usize).map(String::as_str)
    }

    pub fn set_network(&mut self, ip: IpAddr, prefix_len: u8, name: &str) {
        let i = self.intern(name);
        self.networks.insert((ip, prefix_len), i);
    }

    pub fn set_domain(&mut self, domain: &str, how: DomainMatch, name: &str) {
        let i = self.intern(name);
        self.domains.insert((domain.to_owned(), how), i);
    }

    pub fn set_hash(&mut self, sha256: &str, name: &str) {
        let i = self.intern(name);
        self.hashes.insert(sha256.to_owned(), i);
    }

    pub fn network(&self, ip: IpAddr, prefix_len: u8) -> Option<&str> {
        self.networks.get(&(ip, prefix_len)).and_then(|&i| self.name(i))
    }

    pub fn domain(&self, domain: &str, how: DomainMatch) -> Option<&str> {
        // Only loading and index building call this, so the key copy is not
        // on the event path; unnamed lists skip it.
        if self.domains.is_empty() {
            return None;
        }
        self.domains.get(&(domain.to_owned(), how)).and_then(|&i| self.name(i))
    }

    pub fn hash(&self, sha256: &str) -> Option<&str> {
        self.hashes.get(sha256).and_then(|&i| self.name(i))
    }

    /// Does any entry have a name?
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.domains.is_empty() && self.hashes.is_empty()
    }
}

/// A lookup hit: which list, and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    pub list: &'a str,
    pub category: ThreatCategory,
    /// What the matching entry is known as, when its list says (Feodo
    /// Tracker's malware family, a STIX indicator's name).
    pub threat_name: Option<&'a str>,
}
