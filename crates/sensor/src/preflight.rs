//! Checks that turn the most common start-up failures into clear errors
//! before libbpf turns them into errno values.

use crate::SensorError;
use std::path::Path;

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const TRACEFS: &str = "/sys/kernel/tracing";

/// Fail early, with a message a person can act on, when the sensor cannot
/// possibly load: not privileged, or no kernel BTF.
pub fn preflight() -> Result<(), SensorError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    check(unsafe { libc::geteuid() }, Path::new(VMLINUX_BTF))
}

/// Tracepoint programs are attached by id, which libbpf reads from tracefs;
/// many hosts (and containers) boot without it mounted. Mount it if needed.
pub(crate) fn ensure_tracefs() -> Result<(), SensorError> {
    let events = Path::new(TRACEFS).join("events");
    if events.is_dir() || Path::new("/sys/kernel/debug/tracing/events").is_dir() {
        return Ok(());
    }
    let c = |s: &str| std::ffi::CString::new(s).map_err(|_| SensorError::Config(format!("bad path {s}")));
    let (src, target) = (c("tracefs")?, c(TRACEFS)?);
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), target.as_ptr(), src.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        let source = std::io::Error::last_os_error();
        // Another loader (a second agent, a parallel test) may have mounted
        // it a moment ago: EBUSY then means "already there".
        if events.is_dir() {
            return Ok(());
        }
        return Err(SensorError::Io { path: TRACEFS.into(), source });
    }
    tracing::info!(path = TRACEFS, "mounted tracefs (tracepoint ids are read from it)");
    Ok(())
}

fn check(euid: u32, btf: &Path) -> Result<(), SensorError> {
    if euid != 0 {
        return Err(SensorError::NotPrivileged { uid: euid });
    }
    if !btf.exists() {
        return Err(SensorError::NoBtf { path: btf.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_btf_is_named() {
        let err = check(0, Path::new("/nonexistent/vmlinux")).unwrap_err().to_string();
        assert!(err.contains("kernel BTF not found at /nonexistent/vmlinux"), "{err}");
        assert!(err.contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }

    #[test]
    fn unprivileged_is_named() {
        let err = check(1000, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("needs root") && err.contains("uid 1000"), "{err}");
    }
}
