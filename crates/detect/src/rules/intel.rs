//! Threat-intelligence rules: the remote address of a connection, the names a
//! process asks DNS for (and what they resolve to), the executable's hash.

use super::tables::METADATA_ADDRESSES;
use super::{Hit, RuleCtx};
use crate::catalog::FindingType as T;
use crate::intel::{Match, ThreatCategory as C};
use saker_model::{Event, Kind};
use serde_json::json;
use std::net::IpAddr;

/// Which type a listed IP gives, by direction.
fn ip_type(category: C, inbound: bool) -> Option<T> {
    Some(match category {
        C::CommandAndControl => T::CommandAndControl,
        C::Crypto | C::BitcoinDomain => T::BitcoinTool,
        C::Blackhole => T::BlackholeTraffic,
        C::DropPoint => T::DropPoint,
        // A Tor node connecting in: this workload relays Tor traffic.
        C::TorRelay | C::TorClient if inbound => T::TorRelay,
        C::TorRelay | C::TorClient => T::TorClient,
        _ => return None,
    })
}

/// Which type a listed domain gives.
fn dns_type(category: C) -> Option<T> {
    Some(match category {
        C::CommandAndControl => T::CommandAndControlDns,
        C::Crypto => T::BitcoinToolDns,
        C::Blackhole => T::BlackholeTrafficDns,
        C::DropPoint => T::DropPointDns,
        C::Dga => T::DgaDomainRequest,
        C::DriveBy => T::DriveBySourceTraffic,
        C::Phishing => T::PhishingDomainRequest,
        C::AbusedDomain => T::AbusedDomainRequest,
        C::BitcoinDomain => T::BitcoinDomainRequest,
        C::MaliciousDomain => T::MaliciousDomainRequest,
        C::SuspiciousDomain => T::SuspiciousDomainRequest,
        C::TorRelay | C::TorClient | C::MaliciousFile | C::CustomMaliciousFile => return None,
    })
}

/// The finding types an entry of a list in `category` can lead to: by
/// address (outbound, inbound), by domain, by hash. What
/// `saker findings categories` prints.
pub fn types_for_category(category: C) -> Vec<T> {
    let (ips, domains) = category.entry_kinds();
    let mut types = Vec::new();
    if ips {
        types.extend([ip_type(category, false), ip_type(category, true)].into_iter().flatten());
    }
    if domains {
        types.extend(dns_type(category));
    }
    if category == C::Blackhole {
        types.push(T::BlackholeTrafficDns); // a name answered with a listed sinkhole
    }
    types.push(hash_type(category));
    types.dedup();
    types
}

/// A user's own malware list is `.Custom`; a hash on any other threat list
/// (a C&C feed's implant, a miner) is a known malicious file.
fn hash_type(category: C) -> T {
    match category {
        C::CustomMaliciousFile => T::MaliciousFileExecutedCustom,
        _ => T::MaliciousFileExecuted,
    }
}

fn evidence(hit: Hit, m: &Match<'_>) -> Hit {
    hit.threat(m.list, m.threat_name)
}

pub(super) fn on_net(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let Some(n) = ev.net() else { return };
    let inbound = match ev.kind {
        Kind::NetConnect => false,
        Kind::NetAccept => true,
        _ => return,
    };
    // A refused, timed-out or unreachable connect still reached for the
    // address (a C&C server that is down is still the malware calling home):
    // report it — blocked = false, Saker only observes. Calls the kernel
    // rejected before any packet left are not attempts.
    if ev.result.is_some_and(not_an_attempt) {
        return;
    }
    let Some(remote) = n.remote_address.as_deref() else { return };
    let Ok(ip) = remote.parse::<IpAddr>() else { return };
    let Some(m) = cx.intel.lookup_ip(ip) else { return };
    let Some(t) = ip_type(m.category, inbound) else { return };
    let v = if ip.is_ipv4() { "ipAddressV4" } else { "ipAddressV6" };
    let action = json!({
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": if inbound { "INBOUND" } else { "OUTBOUND" },
            "protocol": n.protocol.as_deref().unwrap_or("TCP").to_ascii_uppercase(),
            "blocked": false,
            "remoteIpDetails": { v: remote },
            "remotePortDetails": { "port": n.remote_port },
            "localPortDetails": { "port": n.local_port },
            "localIpDetails": { v: n.local_address },
        }
    });
    let mut hit = evidence(Hit::new(t, remote), &m);
    hit.action = Some(action);
    hits.push(hit);
}

pub(super) fn on_dns(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let saker_model::Payload::Dns(d) = &ev.payload else { return };
    let dns_action = |domain: &str| {
        json!({
            "actionType": "DNS_REQUEST",
            "dnsRequestAction": { "domain": domain, "protocol": d.transport.to_ascii_uppercase(), "blocked": false }
        })
    };
    match ev.kind {
        Kind::DnsQuery => {
            for q in &d.questions {
                let Some(m) = cx.intel.lookup_domain(&q.name) else { continue };
                let Some(t) = dns_type(m.category) else { continue };
                let domain = q.name.trim_end_matches('.');
                let mut hit = evidence(Hit::new(t, domain.to_ascii_lowercase()), &m);
                hit.action = Some(dns_action(domain));
                hits.push(hit);
            }
        }
        Kind::DnsAnswer => {
            let asked = d.questions.first().map(|q| q.name.trim_end_matches('.')).unwrap_or("");
            // A trusted name is trusted whatever it resolves to.
            if cx.intel.trusted_domain(asked) {
                return;
            }
            for a in d.answers.iter().filter(|a| a.rtype == "A" || a.rtype == "AAAA") {
                // A public name answered with the metadata address: rebinding.
                // AWS's own names for the service are not.
                if METADATA_ADDRESSES.contains(&a.data.as_str()) && !is_aws_metadata_name(asked) {
                    let mut hit = Hit::new(T::MetadataDnsRebind, asked.to_ascii_lowercase());
                    hit.action = Some(dns_action(asked));
                    hits.push(hit);
                    break;
                }
                // The name resolves to a listed sinkhole.
                if let Ok(ip) = a.data.parse::<IpAddr>()
                    && let Some(m) = cx.intel.lookup_ip(ip)
                    && m.category == C::Blackhole
                {
                    let mut hit = evidence(Hit::new(T::BlackholeTrafficDns, asked.to_ascii_lowercase()), &m);
                    hit.action = Some(dns_action(asked));
                    hits.push(hit);
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Errors a connect(2) returns before trying the network: a bad socket,
/// address or argument.
fn not_an_attempt(errno: i64) -> bool {
    const EBADF: i64 = 9;
    const EFAULT: i64 = 14;
    const EINVAL: i64 = 22;
    const ENOTSOCK: i64 = 88;
    const EPROTOTYPE: i64 = 91;
    const EAFNOSUPPORT: i64 = 97;
    const EISCONN: i64 = 106;
    const EALREADY: i64 = 114;
    [EBADF, EFAULT, EINVAL, ENOTSOCK, EPROTOTYPE, EAFNOSUPPORT, EISCONN, EALREADY].contains(&-errno)
}

fn is_aws_metadata_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "instance-data" || n.ends_with(".internal") || n == "localhost"
}

/// Exec events: check the hash now if the enricher already knew it (a cache
/// hit); otherwise keep the event until the hash arrives.
pub(super) fn on_exec(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    if !cx.hash_lists || !super::succeeded(ev) {
        return;
    }
    let Some(p) = &ev.process else { return };
    match p.executable_sha256.as_deref() {
        Some(sha) => check_hash(ev, sha, cx, hits),
        None => cx.state.await_hash(p.pid, ev.clone()),
    }
}

pub(super) fn check_hash(ev: &Event, sha256: &str, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let Some(m) = cx.intel.lookup_sha256(sha256) else { return };
    let t = hash_type(m.category);
    let path = ev
        .exec()
        .and_then(|x| x.executable.clone())
        .or_else(|| ev.process.as_ref().and_then(|p| p.executable.as_deref().map(str::to_owned)))
        .unwrap_or_default();
    let hit = Hit::new(t, sha256.to_ascii_lowercase())
        .ctx("threatFilePath", path.clone())
        .ctx("threatFileSha256", sha256.to_ascii_lowercase());
    let mut hit = evidence(hit, &m);
    if let Some(e) = hit.evidence.as_mut() {
        for d in &mut e.threat_intelligence_details {
            d.threat_names.push(format!("{path} sha256:{sha256}"));
        }
    }
    hits.push(hit);
}
