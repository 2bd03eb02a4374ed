//! Threat-intelligence findings, end to end: a real process talks to a listed
//! address, asks DNS for a listed name, or executes a listed file, and the
//! agent reports exactly the finding GuardDuty would.
//!
//! - Listed addresses live in network namespaces these tests create
//!   (`saker_testkit::netns`, 198.51.100.0/24 and 2001:db8::/32), each test
//!   with its own subnet so lists never cross.
//! - Listed names are resolved through the loopback test resolver; the
//!   GuardDuty test domains are built in, the way users test GuardDuty.
//! - Listed files are fresh copies of /bin/true made unique, so their hash is
//!   computed for the first time when they run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_detect::Finding;
use saker_detect::intel::builtin::GUARDDUTY_TEST_LIST;
use saker_detect::intel::{Format, ThreatCategory, ThreatList, parse_list};
use saker_model::{Kind, Payload};
use saker_testkit::netns::Netns;
use saker_testkit::{Harness, by, harness};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};

// ---------------------------------------------------------------- helpers

/// Findings whose acting process is `pid`.
fn of(f: &Finding, pid: u32) -> bool {
    f.service.runtime_details.process.pid == pid
}

/// Wait until everything `pid` did has been through detection: its exit is
/// the last event it causes, and findings of an event go out before the next
/// event is processed.
fn settled(h: &Harness, pid: u32) {
    h.expect("the acting process exited", |e| e.kind == Kind::ProcessExit && by(e, pid));
}

/// Wait for the `expected` finding about `pid`, then check it is the only
/// type reported for that process. Returns it as GuardDuty-shaped JSON.
fn the_finding(h: &Harness, pid: u32, expected: &str) -> Value {
    let f = h.expect_finding(&format!("{expected} for pid {pid}"), |f| of(f, pid) && f.finding_type.name() == expected);
    settled(h, pid);
    let types: Vec<&str> = h.findings(|f| of(f, pid)).iter().map(|f| f.finding_type.name()).collect();
    assert!(types.iter().all(|t| *t == expected), "only {expected} is reported for pid {pid}, got {types:?}");
    serde_json::to_value(&f).unwrap()
}

/// No finding at all about `pid`, once everything it did was processed.
fn no_finding(h: &Harness, pid: u32) {
    settled(h, pid);
    let types: Vec<&str> = h.findings(|f| of(f, pid)).iter().map(|f| f.finding_type.name()).collect();
    assert!(types.is_empty(), "no finding for pid {pid}, got {types:?}");
}

fn threat_list_name(f: &Value) -> &str {
    f["service"]["evidence"]["threatIntelligenceDetails"][0]["threatListName"].as_str().unwrap()
}

/// A list of `category` holding `ip`/`prefix_len`.
fn ip_list(name: &str, category: ThreatCategory, ip: IpAddr, prefix_len: u8) -> ThreatList {
    let mut l = ThreatList::new(name, category);
    l.add_network(ip, prefix_len, None);
    l
}

/// Which address of the netns is the listed peer.
#[derive(Clone, Copy)]
enum Peer {
    V4,
    V6,
}

/// A process on the host connects to a listener inside a netns of its own
/// (subnet `index`), whose address a list of `category` covers with
/// `prefix_len`: `expected` fires, with the connection as its action.
fn connect_out_to_listed(index: u8, peer: Peer, prefix_len: u8, category: ThreatCategory, expected: &str) {
    let Some(h) = harness() else { return };
    let mut ns = Netns::new(index);
    let remote: IpAddr = match peer {
        Peer::V4 => ns.ns_v4.into(),
        Peer::V6 => ns.ns_v6.into(),
    };
    let listener = ns.listen(SocketAddr::new(remote, 0));
    let list = format!("test-{category}-ips");
    h.add_threat_list(ip_list(&list, category, remote, prefix_len));

    let t = h.trigger(&["tcp-connect", &listener.to_string()]);
    assert!(t.stdout.contains("local="), "the connection was made: {}", t.stdout);

    let f = the_finding(h, t.pid, expected);
    let c = &f["service"]["action"]["networkConnectionAction"];
    assert_eq!(f["service"]["action"]["actionType"], "NETWORK_CONNECTION");
    assert_eq!(c["connectionDirection"], "OUTBOUND");
    assert_eq!(c["protocol"], "TCP");
    let v = if remote.is_ipv4() { "ipAddressV4" } else { "ipAddressV6" };
    assert_eq!(c["remoteIpDetails"][v], remote.to_string());
    assert_eq!(c["remotePortDetails"]["port"], listener.port());
    assert_eq!(threat_list_name(&f), list);
    assert_eq!(f["resource"]["resourceType"], "Instance");
}

/// A process on the host asks the test resolver for `domain`.
fn resolve(h: &Harness, domain: &str) -> u32 {
    let t = h.trigger(&["dns", saker_testkit::dns::resolver(), domain]);
    assert!(t.stdout.contains("answer_bytes="), "the name was resolved: {}", t.stdout);
    t.pid
}

/// Resolving `domain` gives `expected`, naming the domain and `list`.
fn resolving_gives(domain: &str, expected: &str, list: &str) {
    let Some(h) = harness() else { return };
    let pid = resolve(h, domain);
    let f = the_finding(h, pid, expected);
    let a = &f["service"]["action"];
    assert_eq!(a["actionType"], "DNS_REQUEST");
    assert_eq!(a["dnsRequestAction"]["domain"], domain);
    assert_eq!(a["dnsRequestAction"]["protocol"], "UDP");
    assert_eq!(threat_list_name(&f), list);
}

/// A GuardDuty test domain gives its GuardDuty finding type.
fn guardduty_test_domain(domain: &str, expected: &str) {
    resolving_gives(domain, expected, GUARDDUTY_TEST_LIST);
}

// ------------------------------------------------- listed IP of a connection

#[test]
fn connecting_to_a_c2_address_is_c2_activity() {
    connect_out_to_listed(40, Peer::V4, 32, ThreatCategory::CommandAndControl, "Backdoor:Runtime/C&CActivity.B");
}

#[test]
fn connecting_to_a_c2_address_over_ipv6_is_c2_activity() {
    connect_out_to_listed(41, Peer::V6, 128, ThreatCategory::CommandAndControl, "Backdoor:Runtime/C&CActivity.B");
}

#[test]
fn a_refused_connect_to_a_c2_address_is_still_c2_activity() {
    // A C&C server that is down is still the implant calling home.
    let Some(h) = harness() else { return };
    let ns = Netns::new(48);
    let remote: IpAddr = ns.ns_v4.into();
    h.add_threat_list(ip_list("test-c2-down", ThreatCategory::CommandAndControl, remote, 32));
    // Nothing listens on port 9 in the namespace: the connect is refused.
    let t = h.trigger(&["tcp-connect", &SocketAddr::new(remote, 9).to_string()]);
    assert!(t.stdout.contains(&format!("error={}", libc::ECONNREFUSED)), "refused: {}", t.stdout);
    let f = the_finding(h, t.pid, "Backdoor:Runtime/C&CActivity.B");
    assert_eq!(f["service"]["action"]["networkConnectionAction"]["remotePortDetails"]["port"], 9);
    assert_eq!(threat_list_name(&f), "test-c2-down");
}

#[test]
fn connecting_into_a_listed_crypto_network_is_a_bitcoin_tool() {
    // The list names the whole /30, not the address.
    connect_out_to_listed(42, Peer::V4, 30, ThreatCategory::Crypto, "CryptoCurrency:Runtime/BitcoinTool.B");
}

#[test]
fn connecting_to_a_blackholed_address_is_blackhole_traffic() {
    connect_out_to_listed(43, Peer::V4, 32, ThreatCategory::Blackhole, "Trojan:Runtime/BlackholeTraffic");
}

#[test]
fn connecting_to_a_drop_point_is_drop_point() {
    connect_out_to_listed(44, Peer::V4, 32, ThreatCategory::DropPoint, "Trojan:Runtime/DropPoint");
}

#[test]
fn connecting_to_a_tor_node_is_a_tor_client() {
    connect_out_to_listed(45, Peer::V4, 32, ThreatCategory::TorClient, "UnauthorizedAccess:Runtime/TorClient");
}

#[test]
fn accepting_a_connection_from_a_tor_node_is_a_tor_relay() {
    let Some(h) = harness() else { return };
    let ns = Netns::new(46);
    h.add_threat_list(ip_list("test-tor-nodes", ThreatCategory::TorRelay, ns.ns_v4.into(), 32));
    // A port free on the host end of the link.
    let port = std::net::TcpListener::bind((ns.host_v4, 0)).unwrap().local_addr().unwrap().port();
    let listen = SocketAddr::new(ns.host_v4.into(), port);

    // A service on the host accepts; the Tor node (inside the netns) connects.
    let service = std::thread::spawn(move || h.trigger(&["tcp-accept-once", &listen.to_string()]));
    let from_tor = ns.connect(listen);
    let client = from_tor.local_addr().unwrap();
    let t = service.join().unwrap();
    assert!(t.stdout.contains(&format!("peer={client}")), "the service accepted the Tor node: {}", t.stdout);

    let f = the_finding(h, t.pid, "UnauthorizedAccess:Runtime/TorRelay");
    let c = &f["service"]["action"]["networkConnectionAction"];
    assert_eq!(c["connectionDirection"], "INBOUND");
    assert_eq!(c["protocol"], "TCP");
    assert_eq!(c["remoteIpDetails"]["ipAddressV4"], ns.ns_v4.to_string());
    assert_eq!(c["remotePortDetails"]["port"], client.port());
    assert_eq!(c["localPortDetails"]["port"], port);
    assert_eq!(threat_list_name(&f), "test-tor-nodes");
}

#[test]
fn a_trusted_address_is_never_reported() {
    let Some(h) = harness() else { return };
    let mut ns = Netns::new(47);
    let listener = ns.listen(SocketAddr::new(ns.ns_v4.into(), 0));
    h.add_threat_list(ip_list("test-c2-overbroad", ThreatCategory::CommandAndControl, ns.ns_v4.into(), 32));
    let trusted = parse_list(
        "ours.txt",
        ThreatCategory::SuspiciousDomain,
        &format!("# our partner\n{}\n", ns.ns_v4),
        Format::Plain,
    )
    .unwrap();
    h.add_trusted_list(trusted);

    let t = h.trigger(&["tcp-connect", &listener.to_string()]);
    assert!(t.stdout.contains("local="), "the connection was made: {}", t.stdout);
    let remote = ns.ns_v4.to_string();
    h.expect("the connect to the trusted address", |e| {
        e.kind == Kind::NetConnect
            && by(e, t.pid)
            && e.net().is_some_and(|n| n.remote_address.as_deref() == Some(&*remote))
    });
    no_finding(h, t.pid);
}

// ------------------------------------------- GuardDuty's DNS test domains

#[test]
fn guardduty_c2_test_domain() {
    guardduty_test_domain("c2.guarddutyc2activityb.com", "Backdoor:Runtime/C&CActivity.B!DNS");
}

#[test]
fn guardduty_bitcoin_tool_test_domain() {
    guardduty_test_domain("crypto.guarddutyc2activityb.com", "CryptoCurrency:Runtime/BitcoinTool.B!DNS");
}

#[test]
fn guardduty_blackhole_test_domain() {
    guardduty_test_domain("guarddutyblackholeactivity.com", "Trojan:Runtime/BlackholeTraffic!DNS");
}

#[test]
fn guardduty_drop_point_test_domain() {
    guardduty_test_domain("guarddutydroppointactivity.com", "Trojan:Runtime/DropPoint!DNS");
}

#[test]
fn guardduty_dga_test_domain() {
    guardduty_test_domain("guarddutydgaactivity.com", "Trojan:Runtime/DGADomainRequest.C!DNS");
}

#[test]
fn guardduty_drive_by_test_domain() {
    guardduty_test_domain("guarddutydrivebyactivity.com", "Trojan:Runtime/DriveBySourceTraffic!DNS");
}

#[test]
fn guardduty_phishing_test_domain() {
    guardduty_test_domain("guarddutyphishingactivity.com", "Trojan:Runtime/PhishingDomainRequest!DNS");
}

#[test]
fn guardduty_abused_domain_test_domain() {
    guardduty_test_domain("abused-rep.guarddutyc2activityb.com", "Impact:Runtime/AbusedDomainRequest.Reputation");
}

#[test]
fn guardduty_bitcoin_domain_test_domain() {
    guardduty_test_domain("crypto-rep.guarddutyc2activityb.com", "Impact:Runtime/BitcoinDomainRequest.Reputation");
}

#[test]
fn guardduty_malicious_domain_test_domain() {
    guardduty_test_domain("malicious-rep.guarddutyc2activityb.com", "Impact:Runtime/MaliciousDomainRequest.Reputation");
}

#[test]
fn guardduty_suspicious_domain_test_domain() {
    guardduty_test_domain(
        "suspicious-rep.guarddutyc2activityb.com",
        "Impact:Runtime/SuspiciousDomainRequest.Reputation",
    );
}

// ------------------------------------------------------ a user domain list

#[test]
fn a_wildcard_entry_of_a_user_list_matches_subdomains_only() {
    let Some(h) = harness() else { return };
    let list = parse_list(
        "acme-c2-domains",
        ThreatCategory::CommandAndControl,
        "# C2 seen in incident 42\n*.c2-wild.saker.test\n",
        Format::Plain,
    )
    .unwrap();
    h.add_threat_list(list);

    resolving_gives("beacon.c2-wild.saker.test", "Backdoor:Runtime/C&CActivity.B!DNS", "acme-c2-domains");
    // `*.` is subdomains: the parent itself is not listed.
    let pid = resolve(h, "c2-wild.saker.test");
    no_finding(h, pid);
}

// --------------------------------------------------------- DNS rebinding

#[test]
fn a_name_resolving_to_the_metadata_address_is_dns_rebinding() {
    let Some(h) = harness() else { return };
    let name = format!("metadata.{}", saker_testkit::dns::REBIND_DOMAIN);
    let pid = resolve(h, &name);
    let answer = h.expect("the rebinding answer", |e| e.kind == Kind::DnsAnswer && by(e, pid));
    let Payload::Dns(d) = &answer.payload else { unreachable!() };
    assert_eq!(d.answers[0].data, "169.254.169.254");

    let f = the_finding(h, pid, "UnauthorizedAccess:Runtime/MetadataDNSRebind");
    assert_eq!(f["service"]["action"]["actionType"], "DNS_REQUEST");
    assert_eq!(f["service"]["action"]["dnsRequestAction"]["domain"], name);

    // An ordinary answer is not rebinding.
    let pid = resolve(h, "ordinary.saker.test");
    let answer = h.expect("the ordinary answer", |e| e.kind == Kind::DnsAnswer && by(e, pid));
    let Payload::Dns(d) = &answer.payload else { unreachable!() };
    assert_eq!(d.answers[0].data, saker_testkit::dns::ANSWER.to_string());
    no_finding(h, pid);
}

// ------------------------------------------------------ listed executables

/// A copy of /bin/true with bytes of its own appended: a binary nobody has
/// hashed before, so its exec event goes out before its hash is known and
/// the detector keeps it until the hash arrives. Returns its path and SHA-256.
fn unique_binary(dir: &std::path::Path, tag: &str) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(tag);
    let mut bytes = std::fs::read("/bin/true").unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    bytes.extend_from_slice(format!("saker-{tag}-{}-{nanos}", std::process::id()).as_bytes());
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("sha256sum").arg(&path).output().unwrap();
    let sha = String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
    (path.display().to_string(), sha)
}

/// Run `path` as a child of this test; returns its pid. Retries "text file
/// busy": another test thread may have forked while the file was open.
fn run_binary(path: &str) -> u32 {
    for _ in 0..50 {
        match std::process::Command::new(path).spawn() {
            Ok(mut child) => {
                let pid = child.id();
                assert!(child.wait().unwrap().success());
                return pid;
            }
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("running {path}: {e}"),
        }
    }
    panic!("{path} stayed busy");
}

fn executing_a_listed_file(category: ThreatCategory, list: &str, expected: &str) {
    let Some(h) = harness() else { return };
    let dir = tempfile::Builder::new().prefix("saker-intel-").tempdir().unwrap();
    let (path, sha) = unique_binary(dir.path(), &format!("payload-{category}"));
    let mut l = ThreatList::new(list, category);
    l.add_hash(sha.clone(), None);
    h.add_threat_list(l);

    let pid = run_binary(&path);
    let f = the_finding(h, pid, expected);
    let context = &f["service"]["runtimeDetails"]["context"];
    assert_eq!(context["threatFilePath"], path);
    assert_eq!(context["threatFileSha256"], sha);
    let process = &f["service"]["runtimeDetails"]["process"];
    assert_eq!(process["executablePath"], path);
    assert_eq!(process["executableSha256"], sha, "the process carries the hash it was found by");
    assert_eq!(threat_list_name(&f), list);
}

#[test]
fn executing_a_file_on_a_malware_list_is_malicious_file_executed() {
    executing_a_listed_file(
        ThreatCategory::MaliciousFile,
        "test-malware-hashes",
        "Execution:Runtime/MaliciousFileExecuted",
    );
}

#[test]
fn executing_a_file_on_a_custom_list_is_malicious_file_executed_custom() {
    executing_a_listed_file(
        ThreatCategory::CustomMaliciousFile,
        "acme-custom-hashes",
        "Execution:Runtime/MaliciousFileExecuted.Custom",
    );
}
