//! The lookup side of threat intelligence: [`Intel`], an immutable index of
//! every active list built once per load, and [`IntelHandle`], through which
//! the detector reads the current one.
//!
//! Lookups run per event, so none of them allocates for ordinary input: IPs
//! are one hash probe per prefix length present (longest first), domains one
//! probe per label, hashes one probe on their 32 decoded bytes.

use super::entry::{canonical_network, mask4, mask6};
use super::{DomainMatch, Match, ThreatCategory, ThreatList};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

/// Which list an entry came from and what it is called: two indexes into
/// [`Intel`]'s tables, small enough to copy.
#[derive(Debug, Clone, Copy)]
struct Hit {
    list: u32,
    name: u32,
}

const NO_NAME: u32 = u32::MAX;

/// An immutable, indexed snapshot of every active list.
#[derive(Debug, Default)]
pub struct Intel {
    lists: Vec<(String, ThreatCategory)>,
    /// Threat names of all lists, interned.
    threat_names: Vec<String>,
    v4: NetIndex<u32, Hit>,
    v6: NetIndex<u128, Hit>,
    domains: DomainIndex<Hit>,
    hashes: HashMap<[u8; 32], Hit>,
    trusted_v4: NetIndex<u32, ()>,
    trusted_v6: NetIndex<u128, ()>,
    trusted_domains: DomainIndex<()>,
}

impl Intel {
    /// Index `lists`; entries in `trusted` are never reported. When several
    /// lists hold the same entry, the first list wins.
    pub fn build(lists: &[ThreatList], trusted: &[ThreatList]) -> Intel {
        let mut intel = Intel::default();
        let mut names = Interner::default();
        for (i, l) in lists.iter().enumerate() {
            intel.lists.push((l.name.clone(), l.category));
            let list = u32::try_from(i).unwrap_or(u32::MAX);
            // An entry kind the category gives no finding for (an IP in a
            // phishing-domain list) is left out: as the most specific match it
            // would otherwise hide a broader entry that does give one.
            let (ips, domains) = l.category.entry_kinds();
            let unused = if ips { 0 } else { l.networks.len() } + if domains { 0 } else { l.domains.len() };
            if unused > 0 {
                tracing::warn!(list = %l.name, category = %l.category, entries = unused,
                    "threat list entries ignored: the category gives no finding for addresses or domains");
            }
            for &(ip, len) in l.networks.iter().filter(|_| ips) {
                let hit = Hit { list, name: names.intern(l.threat_names.network(ip, len)) };
                match canonical_network(ip, len) {
                    (IpAddr::V4(a), len) => intel.v4.insert(u32::from(a), len, hit),
                    (IpAddr::V6(a), len) => intel.v6.insert(u128::from(a), len, hit),
                }
            }
            for (d, how) in l.domains.iter().filter(|_| domains) {
                let hit = Hit { list, name: names.intern(l.threat_names.domain(d, *how)) };
                intel.domains.insert(&normalize_owned(d), *how, hit);
            }
            for h in &l.hashes {
                // Loaders only produce valid hashes; a hand-built list with a
                // malformed one simply cannot match it.
                if let Some(key) = decode_sha256(h) {
                    let hit = Hit { list, name: names.intern(l.threat_names.hash(h)) };
                    intel.hashes.entry(key).or_insert(hit);
                }
            }
        }
        intel.threat_names = names.names;
        for t in trusted {
            for &(ip, len) in &t.networks {
                match canonical_network(ip, len) {
                    (IpAddr::V4(a), len) => intel.trusted_v4.insert(u32::from(a), len, ()),
                    (IpAddr::V6(a), len) => intel.trusted_v6.insert(u128::from(a), len, ()),
                }
            }
            // A trusted entry means what it means in a threat list:
            // `example.com` trusts that name only, `.example.com` the whole tree.
            for (d, how) in &t.domains {
                intel.trusted_domains.insert(&normalize_owned(d), *how, ());
            }
        }
        intel
    }

    fn hit(&self, h: Hit) -> Option<Match<'_>> {
        let (name, category) = self.lists.get(h.list as usize)?;
        let threat_name = self.threat_names.get(h.name as usize).map(String::as_str);
        Some(Match { list: name, category: *category, threat_name })
    }

    /// Is this address on a trusted list? (IPv4-mapped IPv6 is IPv4.)
    pub fn trusted_ip(&self, ip: IpAddr) -> bool {
        match unmap(ip) {
            IpAddr::V4(a) => self.trusted_v4.lookup(u32::from(a), mask4).is_some(),
            IpAddr::V6(a) => self.trusted_v6.lookup(u128::from(a), mask6).is_some(),
        }
    }

    /// The most specific list entry covering `ip`, unless it is trusted.
    /// IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub fn lookup_ip(&self, ip: IpAddr) -> Option<Match<'_>> {
        let ip = unmap(ip);
        if self.trusted_ip(ip) {
            return None;
        }
        let hit = match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a), mask4),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a), mask6),
        }?;
        self.hit(*hit)
    }

    /// Is this name covered by a trusted list? (Case and one trailing dot
    /// do not matter.)
    pub fn trusted_domain(&self, domain: &str) -> bool {
        with_normalized(domain, |d| self.trusted_domains.lookup(d).is_some())
    }

    /// The list naming `domain` (exact first, then the closest wildcard or
    /// suffix entry), unless a trusted entry covers the name. Case and one
    /// trailing dot do not matter.
    pub fn lookup_domain(&self, domain: &str) -> Option<Match<'_>> {
        with_normalized(domain, |d| {
            if self.trusted_domains.lookup(d).is_some() {
                return None;
            }
            self.domains.lookup(d).and_then(|h| self.hit(*h))
        })
    }

    /// The list holding this SHA-256 (hex, any case).
    pub fn lookup_sha256(&self, hex: &str) -> Option<Match<'_>> {
        let key = decode_sha256(hex)?;
        self.hashes.get(&key).and_then(|h| self.hit(*h))
    }

    /// Names and categories of the indexed lists.
    pub fn lists(&self) -> impl Iterator<Item = (&str, ThreatCategory)> {
        self.lists.iter().map(|(n, c)| (n.as_str(), *c))
    }
}

/// Threat names shared across lists, stored once.
#[derive(Default)]
struct Interner<'a> {
    index: HashMap<&'a str, u32>,
    names: Vec<String>,
}

impl<'a> Interner<'a> {
    fn intern(&mut self, name: Option<&'a str>) -> u32 {
        let Some(name) = name else { return NO_NAME };
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        // More distinct names than u32 holds cannot be loaded into memory;
        // NO_NAME is the harmless answer should it happen.
        let i = u32::try_from(self.names.len()).unwrap_or(NO_NAME);
        self.names.push(name.to_owned());
        self.index.insert(name, i);
        i
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Networks of one family: per prefix length present (ascending), network →
/// value. A lookup probes each length once, longest first, so it costs at
/// most 33 (IPv4) or 129 (IPv6) probes and in practice the handful of
/// lengths a feed uses.
#[derive(Debug)]
struct NetIndex<K, V> {
    by_len: Vec<(u8, HashMap<K, V>)>,
}

impl<K, V> Default for NetIndex<K, V> {
    fn default() -> Self {
        NetIndex { by_len: Vec::new() }
    }
}

impl<K: Hash + Eq + Copy, V> NetIndex<K, V> {
    /// `key` must already be masked to `len`; the first insert wins.
    fn insert(&mut self, key: K, len: u8, value: V) {
        let pos = match self.by_len.binary_search_by_key(&len, |(l, _)| *l) {
            Ok(p) => p,
            Err(p) => {
                self.by_len.insert(p, (len, HashMap::new()));
                p
            }
        };
        if let Some((_, m)) = self.by_len.get_mut(pos) {
            m.entry(key).or_insert(value);
        }
    }

    fn lookup(&self, addr: K, mask: fn(K, u8) -> K) -> Option<&V> {
        self.by_len.iter().rev().find_map(|(len, m)| m.get(&mask(addr, *len)))
    }
}

/// Domain entries by how they match; keys are lower-case without a trailing dot.
#[derive(Debug)]
struct DomainIndex<V> {
    exact: HashMap<String, V>,
    wildcard: HashMap<String, V>,
    suffix: HashMap<String, V>,
}

impl<V> Default for DomainIndex<V> {
    fn default() -> Self {
        DomainIndex { exact: HashMap::new(), wildcard: HashMap::new(), suffix: HashMap::new() }
    }
}

impl<V> DomainIndex<V> {
    fn insert(&mut self, domain: &str, how: DomainMatch, value: V) {
        let map = match how {
            DomainMatch::Exact => &mut self.exact,
            DomainMatch::Wildcard => &mut self.wildcard,
            DomainMatch::Suffix => &mut self.suffix,
        };
        if !map.contains_key(domain) {
            map.insert(domain.to_owned(), value);
        }
    }

    /// `d` is normalised. The name itself matches exact and suffix entries;
    /// each parent, nearest first, matches wildcard and suffix entries.
    fn lookup(&self, d: &str) -> Option<&V> {
        if d.is_empty() {
            return None;
        }
        if let Some(v) = self.exact.get(d).or_else(|| self.suffix.get(d)) {
            return Some(v);
        }
        if self.wildcard.is_empty() && self.suffix.is_empty() {
            return None;
        }
        parents(d).find_map(|p| self.wildcard.get(p).or_else(|| self.suffix.get(p)))
    }
}

/// The strict parents of `d`: `a.b.c` → `b.c`, `c`.
fn parents(d: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(d.split_once('.').map(|(_, rest)| rest), |s| s.split_once('.').map(|(_, rest)| rest))
        .filter(|s| !s.is_empty())
}

fn normalize_owned(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Call `f` with `domain` trimmed of whitespace and trailing dots and
/// lower-cased. Already lower-case input (what resolvers send) is passed
/// through as is; other input is lower-cased into a stack buffer large
/// enough for any DNS name, so a lookup allocates only for a name longer than
/// DNS allows.
fn with_normalized<R>(domain: &str, f: impl FnOnce(&str) -> R) -> R {
    let d = domain.trim().trim_end_matches('.');
    if !d.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(d);
    }
    let mut buf = [0u8; 256];
    match buf.get_mut(..d.len()) {
        Some(b) => {
            b.copy_from_slice(d.as_bytes());
            b.make_ascii_lowercase();
            // Lower-casing ASCII bytes keeps UTF-8 valid, so this never
            // takes the fallback.
            match std::str::from_utf8(b) {
                Ok(s) => f(s),
                Err(_) => f(&d.to_ascii_lowercase()),
            }
        }
        None => f(&d.to_ascii_lowercase()),
    }
}

/// 64 hex digits (any case) → 32 bytes, without allocating.
fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The detector's view of the current [`Intel`]: loads are wait-free, a
/// [`IntelHandle::swap`] publishes a new snapshot without blocking readers.
#[derive(Debug, Clone)]
pub struct IntelHandle(Arc<ArcSwap<Intel>>);

impl IntelHandle {
    pub fn new(intel: Intel) -> Self {
        IntelHandle(Arc::new(ArcSwap::from_pointee(intel)))
    }

    pub fn load(&self) -> arc_swap::Guard<Arc<Intel>> {
        self.0.load()
    }

    pub fn swap(&self, intel: Intel) {
        self.0.store(Arc::new(intel));
    }
}

impl Default for IntelHandle {
    fn default() -> Self {
        IntelHandle::new(Intel::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(name: &str, category: ThreatCategory, entries: &[&str]) -> ThreatList {
        crate::intel::parse_list(name, category, &entries.join("\n"), crate::intel::Format::Plain).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_v4_and_v6() {
        let wide = list("wide", ThreatCategory::TorRelay, &["10.0.0.0/8", "2001:db8::/32"]);
        let narrow = list("narrow", ThreatCategory::CommandAndControl, &["10.1.0.0/16", "2001:db8:1::/48"]);
        let one = list("one", ThreatCategory::Crypto, &["10.1.2.3", "2001:db8:1::7"]);
        let intel = Intel::build(&[wide, narrow, one], &[]);
        let list_of = |s: &str| intel.lookup_ip(ip(s)).map(|m| m.list);
        assert_eq!(list_of("10.9.9.9"), Some("wide"));
        assert_eq!(list_of("10.1.9.9"), Some("narrow"));
        assert_eq!(list_of("10.1.2.3"), Some("one"));
        assert_eq!(list_of("11.0.0.1"), None);
        assert_eq!(list_of("2001:db8:ffff::1"), Some("wide"));
        assert_eq!(list_of("2001:db8:1:2::1"), Some("narrow"));
        assert_eq!(list_of("2001:db8:1::7"), Some("one"));
        assert_eq!(list_of("2001:db9::1"), None);
        // IPv4-mapped IPv6 is looked up as IPv4.
        assert_eq!(list_of("::ffff:10.1.2.3"), Some("one"));
    }

    #[test]
    fn hand_built_lists_are_canonicalised() {
        let mut l = ThreatList::new("hand", ThreatCategory::CommandAndControl);
        // Host bits set, and an IPv4-mapped entry.
        l.add_network(ip("192.0.2.77"), 24, Some("Net"));
        l.add_network(ip("::ffff:198.51.100.1"), 128, None);
        l.add_domain("Evil.Example.", DomainMatch::Exact, Some("Dom"));
        l.add_hash("AB".repeat(32), Some("Hash"));
        l.add_hash("not a hash", None);
        let intel = Intel::build(&[l], &[]);
        assert_eq!(intel.lookup_ip(ip("192.0.2.1")).unwrap().threat_name, Some("Net"));
        assert_eq!(intel.lookup_ip(ip("198.51.100.1")).unwrap().threat_name, None);
        assert_eq!(intel.lookup_domain("evil.example").unwrap().threat_name, Some("Dom"));
        assert_eq!(intel.lookup_sha256(&"ab".repeat(32)).unwrap().threat_name, Some("Hash"));
        assert!(intel.lookup_sha256("not a hash").is_none());
    }

    #[test]
    fn first_list_wins_a_shared_entry() {
        let a = list("a", ThreatCategory::CommandAndControl, &["192.0.2.1", "evil.example"]);
        let b = list("b", ThreatCategory::Crypto, &["192.0.2.1", "evil.example"]);
        let intel = Intel::build(&[a, b], &[]);
        assert_eq!(intel.lookup_ip(ip("192.0.2.1")).unwrap().list, "a");
        assert_eq!(intel.lookup_domain("evil.example").unwrap().category, ThreatCategory::CommandAndControl);
        assert_eq!(
            intel.lists().collect::<Vec<_>>(),
            [("a", ThreatCategory::CommandAndControl), ("b", ThreatCategory::Crypto)]
        );
    }

    #[test]
    fn normalisation_passes_lower_case_through() {
        assert_eq!(with_normalized("a.example", |d| d.as_ptr()), "a.example".as_ptr());
        let s = "a.example.";
        assert_eq!(with_normalized(s, |d| (d.as_ptr(), d.len())), (s.as_ptr(), 9));
        assert_eq!(with_normalized(" A.Example. ", str::to_owned), "a.example");
        let long = format!("{}.EXAMPLE", "x".repeat(300));
        assert_eq!(with_normalized(&long, str::to_owned), long.to_ascii_lowercase());
        assert_eq!(with_normalized("BÜCHER.example", str::to_owned), "bÜcher.example");
    }

    #[test]
    fn sha256_decoding() {
        let h = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        let k = decode_sha256(h).unwrap();
        assert_eq!(k[0], 0x27);
        assert_eq!(k[31], 0x0f);
        assert_eq!(decode_sha256(&h.to_ascii_uppercase()), Some(k));
        assert_eq!(decode_sha256(&h[1..]), None);
        assert_eq!(decode_sha256(&format!("{}g", &h[1..])), None);
    }

    #[test]
    fn handle_swaps_snapshots() {
        let handle = IntelHandle::default();
        let before = handle.load();
        assert!(before.lookup_ip(ip("192.0.2.1")).is_none());
        handle.swap(Intel::build(&[list("new", ThreatCategory::CommandAndControl, &["192.0.2.1"])], &[]));
        // The old guard still sees the old snapshot; a new load sees the new one.
        assert!(before.lookup_ip(ip("192.0.2.1")).is_none());
        assert_eq!(handle.load().lookup_ip(ip("192.0.2.1")).unwrap().list, "new");
    }
}
