//! Threat-intelligence lists from files: every format loaded from the
//! project's own fixtures (`tests/fixtures/intel/`), then indexed and looked
//! up as the detector does; list specs; the built-in GuardDuty test domains.
//! The last tests load the real published samples in /work/shared/data when
//! that folder exists (or `SAKER_SHARED_DATA` names another), and skip
//! otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_detect::intel::builtin::{GUARDDUTY_TEST_DOMAINS, GUARDDUTY_TEST_LIST};
use saker_detect::intel::{
    DomainMatch, Format, Intel, IntelError, ListSpec, Match, ThreatCategory, ThreatList, guardduty_test_domains,
    load_list, parse_list,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/intel").join(name)
}

fn load(name: &str, category: ThreatCategory, format: Format) -> ThreatList {
    let spec = ListSpec { name: name.to_owned(), category, path: fixture(name), format };
    load_list(&spec).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// (ips, domains, hashes, skipped)
fn counts(l: &ThreatList) -> (usize, usize, usize, usize) {
    (l.stats.ips, l.stats.domains, l.stats.hashes, l.stats.skipped)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn plain_list() {
    let l = load("plain.txt", ThreatCategory::CommandAndControl, Format::Plain);
    assert_eq!(counts(&l), (5, 4, 1, 6));
    assert_eq!(
        l.stats.messages,
        [
            r#"line 18: "999.1.1.1" is not an IP address, CIDR, domain or SHA-256"#,
            r#"line 19: "10.0.0.0/33": prefix length "33" is out of range for IPv4 (0-32)"#,
            r#"line 20: "2001:db8::/129": prefix length "129" is out of range for IPv6 (0-128)"#,
            r#"line 21: "not-a-domain" is not an IP address, CIDR, domain or SHA-256"#,
            r#"line 22: "http://evil.example/path" is not an IP address, CIDR, domain or SHA-256"#,
            // Long list text is cut in messages.
            r#"line 23: "this-label-is-far-too-long-to-be-a-dns-label-because-it-exceeds-63-characters.ex"... is not a valid domain name: a label of 77 characters (at most 63)"#,
        ]
    );
    assert!(l.domains.contains(&("mixed.case.example.org".to_owned(), DomainMatch::Exact)));
    assert!(l.domains.contains(&("wild.example.com".to_owned(), DomainMatch::Wildcard)));
    assert!(l.domains.contains(&("suffix.example.net".to_owned(), DomainMatch::Suffix)));

    let intel = Intel::build(&[l], &[]);
    let m = intel.lookup_ip(ip("198.51.100.77")).unwrap();
    assert_eq!((m.list, m.category, m.threat_name), ("plain.txt", ThreatCategory::CommandAndControl, None));
    assert!(intel.lookup_ip(ip("203.0.113.127")).is_none());
    assert!(intel.lookup_ip(ip("203.0.113.128")).is_some());
    assert!(intel.lookup_ip(ip("2001:db8:bad:ffff::1")).is_some());
    assert!(intel.lookup_ip(ip("2001:db8::11")).is_none());
    assert!(intel.lookup_sha256("275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F").is_some());
}

#[test]
fn feodo_tracker_csv() {
    let l = load("feodo.csv", ThreatCategory::CommandAndControl, Format::Csv);
    assert_eq!(counts(&l), (5, 0, 0, 3));
    assert_eq!(
        l.stats.messages,
        [
            r#"line 13: "192.0.2.300" is not an IP address or CIDR"#,
            "line 14: no value in column dst_ip",
            "line 15: unexpected text after a closing quote",
        ]
    );
    let intel = Intel::build(&[l], &[]);
    let name = |s: &str| intel.lookup_ip(ip(s)).unwrap().threat_name;
    assert_eq!(name("192.0.2.20"), Some("Emotet"));
    assert_eq!(name("198.51.100.21"), Some("QakBot"));
    assert_eq!(name("203.0.113.22"), Some("Dridex"));
    assert_eq!(name("2001:db8::22"), Some("Pikabot"));
    // An empty malware column is no name, not an empty one.
    assert_eq!(name("203.0.113.23"), None);
    assert!(intel.lookup_ip(ip("198.51.100.24")).is_none());
}

#[test]
fn otx_csv() {
    let l = load("otx.csv", ThreatCategory::CommandAndControl, Format::Csv);
    assert_eq!(counts(&l), (3, 2, 1, 4));
    assert_eq!(
        l.stats.messages,
        [
            r#"line 8: indicator type "FileHash-MD5" is not supported"#,
            r#"line 9: indicator type "URL" is not supported"#,
            r#"line 10: "not-an-ip" is not an IP address or CIDR"#,
            r#"line 11: indicator type "email" is not supported"#,
        ]
    );
    let intel = Intel::build(&[l], &[]);
    assert!(intel.lookup_ip(ip("192.0.2.30")).is_some());
    assert!(intel.lookup_ip(ip("2001:db8:30::1")).is_some());
    assert!(intel.lookup_ip(ip("198.51.100.200")).is_some());
    assert!(intel.lookup_ip(ip("198.51.100.100")).is_none());
    // OTX domains and hostnames match exactly.
    assert!(intel.lookup_domain("c2.otx.example").is_some());
    assert!(intel.lookup_domain("sub.c2.otx.example").is_none());
    assert!(intel.lookup_domain("www.otx.example").is_some());
    assert!(intel.lookup_sha256("971df3a3dcee75df2dbe219c17872ff6eb5eea431af18ea52c9587208cfb5130").is_some());
    assert!(intel.lookup_sha256("44d88612fea8a8f36de82e1278abb02f").is_none());
}

#[test]
fn entries_a_category_gives_no_finding_for_are_not_indexed() {
    // A phishing-domain list's address, as the most specific entry, would
    // otherwise hide the C&C network around it.
    let l = load("otx.csv", ThreatCategory::Phishing, Format::Csv);
    let mut c2 = ThreatList::new("c2", ThreatCategory::CommandAndControl);
    c2.add_network(ip("192.0.2.0"), 24, None);
    let intel = Intel::build(&[l.clone(), c2], &[]);
    let m = intel.lookup_ip(ip("192.0.2.30")).unwrap();
    assert_eq!((m.list, m.category), ("c2", ThreatCategory::CommandAndControl));
    assert!(intel.lookup_domain("c2.otx.example").is_some());
    // A Tor list's names mean nothing; a hash on any list is kept.
    let tor = ThreatList { name: "tor".into(), category: ThreatCategory::TorClient, ..l };
    let intel = Intel::build(&[tor], &[]);
    assert!(intel.lookup_domain("c2.otx.example").is_none());
    assert!(intel.lookup_ip(ip("192.0.2.30")).is_some());
    assert!(intel.lookup_sha256("971df3a3dcee75df2dbe219c17872ff6eb5eea431af18ea52c9587208cfb5130").is_some());
}

#[test]
fn tor_exit_lists_both_shapes() {
    let records = load("exit-addresses.txt", ThreatCategory::TorRelay, Format::TorExit);
    // 192.0.2.50 appears under two relays: counted once.
    assert_eq!(counts(&records), (3, 0, 0, 1));
    assert_eq!(records.stats.messages, [r#"line 17: ExitAddress "192.0.2.999" is not an IP address"#]);

    let bulk = load("tor-bulk.txt", ThreatCategory::TorRelay, Format::TorExit);
    assert_eq!(counts(&bulk), (3, 0, 0, 1));
    assert_eq!(bulk.stats.messages, [r#"line 5: "192.0.2.256" is not an exit-list record or an IP address"#]);
    let set = |l: &ThreatList| l.networks.iter().copied().collect::<BTreeSet<_>>();
    assert_eq!(set(&records), set(&bulk));

    // Detection reads the bulk list as plain text, to the same effect.
    let auto = load("tor-bulk.txt", ThreatCategory::TorRelay, Format::Auto);
    assert_eq!(set(&auto), set(&bulk));
    assert_eq!(auto.stats.skipped, 1);

    let intel = Intel::build(&[records], &[]);
    assert_eq!(intel.lookup_ip(ip("::ffff:192.0.2.51")).unwrap().category, ThreatCategory::TorRelay);
}

#[test]
fn stix_bundle() {
    let l = load("stix-bundle.json", ThreatCategory::CommandAndControl, Format::Stix);
    assert_eq!(counts(&l), (2, 2, 2, 5));
    let m = &l.stats.messages;
    assert_eq!(m.len(), 5);
    assert_eq!(
        m[0],
        "indicator--5a4e3c1e-0000-4000-8000-000000000020: AND between comparisons is not supported (only OR), \
         in pattern \"[ipv4-addr:value = '192.0.2.41' AND ipv4-addr:value = '192.0.2.42']\""
    );
    assert!(
        m[1].starts_with(
            r#"indicator--5a4e3c1e-0000-4000-8000-000000000021: object path "url:value" is not supported"#
        ),
        "{}",
        m[1]
    );
    assert_eq!(
        m[2],
        r#"indicator--5a4e3c1e-0000-4000-8000-000000000022: pattern type "sigma" is not supported (only stix)"#
    );
    assert_eq!(m[3], "indicator--5a4e3c1e-0000-4000-8000-000000000023: indicator is revoked");
    assert_eq!(
        m[4],
        r#"indicator--5a4e3c1e-0000-4000-8000-000000000024: indicator expired (valid_until "2001-01-01T00:00:00Z")"#
    );

    let intel = Intel::build(&[l], &[]);
    fn name(m: Option<Match<'_>>) -> Option<&str> {
        m.unwrap().threat_name
    }
    assert_eq!(name(intel.lookup_ip(ip("192.0.2.40"))), Some("Fixture C2 address"));
    assert_eq!(name(intel.lookup_ip(ip("2001:db8:40:1::1"))), Some("Fixture C2 infrastructure"));
    assert_eq!(name(intel.lookup_domain("c2.stix.example")), Some("Fixture C2 infrastructure"));
    assert_eq!(name(intel.lookup_domain("stix.example")), None);
    for h in [
        "b364bf8ca2ae72ba9592659f63ed7f7de28cacef51838dae17869b5f0746ad7f",
        "4b54ad02242200ab8d1a73dbc70046f8a628b22660eb98d6b2d7e5cfcbe93036",
    ] {
        assert_eq!(name(intel.lookup_sha256(h)), Some("Fixture dropper"));
    }
    for skipped in ["192.0.2.41", "192.0.2.43", "192.0.2.44"] {
        assert!(intel.lookup_ip(ip(skipped)).is_none(), "{skipped}");
    }
}

#[test]
fn malformed_stix_is_an_error_with_serdes_message() {
    let spec = ListSpec::parse(&format!("broken=c2:{}", fixture("stix-malformed.json").display())).unwrap();
    let e = load_list(&spec).unwrap_err();
    assert!(matches!(&e, IntelError::Format { list, .. } if list == "broken"), "{e:?}");
    let e = e.to_string();
    assert!(e.starts_with("threat list broken: malformed JSON: EOF while parsing"), "{e}");
    assert!(e.contains("line 9"), "{e}");
}

#[test]
fn auto_detection_matches_the_explicit_format() {
    for (file, format) in [
        ("plain.txt", Format::Plain),
        ("feodo.csv", Format::Csv),
        ("otx.csv", Format::Csv),
        ("exit-addresses.txt", Format::TorExit),
        ("stix-bundle.json", Format::Stix),
    ] {
        let text = std::fs::read_to_string(fixture(file)).unwrap();
        assert_eq!(Format::detect(&text), format, "{file}");
        let auto = load(file, ThreatCategory::CommandAndControl, Format::Auto);
        let explicit = load(file, ThreatCategory::CommandAndControl, format);
        assert_eq!(auto.stats, explicit.stats, "{file}");
        assert_eq!(auto.networks, explicit.networks, "{file}");
        assert_eq!(auto.domains, explicit.domains, "{file}");
        assert_eq!(auto.hashes, explicit.hashes, "{file}");
    }
}

#[test]
fn trusted_lists_win() {
    let threats = load("plain.txt", ThreatCategory::CommandAndControl, Format::Auto);
    let trusted = load_list(&ListSpec::trusted(fixture("trusted.txt"))).unwrap();
    assert_eq!(trusted.name, "trusted.txt");
    assert_eq!(trusted.stats.skipped, 0);
    let intel = Intel::build(&[threats], &[trusted]);

    // An address the threat list names outright.
    assert!(intel.trusted_ip(ip("192.0.2.10")));
    assert!(intel.lookup_ip(ip("192.0.2.10")).is_none());
    assert!(intel.lookup_ip(ip("::ffff:192.0.2.10")).is_none());
    // One trusted address inside a listed network; its neighbours stay listed.
    assert!(intel.lookup_ip(ip("198.51.100.7")).is_none());
    assert!(intel.lookup_ip(ip("198.51.100.8")).is_some());
    assert!(intel.lookup_ip(ip("2001:db8:bad::1")).is_none());
    assert!(intel.lookup_ip(ip("2001:db8:bad::2")).is_some());
    // Domains: a trusted entry covers what it would cover as a threat entry.
    assert!(intel.lookup_domain("exact.example.com").is_none());
    assert!(intel.lookup_domain("safe.wild.example.com").is_none());
    assert!(intel.lookup_domain("other.wild.example.com").is_some());
    assert!(intel.lookup_domain("safe.suffix.example.net").is_none());
    assert!(intel.lookup_domain("deep.safe.suffix.example.net").is_none());
    assert!(intel.lookup_domain("suffix.example.net").is_some());
    assert!(intel.lookup_domain("unsafe.suffix.example.net").is_some());
}

#[test]
fn longest_prefix_match_v4_and_v6() {
    let text = |entries: &[&str]| entries.join("\n");
    let wide =
        parse_list("wide", ThreatCategory::TorRelay, &text(&["10.0.0.0/8", "2001:db8::/32"]), Format::Plain).unwrap();
    let mid =
        parse_list("mid", ThreatCategory::Crypto, &text(&["10.20.0.0/16", "2001:db8:20::/48"]), Format::Plain).unwrap();
    let host = parse_list(
        "host",
        ThreatCategory::CommandAndControl,
        &text(&["10.20.30.40", "2001:db8:20::40"]),
        Format::Plain,
    )
    .unwrap();
    // List order does not decide between different lengths.
    let intel = Intel::build(&[host, wide, mid], &[]);
    let which = |s: &str| intel.lookup_ip(ip(s)).map(|m| m.list);
    assert_eq!(which("10.1.1.1"), Some("wide"));
    assert_eq!(which("10.20.1.1"), Some("mid"));
    assert_eq!(which("10.20.30.40"), Some("host"));
    assert_eq!(which("10.20.30.41"), Some("mid"));
    assert_eq!(which("11.0.0.0"), None);
    assert_eq!(which("2001:db8:1::1"), Some("wide"));
    assert_eq!(which("2001:db8:20:1::1"), Some("mid"));
    assert_eq!(which("2001:db8:20::40"), Some("host"));
    assert_eq!(which("2001:db9::"), None);
    assert_eq!(which("::ffff:10.20.30.40"), Some("host"));
}

#[test]
fn exact_wildcard_and_suffix_domains() {
    let text = "exact.example\n*.wild.example\n.suffix.example\n";
    let l = parse_list("d", ThreatCategory::Phishing, text, Format::Auto).unwrap();
    let intel = Intel::build(&[l], &[]);
    let hit = |d: &str| intel.lookup_domain(d).is_some();
    // Exact: the name only.
    assert!(hit("exact.example"));
    assert!(!hit("a.exact.example"));
    // Wildcard: subdomains only, at any depth.
    assert!(!hit("wild.example"));
    assert!(hit("a.wild.example"));
    assert!(hit("a.b.wild.example"));
    // Suffix: the name and its subdomains.
    assert!(hit("suffix.example"));
    assert!(hit("a.suffix.example"));
    assert!(hit("a.b.suffix.example"));
    // Label boundaries count: these only end with the same letters.
    assert!(!hit("notsuffix.example"));
    assert!(!hit("xwild.example"));
    assert!(!hit("example"));
    assert!(!hit(""));
    assert!(!hit("."));
}

#[test]
fn case_and_trailing_dot_do_not_matter() {
    let l = parse_list("d", ThreatCategory::Phishing, "Phish.Example.COM.\n.Suffix.Example\n", Format::Plain).unwrap();
    let intel = Intel::build(&[l], &[]);
    for d in
        ["phish.example.com", "PHISH.EXAMPLE.COM", "phish.example.com.", " Phish.Example.Com. ", "a.SUFFIX.example."]
    {
        assert!(intel.lookup_domain(d).is_some(), "{d:?}");
    }
    assert!(intel.lookup_domain("phish.example.co").is_none());
}

#[test]
fn list_spec_errors() {
    let err = |s: &str| ListSpec::parse(s).unwrap_err().to_string();
    assert_eq!(
        err("feodo.csv"),
        r#"invalid threat list "feodo.csv": expected NAME=CATEGORY:PATH, e.g. feodo=c2:/etc/saker/feodo.csv"#
    );
    assert!(err("=c2:/x").contains("the list name before '=' is empty"));
    assert!(err("feodo=/x").contains("expected CATEGORY:PATH after '='; categories: c2, crypto"));
    assert!(err("feodo=:/x").contains("the category before ':' is empty"));
    assert!(err("feodo=c2:").contains("the path after ':' is empty"));
    let e = err("feodo=botnet:/x");
    assert!(e.contains(r#"unknown category "botnet""#), "{e}");
    for (_, name) in ThreatCategory::ALL {
        assert!(e.contains(name), "{e} lacks {name}");
    }
    let ok = ListSpec::parse("feodo=c2:/etc/saker/feodo.csv").unwrap();
    assert_eq!(
        ok,
        ListSpec {
            name: "feodo".into(),
            category: ThreatCategory::CommandAndControl,
            path: "/etc/saker/feodo.csv".into(),
            format: Format::Auto
        }
    );
}

#[test]
fn unreadable_file_is_a_read_error_naming_the_path() {
    let path = fixture("no-such-list.txt");
    let e = load_list(&ListSpec::parse(&format!("x=c2:{}", path.display())).unwrap()).unwrap_err();
    assert!(matches!(&e, IntelError::Read { path: p, .. } if *p == path), "{e:?}");
    assert!(e.to_string().contains("no-such-list.txt"), "{e}");
}

#[test]
fn builtin_guardduty_test_domains() {
    let lists = guardduty_test_domains();
    let intel = Intel::build(&lists, &[]);
    let m = intel.lookup_domain("guarddutyc2activityb.com");
    assert!(m.is_none());
    let m = intel.lookup_domain("c2.guarddutyc2activityb.com").unwrap();
    assert_eq!((m.list, m.category), (GUARDDUTY_TEST_LIST, ThreatCategory::CommandAndControl));
    let categories: BTreeSet<_> = lists.iter().map(|l| l.category).collect();
    assert_eq!(categories.len(), lists.len(), "one list per category");
}

// --- the real published samples ---------------------------------------------

fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("SAKER_SHARED_DATA").map_or_else(|| PathBuf::from("/work/shared/data"), PathBuf::from);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: no shared sample data at {} (set SAKER_SHARED_DATA)", dir.display());
        None
    }
}

fn load_real(dir: &Path, file: &str, category: ThreatCategory) -> ThreatList {
    let spec = ListSpec { name: file.to_owned(), category, path: dir.join(file), format: Format::Auto };
    let l = load_list(&spec).unwrap_or_else(|e| panic!("{file}: {e}"));
    eprintln!("{file}: {:?}", l.stats);
    l
}

#[test]
fn real_samples_load() {
    let Some(dir) = shared_data() else { return };

    // Feodo Tracker: every row an address, named by its malware column; the
    // trailer says how many rows there are.
    let file = "abusech/feodotracker_ipblocklist_2024-04-04.csv";
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let trailer: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("# END ")?.strip_suffix(" entries")?.parse().ok())
        .expect("Feodo trailer");
    let feodo = load_real(&dir, file, ThreatCategory::CommandAndControl);
    assert_eq!(counts(&feodo), (trailer, 0, 0, 0));
    assert!(trailer > 0);
    let intel = Intel::build(std::slice::from_ref(&feodo), &[]);
    for &(net, _) in &feodo.networks {
        let m = intel.lookup_ip(net).unwrap();
        assert!(m.threat_name.is_some_and(|n| !n.is_empty()), "{net}");
    }

    // Tor: both files describe the same exits.
    let records = load_real(&dir, "tor/exit-addresses_2024-03-12.txt", ThreatCategory::TorRelay);
    let bulk = load_real(&dir, "tor/torbulkexitlist_2024-03-12.txt", ThreatCategory::TorRelay);
    assert!(records.stats.ips > 1000, "{:?}", records.stats);
    assert_eq!((records.stats.skipped, bulk.stats.skipped), (0, 0));
    let set = |l: &ThreatList| l.networks.iter().copied().collect::<BTreeSet<_>>();
    assert_eq!(set(&records), set(&bulk));

    // STIX examples: one C2 address; an address and a file hash; two
    // email-pattern indicators that Saker cannot use, skipped with reasons.
    let c2 = load_real(&dir, "stix21/indicator-for-c2-ip-address.json", ThreatCategory::CommandAndControl);
    assert_eq!(counts(&c2), (1, 0, 0, 0));
    let intel = Intel::build(std::slice::from_ref(&c2), &[]);
    assert_eq!(intel.lookup_ip(ip("10.0.0.0")).unwrap().threat_name, Some("IP Address for known C2 channel"));
    let coa = load_real(&dir, "stix21/indicators-for-C2-with-COA.json", ThreatCategory::CommandAndControl);
    assert_eq!(counts(&coa), (1, 0, 1, 0));
    let intel = Intel::build(std::slice::from_ref(&coa), &[]);
    let h = intel.lookup_sha256("ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c").unwrap();
    assert_eq!(h.threat_name, Some("File hash for Poison Ivy variant"));
    let email = load_real(&dir, "stix21/malicious-email-indicator-with-attachment.json", ThreatCategory::Phishing);
    assert_eq!(counts(&email), (0, 0, 0, 2));
    assert!(email.stats.messages.iter().all(|m| m.contains("is not supported")), "{:?}", email.stats.messages);

    // Falco's mining-pool domains, as a plain list.
    let miners = load_real(&dir, "falco-lists/miner_domains.txt", ThreatCategory::Crypto);
    assert!(miners.stats.domains > 50, "{:?}", miners.stats);
    assert_eq!(miners.stats.skipped, 0, "{:?}", miners.stats.messages);
}

#[test]
fn builtin_matches_the_guardduty_tester_table() {
    let Some(dir) = shared_data() else { return };
    // The tester's table is domain -> finding type; ours is domain -> category.
    let category_of = |finding: &str| match finding {
        "Backdoor:Runtime/C&CActivity.B!DNS" => Some(ThreatCategory::CommandAndControl),
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS" => Some(ThreatCategory::Crypto),
        "Trojan:Runtime/BlackholeTraffic!DNS" => Some(ThreatCategory::Blackhole),
        "Trojan:Runtime/DropPoint!DNS" => Some(ThreatCategory::DropPoint),
        "Trojan:Runtime/DGADomainRequest.C!DNS" => Some(ThreatCategory::Dga),
        "Trojan:Runtime/DriveBySourceTraffic!DNS" => Some(ThreatCategory::DriveBy),
        "Trojan:Runtime/PhishingDomainRequest!DNS" => Some(ThreatCategory::Phishing),
        "Impact:Runtime/AbusedDomainRequest.Reputation" => Some(ThreatCategory::AbusedDomain),
        "Impact:Runtime/BitcoinDomainRequest.Reputation" => Some(ThreatCategory::BitcoinDomain),
        "Impact:Runtime/MaliciousDomainRequest.Reputation" => Some(ThreatCategory::MaliciousDomain),
        "Impact:Runtime/SuspiciousDomainRequest.Reputation" => Some(ThreatCategory::SuspiciousDomain),
        _ => None,
    };
    let tsv = std::fs::read_to_string(dir.join("guardduty-tester/runtime-test-domains.tsv")).unwrap();
    let theirs: BTreeMap<&str, ThreatCategory> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(d, f)| category_of(f.trim()).map(|c| (d.trim(), c)))
        .collect();
    let ours: BTreeMap<&str, ThreatCategory> = GUARDDUTY_TEST_DOMAINS.iter().copied().collect();
    assert_eq!(ours, theirs);
}
