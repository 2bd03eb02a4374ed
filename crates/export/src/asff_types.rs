//! ASFF `Types` for the 46 runtime finding types: GuardDuty's own mapping.
//!
//! GuardDuty publishes, for every finding type, the ASFF type it sends to
//! Security Hub ("Interpreting GuardDuty finding names in Security Hub", in the
//! GuardDuty user guide's Security Hub integration page). The classifier is the
//! GuardDuty name with its `/` turned into `-` (ASFF uses `/` between
//! namespace, category and classifier): `Execution:Runtime/ReverseShell` →
//! `TTPs/Execution/Execution:Runtime-ReverseShell`. The first entry of
//! [`asff_types`] is always GuardDuty's string, so Security Hub rules, insights
//! and automation written for GuardDuty's runtime findings match Saker's.
//!
//! Where GuardDuty's published path strays from ASFF's taxonomy, Saker adds
//! the taxonomy's path as a second type (ASFF allows several):
//! - `DefenseEvasion:Runtime/PtraceAntiDebugging` and
//!   `DefenseEvasion:Runtime/SuspiciousCommand` are published under
//!   `TTPs/DefenseEvasion/` (no space); + `TTPs/Defense Evasion/`.
//! - `PrivilegeEscalation:Runtime/SuspiciousCommand` is published under
//!   `Software and Configuration Checks/`; + `TTPs/Privilege Escalation/`.
//! - The cryptocurrency types also get `Effects/Resource Consumption/`, as
//!   GuardDuty's EC2 and Lambda `CryptoCurrency` types carry it and Security
//!   Hub's "resources associated with cryptocurrency issues" insight filters on it.
//!
//! The match is exhaustive: a new finding type does not compile until it has
//! its ASFF type.

use saker_detect::FindingType;
use saker_detect::FindingType::*;

const C2: &str = "TTPs/Command and Control";
const EXFILTRATION: &str = "Effects/Data Exfiltration";
const RESOURCE_CONSUMPTION: &str = "Effects/Resource Consumption";
const INITIAL_ACCESS: &str = "TTPs/Initial Access";
const IMPACT: &str = "TTPs/Impact";
const EXECUTION: &str = "TTPs/Execution";
const PRIVILEGE_ESCALATION: &str = "TTPs/Privilege Escalation";
const DEFENSE_EVASION: &str = "TTPs/Defense Evasion";
const DISCOVERY: &str = "TTPs/Discovery";
const PERSISTENCE: &str = "TTPs/Persistence";

/// (GuardDuty's namespace/category, an extra namespace/category if any).
fn paths(t: FindingType) -> (&'static str, Option<&'static str>) {
    match t {
        CommandAndControl
        | CommandAndControlDns
        | BlackholeTraffic
        | BlackholeTrafficDns
        | DgaDomainRequest
        | PhishingDomainRequest => (C2, None),
        BitcoinTool | BitcoinToolDns => (C2, Some(RESOURCE_CONSUMPTION)),
        DropPoint | DropPointDns => (EXFILTRATION, None),
        TorRelay | TorClient => (RESOURCE_CONSUMPTION, None),
        DriveBySourceTraffic => (INITIAL_ACCESS, None),
        AbusedDomainRequest | BitcoinDomainRequest | MaliciousDomainRequest | SuspiciousDomainRequest => (IMPACT, None),
        CryptoMinerExecuted => (IMPACT, Some(RESOURCE_CONSUMPTION)),
        MetadataDnsRebind => ("TTPs", None),
        NewBinaryExecuted
        | ReverseShell
        | NewLibraryLoaded
        | SuspiciousTool
        | SuspiciousCommandExecution
        | MaliciousFileExecuted
        | MaliciousFileExecutedCustom
        | SuspiciousShellCreated => (EXECUTION, None),
        DockerSocketAccessed
        | RuncContainerEscape
        | CGroupsReleaseAgentModified
        | ContainerMountsHostDirectory
        | UserfaultfdUsage
        | ElevationToRoot
        | SensitiveFileModifiedPrivilegeEscalation => (PRIVILEGE_ESCALATION, None),
        SuspiciousCommandPrivilegeEscalation => ("Software and Configuration Checks", Some(PRIVILEGE_ESCALATION)),
        ProcessInjectionProc
        | ProcessInjectionPtrace
        | ProcessInjectionVirtualMemoryWrite
        | FilelessExecution
        | KernelModuleLoaded
        | SensitiveFileModifiedDefenseEvasion => (DEFENSE_EVASION, None),
        PtraceAntiDebugging | SuspiciousCommandDefenseEvasion => ("TTPs/DefenseEvasion", Some(DEFENSE_EVASION)),
        SuspiciousCommandDiscovery => (DISCOVERY, None),
        SuspiciousCommandPersistence | SensitiveFileModifiedPersistence => (PERSISTENCE, None),
    }
}

/// The ASFF `Types` of a finding type, GuardDuty's first.
pub fn asff_types(t: FindingType) -> Vec<String> {
    let classifier = t.name().replacen('/', "-", 1);
    let (primary, extra) = paths(t);
    std::iter::once(primary).chain(extra).map(|p| format!("{p}/{classifier}")).collect()
}

/// The MITRE ATT&CK tactic of a finding type, in Falco's tag spelling
/// (`mitre_privilege_escalation`), from its `TTPs/<tactic>` path. ASFF's TTP
/// categories are ATT&CK tactics by definition of the taxonomy.
pub fn mitre_tag(t: FindingType) -> Option<&'static str> {
    let (primary, extra) = paths(t);
    [Some(primary), extra].into_iter().flatten().find_map(|p| {
        let tactic: String = p.strip_prefix("TTPs/")?.chars().filter(|c| !c.is_whitespace()).collect();
        Some(match tactic.as_str() {
            "InitialAccess" => "mitre_initial_access",
            "Execution" => "mitre_execution",
            "Persistence" => "mitre_persistence",
            "PrivilegeEscalation" => "mitre_privilege_escalation",
            "DefenseEvasion" => "mitre_defense_evasion",
            "Discovery" => "mitre_discovery",
            "CommandandControl" => "mitre_command_and_control",
            "Impact" => "mitre_impact",
            _ => return None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardduty_published_examples() {
        assert_eq!(asff_types(ReverseShell), ["TTPs/Execution/Execution:Runtime-ReverseShell"]);
        assert_eq!(asff_types(CommandAndControlDns), ["TTPs/Command and Control/Backdoor:Runtime-C&CActivity.B!DNS"]);
        assert_eq!(asff_types(DropPoint), ["Effects/Data Exfiltration/Trojan:Runtime-DropPoint"]);
        assert_eq!(asff_types(TorClient), ["Effects/Resource Consumption/UnauthorizedAccess:Runtime-TorClient"]);
        assert_eq!(asff_types(MetadataDnsRebind), ["TTPs/UnauthorizedAccess:Runtime-MetadataDNSRebind"]);
        assert_eq!(asff_types(DriveBySourceTraffic), ["TTPs/Initial Access/Trojan:Runtime-DriveBySourceTraffic!DNS"]);
        assert_eq!(
            asff_types(PtraceAntiDebugging),
            [
                "TTPs/DefenseEvasion/DefenseEvasion:Runtime-PtraceAntiDebugging",
                "TTPs/Defense Evasion/DefenseEvasion:Runtime-PtraceAntiDebugging"
            ]
        );
        assert_eq!(
            asff_types(BitcoinTool),
            [
                "TTPs/Command and Control/CryptoCurrency:Runtime-BitcoinTool.B",
                "Effects/Resource Consumption/CryptoCurrency:Runtime-BitcoinTool.B"
            ]
        );
    }

    #[test]
    fn every_type_maps_to_a_taxonomy_namespace() {
        const NAMESPACES: [&str; 5] = [
            "Software and Configuration Checks",
            "TTPs",
            "Effects",
            "Unusual Behaviors",
            "Sensitive Data Identifications",
        ];
        for t in FindingType::ALL {
            let types = asff_types(*t);
            assert!(!types.is_empty());
            for ty in types {
                assert!(NAMESPACES.iter().any(|n| ty.starts_with(&format!("{n}/"))), "{ty}");
                assert!(ty.ends_with(&t.name().replacen('/', "-", 1)), "{ty}");
                // At most namespace/category/classifier.
                assert!(ty.split('/').count() <= 3, "{ty}");
            }
        }
        assert_eq!(mitre_tag(ReverseShell), Some("mitre_execution"));
        assert_eq!(mitre_tag(PtraceAntiDebugging), Some("mitre_defense_evasion"));
        assert_eq!(mitre_tag(CommandAndControl), Some("mitre_command_and_control"));
        assert_eq!(mitre_tag(TorRelay), None);
    }
}
