//! The results: per workload × configuration, medians over repetitions and
//! ratios against bare; rendered as a markdown table or JSON.

use crate::configs::{Config, Observed};
use crate::stats::{median, ratio};
use crate::workload::Workload;
use std::fmt::Write as _;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub machine: Machine,
    pub quick: bool,
    pub repetitions: usize,
    pub results: Vec<Row>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub kernel: String,
    pub cpus: usize,
    pub saker_version: String,
    pub command_line: String,
    /// When the run finished (UTC, RFC 3339).
    pub date: String,
}

/// One measured run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub wall_s: f64,
    #[serde(flatten)]
    pub observed: Observed,
}

/// One workload under one configuration. `None` fields are not applicable
/// (bare has no events; the floor has no process of its own).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub workload: Workload,
    pub config: Config,
    /// Loop iterations, or source files for the build.
    pub size: u64,
    /// Why the configuration could not run here; no runs then.
    pub unavailable: Option<String>,
    pub runs: Vec<Run>,
    pub median_wall_s: Option<f64>,
    pub ratio_vs_bare: Option<f64>,
    pub events_per_s: Option<f64>,
    /// Over all runs; for Saker shed events included.
    pub events_lost: Option<u64>,
    pub events_shed: Option<u64>,
    /// Median over runs of observer CPU time ÷ the run's wall time, as a
    /// percentage of one CPU.
    pub cpu_percent: Option<f64>,
    /// Highest over runs.
    pub peak_rss_mib: Option<f64>,
}

impl Row {
    pub fn new(workload: Workload, config: Config, size: u64, runs: Vec<Run>, unavailable: Option<String>) -> Self {
        let per_run = |f: &dyn Fn(&Run) -> Option<f64>| -> Option<f64> {
            let v: Vec<f64> = runs.iter().filter_map(f).collect();
            if v.len() == runs.len() { median(&v) } else { None }
        };
        let sum = |f: &dyn Fn(&Observed) -> Option<u64>| -> Option<u64> {
            runs.iter().map(|r| f(&r.observed)).sum::<Option<u64>>().filter(|_| !runs.is_empty())
        };
        Row {
            workload,
            config,
            size,
            median_wall_s: per_run(&|r| Some(r.wall_s)),
            ratio_vs_bare: None,
            events_per_s: per_run(&|r| r.observed.events.map(|e| e as f64 / r.wall_s)),
            events_lost: sum(&|o| o.lost),
            events_shed: sum(&|o| o.shed),
            cpu_percent: per_run(&|r| r.observed.cpu_micros.map(|c| c as f64 / (r.wall_s * 1e6) * 100.0)),
            peak_rss_mib: runs.iter().filter_map(|r| r.observed.peak_rss_kib).max().map(|k| k as f64 / 1024.0),
            runs,
            unavailable,
        }
    }
}

impl Report {
    /// Fill in each row's ratio against its workload's bare median.
    pub fn new(machine: Machine, quick: bool, repetitions: usize, mut results: Vec<Row>) -> Self {
        let bare: Vec<(Workload, f64)> = results
            .iter()
            .filter(|r| r.config == Config::Bare)
            .filter_map(|r| r.median_wall_s.map(|m| (r.workload, m)))
            .collect();
        for row in &mut results {
            let base = bare.iter().find(|(w, _)| *w == row.workload).map(|(_, m)| *m);
            row.ratio_vs_bare = match (row.median_wall_s, base) {
                (Some(v), Some(b)) => ratio(v, b),
                _ => None,
            };
        }
        Report { machine, quick, repetitions, results }
    }

    /// The markdown table, with the run's facts above it and the reasons
    /// for unavailable configurations below.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "saker bench{}: {} repetition(s), kernel {}, {} CPUs, saker {}, {}\n\n",
            if self.quick { " --quick" } else { "" },
            self.repetitions,
            m.kernel,
            m.cpus,
            m.saker_version,
            m.date
        );
        out.push_str(
            "| workload | config | wall (median) | × bare | events/s | lost | observer CPU | observer peak RSS |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
        let mut notes = Vec::new();
        for r in &self.results {
            let workload = format!("{} ({})", r.workload.name(), size_label(r.workload, r.size));
            let cells = if let Some(why) = &r.unavailable {
                notes.push(format!("- {} unavailable: {why}", r.config.name()));
                vec!["unavailable".to_owned(); 6]
            } else {
                vec![
                    opt(r.median_wall_s, |v| format!("{v:.3} s")),
                    opt(r.ratio_vs_bare, |v| format!("{v:.2}×")),
                    opt(r.events_per_s, |v| thousands(v.round() as u64)),
                    lost_cell(r.events_lost, r.events_shed),
                    opt(r.cpu_percent, |v| format!("{v:.1} %")),
                    opt(r.peak_rss_mib, |v| format!("{v:.1} MiB")),
                ]
            };
            let _ = writeln!(out, "| {workload} | {} | {} |", r.config.name(), cells.join(" | "));
        }
        notes.dedup();
        if !notes.is_empty() {
            out.push('\n');
            out.push_str(&notes.join("\n"));
            out.push('\n');
        }
        out
    }
}

fn size_label(w: Workload, size: u64) -> String {
    match w {
        Workload::Build => format!("{size} files"),
        _ => format!("×{}", thousands(size)),
    }
}

/// `n/a` for what does not apply: no cell is ever empty.
fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "n/a".to_owned(), f)
}

fn lost_cell(lost: Option<u64>, shed: Option<u64>) -> String {
    match (lost, shed) {
        (Some(l), Some(s)) if s > 0 => format!("{} ({} shed)", thousands(l), thousands(s)),
        (Some(l), _) => thousands(l),
        (None, _) => "n/a".to_owned(),
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wall_s: f64, events: Option<u64>, cpu: Option<u64>) -> Run {
        Run {
            wall_s,
            observed: Observed { events, lost: events.map(|_| 1), shed: None, cpu_micros: cpu, peak_rss_kib: cpu },
        }
    }

    fn machine() -> Machine {
        Machine {
            kernel: "6.18".into(),
            cpus: 2,
            saker_version: "0.1.0".into(),
            command_line: "saker bench".into(),
            date: "2026-11-29T00:00:00Z".into(),
        }
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn rows_take_medians_sums_and_peaks() {
        let runs = vec![
            run(1.0, Some(100), Some(500_000)),
            run(3.0, Some(300), Some(600_000)),
            run(2.0, Some(100), Some(100)),
        ];
        let r = Row::new(Workload::OpenClose, Config::Saker, 10, runs, None);
        assert_eq!(r.median_wall_s, Some(2.0));
        assert_eq!(r.events_per_s, Some(100.0));
        assert_eq!(r.events_lost, Some(3));
        assert_eq!(r.cpu_percent, Some(20.0));
        assert_eq!(r.peak_rss_mib, Some(600_000.0 / 1024.0));
    }

    #[test]
    fn ratios_are_against_the_workloads_bare_median() {
        let rows = vec![
            Row::new(Workload::OpenClose, Config::Bare, 10, vec![run(2.0, None, None)], None),
            Row::new(Workload::OpenClose, Config::Saker, 10, vec![run(3.0, Some(9), Some(9))], None),
            Row::new(Workload::Build, Config::Saker, 10, vec![run(3.0, Some(9), Some(9))], None),
        ];
        let report = Report::new(machine(), true, 1, rows);
        assert_eq!(report.results[0].ratio_vs_bare, Some(1.0));
        assert_eq!(report.results[1].ratio_vs_bare, Some(1.5));
        assert_eq!(report.results[2].ratio_vs_bare, None);
    }

    #[test]
    fn markdown_has_no_empty_cells() {
        let rows = vec![
            Row::new(Workload::OpenClose, Config::Bare, 10, vec![run(2.0, None, None)], None),
            Row::new(Workload::OpenClose, Config::Saker, 10, vec![run(3.0, Some(9), Some(9))], None),
            Row::new(Workload::OpenClose, Config::Auditd, 10, vec![], Some("not installed".into())),
        ];
        let md = Report::new(machine(), true, 1, rows).markdown();
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 5, "{md}");
        for line in &table {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 8, "{line}");
            assert!(cells.iter().all(|c| !c.is_empty()), "{line}");
        }
        assert!(md.contains("| open-close (×10) | saker | 3.000 s | 1.50× | 3 | 1 | 0.0 % | 0.0 MiB |"), "{md}");
        assert!(md.contains("auditd unavailable: not installed"));
    }
}
