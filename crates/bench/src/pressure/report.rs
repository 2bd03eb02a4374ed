//! The pressure report as markdown.

use super::PressureReport;
use crate::report::thousands;
use std::collections::BTreeMap;
use std::fmt::Write as _;

impl PressureReport {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let budget = if self.budget { "default (budget on)" } else { "default without the budget (--no-budget)" };
        let _ = writeln!(
            out,
            "saker bench pressure: {:.1} s of load ({:.1} s asked), agent {budget}, kernel {}, {} CPUs, {}\n",
            self.wall_s, self.seconds_requested, self.kernel, self.cpus, self.date
        );
        let lanes: Vec<String> = self
            .lanes
            .iter()
            .map(|l| format!("{} ×{} ({} chunks)", l.workload.name(), thousands(l.iterations), l.chunks))
            .collect();
        let _ = writeln!(out, "Load: {}.\n", lanes.join(", "));
        let _ = writeln!(out, "| kind | generated | received | lost (ring) | shed (budget) | unexplained |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for k in &self.kinds {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                k.kind,
                thousands(k.generated),
                thousands(k.received),
                thousands(k.ring_lost),
                thousands(k.shed),
                k.unexplained
            );
        }
        let unexplained: i64 = self.kinds.iter().map(|k| k.unexplained).sum();
        let ring: u64 = self.kinds.iter().map(|k| k.ring_lost).sum();
        let shed: u64 = self.kinds.iter().map(|k| k.shed).sum();
        let _ = writeln!(
            out,
            "| **total** | **{}** | **{}** | **{}** | **{}** | **{unexplained}** |\n",
            thousands(self.generated),
            thousands(self.received),
            thousands(ring),
            thousands(shed),
        );
        let rate = |n: u64| thousands((n as f64 / self.wall_s.max(1e-9)) as u64);
        let _ = writeln!(out, "| measure | value |\n|---|---|");
        let _ = writeln!(out, "| events generated/s (kinds above) | {} |", rate(self.generated));
        let _ = writeln!(out, "| events received/s (kinds above) | {} |", rate(self.received));
        let _ = writeln!(out, "| events of the load, any kind | {} |", thousands(self.workload_events));
        let _ = writeln!(out, "| events the agent delivered, host-wide | {} |", thousands(self.agent_events));
        let _ = writeln!(out, "| lost in the ring, host-wide | {} |", listing(&self.ring_lost));
        let _ = writeln!(out, "| lost in user space, host-wide | {} |", listing(&self.user_lost));
        let _ = writeln!(out, "| shed by the budget, host-wide | {} |", listing(&self.shed));
        let level = self.max_shed_level.map_or("no budget".to_owned(), |l| format!("{l} of 4"));
        let _ = writeln!(out, "| highest shed level | {level} |");
        let _ = writeln!(
            out,
            "| agent CPU (its CPU time ÷ the load's wall time) | {:.1} % of one CPU |",
            self.agent_cpu_percent
        );
        let _ = writeln!(
            out,
            "| agent caught up after the load / then stopped in | {:.1} s / {:.1} s |",
            self.catch_up_s, self.stop_s
        );
        let _ = writeln!(out, "| agent peak RSS | {:.1} MiB |", self.agent_peak_rss_kib as f64 / 1024.0);
        let verdict = match self.lost_total {
            0 => "met: 0 events lost (ring and user space)".to_owned(),
            n => format!("missed: {} events lost (ring and user space), see above", thousands(n)),
        };
        let _ = writeln!(out, "| zero loss | {verdict}; {} shed by the budget |", thousands(self.shed_total));
        if self.debug_build {
            let _ = writeln!(out, "\nThis is a debug build: measure with `cargo build --release`.");
        }
        out
    }
}

fn listing(m: &BTreeMap<String, u64>) -> String {
    match m.values().sum::<u64>() {
        0 => "0".to_owned(),
        total => {
            let parts: Vec<String> =
                m.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {}", thousands(*n))).collect();
            format!("{} ({})", thousands(total), parts.join(", "))
        }
    }
}
