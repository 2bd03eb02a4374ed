//! Loading, configuring and attaching the BPF object; reading its ring
//! buffer and loss counters.

use crate::{BPF_OBJECT, SensorConfig, SensorError, libbpf_log};
use libbpf_rs::{Link, MapCore, MapFlags, Object, ObjectBuilder, ProgramType, RingBuffer, RingBufferBuilder};
use saker_abi::raw::{self, kind};
use saker_abi::{Record, decode};
use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

/// Programs are named `<area>_<hook>`; an area is loaded only when one of
/// its kinds is enabled.
fn area_kinds(area: &str) -> &'static [u16] {
    match area {
        "process" => {
            &[kind::PROCESS_EXEC, kind::PROCESS_EXIT, kind::PROCESS_FORK, kind::PROCESS_CRED, kind::CGROUP_MKDIR]
        }
        "file" => &[
            kind::FILE_WRITE,
            kind::FILE_RENAME,
            kind::FILE_UNLINK,
            kind::FILE_LINK,
            kind::FILE_SYMLINK,
            kind::FILE_CHMOD,
            kind::MEM_WRITE,
        ],
        "net" => &[kind::NET_CONNECT, kind::NET_ACCEPT, kind::NET_LISTEN],
        "dns" => &[kind::DNS],
        "kernel" => &[
            kind::PTRACE,
            kind::MEM_WRITE,
            kind::MODULE_LOAD,
            kind::MOUNT,
            kind::USERFAULTFD,
            kind::MEMFD_CREATE,
            kind::BPF_LOAD,
            kind::LIBRARY_LOAD,
        ],
        _ => &[],
    }
}

/// Fallback programs and the programs they stand in for. A fallback is
/// attached only when one of those could not be (its tracepoint is missing
/// on this kernel), because fallbacks cost more.
fn fallback_for(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "kernel_fallback_module" => Some(&[
            "kernel_enter_init_module",
            "kernel_exit_init_module",
            "kernel_enter_finit_module",
            "kernel_exit_finit_module",
        ]),
        _ => None,
    }
}

/// Cumulative count of records the kernel could not hand over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelLossCount {
    pub cpu: u32,
    pub kind: u16,
    pub count: u64,
}

/// What the ring-buffer callback collects between two polls.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    decode_errors: u64,
    /// Sees every record's raw bytes before decoding (recording).
    tap: Option<RawTap>,
}

/// A callback handed each raw ring-buffer record, as the kernel wrote it.
pub type RawTap = Box<dyn FnMut(&[u8])>;

/// A loaded, attached sensor. Not `Send` (libbpf's ring buffer is not):
/// create it on the thread that reads it.
pub struct Sensor {
    // Field order is drop order: detach, then free the ring, then the object.
    links: Vec<Link>,
    ring: RingBuffer<'static>,
    object: Object,
    batch: Rc<RefCell<Batch>>,
    attached: Vec<String>,
    failed: Vec<(String, String)>,
    replaced: Vec<(String, String)>,
    drain_interval: Duration,
}

impl Sensor {
    /// Load, configure and attach. Individual attach failures (a tracepoint
    /// this kernel lacks) are logged and listed in [`Sensor::not_attached`];
    /// a load failure is an error carrying the verifier log.
    pub fn load(cfg: &SensorConfig) -> Result<Sensor, SensorError> {
        crate::preflight()?;
        if !cfg.ring_bytes.is_power_of_two() || cfg.ring_bytes < 4096 {
            return Err(SensorError::Config(format!(
                "ring buffer size {} must be a power of two of at least 4096",
                cfg.ring_bytes
            )));
        }
        crate::preflight::ensure_tracefs()?;

        let (object, log) = libbpf_log::capture(|| Self::open_and_load(cfg));
        let object = object.map_err(|source| SensorError::Load { source, log })?;

        if let Some(scope) = &cfg.scope {
            write_scope(&object, scope)?;
        }
        write_config(&object, cfg)?;
        write_paths(&object, cfg)?;

        let batch = Rc::new(RefCell::new(Batch::default()));
        let ring = {
            let map = find_map(&object, "saker_events")?;
            let sink = Rc::clone(&batch);
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&map, move |bytes: &[u8]| {
                    let mut b = sink.borrow_mut();
                    if let Some(tap) = b.tap.as_mut() {
                        tap(bytes);
                    }
                    match decode(bytes) {
                        Ok(r) => b.records.push(r),
                        Err(e) => {
                            b.decode_errors += 1;
                            tracing::debug!(error = %e, "undecodable ring-buffer record");
                        }
                    }
                    0
                })
                .map_err(|source| SensorError::RingBuffer { source })?;
            builder.build().map_err(|source| SensorError::RingBuffer { source })?
        };

        let mut sensor = Sensor {
            links: Vec::new(),
            ring,
            object,
            batch,
            attached: Vec::new(),
            failed: Vec::new(),
            replaced: Vec::new(),
            drain_interval: cfg.drain_interval,
        };
        sensor.attach(cfg)?;
        Ok(sensor)
    }

    fn open_and_load(cfg: &SensorConfig) -> Result<Object, libbpf_rs::Error> {
        let mut open = ObjectBuilder::default().open_memory(BPF_OBJECT)?;
        for mut map in open.maps_mut() {
            if map.name() == "saker_events" {
                map.set_max_entries(cfg.ring_bytes)?;
            }
        }
        for mut prog in open.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let area = name.split('_').next().unwrap_or_default();
            let wanted = area_kinds(area).iter().any(|k| cfg.kind_mask & (1 << k) != 0);
            prog.set_autoload(wanted);
        }
        open.load()
    }

    fn attach(&mut self, cfg: &SensorConfig) -> Result<(), SensorError> {
        let mut cgroup_dir: Option<std::fs::File> = None;
        // Fallbacks go last: they attach only when what they replace could not.
        let mut fallbacks = Vec::new();
        let mut results = Vec::new();
        for prog in self.object.progs_mut() {
            // progs_mut() includes programs with autoload off: they were never loaded.
            if !prog.autoload() {
                continue;
            }
            let name = prog.name().to_string_lossy().into_owned();
            if fallback_for(&name).is_some() {
                fallbacks.push(name);
                continue;
            }
            let result = if matches!(prog.prog_type(), ProgramType::CgroupSkb | ProgramType::CgroupSock) {
                if cgroup_dir.is_none() {
                    let path = match &cfg.dns_cgroup {
                        Some(p) => p.clone(),
                        None => cgroup2_root()?,
                    };
                    let dir = std::fs::File::open(&path).map_err(|source| SensorError::Io { path, source })?;
                    cgroup_dir = Some(dir);
                }
                match &cgroup_dir {
                    Some(dir) => prog.attach_cgroup(dir.as_raw_fd()),
                    None => continue,
                }
            } else {
                prog.attach()
            };
            results.push((name, result));
        }
        for (name, result) in results {
            self.record_attach(name, result);
        }
        for name in fallbacks {
            let primaries = fallback_for(&name).unwrap_or_default();
            let missing: Vec<String> =
                self.failed.iter().filter(|(f, _)| primaries.contains(&f.as_str())).map(|(f, _)| f.clone()).collect();
            if missing.is_empty() {
                continue;
            }
            let Some(result) = self.object.progs_mut().find(|p| p.name().to_string_lossy() == name).map(|p| p.attach())
            else {
                continue;
            };
            if result.is_ok() {
                tracing::info!(fallback = %name, replaces = ?missing, "tracepoints missing on this kernel; fallback attached");
                self.failed.retain(|(f, _)| !missing.contains(f));
                self.replaced.extend(missing.into_iter().map(|m| (m, name.clone())));
            }
            self.record_attach(name, result);
        }
        for (program, error) in &self.failed {
            tracing::warn!(%program, %error, "BPF program not attached; its events are missing");
        }
        if self.attached.is_empty() {
            let (program, why) = self.failed.first().cloned().unwrap_or_default();
            tracing::error!(%why, "no BPF program could be attached");
            return Err(SensorError::Attach { program, source: libbpf_rs::Error::from_raw_os_error(libc::EINVAL) });
        }
        Ok(())
    }

    fn record_attach(&mut self, name: String, result: Result<Link, libbpf_rs::Error>) {
        match result {
            Ok(link) => {
                self.links.push(link);
                self.attached.push(name);
            }
            Err(e) => {
                // Warned about after fallbacks had their chance (see attach).
                self.failed.push((name, e.to_string()));
            }
        }
    }

    /// Programs that could not attach but whose events a fallback program
    /// reports: (program, fallback).
    pub fn replaced(&self) -> &[(String, String)] {
        &self.replaced
    }

    /// Names of the attached programs.
    pub fn attached(&self) -> &[String] {
        &self.attached
    }

    /// Programs that loaded but could not be attached, with the reason.
    pub fn not_attached(&self) -> &[(String, String)] {
        &self.failed
    }

    /// Wait up to one drain interval (less when the kernel forces a wake-up
    /// because the ring is filling), then drain everything waiting. Returns
    /// the decoded records and the count of undecodable ones.
    pub fn poll(&mut self) -> Result<(Vec<Record>, u64), SensorError> {
        // Records are sent without wake-ups, so poll mostly times out: that is
        // the drain timer. consume() then reads the ring regardless.
        self.ring.poll(self.drain_interval).map_err(|source| SensorError::RingBuffer { source })?;
        self.ring.consume().map_err(|source| SensorError::RingBuffer { source })?;
        let mut b = self.batch.borrow_mut();
        let errors = std::mem::take(&mut b.decode_errors);
        Ok((std::mem::take(&mut b.records), errors))
    }

    /// Hand every raw record to `tap` before it is decoded (undecodable ones
    /// too), from the next [`Sensor::poll`] on; `None` removes it. For
    /// recordings that replay exactly what the kernel produced.
    pub fn set_raw_tap(&mut self, tap: Option<RawTap>) {
        self.batch.borrow_mut().tap = tap;
    }

    /// Cumulative per-CPU, per-kind counts of records lost in the kernel.
    pub fn kernel_loss(&self) -> Result<Vec<KernelLossCount>, SensorError> {
        read_counts(&self.object, "saker_loss")
    }

    /// Cumulative per-CPU, per-kind counts of records not handed over
    /// because their kind was shed (see [`SensorConfig::shed_mask`]): exactly
    /// the records user space would otherwise have received.
    pub fn shed_counts(&self) -> Result<Vec<KernelLossCount>, SensorError> {
        read_counts(&self.object, "saker_shed")
    }

    /// Change which kinds are reported, without reloading.
    pub fn set_kind_mask(&self, kind_mask: u64, cfg: &SensorConfig) -> Result<(), SensorError> {
        let mut c = cfg.clone();
        c.kind_mask = kind_mask;
        write_config(&self.object, &c)
    }

    /// Change which kinds are shed, without reloading. `cfg` supplies the
    /// rest of `saker_config` (the map holds one entry, written whole).
    pub fn set_shed_mask(&self, shed_mask: u64, cfg: &SensorConfig) -> Result<(), SensorError> {
        let mut c = cfg.clone();
        c.shed_mask = shed_mask;
        write_config(&self.object, &c)
    }
}

impl Drop for Sensor {
    /// Detach the programs from a few threads at once. Each link's close
    /// waits in the kernel for an RCU grace period (~75 ms measured with
    /// strace), and one after another 70-odd links kept a stopping agent busy
    /// for 6.8–7.0 s; from 8 threads it takes 3.6–3.9 s. The kernel serializes
    /// part of each detach: 32 threads did no better. The ring and the object
    /// are freed after (field order), once every link is gone.
    fn drop(&mut self) {
        const DETACH_THREADS: usize = 8;
        let mut links = std::mem::take(&mut self.links);
        let per_thread = links.len().div_ceil(DETACH_THREADS).max(1);
        std::thread::scope(|scope| {
            while !links.is_empty() {
                let share: Vec<Link> = links.drain(..per_thread.min(links.len())).collect();
                // If no thread can be started, the closure — and its links
                // with it — is dropped here: detached inline instead.
                let _ =
                    std::thread::Builder::new().name("saker-detach".into()).spawn_scoped(scope, move || drop(share));
            }
        });
    }
}

/// A per-CPU array of u64 counters indexed by kind, non-zero entries only.
fn read_counts(object: &Object, name: &'static str) -> Result<Vec<KernelLossCount>, SensorError> {
    let map = find_map(object, name)?;
    let mut out = Vec::new();
    for k in 0..u32::from(kind::MAX) {
        let per_cpu = map
            .lookup_percpu(&k.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| SensorError::Map { map: name, source })?
            .unwrap_or_default();
        for (cpu, value) in per_cpu.iter().enumerate() {
            let count = value.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes).unwrap_or(0);
            if count > 0 {
                out.push(KernelLossCount { cpu: cpu as u32, kind: k as u16, count });
            }
        }
    }
    Ok(out)
}

/// Push every program of a BPF object through the verifier, then unload
/// it: a load failure carries the verifier log. Returns the program count.
pub fn check_object(bytes: &[u8]) -> Result<usize, SensorError> {
    crate::preflight()?;
    let (object, log) = libbpf_log::capture(|| ObjectBuilder::default().open_memory(bytes)?.load());
    let object = object.map_err(|source| SensorError::Load { source, log })?;
    Ok(object.progs().count())
}

fn find_map<'o>(object: &'o Object, name: &'static str) -> Result<libbpf_rs::Map<'o>, SensorError> {
    object.maps().find(|m| m.name() == name).ok_or(SensorError::MissingMap { name })
}

fn write_config(object: &Object, cfg: &SensorConfig) -> Result<(), SensorError> {
    let map = find_map(object, "saker_config")?;
    let value = raw::Config {
        kind_mask: cfg.kind_mask,
        agent_tgid: cfg.agent_tgid,
        wakeup_bytes: cfg.wakeup_bytes,
        scoped: u32::from(cfg.scope.is_some()),
        scope_level: cfg.scope.map_or(0, |s| s.task_level),
        shed_mask: cfg.shed_mask,
    };
    map.update(&0u32.to_ne_bytes(), raw::bytes_of(&value), MapFlags::ANY)
        .map_err(|source| SensorError::Map { map: "saker_config", source })
}

/// Task-sidecar mode: the task to watch and the agent's container to skip.
fn write_scope(object: &Object, scope: &crate::ScopeFilter) -> Result<(), SensorError> {
    let map = find_map(object, "saker_scope")?;
    let err = |source| SensorError::Map { map: "saker_scope", source };
    map.update(&scope.task_cgroup.to_ne_bytes(), &[raw::SCOPE_TASK], MapFlags::ANY).map_err(err)?;
    if let Some(own) = scope.exclude {
        map.update(&own.to_ne_bytes(), &[raw::SCOPE_EXCLUDE], MapFlags::ANY).map_err(err)?;
    }
    Ok(())
}

fn write_paths(object: &Object, cfg: &SensorConfig) -> Result<(), SensorError> {
    let map = find_map(object, "saker_prefixes")?;
    for p in &cfg.paths {
        let (key, value) = p.to_map_entry()?;
        map.update(raw::bytes_of(&key), raw::bytes_of(&value), MapFlags::ANY)
            .map_err(|source| SensorError::Map { map: "saker_prefixes", source })?;
    }
    Ok(())
}

/// The root of the cgroup2 hierarchy: /sys/fs/cgroup on a unified system,
/// /sys/fs/cgroup/unified on a hybrid one.
pub fn cgroup2_root() -> Result<PathBuf, SensorError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|source| SensorError::Io { path: path.into(), source })?;
    for line in text.lines() {
        // ... mount-point ... - fstype source options
        let mut halves = line.splitn(2, " - ");
        let (left, right) = (halves.next().unwrap_or(""), halves.next().unwrap_or(""));
        if right.split(' ').next() == Some("cgroup2")
            && let Some(mount_point) = left.split(' ').nth(4)
        {
            return Ok(PathBuf::from(mount_point));
        }
    }
    Err(SensorError::NoCgroup2)
}
