//! The enrich stage: keeps the process table current from the event stream
//! and attaches process, lineage and task context to every event.

use crate::payload::{NotAnEvent, convert};
use crate::process::{BootClock, ExeHasher, ExeHint, ExecUpdate, HashResult, ModuleHasher, ProcessError, ProcessTable};

/// Finished hashes kept for [`Enricher::take_hashed`] when nobody takes them.
const MAX_UNTAKEN_HASHES: usize = 1024;
use saker_abi::raw::{Fork, kind};
use saker_abi::{Body, Record, c_str, raw::Header};
use saker_model::{Argv, Creds, Event, Host, Lineage, Payload, TaskContext, Text};
use saker_workload::Workload;
use saker_workload::host::{HostConfig, HostIdentity};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

/// How the enrich stage is built.
#[derive(Debug, Clone)]
pub struct EnrichConfig {
    /// Hard cap on remembered processes (LRU beyond it).
    pub max_processes: usize,
    /// Where to seed the table from at start ("/proc").
    pub proc_root: PathBuf,
    /// Hash executables (SHA-256, off the hot path).
    pub hash_executables: bool,
    /// Ask EC2's instance metadata service for the instance id — only ever
    /// when the machine's DMI data says it is an EC2 instance.
    pub ec2_instance_id: bool,
    /// Read this host's `/proc` (seed the table, fill processes first seen
    /// late). Off to enrich events that are not this host's — a replayed
    /// recording — from its fork/exec records alone.
    pub procfs: bool,
    /// The boot-clock offset to use instead of this host's current one (a
    /// recording's, so its times are the times it was made).
    pub clock: Option<BootClock>,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            max_processes: 32768,
            proc_root: PathBuf::from("/proc"),
            hash_executables: true,
            ec2_instance_id: true,
            procfs: true,
            clock: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("process table: {0}")]
    Process(#[from] ProcessError),
}

/// Counters of what the stage could not use (reported in `agent.loss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrichStats {
    pub dns_parse_errors: u64,
    pub process_evictions: u64,
    pub hash_requests_dropped: u64,
}

pub struct Enricher {
    procs: ProcessTable,
    hasher: Option<ExeHasher>,
    /// Kernel module files, hashed when their load is seen.
    module_hasher: Option<ModuleHasher>,
    hashed: Vec<HashResult>,
    clock: BootClock,
    dns_parse_errors: u64,
    /// The agent's mount namespace (inode): paths from events in it name
    /// files the agent can open too.
    own_mnt_ns: u32,
    host: Arc<Host>,
}

impl Enricher {
    /// Build the stage and seed the process table from `/proc`, so processes
    /// older than the agent have lineage.
    pub fn new(cfg: &EnrichConfig) -> Result<Self, EnrichError> {
        let clock = cfg.clock.unwrap_or_else(BootClock::now);
        let mut procs = ProcessTable::new(cfg.max_processes)?.with_clock(clock);
        let own_mnt_ns = if cfg.procfs {
            let seeded = procs.seed_from_proc(&cfg.proc_root)?;
            tracing::info!(processes = seeded, "process table seeded from /proc");
            std::fs::metadata(cfg.proc_root.join("self/ns/mnt")).map_or(0, |m| m.ino() as u32)
        } else {
            procs = procs.without_procfs();
            0 // no event's path is taken to name a file of ours
        };
        let hasher = if cfg.hash_executables { Some(ExeHasher::spawn()) } else { None };
        let host = HostIdentity::detect_with(&HostConfig { ec2_imds: cfg.ec2_instance_id, ..HostConfig::default() });
        Ok(Enricher {
            procs,
            hasher,
            module_hasher: cfg.hash_executables.then(|| ModuleHasher::new(&cfg.proc_root)),
            hashed: Vec::new(),
            clock,
            dns_parse_errors: 0,
            own_mnt_ns,
            host: Arc::new(host.to_host()),
        })
    }

    pub fn stats(&self) -> EnrichStats {
        EnrichStats {
            dns_parse_errors: self.dns_parse_errors,
            process_evictions: self.procs.evictions(),
            hash_requests_dropped: self.hasher.as_ref().map_or(0, |h| h.dropped()),
        }
    }

    /// The wall-clock time of a kernel (CLOCK_BOOTTIME) timestamp.
    pub fn clock(&self) -> &BootClock {
        &self.clock
    }

    /// Executable hashes finished since the last call, for consumers that
    /// act on hashes (malware checks): the exec event of a binary hashed for
    /// the first time went out before its hash was known. Bounded: results
    /// nobody takes are dropped oldest first.
    pub fn take_hashed(&mut self) -> Vec<HashResult> {
        self.apply_hash_results();
        std::mem::take(&mut self.hashed)
    }

    fn apply_hash_results(&mut self) {
        let Some(h) = &mut self.hasher else { return };
        for done in h.poll_results() {
            self.procs.set_hash(done.pid, done.start_ns, done.sha256.clone());
            if self.hashed.len() >= MAX_UNTAKEN_HASHES {
                self.hashed.remove(0);
            }
            self.hashed.push(done);
        }
    }

    /// Turn one record into an event; `None` when the record carries nothing
    /// reportable (counted in [`EnrichStats`]). `workload` is the record's
    /// cgroup attribution, resolved upstream as records arrive. Takes the
    /// record by value: its strings become the event's without a copy.
    pub fn enrich(&mut self, rec: Record, workload: Option<&Workload>) -> Option<Event> {
        let h = &rec.header;
        let fork = match &rec.body {
            Body::Fork(f) => Some(*f),
            _ => None,
        };
        let (kind, mut payload) = match convert(h.kind, rec.body) {
            Ok(converted) => converted,
            Err(NotAnEvent::Internal) => return None, // attribution input, not an event
            Err(NotAnEvent::BadDns(e)) => {
                self.dns_parse_errors += 1;
                tracing::debug!(error = %e, pid = h.pid, "DNS payload not parsed");
                return None;
            }
        };
        let creds = Creds { uid: h.uid, euid: h.euid, gid: h.gid, egid: h.egid };
        let comm = c_str(&h.comm);
        // pid 0: a DNS packet on a socket whose creator is unknown (created
        // before the agent started). Report it without inventing a process.
        let known_task = h.pid != 0;
        if known_task {
            self.update_table(h, fork, &payload, &comm, creds);
        }
        // After update_table: an exec of an already-hashed binary is a cache
        // hit that lands here, so the exec event itself carries the hash.
        self.apply_hash_results();

        match &mut payload {
            Payload::Fork(f) => {
                f.child_uuid = self.procs.get(f.child_pid).map(|p| p.uuid).unwrap_or_default();
            }
            Payload::Setuid(c) => c.current = creds,
            Payload::Module(m) => {
                if let (Some(mh), Some(path)) = (&mut self.module_hasher, &m.path) {
                    m.sha256 = mh.sha256(h.pid, path, h.mnt_ns == self.own_mnt_ns);
                }
            }
            _ => {}
        }

        let snapshot = if known_task { self.procs.snapshot(h.pid) } else { None };
        if h.kind == kind::PROCESS_EXIT {
            self.procs.on_exit(h.pid, h.proc_start_ns);
        }
        let (process, lineage) = match snapshot {
            Some((p, l)) => (Some(p), l),
            None => (None, Lineage::default()),
        };
        // DNS records are built in packet context: their task fields are
        // those of the socket's creator, and cgroupId the packet's.
        let task = known_task.then_some(TaskContext {
            tid: h.tid,
            ppid: h.ppid,
            cgroup_id: h.cgroup_id,
            mnt_ns: h.mnt_ns,
            pid_ns: h.pid_ns,
            comm,
        });
        Some(Event {
            kind,
            time: self.clock.to_utc(h.ts_ns),
            result: has_result(h.kind).then_some(h.result),
            process,
            lineage,
            container: workload.and_then(|w| w.container.clone()),
            ecs: workload.and_then(|w| w.ecs.clone()),
            kubernetes: workload.and_then(|w| w.kubernetes.clone()),
            host: Some(self.host.clone()),
            task,
            payload,
        })
    }

    fn update_table(&mut self, h: &Header, fork: Option<Fork>, payload: &Payload, comm: &str, creds: Creds) {
        if let Some(f) = fork {
            self.procs.observe(h.pid, h.proc_start_ns, h.ppid, h.ns_pid, comm, creds);
            self.procs.on_fork(h.pid, h.proc_start_ns, f.child_pid, f.child_start_ns, f.child_ns_pid);
            return;
        }
        match payload {
            Payload::Exec(x) if h.result == 0 && x.executable.is_some() => {
                self.procs.on_exec(
                    h.pid,
                    h.proc_start_ns,
                    ExecUpdate {
                        name: comm.to_owned(),
                        executable: x.executable.as_deref().map(Text::from),
                        argv: Argv::from(&x.argv[..]),
                        cwd: x.cwd.as_deref().map(Text::from),
                        creds,
                        ns_pid: h.ns_pid,
                        ppid: h.ppid,
                    },
                );
                if let (Some(hasher), Some(exe)) = (&mut self.hasher, &x.executable) {
                    // The event's path names the file only in our own mount namespace.
                    let hint = (h.mnt_ns == self.own_mnt_ns).then(|| ExeHint {
                        path: PathBuf::from(exe),
                        inode: x.executable_inode,
                        kernel_dev: x.executable_dev,
                    });
                    hasher.request(h.pid, h.proc_start_ns, hint.as_ref());
                }
            }
            _ => self.procs.observe(h.pid, h.proc_start_ns, h.ppid, h.ns_pid, comm, creds),
        }
    }
}

/// Kinds that report a syscall's return value.
fn has_result(k: u16) -> bool {
    !matches!(k, kind::PROCESS_EXIT | kind::PROCESS_FORK | kind::DNS)
}
