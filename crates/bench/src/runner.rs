//! The run: every workload under every configuration, repeated, with the
//! configurations alternating (bare, floor, saker, auditd, bare, …) so that
//! drift of a shared machine spreads over all of them instead of favouring
//! whichever ran first.

use crate::configs::Config;
use crate::project::Project;
use crate::report::{Machine, Report, Row, Run};
use crate::workload::{self, Launcher, Workload};
use crate::{BenchError, Options};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

pub fn run(opts: &Options) -> Result<Report, BenchError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(BenchError::NotRoot);
    }
    if opts.workloads.is_empty() || opts.configs.is_empty() || opts.repetitions == 0 {
        return Err(BenchError::Usage("nothing to run: no workloads, configurations or repetitions".into()));
    }
    let project = match opts.workloads.contains(&Workload::Build) {
        true => Some(Project::generate(Workload::Build.size(opts.quick))?),
        false => None,
    };
    let watched = workload::watched_file();
    let launcher = Launcher { exe: &opts.exe, watched_file: &watched, project: project.as_ref() };
    let result = measure_all(opts, &launcher);
    if watched.exists() {
        let _ = std::fs::remove_file(&watched);
    }
    let mut cells = result?;

    let mut rows = Vec::new();
    for &w in &opts.workloads {
        for &c in &opts.configs {
            let (runs, why) = cells.remove(&(w, c)).unwrap_or_default();
            rows.push(Row::new(w, c, w.size(opts.quick), runs, why));
        }
    }
    Ok(Report::new(machine(opts), opts.quick, opts.repetitions, rows))
}

type Cells = HashMap<(Workload, Config), (Vec<Run>, Option<String>)>;

fn measure_all(opts: &Options, launcher: &Launcher) -> Result<Cells, BenchError> {
    let mut cells: Cells = HashMap::new();
    for rep in 1..=opts.repetitions {
        for &w in &opts.workloads {
            for &c in &opts.configs {
                if opts.interrupted.load(Ordering::SeqCst) {
                    return Err(BenchError::Interrupted);
                }
                if cells.get(&(w, c)).is_some_and(|cell| cell.1.is_some()) {
                    continue; // unavailable on this machine
                }
                match measure(opts, launcher, w, c) {
                    Ok(run) => {
                        tracing::info!(
                            rep,
                            workload = w.name(),
                            config = c.name(),
                            wall_s = format!("{:.3}", run.wall_s),
                            events = ?run.observed.events,
                            "measured"
                        );
                        cells.entry((w, c)).or_default().0.push(run);
                    }
                    Err(BenchError::Interrupted) => return Err(BenchError::Interrupted),
                    Err(e) if c.optional() => {
                        tracing::warn!(config = c.name(), error = %e, "configuration unavailable");
                        // The same reason holds for every workload.
                        for &w2 in &opts.workloads {
                            let other = cells.entry((w2, c)).or_default();
                            other.0.clear();
                            other.1 = Some(e.to_string());
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(cells)
}

fn measure(opts: &Options, launcher: &Launcher, w: Workload, c: Config) -> Result<Run, BenchError> {
    launcher.prepare(w)?;
    let observer = c.start(&opts.exe)?;
    // On a workload error the observer is dropped, which tears it down.
    let wall = launcher.run(w, w.size(opts.quick));
    if opts.interrupted.load(Ordering::SeqCst) {
        return Err(BenchError::Interrupted);
    }
    let wall = wall?;
    let observed = observer.finish(wall)?;
    Ok(Run { wall_s: wall.as_secs_f64(), observed })
}

fn machine(opts: &Options) -> Machine {
    Machine {
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        saker_version: env!("CARGO_PKG_VERSION").to_owned(),
        command_line: opts.command_line.clone(),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
