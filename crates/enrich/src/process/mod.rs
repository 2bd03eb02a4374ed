//! The user-space process model: a bounded table of every process Saker knows
//! about, kept current from fork/exec/exit records and seeded from `/proc`, so
//! each event can carry its process and lineage.
//!
//! - [`table`]: [`ProcessTable`], the LRU-bounded table, lineage and snapshots.
//! - [`procfs`]: reading one `/proc/<pid>` (seed and lazy fill).
//! - [`hash`]: [`ExeHasher`], SHA-256 of executables on a worker thread.
//! - [`module_hash`]: [`ModuleHasher`], SHA-256 of kernel module files, at once.
//! - [`users`]: [`UserNames`], uid → user name from a passwd file.
//! - [`clock`]: [`BootClock`], kernel boot-time ns → wall-clock UTC.

use std::io::Write as _;
use std::path::PathBuf;
use uuid::Uuid;

mod clock;
mod hash;
mod module_hash;
mod procfs;
mod table;
mod users;

#[cfg(test)]
mod tests;

pub use clock::BootClock;
pub use hash::{DEFAULT_MAX_HASH_SIZE, ExeHasher, ExeHint, FileKey, HashResult, HasherConfig, hash_file};
pub use module_hash::ModuleHasher;
pub use table::{DEFAULT_CAPACITY, ExecUpdate, Image, ProcKey, ProcessEntry, ProcessTable};
pub use users::UserNames;

/// Namespace of every Saker process uuid (UUID v5). Fixed forever: changing it
/// changes every process identity Saker has ever reported.
pub const SAKER_NAMESPACE: Uuid = Uuid::from_u128(0x5a4b_e7c1_0d3f_4e62_9b8a_71c2_d4e5_f601);

/// The stable identity of one process: the same for every observation of it
/// on this boot (kernel event or `/proc`), different after pid reuse or reboot.
pub fn process_uuid(boot_id: &str, pid: u32, start_ticks: u64) -> Uuid {
    // The name is `{boot_id}/{pid}/{start_ticks}`, built on the stack: this
    // runs for every new process.
    let mut name = [0u8; 128];
    let mut w = &mut name[..];
    let fits = write!(w, "{boot_id}/{pid}/{start_ticks}").is_ok();
    let len = 128 - w.len();
    if fits {
        Uuid::new_v5(&SAKER_NAMESPACE, &name[..len])
    } else {
        Uuid::new_v5(&SAKER_NAMESPACE, format!("{boot_id}/{pid}/{start_ticks}").as_bytes())
    }
}

/// Everything that can go wrong in the process model.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("process table capacity must be at least 1")]
    ZeroCapacity,
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: malformed ({what})")]
    Malformed { path: PathBuf, what: &'static str },
    #[error("{path}: {size} bytes is over the {max}-byte hashing limit")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{path}: changed while being hashed")]
    Changed { path: PathBuf },
}

impl ProcessError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProcessError::Io { path: path.into(), source }
    }
}
