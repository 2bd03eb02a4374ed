//! Checks that turn the most common start-up failures into clear errors
//! before libbpf turns them into errno values.

use crate::SensorError;
use std::path::Path;

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Fail early, with a message a person can act on, when the sensor cannot
/// possibly load: not privileged, or no kernel BTF.
pub fn preflight() -> Result<(), SensorError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    check(unsafe { libc::geteuid() }, Path::new(VMLINUX_BTF))
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
