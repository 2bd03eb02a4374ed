//! The budget at work in the running agent: placing it in a cgroup, and
//! the governor's loop on the pipeline thread.

use super::{BudgetConfig, BudgetHandle, Governor, HostSize, LevelChange, Sample, UsageMeter, shed_names};
use std::time::{Duration, Instant};

/// Move the agent into a cgroup with the budget's backstop limits; a
/// failure leaves the governor as the only guard, with a warning.
pub(crate) fn place_in_cgroup(b: &BudgetConfig, host: HostSize, ring_bytes: u64) {
    let limits = b.resolve(host).backstop(ring_bytes);
    match super::place(std::process::id(), "saker-agent", limits, host) {
        Ok(p) => {
            for (controller, dir) in &p.placed {
                tracing::info!(?controller, dir = %dir.display(), "agent placed in a limited cgroup");
            }
            for (controller, dir) in &p.already_limited {
                tracing::info!(?controller, dir = %dir.display(), "agent's cgroup already limited (systemd unit?): kept");
            }
            if !p.unavailable.is_empty() {
                tracing::warn!(controllers = ?p.unavailable, "no such cgroup controller here: those limits are not enforced");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot place the agent in a limited cgroup; the budget is kept by shedding only")
        }
    }
}

/// The governor at work on the pipeline thread: samples the agent's usage
/// once a second and publishes level changes for the sensor thread.
pub(crate) struct BudgetRun {
    governor: Governor,
    handle: BudgetHandle,
    meter: UsageMeter,
    next_sample: Instant,
    floor: usize,
}

/// How often the agent's usage is sampled.
const BUDGET_SAMPLE: Duration = Duration::from_secs(1);

impl BudgetRun {
    pub(crate) fn new(governor: Governor, handle: BudgetHandle, host: HostSize) -> Self {
        let floor = handle.min_level();
        let mut meter = UsageMeter::new(host.cpus);
        // The baseline: start-up work (lists, process table) is not counted.
        let now = Instant::now();
        meter.sample(now);
        BudgetRun { governor, handle, meter, next_sample: now + BUDGET_SAMPLE, floor }
    }

    pub(crate) fn tick(&mut self) {
        let floor = self.handle.min_level();
        if floor != self.floor {
            self.floor = floor;
            if let Some(c) = self.governor.set_floor(floor) {
                self.publish(c, None);
            }
        }
        let now = Instant::now();
        if now < self.next_sample {
            return;
        }
        self.next_sample = now + BUDGET_SAMPLE;
        let Some(sample) = self.meter.sample(now) else { return };
        if let Some(c) = self.governor.observe(sample) {
            self.publish(c, Some(sample));
        }
    }

    fn publish(&self, c: LevelChange, sample: Option<Sample>) {
        self.handle.want(c.to, c.mask);
        let shed = shed_names(c.to);
        let Some(s) = sample else {
            tracing::info!(level = c.to, ?shed, "min_shed_level raised: shedding");
            return;
        };
        let cpu_percent = format!("{:.2}", s.cpu_percent);
        let memory_mib = s.memory_bytes >> 20;
        if c.to > c.from {
            tracing::warn!(level = c.to, ?shed, %cpu_percent, memory_mib, "over the resource budget: shedding");
            if self.governor.exhausted() {
                tracing::warn!("every sheddable kind is shed; the cgroup limit (if any) is the last guard");
            }
        } else {
            tracing::info!(level = c.to, ?shed, %cpu_percent, memory_mib, "back within the resource budget: restoring");
        }
    }
}
