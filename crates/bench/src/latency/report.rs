//! The latency report: percentiles over the triggers that were seen, the
//! count of those that were not, the verdict against the target; rendered as
//! a markdown table or JSON.

use super::watch::Sample;
use crate::report::{Machine, thousands};
use std::fmt::Write as _;

/// Issue 6's target: the 99th percentile of syscall → finding in the API.
pub const TARGET_P99_S: f64 = 1.0;

/// Percentiles (nearest rank) of one latency, in milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Summary {
            count: v.len(),
            min_ms: v[0],
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: v[v.len() - 1],
            mean_ms: v.iter().sum::<f64>() / v.len() as f64,
        })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyReport {
    pub machine: Machine,
    pub quick: bool,
    /// What each trigger does and the finding it leads to.
    pub trigger: String,
    pub finding_type: String,
    /// Measured triggers fired (warm-up not counted).
    pub triggers: usize,
    pub rate_per_s: f64,
    pub poll_interval_ms: u64,
    /// A trigger not seen this long after its call is missed.
    pub timeout_s: f64,
    pub seen: usize,
    pub missed: usize,
    /// Kernel timestamp of the syscall (the finding's `eventFirstSeen`) →
    /// the poll answer that first held the finding.
    pub kernel_to_api: Option<Summary>,
    /// The bench's call → that answer (monotonic clock).
    pub call_to_api: Option<Summary>,
    /// Kernel timestamp − the bench's wall clock before the call: both
    /// clocks agree when this is small and positive.
    pub event_after_call: Option<Summary>,
    /// The split of `kernel_to_api` at the finding's `createdAt`: the
    /// agent's share (ring buffer, decode, enrich, detect) …
    pub kernel_to_detected: Option<Summary>,
    /// … and delivery's (spool, gRPC, the server's commit, the poll).
    pub detected_to_api: Option<Summary>,
    pub target_p99_s: f64,
    /// `None` when nothing was seen.
    pub target_met: Option<bool>,
    pub samples: Vec<Sample>,
}

impl LatencyReport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        machine: Machine,
        quick: bool,
        trigger: &str,
        finding_type: &str,
        rate_per_s: f64,
        poll_interval_ms: u64,
        timeout_s: f64,
        samples: Vec<Sample>,
    ) -> LatencyReport {
        let of = |f: fn(&Sample) -> Option<f64>| Summary::of(&samples.iter().filter_map(f).collect::<Vec<_>>());
        let kernel_to_api = of(|s| s.kernel_to_api_ms);
        let seen = samples.iter().filter(|s| s.kernel_to_api_ms.is_some()).count();
        LatencyReport {
            machine,
            quick,
            trigger: trigger.to_owned(),
            finding_type: finding_type.to_owned(),
            triggers: samples.len(),
            rate_per_s,
            poll_interval_ms,
            timeout_s,
            seen,
            missed: samples.len() - seen,
            target_met: kernel_to_api.as_ref().map(|k| k.p99_ms <= TARGET_P99_S * 1e3),
            kernel_to_api,
            call_to_api: of(|s| s.call_to_api_ms),
            event_after_call: of(|s| s.event_after_call_ms),
            kernel_to_detected: of(|s| s.kernel_to_detected_ms),
            detected_to_api: of(|s| s.detected_to_api_ms),
            target_p99_s: TARGET_P99_S,
            samples,
        }
    }

    /// The run's facts, the table, the verdict.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "saker bench latency{}: {} triggers at {}/s, API polled every {} ms, kernel {}, {} CPUs, saker {}, {}\n\n",
            if self.quick { " --quick" } else { "" },
            thousands(self.triggers as u64),
            self.rate_per_s,
            self.poll_interval_ms,
            m.kernel,
            m.cpus,
            m.saker_version,
            m.date
        );
        let _ = writeln!(out, "Trigger: {} → `{}`.\n", self.trigger, self.finding_type);
        out.push_str("| latency | triggers | seen | missed | p50 | p90 | p99 | max |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        let rows = [
            ("syscall (kernel timestamp) → finding in the API", &self.kernel_to_api),
            ("trigger call (bench's clock) → finding in the API", &self.call_to_api),
            ("of which: syscall → finding made (agent)", &self.kernel_to_detected),
            ("of which: finding made → in the API (delivery)", &self.detected_to_api),
        ];
        for (what, s) in rows {
            let seen = s.as_ref().map_or(0, |s| s.count);
            let cells = match s {
                Some(s) => [s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms].map(fmt_ms),
                None => ["n/a".to_owned(), "n/a".to_owned(), "n/a".to_owned(), "n/a".to_owned()],
            };
            let _ = writeln!(
                out,
                "| {what} | {} | {} | {} | {} |",
                thousands(self.triggers as u64),
                thousands(seen as u64),
                thousands(self.triggers.saturating_sub(seen) as u64),
                cells.join(" | ")
            );
        }
        out.push('\n');
        let verdict = match (&self.kernel_to_api, self.target_met) {
            (Some(k), Some(true)) => format!("met (p99 {})", fmt_ms(k.p99_ms)),
            (Some(k), _) => format!("missed (p99 {})", fmt_ms(k.p99_ms)),
            (None, _) => "not measured: no trigger was seen".to_owned(),
        };
        let _ = writeln!(out, "Target p99 ≤ {} s (syscall → API): {verdict}.", self.target_p99_s);
        if self.missed > 0 {
            let _ = writeln!(
                out,
                "{} trigger(s) not seen within {} s of their call.",
                thousands(self.missed as u64),
                self.timeout_s
            );
        }
        if let Some(c) = &self.event_after_call {
            let _ = writeln!(
                out,
                "Clock check: kernel timestamp − the bench's clock before the call, median {:.3} ms (max {:.3} ms).",
                c.p50_ms, c.max_ms
            );
        }
        if cfg!(debug_assertions) {
            out.push_str("\nThis is a debug build: measure with `cargo build --release`.\n");
        }
        out
    }
}

fn fmt_ms(v: f64) -> String {
    format!("{v:.1} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            kernel: "6.18".into(),
            cpus: 2,
            saker_version: "0.1.0".into(),
            command_line: "saker bench latency".into(),
            date: "2026-11-29T00:00:00Z".into(),
        }
    }

    fn sample(seq: usize, ms: Option<f64>) -> Sample {
        Sample {
            seq,
            victim_pid: seq as u32 + 100,
            event_time: None,
            kernel_to_api_ms: ms,
            call_to_api_ms: ms.map(|m| m + 0.1),
            event_after_call_ms: ms.map(|_| 0.02),
            kernel_to_detected_ms: ms.map(|m| m / 4.0),
            detected_to_api_ms: ms.map(|m| m * 3.0 / 4.0),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let s = Summary::of(&v).unwrap();
        assert_eq!((s.min_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms), (1.0, 500.0, 900.0, 990.0, 1000.0));
        assert_eq!(s.mean_ms, 500.5);
        let one = Summary::of(&[7.0]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn the_table_is_complete_and_counts_the_missed() {
        let samples = vec![sample(0, Some(40.0)), sample(1, Some(60.0)), sample(2, None)];
        let r = LatencyReport::new(machine(), true, "t", "T", 25.0, 10, 10.0, samples);
        assert_eq!((r.triggers, r.seen, r.missed), (3, 2, 1));
        assert_eq!(r.target_met, Some(true));
        let md = r.markdown();
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 6, "{md}");
        for line in &table {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 8, "{line}");
            assert!(cells.iter().all(|c| !c.is_empty()), "{line}");
        }
        assert!(md.contains("| 3 | 2 | 1 | 40.0 ms | 60.0 ms | 60.0 ms | 60.0 ms |"), "{md}");
        assert!(md.contains("Target p99 ≤ 1 s (syscall → API): met (p99 60.0 ms)."), "{md}");
        assert!(md.contains("1 trigger(s) not seen"), "{md}");
    }

    #[test]
    fn nothing_seen_is_n_a_not_a_verdict() {
        let r = LatencyReport::new(machine(), false, "t", "T", 25.0, 10, 10.0, vec![sample(0, None)]);
        assert_eq!(r.target_met, None);
        assert!(r.markdown().contains("| 1 | 0 | 1 | n/a | n/a | n/a | n/a |"));
    }
}
