//! Lists compiled into Saker.
//!
//! [`guardduty_test_domains`] holds the canary domains AWS's GuardDuty tester
//! (github.com/awslabs/amazon-guardduty-tester, Apache-2.0) resolves to make
//! GuardDuty Runtime Monitoring raise each DNS-based finding type. They are
//! AWS-owned names flagged on purpose, so a user can check Saker the way they
//! check GuardDuty: resolve one from a workload and expect the finding. The
//! names and their finding types are facts taken from the tester's
//! definitions; nothing else of it is used.

use super::{DomainMatch, ThreatCategory, ThreatList};

/// The name all built-in GuardDuty test lists report as their threat list.
pub const GUARDDUTY_TEST_LIST: &str = "saker-builtin-guardduty-test-domains";

/// Each test domain with the category whose finding GuardDuty raises for it:
///
/// | GuardDuty finding type                          | category           |
/// |-------------------------------------------------|--------------------|
/// | `Backdoor:Runtime/C&CActivity.B!DNS`            | `CommandAndControl`|
/// | `CryptoCurrency:Runtime/BitcoinTool.B!DNS`      | `Crypto`           |
/// | `Trojan:Runtime/BlackholeTraffic!DNS`           | `Blackhole`        |
/// | `Trojan:Runtime/DropPoint!DNS`                  | `DropPoint`        |
/// | `Trojan:Runtime/DGADomainRequest.C!DNS`         | `Dga`              |
/// | `Trojan:Runtime/DriveBySourceTraffic!DNS`       | `DriveBy`          |
/// | `Trojan:Runtime/PhishingDomainRequest!DNS`      | `Phishing`         |
/// | `Impact:Runtime/AbusedDomainRequest.Reputation` | `AbusedDomain`     |
/// | `Impact:Runtime/BitcoinDomainRequest.Reputation`| `BitcoinDomain`    |
/// | `Impact:Runtime/MaliciousDomainRequest.Reputation` | `MaliciousDomain` |
/// | `Impact:Runtime/SuspiciousDomainRequest.Reputation` | `SuspiciousDomain` |
///
/// The tester's runtime DNS table has exactly these eleven types; one with no
/// category of ours (a rebinding test, say, which is a rule and not a list)
/// would be left out here.
pub const GUARDDUTY_TEST_DOMAINS: &[(&str, ThreatCategory)] = &[
    ("c2.guarddutyc2activityb.com", ThreatCategory::CommandAndControl),
    ("crypto.guarddutyc2activityb.com", ThreatCategory::Crypto),
    ("guarddutyblackholeactivity.com", ThreatCategory::Blackhole),
    ("guarddutydroppointactivity.com", ThreatCategory::DropPoint),
    ("guarddutydgaactivity.com", ThreatCategory::Dga),
    ("guarddutydrivebyactivity.com", ThreatCategory::DriveBy),
    ("guarddutyphishingactivity.com", ThreatCategory::Phishing),
    ("abused-rep.guarddutyc2activityb.com", ThreatCategory::AbusedDomain),
    ("crypto-rep.guarddutyc2activityb.com", ThreatCategory::BitcoinDomain),
    ("malicious-rep.guarddutyc2activityb.com", ThreatCategory::MaliciousDomain),
    ("suspicious-rep.guarddutyc2activityb.com", ThreatCategory::SuspiciousDomain),
];

/// One list per category (a list has one category), all named
/// [`GUARDDUTY_TEST_LIST`], each matching its names exactly: the tester's
/// names share parents (`guarddutyc2activityb.com`), so a suffix match would
/// give a subdomain the wrong finding.
pub fn guardduty_test_domains() -> Vec<ThreatList> {
    let mut lists: Vec<ThreatList> = Vec::new();
    for &(domain, category) in GUARDDUTY_TEST_DOMAINS {
        let i = match lists.iter().position(|l| l.category == category) {
            Some(i) => i,
            None => {
                lists.push(ThreatList::new(GUARDDUTY_TEST_LIST, category));
                lists.len() - 1
            }
        };
        if let Some(l) = lists.get_mut(i) {
            l.add_domain(domain, DomainMatch::Exact, None);
        }
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::Intel;

    #[test]
    fn one_list_per_category_exact_names() {
        let lists = guardduty_test_domains();
        assert_eq!(lists.len(), 11);
        assert!(lists.iter().all(|l| l.name == GUARDDUTY_TEST_LIST && l.domains.len() == 1));
        let intel = Intel::build(&lists, &[]);
        for &(d, c) in GUARDDUTY_TEST_DOMAINS {
            let m = intel.lookup_domain(d).unwrap();
            assert_eq!((m.list, m.category), (GUARDDUTY_TEST_LIST, c), "{d}");
        }
        assert_eq!(
            intel.lookup_domain("C2.GuardDutyC2ActivityB.com.").unwrap().category,
            ThreatCategory::CommandAndControl
        );
        assert!(intel.lookup_domain("guarddutyc2activityb.com").is_none());
        assert!(intel.lookup_domain("x.c2.guarddutyc2activityb.com").is_none());
    }
}
