//! One list entry as written — an address, a CIDR, a domain pattern or a
//! SHA-256 — validated and put in canonical form, and [`ListBuilder`], which
//! every format loader feeds: it de-duplicates entries and keeps the skip count
//! with the first few reasons.
//!
//! Lists are third-party input: an entry that does not validate is skipped and
//! reported, never guessed at, so a corrupt feed cannot widen what matches.

use super::{DomainMatch, ThreatCategory, ThreatList};
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

/// How many skip reasons a list keeps; the rest are only counted, so that a
/// file in the wrong format does not produce a message per line.
pub(crate) const MAX_MESSAGES: usize = 10;

/// A valid entry, canonical: networks masked to their prefix and IPv4-mapped
/// IPv6 turned into IPv4; domains lower-case without the trailing dot; hashes
/// lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Indicator {
    Network(IpAddr, u8),
    Domain(String, DomainMatch),
    Sha256(String),
}

/// Classify one entry of a list whose entries may be of any kind.
pub(crate) fn parse_indicator(raw: &str) -> Result<Indicator, String> {
    let s = raw.trim();
    // A CIDR gets its own reasons (the prefix length) once its address part
    // is an address; `evil.com/path` is just not an entry.
    if let Some((addr, _)) = s.split_once('/')
        && addr.parse::<IpAddr>().is_ok()
    {
        return parse_network(s).map(|(ip, len)| Indicator::Network(ip, len));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let (ip, len) = single(ip);
        return Ok(Indicator::Network(ip, len));
    }
    if let Some(h) = parse_sha256(s) {
        return Ok(Indicator::Sha256(h));
    }
    match parse_domain(s) {
        Ok((d, how)) => Ok(Indicator::Domain(d, how)),
        // Only length problems are worth their own words: anything else is
        // as likely a mistyped address as a bad name.
        Err(why @ (DomainError::TooLong | DomainError::LabelTooLong(_) | DomainError::EmptyLabel)) => {
            Err(format!("{} is not a valid domain name: {why}", quoted(s)))
        }
        Err(_) => Err(format!("{} is not an IP address, CIDR, domain or SHA-256", quoted(s))),
    }
}

/// An address, or a network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`).
/// Host bits below the prefix are cleared rather than rejected: feeds write
/// `10.1.2.3/8` meaning the network.
pub(crate) fn parse_network(raw: &str) -> Result<(IpAddr, u8), String> {
    let s = raw.trim();
    let Some((addr, len)) = s.split_once('/') else {
        return s.parse::<IpAddr>().map(single).map_err(|_| format!("{} is not an IP address or CIDR", quoted(s)));
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return Err(format!("{} is not a CIDR: {} is not an IP address", quoted(s), quoted(addr)));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let len = match len.parse::<u32>() {
        Ok(l) if l <= max => l as u8,
        Ok(_) => {
            return Err(format!("{}: prefix length {} is out of range for {family} (0-{max})", quoted(s), quoted(len)));
        }
        Err(_) => return Err(format!("{}: prefix length {} is not a number (0-{max})", quoted(s), quoted(len))),
    };
    Ok(canonical_network(ip, len))
}

/// An address or CIDR of one family, judged by how it is written, so that
/// `::ffff:192.0.2.1` counts as IPv6 text even though it is stored as IPv4.
pub(crate) fn parse_network_of(raw: &str, v6: bool) -> Result<(IpAddr, u8), String> {
    let net = parse_network(raw)?;
    if raw.contains(':') == v6 {
        Ok(net)
    } else {
        Err(format!("{} is not an {} address or network", quoted(raw.trim()), if v6 { "IPv6" } else { "IPv4" }))
    }
}

/// One address as a network of its full length.
fn single(ip: IpAddr) -> (IpAddr, u8) {
    canonical_network(ip, if ip.is_ipv4() { 32 } else { 128 })
}

/// Mask host bits; an IPv4-mapped IPv6 network (`::ffff:a.b.c.d/96+`) becomes
/// the IPv4 network it denotes, because lookups see such addresses as IPv4.
pub(crate) fn canonical_network(ip: IpAddr, len: u8) -> (IpAddr, u8) {
    match ip {
        IpAddr::V4(a) => {
            let len = len.min(32);
            (IpAddr::V4(mask4(u32::from(a), len).into()), len)
        }
        IpAddr::V6(a) => {
            let len = len.min(128);
            let masked = std::net::Ipv6Addr::from(mask6(u128::from(a), len));
            match masked.to_ipv4_mapped() {
                Some(v4) if len >= 96 => (IpAddr::V4(mask4(u32::from(v4), len - 96).into()), len - 96),
                _ => (IpAddr::V6(masked), len),
            }
        }
    }
}

pub(crate) fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 { 0 } else { a & (u32::MAX << (32 - u32::from(len.min(32)))) }
}

pub(crate) fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 { 0 } else { a & (u128::MAX << (128 - u32::from(len.min(128)))) }
}

/// 64 hex digits, lower-cased.
pub(crate) fn parse_sha256(raw: &str) -> Option<String> {
    let s = raw.trim();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Why a string is not a domain pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainError {
    Empty,
    NoDot,
    TooLong,
    EmptyLabel,
    LabelTooLong(usize),
    BadCharacter(char),
    NumericTld,
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::Empty => f.write_str("empty name"),
            DomainError::NoDot => f.write_str("a single label (no dot)"),
            DomainError::TooLong => f.write_str("longer than 253 characters"),
            DomainError::EmptyLabel => f.write_str("an empty label (two dots in a row)"),
            DomainError::LabelTooLong(n) => write!(f, "a label of {n} characters (at most 63)"),
            DomainError::BadCharacter(c) => write!(f, "the character {c:?}"),
            DomainError::NumericTld => f.write_str("an all-numeric last label"),
        }
    }
}

/// `example.com` (exact), `*.example.com` (subdomains only) or `.example.com`
/// (the name and its subdomains); one trailing dot (the FQDN form) is
/// dropped. Labels are 1-63 characters of letters, digits, `-` and `_` (which
/// real names such as `_dmarc` use), the name at most 253 characters with at
/// least one dot; a whole top-level domain cannot be listed, and an
/// all-numeric last label is refused so that `999.1.1.1` is not taken for a
/// name.
pub(crate) fn parse_domain(raw: &str) -> Result<(String, DomainMatch), DomainError> {
    let s = raw.trim();
    let (how, rest) = if let Some(r) = s.strip_prefix("*.") {
        (DomainMatch::Wildcard, r)
    } else if let Some(r) = s.strip_prefix('.') {
        (DomainMatch::Suffix, r)
    } else {
        (DomainMatch::Exact, s)
    };
    let name = rest.strip_suffix('.').unwrap_or(rest);
    validate_domain(name)?;
    Ok((name.to_ascii_lowercase(), how))
}

fn validate_domain(name: &str) -> Result<(), DomainError> {
    if name.is_empty() {
        return Err(DomainError::Empty);
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')) {
        return Err(DomainError::BadCharacter(c));
    }
    if name.len() > 253 {
        return Err(DomainError::TooLong);
    }
    if !name.contains('.') {
        return Err(DomainError::NoDot);
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err(DomainError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DomainError::LabelTooLong(label.len()));
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::NumericTld);
    }
    Ok(())
}

/// `raw` quoted and escaped for a message (list content is untrusted text),
/// cut to a readable length.
pub(crate) fn quoted(raw: &str) -> String {
    const MAX: usize = 80;
    match raw.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &raw[..cut]),
        None => format!("{raw:?}"),
    }
}

/// Collects one list's entries: de-duplicates them (so the counts are of
/// distinct entries and the first name given wins), counts skips and keeps
/// the first [`MAX_MESSAGES`] reasons.
pub(crate) struct ListBuilder {
    list: ThreatList,
    seen_networks: HashSet<(IpAddr, u8)>,
    seen_domains: HashSet<(String, DomainMatch)>,
    seen_hashes: HashSet<String>,
}

impl ListBuilder {
    pub(crate) fn new(name: &str, category: ThreatCategory) -> Self {
        ListBuilder {
            list: ThreatList::new(name, category),
            seen_networks: HashSet::new(),
            seen_domains: HashSet::new(),
            seen_hashes: HashSet::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.list.name
    }

    pub(crate) fn add(&mut self, entry: Indicator, threat_name: Option<&str>) {
        match entry {
            Indicator::Network(ip, len) => {
                if self.seen_networks.insert((ip, len)) {
                    self.list.add_network(ip, len, threat_name);
                }
            }
            Indicator::Domain(d, how) => {
                if self.seen_domains.insert((d.clone(), how)) {
                    self.list.add_domain(d, how, threat_name);
                }
            }
            Indicator::Sha256(h) => {
                if self.seen_hashes.insert(h.clone()) {
                    self.list.add_hash(h, threat_name);
                }
            }
        }
    }

    /// Skip something at `place` (`line 7`, an indicator id) because `why`.
    pub(crate) fn skip(&mut self, place: impl fmt::Display, why: impl fmt::Display) {
        self.list.stats.skipped += 1;
        if self.list.stats.messages.len() < MAX_MESSAGES {
            self.list.stats.messages.push(format!("{place}: {why}"));
        }
    }

    pub(crate) fn skip_line(&mut self, line: usize, why: impl fmt::Display) {
        self.skip(format_args!("line {line}"), why);
    }

    pub(crate) fn finish(self) -> ThreatList {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn net(s: &str) -> (IpAddr, u8) {
        match parse_indicator(s).unwrap() {
            Indicator::Network(ip, len) => (ip, len),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn addresses_and_networks_are_canonical() {
        assert_eq!(net("192.0.2.1"), (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 32));
        assert_eq!(net(" 10.1.2.3/8 "), (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8));
        assert_eq!(net("2001:db8::1"), ("2001:db8::1".parse().unwrap(), 128));
        assert_eq!(net("2001:db8:ffff::/32"), ("2001:db8::".parse().unwrap(), 32));
        assert_eq!(net("0.0.0.0/0"), (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        // IPv4-mapped IPv6 is the IPv4 address it carries.
        assert_eq!(net("::ffff:192.0.2.7"), (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 32));
        assert_eq!(net("::ffff:192.0.2.0/120"), (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24));
        assert_eq!(net("::/0"), (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0));
    }

    #[test]
    fn bad_networks_say_why() {
        let e = parse_indicator("10.0.0.0/33").unwrap_err();
        assert_eq!(e, r#""10.0.0.0/33": prefix length "33" is out of range for IPv4 (0-32)"#);
        assert!(parse_indicator("2001:db8::/129").unwrap_err().contains("out of range for IPv6 (0-128)"));
        assert!(parse_indicator("10.0.0.0/x").unwrap_err().contains(r#"prefix length "x" is not a number"#));
        assert!(parse_indicator("10.0.0.0/").unwrap_err().contains("is not a number"));
        assert!(parse_indicator("10.0.0/8").unwrap_err().ends_with("is not an IP address, CIDR, domain or SHA-256"));
        assert!(parse_network("10.0.0/8").unwrap_err().contains(r#""10.0.0" is not an IP address"#));
        assert!(parse_network_of("::ffff:192.0.2.1", true).is_ok());
        assert!(parse_network_of("192.0.2.0/24", false).is_ok());
        assert_eq!(
            parse_network_of("192.0.2.1", true).unwrap_err(),
            r#""192.0.2.1" is not an IPv6 address or network"#
        );
    }

    #[test]
    fn domains_exact_wildcard_suffix() {
        let d = |s: &str| match parse_indicator(s).unwrap() {
            Indicator::Domain(d, how) => (d, how),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(d("Example.COM."), ("example.com".into(), DomainMatch::Exact));
        assert_eq!(d("*.example.com"), ("example.com".into(), DomainMatch::Wildcard));
        assert_eq!(d(".example.com"), ("example.com".into(), DomainMatch::Suffix));
        assert_eq!(d("_dmarc.example-1.com"), ("_dmarc.example-1.com".into(), DomainMatch::Exact));
        assert_eq!(d("xn--bcher-kva.example"), ("xn--bcher-kva.example".into(), DomainMatch::Exact));
    }

    #[test]
    fn bad_domains_are_refused() {
        let generic = |s: &str| {
            let e = parse_indicator(s).unwrap_err();
            assert!(e.ends_with("is not an IP address, CIDR, domain or SHA-256"), "{s}: {e}");
        };
        generic("999.1.1.1");
        generic("localhost");
        generic("*.com");
        generic(".com");
        generic("a.*.example.com");
        generic("evil.com/path");
        generic("http://evil.com");
        generic("bad domain.com");
        generic("bücher.example");
        generic("12345");
        assert!(parse_indicator(&format!("{}.com", "a".repeat(64))).unwrap_err().contains("64 characters"));
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(parse_indicator(&long).unwrap_err().contains("longer than 253"));
        assert!(parse_indicator("a..example.com").unwrap_err().contains("empty label"));
        // The longest legal label and name are fine.
        assert!(parse_domain(&format!("{}.com", "a".repeat(63))).is_ok());
        let name = |last: usize| format!("{}.{}", vec!["a".repeat(63); 3].join("."), "b".repeat(last));
        assert_eq!(name(61).len(), 253);
        assert!(parse_domain(&name(61)).is_ok());
        assert_eq!(parse_domain(&name(62)), Err(DomainError::TooLong));
    }

    #[test]
    fn hashes_are_lower_case_hex() {
        let h = "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F";
        assert_eq!(parse_indicator(h).unwrap(), Indicator::Sha256(h.to_ascii_lowercase()));
        // 63 digits or a non-hex digit: not a hash, and not anything else.
        assert!(parse_indicator(&h[1..]).is_err());
        assert!(parse_indicator(&h.replace('A', "g")).is_err());
    }

    #[test]
    fn messages_quote_and_cut_untrusted_text() {
        assert_eq!(quoted("a\"b\n"), r#""a\"b\n""#);
        let q = quoted(&"x".repeat(500));
        assert!(q.len() < 100 && q.ends_with("..."), "{q}");
    }

    #[test]
    fn builder_dedups_and_keeps_the_first_reasons() {
        let mut b = ListBuilder::new("t", ThreatCategory::CommandAndControl);
        b.add(parse_indicator("192.0.2.1").unwrap(), Some("First"));
        b.add(parse_indicator("::ffff:192.0.2.1").unwrap(), Some("Second"));
        b.add(parse_indicator("Example.com").unwrap(), None);
        b.add(parse_indicator("example.com.").unwrap(), None);
        b.add(parse_indicator(".example.com").unwrap(), None);
        for n in 0..15 {
            b.skip_line(n, "bad");
        }
        let l = b.finish();
        assert_eq!((l.stats.ips, l.stats.domains, l.stats.hashes), (1, 2, 0));
        assert_eq!(l.threat_names.network("192.0.2.1".parse().unwrap(), 32), Some("First"));
        assert_eq!(l.stats.skipped, 15);
        assert_eq!(l.stats.messages.len(), MAX_MESSAGES);
        assert_eq!(l.stats.messages[0], "line 0: bad");
    }
}
