//! The shedding state machine: usage samples in, level changes out. Pure (no
//! I/O, no clock), so every path is a unit test.
//!
//! Hysteresis keeps it from flapping: one level more only after several
//! consecutive samples over budget, one level back only after a longer run
//! of samples well under it (a level restored too early is shed again at
//! once, and each change rewrites the kernel's config).

use super::{Budget, SHED_LEVELS, shed_mask};

/// The agent's usage over one sampling interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Percent of all host CPUs (the budget's unit).
    pub cpu_percent: f64,
    pub memory_bytes: u64,
}

/// When to shed and when to restore.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hysteresis {
    /// Consecutive samples over budget (CPU or memory) before one more level
    /// is shed.
    pub over_samples: u32,
    /// Consecutive samples under `restore_below` of the budget (CPU and
    /// memory) before one level is restored.
    pub under_samples: u32,
    /// Fraction of the budget a sample must stay under to count toward
    /// restoring.
    pub restore_below: f64,
}

impl Default for Hysteresis {
    /// With one sample a second: shed after 2 s over budget, restore after
    /// 10 s under 70 % of it.
    fn default() -> Self {
        Hysteresis { over_samples: 2, under_samples: 10, restore_below: 0.7 }
    }
}

/// A change of shedding level, to apply to the kernel and log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelChange {
    pub from: usize,
    pub to: usize,
    /// The kernel shed mask for `to`.
    pub mask: u64,
}

#[derive(Debug, Clone)]
pub struct Governor {
    budget: Budget,
    hysteresis: Hysteresis,
    /// Never below this level (`min_shed_level`).
    floor: usize,
    level: usize,
    over: u32,
    under: u32,
}

impl Governor {
    /// Starts at `floor` (clamped to the deepest level).
    pub fn new(budget: Budget, hysteresis: Hysteresis, floor: usize) -> Self {
        let floor = floor.min(SHED_LEVELS.len());
        Governor { budget, hysteresis, floor, level: floor, over: 0, under: 0 }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Levels shed now (0 = none).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The kernel shed mask for the current level.
    pub fn mask(&self) -> u64 {
        shed_mask(self.level)
    }

    /// Every sheddable level is shed.
    pub fn exhausted(&self) -> bool {
        self.level == SHED_LEVELS.len()
    }

    /// Change the floor (`min_shed_level`); moves up to it at once. Going
    /// down below the old floor waits for the usual run under budget.
    pub fn set_floor(&mut self, floor: usize) -> Option<LevelChange> {
        self.floor = floor.min(SHED_LEVELS.len());
        (self.level < self.floor).then(|| self.go(self.floor))
    }

    /// Feed one sample; returns the change of level it caused, if any.
    pub fn observe(&mut self, s: Sample) -> Option<LevelChange> {
        let b = self.budget;
        let over = s.cpu_percent > b.cpu_percent || s.memory_bytes > b.memory_bytes;
        let r = self.hysteresis.restore_below;
        let under = s.cpu_percent < b.cpu_percent * r && (s.memory_bytes as f64) < b.memory_bytes as f64 * r;
        if over {
            self.under = 0;
            self.over = self.over.saturating_add(1);
            if self.over >= self.hysteresis.over_samples && self.level < SHED_LEVELS.len() {
                self.over = 0;
                return Some(self.go(self.level + 1));
            }
        } else if under {
            self.over = 0;
            self.under = self.under.saturating_add(1);
            if self.under >= self.hysteresis.under_samples && self.level > self.floor {
                self.under = 0;
                return Some(self.go(self.level - 1));
            }
        } else {
            // Between 70 % and 100 %: hold, and start both counts afresh.
            self.over = 0;
            self.under = 0;
        }
        None
    }

    fn go(&mut self, to: usize) -> LevelChange {
        let from = std::mem::replace(&mut self.level, to);
        LevelChange { from, to, mask: shed_mask(to) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saker_abi::raw::kind as abi;

    const BUDGET: Budget = Budget { cpu_percent: 5.0, memory_bytes: 64 << 20 };
    const MAX: usize = SHED_LEVELS.len();

    fn s(cpu_percent: f64, mb: u64) -> Sample {
        Sample { cpu_percent, memory_bytes: mb << 20 }
    }

    fn gov() -> Governor {
        Governor::new(BUDGET, Hysteresis::default(), 0)
    }

    #[test]
    fn sheds_one_level_per_run_of_over_budget_samples_in_order() {
        let mut g = gov();
        assert_eq!(g.observe(s(9.0, 10)), None, "one sample over is not enough");
        let c = g.observe(s(9.0, 10)).unwrap();
        assert_eq!((c.from, c.to), (0, 1));
        assert_eq!(c.mask, 1 << abi::LIBRARY_LOAD, "library loads are shed first");
        // The count starts again: two more samples for the next level.
        assert_eq!(g.observe(s(9.0, 10)), None);
        assert_eq!(g.observe(s(9.0, 10)).map(|c| c.to), Some(2));
        assert_eq!(g.mask() & (1 << abi::FILE_WRITE), 0, "writes still reported");
        // Memory alone also counts.
        g.observe(s(0.1, 100));
        assert_eq!(g.observe(s(0.1, 100)).map(|c| c.to), Some(3));
    }

    #[test]
    fn never_sheds_protected_kinds_however_long_it_is_over() {
        let mut g = gov();
        for _ in 0..100 {
            g.observe(s(100.0, 4096));
        }
        assert!(g.exhausted());
        assert_eq!(g.level(), MAX, "stops at the last level");
        for &k in super::super::PROTECTED {
            assert_eq!(g.mask() & (1 << k), 0, "kind {k}");
        }
        assert_ne!(g.mask() & (1 << abi::FILE_WRITE), 0);
    }

    #[test]
    fn an_interrupted_run_does_not_shed() {
        let mut g = gov();
        for _ in 0..10 {
            assert_eq!(g.observe(s(9.0, 10)), None);
            assert_eq!(g.observe(s(4.0, 10)), None);
        }
        assert_eq!(g.level(), 0, "over, hold, over, hold...: never two in a row");
    }

    #[test]
    fn restores_one_level_after_a_long_run_well_under_budget() {
        let mut g = gov();
        for _ in 0..4 {
            g.observe(s(9.0, 10));
        }
        assert_eq!(g.level(), 2);
        // Under budget but above 70 % of it: hold.
        for _ in 0..50 {
            assert_eq!(g.observe(s(4.0, 10)), None);
        }
        for _ in 0..9 {
            assert_eq!(g.observe(s(1.0, 10)), None);
        }
        let c = g.observe(s(1.0, 10)).unwrap();
        assert_eq!((c.from, c.to), (2, 1));
        assert_eq!(c.mask, 1 << abi::LIBRARY_LOAD, "restored in the reverse order");
        // A sample over budget resets the run.
        for _ in 0..9 {
            g.observe(s(1.0, 10));
        }
        g.observe(s(9.0, 10));
        assert_eq!(g.observe(s(1.0, 10)), None);
        for _ in 0..9 {
            g.observe(s(1.0, 10));
        }
        assert_eq!(g.level(), 0);
        for _ in 0..100 {
            assert_eq!(g.observe(s(0.0, 1)), None, "nothing below level 0");
        }
    }

    #[test]
    fn memory_high_blocks_restoring() {
        let mut g = gov();
        g.observe(s(9.0, 10));
        g.observe(s(9.0, 10));
        for _ in 0..100 {
            assert_eq!(g.observe(s(0.5, 50)), None, "CPU idle but memory at 78 % of budget");
        }
        assert_eq!(g.level(), 1);
    }

    #[test]
    fn the_floor_is_kept() {
        let mut g = Governor::new(BUDGET, Hysteresis::default(), 1);
        assert_eq!(g.level(), 1);
        assert_eq!(g.mask(), 1 << abi::LIBRARY_LOAD);
        for _ in 0..100 {
            assert_eq!(g.observe(s(0.0, 1)), None);
        }
        assert_eq!(Governor::new(BUDGET, Hysteresis::default(), 99).level(), MAX);
        // Raised at run time: at once. Lowered: restored by the usual run.
        let mut g = gov();
        assert_eq!(g.set_floor(3).map(|c| (c.from, c.to)), Some((0, 3)));
        assert_eq!(g.set_floor(0), None);
        for _ in 0..10 {
            g.observe(s(0.0, 1));
        }
        assert_eq!(g.level(), 2);
    }
}
