//! Decoded record bodies → model payloads. Pure functions: the process
//! context is added by [`crate::Enricher`].

use crate::dns;
use chrono::{DateTime, Utc};
use saker_abi::raw::{self, kind};
use saker_abi::{Body, c_str};
use saker_model::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Bytes from the kernel as text. Linux paths need not be UTF-8; invalid
/// sequences become U+FFFD (the raw bytes are not kept in the JSON).
pub(crate) fn text(bytes: &[u8]) -> String {
    saker_abi::lossy_text(bytes)
}

/// A string field of a decoded record as text, reusing its buffer when it
/// is valid UTF-8 (nearly always): no second copy per string.
fn owned_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| text(e.as_bytes()))
}

fn opt_text(bytes: Vec<u8>) -> Option<String> {
    (!bytes.is_empty()).then(|| owned_text(bytes))
}

/// A NUL-separated argument block → argv.
pub(crate) fn split_argv(block: &[u8]) -> Vec<String> {
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    if block.is_empty() {
        return Vec::new();
    }
    block.split(|&b| b == 0).map(text).collect()
}

/// Why a record yields no event.
#[derive(Debug)]
pub(crate) enum NotAnEvent {
    /// A DNS payload that does not parse.
    BadDns(dns::DnsParseError),
    /// A record for the agent itself (cgroup creation, for attribution).
    Internal,
}

impl From<dns::DnsParseError> for NotAnEvent {
    fn from(e: dns::DnsParseError) -> Self {
        NotAnEvent::BadDns(e)
    }
}

/// The kind and payload of a record.
pub(crate) fn convert(header_kind: u16, body: Body) -> Result<(Kind, Payload), NotAnEvent> {
    fn ok(k: Kind, p: Payload) -> Result<(Kind, Payload), NotAnEvent> {
        Ok((k, p))
    }
    match body {
        Body::Exec { raw, filename, exe, interp, argv, cwd, ld_preload, ld_library_path, .. } => {
            let script = (!interp.is_empty()).then(|| text(&filename));
            ok(
                Kind::ProcessExec,
                Payload::Exec(Box::new(ExecInfo {
                    filename: opt_text(filename),
                    executable: opt_text(exe),
                    interpreter: opt_text(interp),
                    script,
                    argv: split_argv(&argv),
                    argv_truncated: raw.flags & raw::EXE_ARGV_TRUNCATED != 0,
                    cwd: opt_text(cwd),
                    cwd_outside_root: raw.flags & raw::EXE_CWD_OUTSIDE_ROOT != 0,
                    ld_preload: opt_text(ld_preload),
                    ld_library_path: opt_text(ld_library_path),
                    executable_dev: raw.exe_dev,
                    executable_inode: raw.exe_ino,
                    memfd: raw.flags & raw::EXE_MEMFD != 0,
                    deleted: raw.flags & raw::EXE_DELETED != 0,
                    upper_layer: raw.flags & raw::EXE_UPPER_LAYER != 0,
                    setuid: raw.flags & raw::EXE_SETUID != 0,
                    setgid: raw.flags & raw::EXE_SETGID != 0,
                    executable_mtime: (raw.flags & raw::EXE_MTIME != 0).then(|| wall_clock(raw.exe_mtime_ns)),
                    executable_ctime: (raw.flags & raw::EXE_CTIME != 0).then(|| wall_clock(raw.exe_ctime_ns)),
                    stdin_socket: raw.flags & raw::EXE_STDIN_SOCKET != 0,
                    stdout_socket: raw.flags & raw::EXE_STDOUT_SOCKET != 0,
                    stderr_socket: raw.flags & raw::EXE_STDERR_SOCKET != 0,
                    stdin_peer: stdin_peer(&raw),
                    previous: (raw.old_uid != u32::MAX).then_some(Creds {
                        uid: raw.old_uid,
                        euid: raw.old_euid,
                        gid: raw.old_gid,
                        egid: raw.old_egid,
                    }),
                })),
            )
        }
        Body::Exit(x) => {
            let status = x.exit_code;
            let signal = (status & 0x7f) as i32;
            ok(
                Kind::ProcessExit,
                Payload::Exit(ExitInfo {
                    exit_code: ((status >> 8) & 0xff) as i32,
                    signal: (signal != 0).then_some(signal),
                    core_dumped: status & 0x80 != 0,
                }),
            )
        }
        Body::Fork(f) => ok(
            Kind::ProcessFork,
            Payload::Fork(ForkInfo {
                child_pid: f.child_pid,
                child_ns_pid: f.child_ns_pid,
                child_uuid: uuid::Uuid::nil(),
            }),
        ),
        Body::Cred(c) => ok(
            Kind::ProcessSetuid,
            Payload::Setuid(CredInfo {
                syscall: cred_syscall_name(c.syscall).to_owned(),
                args: cred_args(&c),
                previous: Creds { uid: c.old_uid, euid: c.old_euid, gid: c.old_gid, egid: c.old_egid },
                current: Creds::default(), // filled from the header by the enricher
                previous_cap_effective: c.old_cap_effective,
                cap_effective: c.new_cap_effective,
                previous_cap_permitted: c.old_cap_permitted,
                cap_permitted: c.new_cap_permitted,
            }),
        ),
        Body::File { raw, path, path2 } => {
            let k = match header_kind {
                kind::FILE_RENAME => Kind::FileRename,
                kind::FILE_UNLINK => Kind::FileUnlink,
                kind::FILE_LINK => Kind::FileLink,
                kind::FILE_SYMLINK => Kind::FileSymlink,
                kind::FILE_CHMOD => Kind::FileChmod,
                _ => Kind::FileWrite,
            };
            let mut info = FileInfo {
                path: owned_text(path),
                flags: raw.flags,
                mode: raw.mode,
                inode: (raw.ino != 0).then_some(raw.ino),
                ..Default::default()
            };
            match k {
                Kind::FileSymlink => info.target = opt_text(path2),
                _ => info.new_path = opt_text(path2),
            }
            ok(k, Payload::File(info))
        }
        Body::Net { raw, unix_path } => {
            let k = match header_kind {
                kind::NET_ACCEPT => Kind::NetAccept,
                kind::NET_LISTEN => Kind::NetListen,
                _ => Kind::NetConnect,
            };
            ok(k, Payload::Net(net_info(&raw, unix_path, header_kind == kind::NET_LISTEN)))
        }
        Body::Dns { raw, payload } => {
            let transport = if raw.protocol == 6 { "tcp" } else { "udp" };
            let (k, info) = dns::parse(&payload, transport, address(raw.family, &raw.raddr), raw.rport)?;
            ok(k, Payload::Dns(info))
        }
        Body::Ptrace(p) => ok(
            Kind::Ptrace,
            Payload::Ptrace(PtraceInfo {
                request: p.request,
                request_name: ptrace_request_name(p.request).map(str::to_owned),
                target_pid: p.target_pid,
                addr: p.addr,
                data: p.data,
            }),
        ),
        Body::MemWrite { raw, path } => ok(
            Kind::MemWrite,
            Payload::MemWrite(MemWriteInfo {
                method: if raw.method == raw::MEM_PROC_MEM { "proc_mem" } else { "process_vm_writev" }.to_owned(),
                target_pid: raw.target_pid,
                length: raw.len,
                path: opt_text(path),
            }),
        ),
        Body::Module { raw, path, args } => ok(
            Kind::ModuleLoad,
            Payload::Module(ModuleInfo {
                method: if raw.method == raw::MODULE_FINIT { "finit_module" } else { "init_module" }.to_owned(),
                path: opt_text(path),
                args: opt_text(args),
                length: raw.len,
                flags: raw.flags,
                sha256: None, // by the enricher, which may open files
            }),
        ),
        Body::Mount { raw, source, target, fstype } => ok(
            Kind::Mount,
            Payload::Mount(MountInfo {
                source: opt_text(source),
                target: opt_text(target),
                fs_type: opt_text(fstype),
                flags: raw.flags,
            }),
        ),
        Body::Userfaultfd(u) => ok(Kind::Userfaultfd, Payload::Userfaultfd(UserfaultfdInfo { flags: u.flags })),
        Body::Memfd { raw, name } => {
            ok(Kind::MemfdCreate, Payload::Memfd(MemfdInfo { name: owned_text(name), flags: raw.flags }))
        }
        Body::BpfLoad(b) => ok(
            Kind::BpfLoad,
            Payload::Bpf(BpfInfo {
                prog_type: b.prog_type,
                prog_type_name: bpf_prog_type_name(b.prog_type).map(str::to_owned),
                insn_count: b.insn_cnt,
                prog_name: c_str(&b.prog_name),
            }),
        ),
        Body::CgroupMkdir { .. } => Err(NotAnEvent::Internal),
        Body::Library { raw, path } => ok(
            Kind::LibraryLoad,
            Payload::Library(LibraryInfo {
                path: owned_text(path),
                prot: raw.prot,
                flags: raw.mmap_flags,
                inode: raw.ino,
                upper_layer: raw.flags & raw::LIB_UPPER_LAYER != 0,
                mtime: (raw.flags & raw::LIB_MTIME != 0).then(|| wall_clock(raw.mtime_ns)),
                ctime: (raw.flags & raw::LIB_CTIME != 0).then(|| wall_clock(raw.ctime_ns)),
            }),
        ),
    }
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

fn address(family: u16, bytes: &[u8; 16]) -> String {
    match family {
        AF_INET => Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        _ => Ipv6Addr::from(*bytes).to_string(),
    }
}

/// A file timestamp from an inode (ns since the epoch, wall clock; not the
/// boot clock of event times). Every i64 is in chrono's range.
fn wall_clock(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

fn protocol_name(protocol: u16) -> Option<String> {
    match protocol {
        0 => None,
        6 => Some("tcp".to_owned()),
        17 => Some("udp".to_owned()),
        n => Some(n.to_string()),
    }
}

fn family_name(family: u16) -> String {
    match family {
        AF_UNIX => "unix".to_owned(),
        AF_INET => "inet".to_owned(),
        AF_INET6 => "inet6".to_owned(),
        n => n.to_string(),
    }
}

/// The socket on the new program's stdin. The peer is known for a connected
/// inet socket only (a connected one always has a remote port).
fn stdin_peer(x: &raw::Exec) -> Option<SocketPeer> {
    if x.flags & raw::EXE_STDIN_SOCKET == 0 || x.stdin_family == 0 {
        return None;
    }
    let connected = matches!(x.stdin_family, AF_INET | AF_INET6) && x.stdin_rport != 0;
    Some(SocketPeer {
        family: family_name(x.stdin_family),
        protocol: protocol_name(x.stdin_protocol),
        remote_address: connected.then(|| address(x.stdin_family, &x.stdin_raddr)),
        remote_port: connected.then_some(x.stdin_rport),
    })
}

fn net_info(raw: &raw::Net, unix_path: Vec<u8>, listen: bool) -> NetInfo {
    let protocol = protocol_name(raw.protocol);
    match raw.family {
        AF_UNIX => NetInfo {
            family: "unix".into(),
            unix_path: opt_text(unix_path),
            backlog: listen.then_some(raw.backlog),
            ..Default::default()
        },
        AF_INET | AF_INET6 => NetInfo {
            family: family_name(raw.family),
            protocol,
            local_address: Some(address(raw.family, &raw.laddr)),
            local_port: Some(raw.lport),
            remote_address: (!listen).then(|| address(raw.family, &raw.raddr)),
            remote_port: (!listen).then_some(raw.rport),
            unix_path: None,
            backlog: listen.then_some(raw.backlog),
        },
        other => NetInfo { family: other.to_string(), protocol, ..Default::default() },
    }
}

fn cred_syscall_name(n: u32) -> &'static str {
    match n {
        1 => "setuid",
        2 => "setreuid",
        3 => "setresuid",
        4 => "setfsuid",
        5 => "setgid",
        6 => "setregid",
        7 => "setresgid",
        8 => "setfsgid",
        9 => "capset",
        _ => "unknown",
    }
}

fn cred_args(c: &raw::Cred) -> Vec<i64> {
    let n = match c.syscall {
        1 | 4 | 5 | 8 => 1,
        2 | 6 => 2,
        3 | 7 => 3,
        _ => 0, // capset's arguments are pointers: the caps are reported instead
    };
    c.args[..n].iter().map(|&a| if a == u32::MAX { -1 } else { i64::from(a) }).collect()
}

fn ptrace_request_name(request: i64) -> Option<&'static str> {
    Some(match request {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        3 => "PTRACE_PEEKUSER",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSER",
        7 => "PTRACE_CONT",
        8 => "PTRACE_KILL",
        9 => "PTRACE_SINGLESTEP",
        12 => "PTRACE_GETREGS",
        13 => "PTRACE_SETREGS",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        24 => "PTRACE_SYSCALL",
        0x4200 => "PTRACE_SETOPTIONS",
        0x4201 => "PTRACE_GETEVENTMSG",
        0x4202 => "PTRACE_GETSIGINFO",
        0x4203 => "PTRACE_SETSIGINFO",
        0x4204 => "PTRACE_GETREGSET",
        0x4205 => "PTRACE_SETREGSET",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        0x4208 => "PTRACE_LISTEN",
        _ => return None,
    })
}

fn bpf_prog_type_name(t: u32) -> Option<&'static str> {
    Some(match t {
        1 => "socket_filter",
        2 => "kprobe",
        3 => "sched_cls",
        4 => "sched_act",
        5 => "tracepoint",
        6 => "xdp",
        7 => "perf_event",
        8 => "cgroup_skb",
        9 => "cgroup_sock",
        17 => "raw_tracepoint",
        18 => "cgroup_sock_addr",
        26 => "tracing",
        29 => "lsm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_split() {
        assert_eq!(split_argv(b"ls\0-la\0/tmp\0"), vec!["ls", "-la", "/tmp"]);
        assert_eq!(split_argv(b"sh\0\0x\0"), vec!["sh", "", "x"]);
        assert!(split_argv(b"").is_empty());
        assert_eq!(split_argv(b"noterm"), vec!["noterm"]);
    }

    #[test]
    fn exit_status() {
        let body = Body::Exit(raw::Exit { exit_code: 3 << 8, _pad: 0 });
        let Ok((_, Payload::Exit(e))) = convert(kind::PROCESS_EXIT, body.clone()) else { panic!() };
        assert_eq!((e.exit_code, e.signal), (3, None));
        let body = Body::Exit(raw::Exit { exit_code: 9, _pad: 0 });
        let Ok((_, Payload::Exit(e))) = convert(kind::PROCESS_EXIT, body.clone()) else { panic!() };
        assert_eq!(e.signal, Some(9));
    }

    #[test]
    fn inet_addresses() {
        let mut n = raw::Net { family: AF_INET, protocol: 6, lport: 40000, rport: 443, ..Default::default() };
        n.raddr[..4].copy_from_slice(&[10, 1, 2, 3]);
        let info = net_info(&n, Vec::new(), false);
        assert_eq!(info.remote_address.as_deref(), Some("10.1.2.3"));
        assert_eq!(info.protocol.as_deref(), Some("tcp"));
        let u = raw::Net { family: AF_UNIX, ..Default::default() };
        assert_eq!(net_info(&u, b"/run/docker.sock".to_vec(), false).unix_path.as_deref(), Some("/run/docker.sock"));
    }

    fn exec_info(x: raw::Exec) -> ExecInfo {
        let body = Body::Exec {
            raw: x,
            filename: b"/bin/sh".to_vec(),
            exe: b"/usr/bin/dash".to_vec(),
            interp: Vec::new(),
            argv: b"sh\0".to_vec(),
            cwd: Vec::new(),
            ld_preload: Vec::new(),
            ld_library_path: Vec::new(),
            ecs_metadata_uri: Vec::new(),
        };
        let Ok((Kind::ProcessExec, Payload::Exec(info))) = convert(kind::PROCESS_EXEC, body) else { panic!() };
        *info
    }

    #[test]
    fn exec_cwd_outside_the_root() {
        assert!(exec_info(raw::Exec { flags: raw::EXE_CWD_OUTSIDE_ROOT, ..Default::default() }).cwd_outside_root);
        assert!(!exec_info(raw::Exec::default()).cwd_outside_root);
    }

    #[test]
    fn exec_with_a_tcp_socket_on_stdio() {
        let mut x = raw::Exec {
            flags: raw::EXE_STDIN_SOCKET | raw::EXE_STDOUT_SOCKET | raw::EXE_STDERR_SOCKET,
            stdin_family: AF_INET6,
            stdin_protocol: 6,
            stdin_rport: 4444,
            ..Default::default()
        };
        x.stdin_raddr[15] = 1;
        let info = exec_info(x);
        assert!(info.stdin_socket && info.stdout_socket && info.stderr_socket);
        let peer = info.stdin_peer.unwrap();
        assert_eq!(peer.family, "inet6");
        assert_eq!(peer.protocol.as_deref(), Some("tcp"));
        assert_eq!((peer.remote_address.as_deref(), peer.remote_port), (Some("::1"), Some(4444)));
    }

    #[test]
    fn exec_socket_without_a_peer() {
        // A unix socket on stdin (e.g. socket activation): family only.
        let info = exec_info(raw::Exec { flags: raw::EXE_STDIN_SOCKET, stdin_family: AF_UNIX, ..Default::default() });
        let peer = info.stdin_peer.unwrap();
        assert_eq!((peer.family.as_str(), peer.protocol, peer.remote_address), ("unix", None, None));
        // An unconnected inet socket: no peer address.
        let x =
            raw::Exec { flags: raw::EXE_STDIN_SOCKET, stdin_family: AF_INET, stdin_protocol: 6, ..Default::default() };
        assert_eq!(exec_info(x).stdin_peer.unwrap().remote_address, None);
        // Fields without the flag are ignored (a record is untrusted).
        let x =
            raw::Exec { stdin_family: AF_INET, stdin_rport: 1, exe_mtime_ns: 5, exe_ctime_ns: 6, ..Default::default() };
        let info = exec_info(x);
        assert!(!info.stdin_socket && !info.stdout_socket && !info.stderr_socket);
        assert_eq!((info.stdin_peer, info.executable_mtime, info.executable_ctime), (None, None, None));
    }

    #[test]
    fn file_times_are_wall_clock() {
        let x = raw::Exec { flags: raw::EXE_MTIME, exe_mtime_ns: 1_700_000_000_123_456_789, ..Default::default() };
        let t = exec_info(x).executable_mtime.unwrap();
        assert_eq!(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), "2023-11-14T22:13:20.123456789Z");
        // The epoch itself (reproducible-build images) and times before it are real mtimes.
        let x = raw::Exec { flags: raw::EXE_MTIME, exe_mtime_ns: 0, ..Default::default() };
        assert_eq!(exec_info(x).executable_mtime.map(|t| t.timestamp()), Some(0));
        // The ctime is independent of the mtime (a backdated mtime, a recent ctime).
        let x = raw::Exec {
            flags: raw::EXE_MTIME | raw::EXE_CTIME,
            exe_mtime_ns: 978_307_200_000_000_000,
            exe_ctime_ns: 1_700_000_000_000_000_001,
            ..Default::default()
        };
        let info = exec_info(x);
        assert_eq!(info.executable_mtime.map(|t| t.timestamp()), Some(978_307_200));
        assert_eq!(info.executable_ctime.and_then(|t| t.timestamp_nanos_opt()), Some(1_700_000_000_000_000_001));
        let l = raw::Library {
            flags: raw::LIB_MTIME | raw::LIB_CTIME | raw::LIB_UPPER_LAYER,
            mtime_ns: -1_500_000_000,
            ctime_ns: 1_700_000_000_000_000_000,
            ..Default::default()
        };
        let Ok((_, Payload::Library(info))) = convert(kind::LIBRARY_LOAD, Body::Library { raw: l, path: Vec::new() })
        else {
            panic!()
        };
        assert!(info.upper_layer);
        assert_eq!(info.mtime.map(|t| (t.timestamp(), t.timestamp_subsec_nanos())), Some((-2, 500_000_000)));
        assert_eq!(info.ctime.map(|t| t.timestamp()), Some(1_700_000_000));
        let l = raw::Library { mtime_ns: 7, ctime_ns: 8, ..Default::default() };
        let Ok((_, Payload::Library(info))) = convert(kind::LIBRARY_LOAD, Body::Library { raw: l, path: Vec::new() })
        else {
            panic!()
        };
        assert_eq!((info.upper_layer, info.mtime, info.ctime), (false, None, None));
    }
}
