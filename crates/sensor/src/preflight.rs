//! Checks that turn the most common start-up failures into clear errors
//! before libbpf turns them into errno values.

use crate::SensorError;
use std::path::Path;

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Fail early, with a message a person can act on, when the sensor cannot
/// possibly load: not privileged, or no kernel BTF.
pub fn preflight() -> Result<(), SensorError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Err(SensorError::NotPrivileged { uid });
    }
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(SensorError::NoBtf { path: VMLINUX_BTF.into() });
    }
    Ok(())
}
