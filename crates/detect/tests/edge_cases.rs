#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Corner cases of the rules, each once a bug or a false positive: failed
//! connects, trusted names, argument parsing, busybox applets, the context
//! that makes an administrator's command unusual.

mod support;

use saker_detect::FindingType as T;
use saker_detect::intel::{DomainMatch, Intel, ThreatCategory, ThreatList};
use saker_model::*;
use std::net::IpAddr;
use support::*;

fn run(events: &[Event]) -> Vec<saker_detect::Finding> {
    detect(Intel::default(), events)
}

fn c2_intel() -> Intel {
    let mut c2 = ThreatList::new("c2-feed", ThreatCategory::CommandAndControl);
    c2.add_network("203.0.113.0".parse::<IpAddr>().unwrap(), 24, None);
    let mut sinkholes = ThreatList::new("sinkholes", ThreatCategory::Blackhole);
    sinkholes.add_network("198.51.100.66".parse::<IpAddr>().unwrap(), 32, None);
    let mut trusted = ThreatList::new("ours", ThreatCategory::CommandAndControl);
    trusted.add_domain("corp.example", DomainMatch::Suffix, None);
    Intel::build(&[c2, sinkholes], &[trusted])
}

#[test]
fn a_refused_or_timed_out_connect_to_a_listed_address_is_reported() {
    let connect = |r: i64| {
        net_event(Kind::NetConnect, 10, "/tmp/implant", &["implant"], "203.0.113.7", 443).in_container("c1").result(r)
    };
    for errno in [-111, -110, -113, -115] {
        only(&detect(c2_intel(), &[connect(errno)]), T::CommandAndControl);
    }
    // EAFNOSUPPORT, EINVAL: the kernel refused the call before any packet.
    assert!(detect(c2_intel(), &[connect(-97), connect(-22)]).is_empty());
}

#[test]
fn a_trusted_name_resolving_to_a_sinkhole_or_the_metadata_address_is_not_reported() {
    let f = detect(c2_intel(), &[dns_answer(11, "parked.example", "198.51.100.66")]);
    only(&f, T::BlackholeTrafficDns);
    let trusted =
        [dns_answer(11, "old.corp.example", "198.51.100.66"), dns_answer(11, "imds.corp.example", "169.254.169.254")];
    assert!(detect(c2_intel(), &trusted).is_empty());
}

#[test]
fn crontab_listing_for_another_user_is_not_an_install() {
    let crontab = |argv: &[&str]| exec_event(20, "/usr/bin/crontab", argv).in_container("c1");
    assert!(run(&[crontab(&["crontab", "-u", "bob", "-l"])]).is_empty());
    assert!(run(&[crontab(&["crontab", "-u", "bob"])]).is_empty(), "-u's value is not a file");
    only(&run(&[crontab(&["crontab", "-u", "bob", "/tmp/job"])]), T::SuspiciousCommandPersistence);
    only(&run(&[crontab(&["crontab", "-"])]), T::SuspiciousCommandPersistence);
}

#[test]
fn every_spelling_of_a_set_id_mode() {
    for mode in ["04755", "4755", "2755", "6711", "u+s", "g+s", "+s", "ug+xs", "u=rwxs", "a+x,u+s"] {
        let ev = exec_event(21, "/bin/chmod", &["chmod", mode, "/srv/app/tool"]).in_container("c1");
        only(&run(&[ev]), T::SuspiciousCommandPrivilegeEscalation);
    }
    for mode in ["0755", "755", "00755", "u+x", "-R", "go-s"] {
        let ev = exec_event(21, "/bin/chmod", &["chmod", mode, "/srv/app/a+s"]).in_container("c1");
        assert!(run(&[ev]).is_empty(), "{mode}");
    }
}

#[test]
fn a_kernel_module_loaded_through_sudo_is_reported_and_named_from_the_command_line() {
    let m = ModuleInfo { method: "init_module".into(), length: 4096, ..Default::default() };
    let insmod = event(
        Kind::ModuleLoad,
        proc(30, "/usr/bin/kmod", &["insmod", "/tmp/diamorphine.ko"]),
        Payload::Module(m.clone()),
    )
    .parent(proc(29, "/usr/bin/sudo", &["sudo", "insmod", "/tmp/diamorphine.ko"]));
    let f = run(&[insmod]);
    let f = only(&f, T::KernelModuleLoaded);
    assert_eq!(ctx(f, "moduleName"), "diamorphine");
    // From memory with no name anywhere: the field is left out, not empty.
    let loader = event(Kind::ModuleLoad, proc(31, "/tmp/loader", &["loader"]), Payload::Module(m));
    let f = run(&[loader]);
    let f = only(&f, T::KernelModuleLoaded);
    assert!(!f.service.runtime_details.context.contains_key("moduleName"));
}

#[test]
fn discovery_is_reported_only_in_an_unusual_context() {
    let by_admin = |argv: &[&str]| exec_event(40, "/usr/bin/curl", argv).parent(proc(39, "/bin/bash", &["bash"]));
    let creds = "http://169.254.169.254/latest/meta-data/iam/security-credentials/role";
    assert!(run(&[by_admin(&["curl", creds])]).is_empty(), "an admin at a terminal");
    let in_container = exec_event(41, "/usr/bin/curl", &["curl", "-s", creds]).in_container("c1");
    only(&run(&[in_container]), T::SuspiciousCommandDiscovery);
    // The instance id is not a secret.
    let id = exec_event(42, "/usr/bin/curl", &["curl", "http://169.254.169.254/latest/meta-data/instance-id"]);
    assert!(run(&[id.in_container("c1")]).is_empty());
    let ecs = exec_event(43, "/bin/sh", &["sh", "-c", "wget -qO- 169.254.170.2/v2/credentials/$ID"]);
    only(&run(&[ecs.in_container("c1")]), T::SuspiciousCommandDiscovery);
}

#[test]
fn busybox_without_an_applet_is_not_a_shell_and_busybox_sh_is() {
    // busybox nc handed a socket as stdio is nc, not a reverse shell.
    let socket_stdio = |ev: Event| with_socket_stdio(ev, "203.0.113.9", 4444);
    let nc = socket_stdio(exec_event(50, "/bin/busybox", &["nc", "-l", "-p", "8080"]).in_container("c1"));
    assert!(!types(&run(&[nc])).contains(&T::ReverseShell));
    let sh = socket_stdio(exec_event(51, "/bin/busybox", &["busybox", "sh", "-i"]).in_container("c1"));
    assert!(types(&run(&[sh])).contains(&T::ReverseShell));
}
