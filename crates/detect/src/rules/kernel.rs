//! Kernel-level techniques: injection into another process (ptrace,
//! /proc/<pid>/mem, process_vm_writev), anti-debugging, userfaultfd, mounts
//! of host filesystems from containers, kernel modules, new libraries.

use super::tables::{DEBUGGERS, INTERACTIVE_PARENTS, JIT_RUNTIMES, MODULE_LOADERS, USERFAULTFD_USERS};
use super::{Hit, RuleCtx, basename, parent_name, program_name, succeeded};
use crate::catalog::FindingType as T;
use saker_model::{Event, Payload};
use serde_json::json;

/// ptrace requests that write into the tracee: injection.
const PTRACE_WRITES: &[i64] = &[
    4,      // PTRACE_POKETEXT
    5,      // PTRACE_POKEDATA
    6,      // PTRACE_POKEUSER
    13,     // PTRACE_SETREGS
    15,     // PTRACE_SETFPREGS
    0x4205, // PTRACE_SETREGSET
];
const PTRACE_TRACEME: i64 = 0;

pub(super) fn on_kernel(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    match &ev.payload {
        Payload::Ptrace(p) if p.request == PTRACE_TRACEME => anti_debugging(ev, hits),
        Payload::Ptrace(p)
            if PTRACE_WRITES.contains(&p.request) && succeeded(ev) && p.target_pid != ev.pid().unwrap_or(0) =>
        {
            hits.push(
                Hit::new(T::ProcessInjectionPtrace, target_key(p.target_pid, ev))
                    .ctx("targetProcess", json!({ "pid": p.target_pid }))
                    .ctx("ptraceRequest", p.request_name.clone().unwrap_or_else(|| p.request.to_string())),
            );
        }
        Payload::MemWrite(m) if succeeded(ev) && m.target_pid != ev.pid().unwrap_or(0) => {
            let t =
                if m.method == "proc_mem" { T::ProcessInjectionProc } else { T::ProcessInjectionVirtualMemoryWrite };
            let mut hit =
                Hit::new(t, target_key(m.target_pid, ev)).ctx("targetProcess", json!({ "pid": m.target_pid }));
            if let Some(path) = &m.path {
                hit = hit.ctx("filePath", path.clone());
            }
            hits.push(hit);
        }
        Payload::Userfaultfd(u) if succeeded(ev) && !USERFAULTFD_USERS.contains(&program_name(ev)) => {
            hits.push(Hit::new(T::UserfaultfdUsage, program_name(ev)).ctx("flags", u.flags));
        }
        Payload::Mount(m) if ev.container.is_some() => {
            let source = m.source.as_deref().unwrap_or("");
            let fs = m.fs_type.as_deref().unwrap_or("");
            if host_filesystem(source, fs) {
                hits.push(
                    Hit::new(
                        T::ContainerMountsHostDirectory,
                        format!("{source}:{}", m.target.as_deref().unwrap_or("")),
                    )
                    .ctx("mountSource", source)
                    .ctx("mountTarget", m.target.clone().unwrap_or_default())
                    .ctx("fileSystemType", fs)
                    .ctx("flags", m.flags)
                    .ctx("result", ev.result.unwrap_or(0)),
                );
            }
        }
        Payload::Module(m) => module(ev, m, hits),
        Payload::Library(l) if ev.container.is_some() || l.path.starts_with("/memfd:") => library(ev, l, cx, hits),
        _ => {}
    }
}

/// Injection repeats aggregate per injecting program and target pid: one
/// finding per victim process, however many writes it takes.
fn target_key(pid: u32, ev: &Event) -> String {
    format!("{}>{pid}", program_name(ev))
}

/// PTRACE_TRACEME outside a debugger's child: a program making itself
/// untraceable.
fn anti_debugging(ev: &Event, hits: &mut Vec<Hit>) {
    let parent = parent_name(ev);
    if DEBUGGERS.contains(&parent) {
        return;
    }
    hits.push(Hit::new(T::PtraceAntiDebugging, program_name(ev)).ctx("parentName", parent));
}

/// A block device or a disk filesystem mounted from inside a container:
/// the host's disk.
fn host_filesystem(source: &str, fs: &str) -> bool {
    const DEVICES: &[&str] = &[
        "/dev/sd",
        "/dev/vd",
        "/dev/xvd",
        "/dev/nvme",
        "/dev/hd",
        "/dev/mapper/",
        "/dev/dm-",
        "/dev/loop",
        "/dev/root",
    ];
    const DISK_FS: &[&str] = &["ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "vfat"];
    DEVICES.iter().any(|d| source.starts_with(d)) || DISK_FS.contains(&fs)
}

fn module(ev: &Event, m: &saker_model::ModuleInfo, hits: &mut Vec<Hit>) {
    let loader = program_name(ev);
    // The host's own module loading (udev, modprobe at boot or on the
    // kernel's request) is its job; a person or a script loading one —
    // `sudo insmod rootkit.ko` included — is reported.
    let parent = parent_name(ev);
    let by_person = INTERACTIVE_PARENTS.contains(&parent) || super::tables::is_shell(parent);
    if ev.container.is_none() && MODULE_LOADERS.contains(&loader) && !by_person {
        return;
    }
    let path = m.path.as_deref().unwrap_or("");
    let name = module_name(path).or_else(|| module_named_by_loader(loader, super::argv(ev)));
    let key = name.clone().unwrap_or_else(|| format!("{}:{loader}", m.method));
    let mut hit = Hit::new(T::KernelModuleLoaded, key)
        .ctx("moduleLoadMethod", m.method.clone())
        .ctx("result", ev.result.unwrap_or(0));
    // init_module(2) loads an image from memory: the name is inside the
    // image, which the sensor does not copy. Leave it out rather than guess.
    if let Some(name) = name {
        hit = hit.ctx("moduleName", name);
    }
    if !path.is_empty() {
        hit = hit.ctx("moduleFilePath", path);
    }
    if let Some(sha) = &m.sha256 {
        hit = hit.ctx("moduleSha256", sha.clone());
    }
    hits.push(hit);
}

/// `/lib/modules/.../foo.ko.xz` → `foo`.
fn module_name(path: &str) -> Option<String> {
    let b = basename(path);
    let b = b.split(".ko").next().unwrap_or(b);
    (!b.is_empty()).then(|| b.to_owned())
}

/// The module an `insmod FILE` / `modprobe NAME` names on its command line:
/// the only name there is for an image loaded from memory.
fn module_named_by_loader(loader: &str, argv: &[String]) -> Option<String> {
    if !MODULE_LOADERS.contains(&loader) {
        return None;
    }
    let arg = argv.iter().skip(1).find(|a| !a.starts_with('-'))?;
    module_name(arg)
}

/// A library created or modified in a container since it started; or code
/// mapped from a memory file (outside JIT runtimes).
fn library(ev: &Event, l: &saker_model::LibraryInfo, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let name = program_name(ev);
    if l.path.starts_with("/memfd:") {
        if !JIT_RUNTIMES.contains(&name) && !l.path.contains("runc_cloned") {
            hits.push(
                Hit::new(T::FilelessExecution, format!("{name}:{}", l.path))
                    .ctx("libraryPath", l.path.clone())
                    .ctx("filelessKind", "memfd mapping"),
            );
        }
        return;
    }
    let Some(c) = &ev.container else { return };
    let started = cx.state.container_seen(&c.id, ev.time);
    // As for executables: the ctime cannot be backdated, the mtime can.
    let after_start = |t: Option<chrono::DateTime<chrono::Utc>>| t.is_some_and(|t| t > started);
    if !(l.upper_layer || after_start(l.ctime) || after_start(l.mtime)) {
        return;
    }
    let mut hit = Hit::new(T::NewLibraryLoaded, l.path.clone()).ctx("libraryPath", l.path.clone());
    match cx.state.modification(&c.id, &l.path) {
        Some(m) => {
            hit = hit
                .ctx("modifyingProcess", crate::engine::runtime_process_json(&m.process))
                .ctx("modifiedAt", m.at.to_rfc3339());
        }
        None => {
            if let Some(m) = l.mtime.max(l.ctime) {
                hit = hit.ctx("modifiedAt", m.to_rfc3339());
            }
        }
    }
    hits.push(hit);
}
