//! What the formats read out of a finding, in one place: the network
//! connection or DNS request of `service.action`, the container, the host,
//! the severity band, and the time and text helpers every format shares.
//!
//! `service.action` is free JSON in the finding (GuardDuty's shape, see
//! docs/findings.md §2.7); these accessors read it defensively: a missing or
//! odd field is "unknown", never an error.

use chrono::{DateTime, SecondsFormat, Utc};
use saker_detect::Finding;
use saker_detect::finding::{ContainerDetails, RuntimeProcess};
use serde_json::Value;

/// Severity bands shared by every format. Thresholds are ASFF's on the
/// normalized 0–100 scale (Security Hub's `Severity.Label` rules), with
/// normalized = GuardDuty severity × 10, as GuardDuty itself reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// GuardDuty's 0–10 severity on ASFF's 0–100 scale.
pub fn normalized(severity: f64) -> u8 {
    if severity.is_nan() {
        return 0;
    }
    // Clamped first, so the cast cannot truncate.
    (severity * 10.0).round().clamp(0.0, 100.0) as u8
}

pub fn band(severity: f64) -> Band {
    match normalized(severity) {
        0 => Band::Informational,
        1..=39 => Band::Low,
        40..=69 => Band::Medium,
        70..=89 => Band::High,
        _ => Band::Critical,
    }
}

/// The network connection of a network finding (`NETWORK_CONNECTION`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connection<'a> {
    /// `OUTBOUND` or `INBOUND`.
    pub inbound: bool,
    /// `TCP`, `UDP`, ...
    pub protocol: Option<&'a str>,
    pub remote_ip: Option<&'a str>,
    pub remote_port: Option<u16>,
    pub local_ip: Option<&'a str>,
    pub local_port: Option<u16>,
}

impl Connection<'_> {
    /// IANA protocol number for the names Saker reports.
    pub fn protocol_number(&self) -> Option<u8> {
        match self.protocol? {
            p if p.eq_ignore_ascii_case("tcp") => Some(6),
            p if p.eq_ignore_ascii_case("udp") => Some(17),
            _ => None,
        }
    }
}

/// The DNS request of a DNS finding (`DNS_REQUEST`).
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRequest<'a> {
    pub domain: &'a str,
    pub protocol: Option<&'a str>,
}

pub fn connection(f: &Finding) -> Option<Connection<'_>> {
    let action = f.service.action.as_ref()?;
    let c = action.get("networkConnectionAction")?;
    Some(Connection {
        inbound: c.get("connectionDirection").and_then(Value::as_str) == Some("INBOUND"),
        protocol: c.get("protocol").and_then(Value::as_str),
        remote_ip: ip(c.get("remoteIpDetails")),
        remote_port: port(c.get("remotePortDetails")),
        local_ip: ip(c.get("localIpDetails")),
        local_port: port(c.get("localPortDetails")),
    })
}

pub fn dns_request(f: &Finding) -> Option<DnsRequest<'_>> {
    let action = f.service.action.as_ref()?;
    let d = action.get("dnsRequestAction")?;
    Some(DnsRequest {
        domain: d.get("domain").and_then(Value::as_str).filter(|s| !s.is_empty())?,
        protocol: d.get("protocol").and_then(Value::as_str),
    })
}

fn ip(details: Option<&Value>) -> Option<&str> {
    let d = details?;
    d.get("ipAddressV4").or_else(|| d.get("ipAddressV6")).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn port(details: Option<&Value>) -> Option<u16> {
    details?.get("port")?.as_u64().and_then(|p| u16::try_from(p).ok())
}

/// Is this textual address IPv6? (Saker writes v6 under `ipAddressV6`.)
pub fn is_ipv6(ip: &str) -> bool {
    ip.contains(':')
}

/// The container the process ran in: `containerDetails`, else the first
/// container of the ECS task or pod.
pub fn container(f: &Finding) -> Option<&ContainerDetails> {
    let r = &f.resource;
    r.container_details
        .as_ref()
        .or_else(|| r.ecs_cluster_details.as_ref().and_then(|e| e.task_details.containers.first()))
        .or_else(|| r.kubernetes_details.as_ref().and_then(|k| k.kubernetes_workload_details.containers.first()))
}

/// The host name the finding names, if any.
pub fn hostname(f: &Finding) -> Option<&str> {
    f.resource.instance_details.as_ref()?.hostname.as_deref().filter(|h| !h.is_empty())
}

/// A string context field (`filePath`, `commandLineExample`, ...).
pub fn context_str<'a>(f: &'a Finding, key: &str) -> Option<&'a str> {
    f.service.runtime_details.context.get(key)?.as_str().filter(|s| !s.is_empty())
}

/// The process's command line: argv joined with spaces, as GuardDuty's
/// `commandLineExample` is; the name when argv is empty.
pub fn command_line(p: &RuntimeProcess) -> String {
    if p.argv.is_empty() { p.name.clone() } else { p.argv.join(" ") }
}

/// Split an image reference into repository and tag (`nginx:1.27` →
/// `nginx`, `1.27`); a `:` inside the registry host is not a tag.
pub fn image_parts(image: &str) -> (&str, Option<&str>) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&without_digest[..at], Some(&without_digest[at + 1..]))
        }
        None => (without_digest, None),
    }
}

/// RFC 3339 UTC with milliseconds: `2026-11-28T14:31:07.448Z` (ASFF).
pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 UTC with microseconds: RFC 5424 allows at most 6 fraction digits.
pub fn rfc3339_us(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// RFC 3339 UTC with nanoseconds (Falco's `time`).
pub fn rfc3339_ns(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// RFC 3339 UTC in whole seconds (EventBridge's `time`).
pub fn rfc3339_s(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Milliseconds since the epoch (OCSF `timestamp_t`).
pub fn epoch_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// At most `max` characters, cut on a character boundary and marked with an
/// ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_asff_thresholds() {
        assert_eq!(band(0.0), Band::Informational);
        assert_eq!(band(2.0), Band::Low);
        assert_eq!(band(3.9), Band::Low);
        assert_eq!(band(5.0), Band::Medium);
        assert_eq!(band(7.0), Band::High);
        assert_eq!(band(8.9), Band::High);
        assert_eq!(band(9.0), Band::Critical);
        assert_eq!(normalized(f64::NAN), 0);
        assert_eq!(normalized(42.0), 100);
    }

    #[test]
    fn image_references() {
        assert_eq!(image_parts("nginx:1.27"), ("nginx", Some("1.27")));
        assert_eq!(image_parts("nginx"), ("nginx", None));
        assert_eq!(image_parts("localhost:5000/web"), ("localhost:5000/web", None));
        assert_eq!(
            image_parts("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-api:1.4.2"),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-api", Some("1.4.2"))
        );
        assert_eq!(image_parts("busybox@sha256:abc"), ("busybox", None));
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
    }
}
