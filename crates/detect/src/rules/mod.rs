//! The rules: one file per family, each a set of plain functions from an
//! event (and bounded state) to [`Hit`]s. A rule allocates only when it hits.
//!
//! - `intel.rs` — threat lists: IPs of connections, DNS names, executable hashes;
//!   DNS rebinding to the metadata service.
//! - `exec.rs` — what a new program is: new binary, fileless, miner, tool,
//!   elevation to root, shells (reverse, spawned by a service), a working
//!   directory outside the container's root (runc escape).
//! - `commands.rs` — suspicious command lines (execution, defence evasion,
//!   discovery, persistence, privilege escalation).
//! - `files.rs` — sensitive files, runtime sockets, runc, cgroup release agents.
//! - `kernel.rs` — injection, anti-debugging, userfaultfd, mounts, modules,
//!   libraries.
//! - `tables.rs` — the name lists the rules share.

mod commands;
mod exec;
mod files;
mod intel;
mod kernel;
pub mod tables;

pub use intel::types_for_category;

use crate::catalog::FindingType;
use crate::finding::{Evidence, ThreatIntelligenceDetail};
use crate::intel::Intel;
use crate::state::State;
use saker_model::{Event, Kind};
use serde_json::{Map, Value};

/// One rule's verdict on one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub finding_type: FindingType,
    /// Replaces the type's default severity (variable-severity types).
    pub severity: Option<f64>,
    /// What makes repeats "the same activity" beyond type and resource
    /// (a path, a domain, an address, a tool name).
    pub key: String,
    /// `service.runtimeDetails.context`.
    pub context: Map<String, Value>,
    /// `service.action` (network and DNS types).
    pub action: Option<Value>,
    pub evidence: Option<Evidence>,
}

impl Hit {
    pub fn new(finding_type: FindingType, key: impl Into<String>) -> Self {
        Hit { finding_type, severity: None, key: key.into(), context: Map::new(), action: None, evidence: None }
    }

    pub fn ctx(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.context.insert(field.to_owned(), value.into());
        self
    }

    pub fn severity(mut self, s: f64) -> Self {
        self.severity = Some(s);
        self
    }

    pub fn threat(mut self, list: &str, threat_name: Option<&str>) -> Self {
        self.evidence = Some(Evidence {
            threat_intelligence_details: vec![ThreatIntelligenceDetail {
                threat_list_name: list.to_owned(),
                threat_names: threat_name.map(|n| vec![n.to_owned()]).unwrap_or_default(),
            }],
        });
        self
    }
}

/// What rules may read and remember.
pub struct RuleCtx<'a> {
    pub intel: &'a Intel,
    /// The intel snapshot holds hash lists (else exec events are not kept
    /// waiting for their hash).
    pub hash_lists: bool,
    pub state: &'a mut State,
}

/// Every rule that applies to the event's kind.
pub fn evaluate(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    match ev.kind {
        Kind::ProcessExec => {
            exec::on_exec(ev, cx, hits);
            commands::on_exec(ev, hits);
            intel::on_exec(ev, cx, hits);
        }
        Kind::NetConnect | Kind::NetAccept | Kind::NetListen => {
            intel::on_net(ev, cx, hits);
            exec::on_net(ev, cx, hits);
            files::on_net(ev, hits);
        }
        Kind::DnsQuery | Kind::DnsAnswer => intel::on_dns(ev, cx, hits),
        Kind::FileWrite
        | Kind::FileRename
        | Kind::FileUnlink
        | Kind::FileLink
        | Kind::FileSymlink
        | Kind::FileChmod => files::on_file(ev, cx, hits),
        Kind::Ptrace | Kind::MemWrite | Kind::Userfaultfd | Kind::Mount | Kind::ModuleLoad | Kind::LibraryLoad => {
            kernel::on_kernel(ev, cx, hits)
        }
        Kind::ProcessExit => {
            if let Some(p) = &ev.process {
                cx.state.forget_proc(&p.uuid);
            }
        }
        Kind::ProcessFork | Kind::ProcessSetuid | Kind::MemfdCreate | Kind::BpfLoad | Kind::AgentLoss => {}
    }
}

/// A hash finished after the process's exec event went out: check it now.
pub fn on_hash(exec_event: &Event, sha256: &str, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    intel::check_hash(exec_event, sha256, cx, hits);
}

/// The last path component.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The executable's basename, else comm: `busybox` for every busybox applet.
pub(crate) fn executable_name(ev: &Event) -> &str {
    let exe = ev.exec().and_then(|x| x.executable.as_deref()).or_else(|| ev.process.as_ref()?.executable.as_deref());
    match exe {
        Some(e) => basename(e),
        None => ev.process.as_ref().map_or("", |p| &*p.name),
    }
}

/// The program's name as users know it: the executable's basename, with a
/// multi-call binary resolved to the applet it runs (`busybox nc` is `nc`),
/// so every rule judges an applet as the program it stands for.
pub(crate) fn program_name(ev: &Event) -> &str {
    tables::applet(executable_name(ev), argv(ev)).0
}

/// The process's argv: from the exec itself, else the process record.
pub(crate) fn argv(ev: &Event) -> &[String] {
    match ev.exec() {
        Some(x) => &x.argv,
        None => ev.process.as_ref().map_or(&[][..], |p| &p.argv),
    }
}

/// The parent process's program name (applets resolved).
pub(crate) fn parent_name(ev: &Event) -> &str {
    ev.lineage.first().map_or("", |p| process_name(p))
}

/// A process record's program name (applets resolved).
pub(crate) fn process_name(p: &saker_model::Process) -> &str {
    tables::applet(p.executable.as_deref().map(basename).unwrap_or(&p.name), &p.argv).0
}

/// Did the kernel report success (or no result at all)?
pub(crate) fn succeeded(ev: &Event) -> bool {
    ev.result.is_none_or(|r| r >= 0)
}

/// The command line, space-joined: what `commandLineExample` shows.
pub(crate) fn command_line(argv: &[String]) -> String {
    argv.join(" ")
}
