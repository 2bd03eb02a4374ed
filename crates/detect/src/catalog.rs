//! The finding catalog: GuardDuty's 46 Runtime Monitoring finding types under
//! their exact names, with default severity, title and description.
//!
//! Names are a public contract (SIEM parsers, Security Hub rules and
//! suppression rules key on them): never rename one. docs/findings.md
//! documents each type; `saker findings types` prints this table.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// GuardDuty's severity bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub enum SeverityLabel {
    Low,
    Medium,
    High,
}

impl SeverityLabel {
    /// The band a numeric severity falls in (High 7–8.9, Medium 4–6.9, Low 1–3.9).
    pub fn of(severity: f64) -> Self {
        if severity >= 7.0 {
            SeverityLabel::High
        } else if severity >= 4.0 {
            SeverityLabel::Medium
        } else {
            SeverityLabel::Low
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLabel::Low => "Low",
            SeverityLabel::Medium => "Medium",
            SeverityLabel::High => "High",
        }
    }
}

/// What a type is about; decides what the finding's context holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A connection to or from an address on a threat list.
    IpIntel,
    /// A DNS query for a name on a threat list.
    DnsIntel,
    /// Process behaviour observed by the sensor.
    Behaviour,
}

/// Everything fixed about one finding type.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    pub name: &'static str,
    /// Default severity; types marked `variable` adjust it per finding.
    pub severity: f64,
    pub variable_severity: bool,
    pub family: Family,
    pub title: &'static str,
    pub description: &'static str,
    /// The `service.runtimeDetails.context` fields this type fills.
    pub context_fields: &'static [&'static str],
}

impl TypeInfo {
    pub fn label(&self) -> SeverityLabel {
        SeverityLabel::of(self.severity)
    }
}

macro_rules! catalog {
    ($($variant:ident => $name:literal, $sev:literal, $var:literal, $family:ident,
        $title:literal, $desc:literal, [$($ctx:literal),*];)*) => {
        /// A runtime finding type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FindingType {
            $($variant,)*
        }

        impl FindingType {
            /// Every type, in documentation order.
            pub const ALL: &'static [FindingType] = &[$(FindingType::$variant,)*];

            /// The fixed facts of this type.
            pub fn info(self) -> &'static TypeInfo {
                match self {
                    $(FindingType::$variant => &TypeInfo {
                        name: $name,
                        severity: $sev,
                        variable_severity: $var,
                        family: Family::$family,
                        title: $title,
                        description: $desc,
                        context_fields: &[$($ctx),*],
                    },)*
                }
            }
        }
    };
}

catalog! {
    // --- threat intelligence: IP of a connection ---
    CommandAndControl => "Backdoor:Runtime/C&CActivity.B", 8.0, false, IpIntel,
        "Command and control server contacted",
        "A process connected to an IP address known to be a command and control server.", [];
    BitcoinTool => "CryptoCurrency:Runtime/BitcoinTool.B", 8.0, false, IpIntel,
        "Cryptocurrency-related IP address contacted",
        "A process connected to an IP address associated with cryptocurrency mining or trading.", [];
    BlackholeTraffic => "Trojan:Runtime/BlackholeTraffic", 5.0, false, IpIntel,
        "Blackholed IP address contacted",
        "A process connected to an IP address of a remote host that is a known black hole.", [];
    DropPoint => "Trojan:Runtime/DropPoint", 5.0, false, IpIntel,
        "Malware drop point contacted",
        "A process connected to an IP address known to hold credentials and data stolen by malware.", [];
    TorRelay => "UnauthorizedAccess:Runtime/TorRelay", 8.0, false, IpIntel,
        "Tor relay traffic accepted",
        "A process accepted a connection from a Tor node: the workload may be acting as a Tor relay.", [];
    TorClient => "UnauthorizedAccess:Runtime/TorClient", 8.0, false, IpIntel,
        "Tor network contacted",
        "A process connected to a Tor guard or directory authority node.", [];
    // --- threat intelligence: DNS name queried ---
    CommandAndControlDns => "Backdoor:Runtime/C&CActivity.B!DNS", 8.0, false, DnsIntel,
        "Command and control domain queried",
        "A process queried a domain name associated with a command and control server.", [];
    BitcoinToolDns => "CryptoCurrency:Runtime/BitcoinTool.B!DNS", 8.0, false, DnsIntel,
        "Cryptocurrency-related domain queried",
        "A process queried a domain name associated with cryptocurrency mining or trading.", [];
    BlackholeTrafficDns => "Trojan:Runtime/BlackholeTraffic!DNS", 5.0, false, DnsIntel,
        "Domain resolving to a black hole queried",
        "A process queried a domain name that is redirected to a black hole (sinkhole) address.", [];
    DropPointDns => "Trojan:Runtime/DropPoint!DNS", 8.0, false, DnsIntel,
        "Malware drop point domain queried",
        "A process queried a domain name known to hold credentials and data stolen by malware.", [];
    DgaDomainRequest => "Trojan:Runtime/DGADomainRequest.C!DNS", 8.0, false, DnsIntel,
        "Algorithmically generated domain queried",
        "A process queried a domain name produced by a domain generation algorithm, as malware does to find its command and control server.", [];
    DriveBySourceTraffic => "Trojan:Runtime/DriveBySourceTraffic!DNS", 5.0, false, DnsIntel,
        "Drive-by download domain queried",
        "A process queried a domain name of a remote host that is a known source of drive-by download attacks.", [];
    PhishingDomainRequest => "Trojan:Runtime/PhishingDomainRequest!DNS", 8.0, false, DnsIntel,
        "Phishing domain queried",
        "A process queried a domain name involved in phishing attacks.", [];
    AbusedDomainRequest => "Impact:Runtime/AbusedDomainRequest.Reputation", 5.0, false, DnsIntel,
        "Commonly abused domain queried",
        "A process queried a low-reputation domain name of a kind commonly abused (free dynamic DNS, bulletproof hosting).", [];
    BitcoinDomainRequest => "Impact:Runtime/BitcoinDomainRequest.Reputation", 8.0, false, DnsIntel,
        "Low-reputation cryptocurrency domain queried",
        "A process queried a low-reputation domain name associated with cryptocurrency activity.", [];
    MaliciousDomainRequest => "Impact:Runtime/MaliciousDomainRequest.Reputation", 8.0, false, DnsIntel,
        "Malicious domain queried",
        "A process queried a low-reputation domain name associated with known threats.", [];
    SuspiciousDomainRequest => "Impact:Runtime/SuspiciousDomainRequest.Reputation", 2.0, false, DnsIntel,
        "Suspicious domain queried",
        "A process queried a low-reputation domain name that is suspicious because of its age or popularity.", [];
    MetadataDnsRebind => "UnauthorizedAccess:Runtime/MetadataDNSRebind", 8.0, false, DnsIntel,
        "Domain resolving to the instance metadata service queried",
        "A process queried a domain name that resolves to the instance metadata address (169.254.169.254 or fd00:ec2::254): a DNS rebinding attempt to reach the metadata service.", [];
    // --- behaviour ---
    NewBinaryExecuted => "Execution:Runtime/NewBinaryExecuted", 5.0, false, Behaviour,
        "New binary executed in a container",
        "A file created or modified in a container after it started was executed.", ["executablePath", "modifyingProcess", "modifiedAt"];
    DockerSocketAccessed => "PrivilegeEscalation:Runtime/DockerSocketAccessed", 5.0, false, Behaviour,
        "Container runtime socket accessed from a container",
        "A process inside a container connected to the container runtime's socket, which controls every container on the host.", ["socketPath"];
    RuncContainerEscape => "PrivilegeEscalation:Runtime/RuncContainerEscape", 8.0, false, Behaviour,
        "runc container escape attempt",
        "A container process overwrote the host's runc binary or ran with a working directory under /proc/self/fd: a container escape attempt (CVE-2019-5736, CVE-2024-21626).", ["runcBinaryPath", "workingDirectory", "commandLineExample"];
    CGroupsReleaseAgentModified => "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified", 8.0, false, Behaviour,
        "cgroup release agent modified",
        "A process modified a cgroup release_agent file, which the kernel runs as root on the host: a container escape technique.", ["releaseAgentPath"];
    ProcessInjectionProc => "DefenseEvasion:Runtime/ProcessInjection.Proc", 8.0, false, Behaviour,
        "Process injection through /proc",
        "A process opened another process's /proc/<pid>/mem for writing to inject code into it.", ["targetProcess", "filePath"];
    ProcessInjectionPtrace => "DefenseEvasion:Runtime/ProcessInjection.Ptrace", 8.0, false, Behaviour,
        "Process injection through ptrace",
        "A process wrote into another process's memory or registers with ptrace.", ["targetProcess", "ptraceRequest"];
    ProcessInjectionVirtualMemoryWrite => "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite", 8.0, false, Behaviour,
        "Process injection through process_vm_writev",
        "A process wrote into another process's memory with process_vm_writev.", ["targetProcess"];
    ReverseShell => "Execution:Runtime/ReverseShell", 8.0, false, Behaviour,
        "Reverse shell",
        "A shell runs with its standard input and output connected to a socket that it or its parent opened to a remote address.", ["addressFamily", "ianaProtocolNumber", "commandLineExample"];
    FilelessExecution => "DefenseEvasion:Runtime/FilelessExecution", 8.0, false, Behaviour,
        "Fileless execution",
        "A process ran an executable that exists only in memory (memfd) or was deleted from disk, or mapped code from a memory file.", ["executablePath", "libraryPath", "filelessKind", "commandLineExample"];
    CryptoMinerExecuted => "Impact:Runtime/CryptoMinerExecuted", 8.0, false, Behaviour,
        "Cryptocurrency miner executed",
        "A process ran a known cryptocurrency miner or mining command line.", ["commandLineExample"];
    NewLibraryLoaded => "Execution:Runtime/NewLibraryLoaded", 5.0, false, Behaviour,
        "New library loaded in a container",
        "A library created or modified in a container after it started was loaded by a process.", ["libraryPath", "modifyingProcess", "modifiedAt"];
    ContainerMountsHostDirectory => "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory", 8.0, false, Behaviour,
        "Container mounted a host filesystem",
        "A process inside a container mounted a host block device or host directory, giving it the host's files.", ["mountSource", "mountTarget", "fileSystemType", "flags", "result"];
    UserfaultfdUsage => "PrivilegeEscalation:Runtime/UserfaultfdUsage", 5.0, false, Behaviour,
        "userfaultfd used",
        "A process created a userfaultfd, a kernel feature often used to win race conditions in kernel exploits.", ["flags"];
    SuspiciousTool => "Execution:Runtime/SuspiciousTool", 8.0, true, Behaviour,
        "Suspicious tool executed",
        "A process ran a tool used in attacks: a penetration-testing tool, scanner, sniffer, credential dumper or backdoor (High for offensive-only tools, Low for dual-use ones).", ["toolName", "toolCategory", "commandLineExample"];
    SuspiciousCommandExecution => "Execution:Runtime/SuspiciousCommand", 5.0, true, Behaviour,
        "Suspicious command executed",
        "A process ran a command line typical of an attack, such as downloading a file and running it at once.", ["commandLineExample", "threatFilePath"];
    SuspiciousCommandDefenseEvasion => "DefenseEvasion:Runtime/SuspiciousCommand", 8.0, false, Behaviour,
        "Defences disabled",
        "A process ran a command that weakens the host's defences: firewall rules flushed, scheduled tasks wiped, a security service stopped, or a library forced into programs with LD_PRELOAD.", ["commandLineExample", "serviceName", "ldPreloadValue"];
    PtraceAntiDebugging => "DefenseEvasion:Runtime/PtraceAntiDebugging", 2.0, false, Behaviour,
        "Anti-debugging with ptrace",
        "A process made itself untraceable with PTRACE_TRACEME in an unusual context, a technique malware uses to resist analysis.", ["parentName"];
    MaliciousFileExecuted => "Execution:Runtime/MaliciousFileExecuted", 8.0, false, Behaviour,
        "Known malicious file executed",
        "A process ran a file whose SHA-256 is on a threat list.", ["threatFilePath", "threatFileSha256"];
    MaliciousFileExecutedCustom => "Execution:Runtime/MaliciousFileExecuted.Custom", 8.0, false, Behaviour,
        "File on a custom malware list executed",
        "A process ran a file whose SHA-256 is on a hash list you supplied, or that matched one of your YARA rules.", ["threatFilePath", "threatFileSha256", "yaraRules"];
    SuspiciousShellCreated => "Execution:Runtime/SuspiciousShellCreated", 2.0, false, Behaviour,
        "Interactive shell started by a network service",
        "A network service process started an interactive shell, as an exploited service does.", ["shellName", "parentName"];
    ElevationToRoot => "PrivilegeEscalation:Runtime/ElevationToRoot", 5.0, false, Behaviour,
        "Process elevated to root",
        "A process gained root through a set-user-id binary that is not normally used that way.", ["executablePath", "previousUid", "previousEuid"];
    SuspiciousCommandDiscovery => "Discovery:Runtime/SuspiciousCommand", 2.0, false, Behaviour,
        "Discovery command executed",
        "A process ran a command that gathers information about the host, its users or its network, in an unusual context.", ["commandLineExample"];
    SuspiciousCommandPersistence => "Persistence:Runtime/SuspiciousCommand", 5.0, false, Behaviour,
        "Persistence command executed",
        "A process ran a command that makes code run again later: a cron job, a systemd unit, an authorized key or a startup script.", ["commandLineExample"];
    SuspiciousCommandPrivilegeEscalation => "PrivilegeEscalation:Runtime/SuspiciousCommand", 5.0, false, Behaviour,
        "Privilege escalation command executed",
        "A process ran a command that grants privileges: set-id bits on a file, or a change to sudoers.", ["commandLineExample"];
    KernelModuleLoaded => "DefenseEvasion:Runtime/KernelModuleLoaded", 5.0, false, Behaviour,
        "Kernel module loaded",
        "A process loaded (or tried to load) a kernel module, which runs with full kernel privileges.", ["moduleName", "moduleFilePath", "moduleSha256", "moduleLoadMethod", "result"];
    SensitiveFileModifiedPersistence => "Persistence:Runtime/SensitiveFileModified", 5.0, false, Behaviour,
        "Persistence file modified",
        "A process modified a file that makes code run again later (cron tables, systemd units, shell start-up files, authorized keys).", ["fileOperation", "filePath", "relatedFilePaths"];
    SensitiveFileModifiedPrivilegeEscalation => "PrivilegeEscalation:Runtime/SensitiveFileModified", 5.0, false, Behaviour,
        "Privilege file modified",
        "A process modified a file that grants privileges (sudoers, passwd, shadow, group).", ["fileOperation", "filePath", "relatedFilePaths"];
    SensitiveFileModifiedDefenseEvasion => "DefenseEvasion:Runtime/SensitiveFileModified", 5.0, false, Behaviour,
        "Defence file modified",
        "A process modified a file that controls the host's defences or logging (ld.so.preload, audit and syslog configuration).", ["fileOperation", "filePath", "relatedFilePaths"];
}

impl FindingType {
    /// The GuardDuty name, e.g. `Execution:Runtime/ReverseShell`.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for FindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FindingType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for FindingType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A finding type name that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding type {0:?} (`saker findings types` lists them)")]
pub struct UnknownFindingType(pub String);

impl FromStr for FindingType {
    type Err = UnknownFindingType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingType::ALL.iter().copied().find(|t| t.name() == s).ok_or_else(|| UnknownFindingType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn forty_six_unique_types() {
        assert_eq!(FindingType::ALL.len(), 46);
        let names: HashSet<_> = FindingType::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), 46);
        for t in FindingType::ALL {
            assert!(t.name().contains(":Runtime/"), "{t}");
            assert_eq!(t.name().parse::<FindingType>(), Ok(*t));
            let sev = t.info().severity;
            assert!((1.0..9.0).contains(&sev), "{t}: {sev}");
        }
    }

    #[test]
    fn severity_bands() {
        assert_eq!(SeverityLabel::of(8.0), SeverityLabel::High);
        assert_eq!(SeverityLabel::of(6.9), SeverityLabel::Medium);
        assert_eq!(SeverityLabel::of(3.9), SeverityLabel::Low);
    }
}
