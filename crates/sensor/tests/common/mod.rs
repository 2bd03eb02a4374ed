//! Shared by the sensor's integration tests.

/// Whether a privileged test may run: as root, yes; otherwise it skips with a
/// loud message — unless `SAKER_REQUIRE_PRIVILEGED=1` (CI), where it fails.
pub fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "privileged test not run as root");
    eprintln!("SKIPPED (LOUDLY): the sensor tests need root");
    false
}
