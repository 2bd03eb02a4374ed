//! Kind-specific event payloads. Each serialises under its own key
//! (`"exec": {...}`, `"file": {...}`) next to the common event fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kind-specific part of an [`crate::Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Payload {
    /// Boxed: by far the largest payload, it would make every event's
    /// payload as large as an exec's.
    Exec(Box<ExecInfo>),
    Exit(ExitInfo),
    Fork(ForkInfo),
    Setuid(CredInfo),
    File(FileInfo),
    Net(NetInfo),
    Dns(DnsInfo),
    Ptrace(PtraceInfo),
    MemWrite(MemWriteInfo),
    Module(ModuleInfo),
    Mount(MountInfo),
    Userfaultfd(UserfaultfdInfo),
    Memfd(MemfdInfo),
    Bpf(BpfInfo),
    Library(LibraryInfo),
    Loss(LossInfo),
}

/// User and group ids at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

/// `process.exec`. A failed attempt has `result` < 0, `filename` and `argv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExecInfo {
    /// The path as passed to execve (for a script: the script).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The file the kernel actually ran, resolved (for a script: the interpreter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// The interpreter named by a `#!` line, when `filename` is a script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// The script, when the exec ran one through an interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub argv_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The working directory is not below the process's root: the kernel
    /// could not walk from it to the root (a host directory held by a
    /// container process, CVE-2024-21626). `cwd` is then the path from the
    /// top of its own mount tree — for a host directory, the host's path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cwd_outside_root: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ld_preload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ld_library_path: Option<String>,
    pub executable_dev: u32,
    pub executable_inode: u64,
    /// The executable is an anonymous memory file (memfd_create).
    pub memfd: bool,
    /// The executable had no links left when it ran.
    pub deleted: bool,
    /// The executable lives in an overlayfs upper layer: written after the
    /// container started.
    pub upper_layer: bool,
    pub setuid: bool,
    pub setgid: bool,
    /// The executable's modification time (the file's own clock: it can be
    /// set by whoever can write the file). Compared with a container's start,
    /// it tells binaries changed after the container started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_mtime: Option<DateTime<Utc>>,
    /// The executable's inode change time: set by the kernel on every change
    /// to the file (write, chmod, even the utimes that backdates the mtime),
    /// never from user space. A binary written after a container started has
    /// a later ctime whatever its mtime says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_ctime: Option<DateTime<Utc>>,
    /// Standard input of the new program is a socket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin_socket: bool,
    /// Standard output of the new program is a socket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdout_socket: bool,
    /// Standard error of the new program is a socket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stderr_socket: bool,
    /// The socket on standard input, when it is one (a shell reading a TCP
    /// connection is a reverse shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_peer: Option<SocketPeer>,
    /// Credentials before the exec (they change for set-id binaries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Creds>,
}

/// A socket a process holds, and whom it is connected to. Field names and
/// forms as in [`NetInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SocketPeer {
    /// `inet`, `inet6`, `unix`, or the address family number.
    pub family: String,
    /// `tcp`, `udp`, or the protocol number (inet sockets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The remote address of a connected inet socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
}

/// `process.exit` of a whole process (its last thread).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExitInfo {
    pub exit_code: i32,
    /// The terminating signal, when killed by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub core_dumped: bool,
}

/// `process.fork`: the event's process is the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ForkInfo {
    pub child_pid: u32,
    pub child_ns_pid: u32,
    pub child_uuid: uuid::Uuid,
}

/// `process.setuid`: setuid/setgid families and capset. The event's process
/// carries the credentials after the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CredInfo {
    /// `setuid`, `setreuid`, `setresuid`, `setfsuid`, the `gid` ones, or `capset`.
    pub syscall: String,
    /// The ids asked for (-1 = leave unchanged), as passed.
    pub args: Vec<i64>,
    pub previous: Creds,
    pub current: Creds,
    /// Effective capabilities before and after, as bit masks.
    pub previous_cap_effective: u64,
    pub cap_effective: u64,
    pub previous_cap_permitted: u64,
    pub cap_permitted: u64,
}

/// `file.*` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    pub path: String,
    /// rename: the new name; link: the new link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_path: Option<String>,
    /// symlink: the link's target as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// open(2) flags for `file.write`; the *at flags for the others.
    pub flags: u32,
    /// Create mode (`file.write`) or new mode (`file.chmod`), as a number.
    pub mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
}

/// `net.connect`, `net.accept`, `net.listen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetInfo {
    /// `inet`, `inet6` or `unix`.
    pub family: String,
    /// `tcp`, `udp`, or the protocol number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    /// Unix sockets: the path (abstract names start with `@`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u32>,
}

/// `dns.query` and `dns.answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DnsInfo {
    /// The message id, shared by a query and its answer.
    pub id: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    pub server_address: String,
    pub server_port: u16,
    pub questions: Vec<DnsQuestion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsRecord>,
    /// The response code name (`NoError`, `NXDomain`, ...), answers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DnsQuestion {
    pub name: String,
    /// `A`, `AAAA`, `TXT`, ...
    #[serde(rename = "type")]
    pub qtype: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// Address for A/AAAA, the name for CNAME, text form for others.
    pub data: String,
}

/// `ptrace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PtraceInfo {
    pub request: i64,
    /// `PTRACE_ATTACH`, `PTRACE_POKETEXT`, ... when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_name: Option<String>,
    pub target_pid: u32,
    pub addr: u64,
    pub data: u64,
}

/// `mem.write`: writing into another process's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MemWriteInfo {
    /// `process_vm_writev` or `proc_mem` (open of /proc/<pid>/mem for writing).
    pub method: String,
    pub target_pid: u32,
    pub length: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `module.load`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInfo {
    /// `init_module` or `finit_module`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    pub length: u64,
    pub flags: u32,
    /// SHA-256 of the module file (finit_module), hashed by the agent when
    /// it could open the file; lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MountInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    pub flags: u64,
}

/// `userfaultfd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserfaultfdInfo {
    pub flags: u32,
}

/// `memfd.create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MemfdInfo {
    pub name: String,
    pub flags: u32,
}

/// `bpf.load`: bpf(BPF_PROG_LOAD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BpfInfo {
    pub prog_type: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prog_type_name: Option<String>,
    pub insn_count: u32,
    pub prog_name: String,
}

/// `library.load`: a file mapped executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LibraryInfo {
    pub path: String,
    pub prot: u32,
    /// mmap(2) flags.
    pub flags: u32,
    pub inode: u64,
    /// The file lives in an overlayfs upper layer: written after the
    /// container started.
    #[serde(default)]
    pub upper_layer: bool,
    /// The file's modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<DateTime<Utc>>,
    /// The file's inode change time (cannot be set from user space; see
    /// [`ExecInfo::executable_ctime`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime: Option<DateTime<Utc>>,
}

/// `agent.loss`: what was lost since the previous loss event. Emitted
/// periodically whenever anything was lost; never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LossInfo {
    pub interval_ms: u64,
    /// Records the kernel could not hand over (ring buffer full), per CPU and kind.
    pub kernel: Vec<KernelLoss>,
    /// Records dropped in user space, per stage and reason.
    pub user: Vec<UserLoss>,
    /// Records of kinds the agent shed to stay within its resource budget,
    /// per kind (counted in the kernel where they were held back, summed
    /// over CPUs). Absent when nothing was shed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shed: Vec<ShedLoss>,
    /// Everything above: kernel + user + shed.
    pub total: u64,
}

/// Records of one kind not reported because the agent shed the kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShedLoss {
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KernelLoss {
    pub cpu: u32,
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserLoss {
    pub stage: String,
    pub reason: String,
    pub count: u64,
}
