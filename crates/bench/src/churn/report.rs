//! The churn report as markdown.

use super::ChurnReport;
use crate::report::thousands;
use std::fmt::Write as _;

/// Issue 6's target for the agent's growth over the churn: 5 MB (4.77 MiB).
pub const TARGET_GROWTH_KIB: i64 = 5_000_000 / 1024;

impl ChurnReport {
    pub fn markdown(&self) -> String {
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        let a = &self.agent;
        let get = |k: &str| a.workload_kinds.get(k).copied().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "saker bench churn: {} processes and {} runc containers in {:.1} s, {}\n",
            thousands(self.processes),
            thousands(self.containers),
            self.churn_s,
            self.date
        );
        let _ = writeln!(out, "| measure | value |\n|---|---|");
        let _ = writeln!(out, "| agent RSS before (after warm-up) | {} |", mib(self.rss_before_kib));
        let _ = writeln!(
            out,
            "| agent RSS peak ({} readings, every 100 ms) | {} |",
            self.rss_samples,
            mib(self.rss_peak_kib)
        );
        let _ = writeln!(out, "| agent RSS after ({:.0} s to settle) | {} |", self.settle_s, mib(self.rss_after_kib));
        let growth = self.rss_growth_kib;
        let verdict = if growth <= TARGET_GROWTH_KIB { "met" } else { "missed" };
        let _ = writeln!(
            out,
            "| **RSS growth** (after − before) | **{:+.1} MiB** ({verdict}: target ≤ 5 MB = 4.77 MiB) |",
            growth as f64 / 1024.0
        );
        let _ = writeln!(
            out,
            "| containers failed / left behind | {} / {} |",
            self.containers_failed,
            self.leftovers.len()
        );
        let _ = writeln!(
            out,
            "| events of the churn (process.exec / fork / exit) | {} / {} / {} |",
            thousands(get("process.exec")),
            thousands(get("process.fork")),
            thousands(get("process.exit"))
        );
        let _ = writeln!(out, "| events attributed to a container | {} |", thousands(a.container_events));
        let ring: u64 = a.ring_lost.values().sum();
        let user: u64 = a.user_lost.values().sum();
        let shed: u64 = a.shed_kinds.values().sum();
        let _ = writeln!(out, "| lost (ring / user space), shed — host-wide | {ring} / {user}, {shed} |");
        let _ = writeln!(out, "| agent CPU time | {:.1} s |", a.cpu_micros as f64 / 1e6);
        if self.debug_build {
            let _ = writeln!(out, "\nThis is a debug build: measure with `cargo build --release`.");
        }
        out
    }
}
