//! The configurations a workload runs under: nothing, the count-only floor
//! probe, the Saker agent, auditd. Each is set up before one measured run and
//! torn down after it, so every run starts from the same state.

pub mod agent;
pub mod auditd;
pub mod floor;

use crate::BenchError;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Config {
    Bare,
    Floor,
    Saker,
    Auditd,
}

impl Config {
    /// Also the order runs alternate in.
    pub const ALL: [Config; 4] = [Config::Bare, Config::Floor, Config::Saker, Config::Auditd];

    pub fn name(self) -> &'static str {
        match self {
            Config::Bare => "bare",
            Config::Floor => "floor",
            Config::Saker => "saker",
            Config::Auditd => "auditd",
        }
    }

    pub fn parse(name: &str) -> Result<Self, BenchError> {
        Self::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| BenchError::UnknownName {
            what: "configuration",
            name: name.to_owned(),
            known: Self::ALL.map(Self::name).join(", "),
        })
    }

    /// May this configuration be missing on a machine (reported as
    /// unavailable, not a failure)? Bare and Saker never may.
    pub fn optional(self) -> bool {
        matches!(self, Config::Floor | Config::Auditd)
    }

    /// Start observing.
    pub fn start(self, exe: &Path) -> Result<Observer, BenchError> {
        Ok(match self {
            Config::Bare => Observer::Bare,
            Config::Floor => Observer::Floor(floor::Floor::start()?),
            Config::Saker => Observer::Saker(agent::AgentChild::start(exe)?),
            Config::Auditd => Observer::Auditd(auditd::Auditd::start()?),
        })
    }
}

/// A configuration while a workload runs under it.
pub enum Observer {
    Bare,
    Floor(floor::Floor),
    Saker(agent::AgentChild),
    Auditd(auditd::Auditd),
}

impl Observer {
    /// Stop observing; what the observer saw of a run of `wall`.
    pub fn finish(self, wall: Duration) -> Result<Observed, BenchError> {
        match self {
            Observer::Bare => Ok(Observed::default()),
            Observer::Floor(f) => f.finish(),
            Observer::Saker(a) => a.finish(wall),
            Observer::Auditd(a) => a.finish(wall),
        }
    }
}

/// What an observer reports for one run. `None`: not applicable (bare has
/// no events; the floor has no process of its own).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Observed {
    /// Events the observer produced for the run.
    pub events: Option<u64>,
    /// Events lost (for Saker: `agent.loss` totals, shed included).
    pub lost: Option<u64>,
    /// Of `lost`, those the agent shed to stay within its budget.
    pub shed: Option<u64>,
    /// The observer's CPU time from the run's start until it had handled
    /// everything, in microseconds.
    pub cpu_micros: Option<u64>,
    /// The observer's peak RSS during the run, KiB.
    pub peak_rss_kib: Option<u64>,
}
