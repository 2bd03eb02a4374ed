//! Kernel timestamps are CLOCK_BOOTTIME nanoseconds; events and processes
//! report wall-clock UTC. [`BootClock`] converts between the two.

use chrono::{DateTime, Utc};

/// Converts boot-time nanoseconds to UTC with one offset taken at
/// construction. The offset is not re-read: a later wall-clock step (NTP,
/// manual set) would otherwise make timestamps of one process jump around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootClock {
    /// realtime − boottime, in ns.
    offset_ns: i64,
}

impl BootClock {
    /// Take the offset between CLOCK_REALTIME and CLOCK_BOOTTIME now.
    pub fn now() -> Self {
        // Boottime is read between two realtime reads and paired with their
        // midpoint, so a preemption between the reads skews the offset less.
        let r1 = clock_ns(libc::CLOCK_REALTIME);
        let b = clock_ns(libc::CLOCK_BOOTTIME);
        let r2 = clock_ns(libc::CLOCK_REALTIME);
        let real = r1 / 2 + r2 / 2;
        BootClock { offset_ns: real.saturating_sub(b) }
    }

    /// A clock with a fixed offset (tests, replay).
    pub fn from_offset_ns(offset_ns: i64) -> Self {
        BootClock { offset_ns }
    }

    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }

    /// The wall-clock time of a CLOCK_BOOTTIME timestamp.
    pub fn to_utc(&self, boot_ns: u64) -> DateTime<Utc> {
        let boot = i64::try_from(boot_ns).unwrap_or(i64::MAX);
        DateTime::from_timestamp_nanos(boot.saturating_add(self.offset_ns))
    }

    /// CLOCK_BOOTTIME now, in ns: the clock the kernel stamps records with.
    pub fn boot_ns_now() -> u64 {
        u64::try_from(clock_ns(libc::CLOCK_BOOTTIME)).unwrap_or(0)
    }
}

fn clock_ns(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime writes only it.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        // Only fails for an unknown clock id; both ids used exist since 2.6.39.
        return 0;
    }
    // time_t and c_long are i32 on some 32-bit targets; i64 everywhere else.
    #[allow(clippy::useless_conversion)]
    let (sec, nsec) = (i64::from(ts.tv_sec), i64::from(ts.tv_nsec));
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_offset_converts() {
        let c = BootClock::from_offset_ns(1_700_000_000_000_000_000);
        assert_eq!(c.to_utc(5_000_000_000).timestamp(), 1_700_000_005);
        assert_eq!(c.to_utc(1).timestamp_subsec_nanos(), 1);
    }

    #[test]
    fn now_matches_wall_clock() {
        let c = BootClock::now();
        let diff = (c.to_utc(BootClock::boot_ns_now()) - Utc::now()).num_milliseconds().abs();
        assert!(diff < 1000, "boot clock off by {diff} ms");
    }

    #[test]
    fn huge_timestamp_saturates() {
        let c = BootClock::from_offset_ns(i64::MAX);
        let _ = c.to_utc(u64::MAX);
    }
}
