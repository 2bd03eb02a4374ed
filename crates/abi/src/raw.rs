//! `#[repr(C)]` mirrors of bpf/saker_abi.h. Field for field, in the same
//! order; the size assertions at the bottom fail the build when the two drift.

/// Event kinds (`enum saker_kind`). Numbers are never reused.
pub mod kind {
    pub const PROCESS_EXEC: u16 = 1;
    pub const PROCESS_EXIT: u16 = 2;
    pub const PROCESS_FORK: u16 = 3;
    pub const PROCESS_CRED: u16 = 4;
    pub const FILE_WRITE: u16 = 10;
    pub const FILE_RENAME: u16 = 11;
    pub const FILE_UNLINK: u16 = 12;
    pub const FILE_LINK: u16 = 13;
    pub const FILE_SYMLINK: u16 = 14;
    pub const FILE_CHMOD: u16 = 15;
    pub const NET_CONNECT: u16 = 20;
    pub const NET_ACCEPT: u16 = 21;
    pub const NET_LISTEN: u16 = 22;
    pub const DNS: u16 = 30;
    pub const PTRACE: u16 = 40;
    pub const MEM_WRITE: u16 = 41;
    pub const MODULE_LOAD: u16 = 42;
    pub const MOUNT: u16 = 43;
    pub const USERFAULTFD: u16 = 44;
    pub const MEMFD_CREATE: u16 = 45;
    pub const BPF_LOAD: u16 = 46;
    pub const LIBRARY_LOAD: u16 = 47;
    /// Internal: a cgroup2 directory was created (attribution input).
    pub const CGROUP_MKDIR: u16 = 50;
    /// Kinds are bits of a u64 mask and indexes of the loss table.
    pub const MAX: u16 = 64;

    /// Every kind the kernel side can produce.
    pub const ALL: &[u16] = &[
        PROCESS_EXEC,
        PROCESS_EXIT,
        PROCESS_FORK,
        PROCESS_CRED,
        FILE_WRITE,
        FILE_RENAME,
        FILE_UNLINK,
        FILE_LINK,
        FILE_SYMLINK,
        FILE_CHMOD,
        NET_CONNECT,
        NET_ACCEPT,
        NET_LISTEN,
        DNS,
        PTRACE,
        MEM_WRITE,
        MODULE_LOAD,
        MOUNT,
        USERFAULTFD,
        MEMFD_CREATE,
        BPF_LOAD,
        LIBRARY_LOAD,
        CGROUP_MKDIR,
    ];
}

pub const COMM_LEN: usize = 16;
pub const PREFIX_MAX: usize = 64;
pub const BASENAME_MAX: usize = 32;

pub const HDR_NO_TASK: u32 = 1 << 0;

pub const EXE_MEMFD: u32 = 1 << 0;
pub const EXE_DELETED: u32 = 1 << 1;
pub const EXE_UPPER_LAYER: u32 = 1 << 2;
pub const EXE_SETUID: u32 = 1 << 3;
pub const EXE_SETGID: u32 = 1 << 4;
pub const EXE_ARGV_TRUNCATED: u32 = 1 << 5;
pub const EXE_STDIN_SOCKET: u32 = 1 << 6;
pub const EXE_STDOUT_SOCKET: u32 = 1 << 7;
pub const EXE_STDERR_SOCKET: u32 = 1 << 8;
/// `Exec::exe_mtime_ns` is set (0 is a valid mtime: 1970).
pub const EXE_MTIME: u32 = 1 << 9;
/// The working directory is not below the process's root (the kernel's walk
/// from it reached the top of a mount tree without meeting the root); `cwd`
/// is then the path as seen from that tree's top (CVE-2024-21626).
pub const EXE_CWD_OUTSIDE_ROOT: u32 = 1 << 10;
/// `Exec::exe_ctime_ns` is set.
pub const EXE_CTIME: u32 = 1 << 11;

pub const LIB_UPPER_LAYER: u32 = 1 << 0;
/// `Library::mtime_ns` is set.
pub const LIB_MTIME: u32 = 1 << 1;
/// `Library::ctime_ns` is set.
pub const LIB_CTIME: u32 = 1 << 2;

pub const SCOPE_TASK: u8 = 1;
pub const SCOPE_EXCLUDE: u8 = 2;

pub const PREFIX_DOT_COMPONENT: u32 = 1 << 0;
pub const PREFIX_BASENAME: u32 = 1 << 1;

pub const MEM_PROCESS_VM_WRITEV: u32 = 1;
pub const MEM_PROC_MEM: u32 = 2;
pub const MODULE_INIT: u32 = 1;
pub const MODULE_FINIT: u32 = 2;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    pub ts_ns: u64,
    pub cgroup_id: u64,
    pub result: i64,
    pub proc_start_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub ns_pid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub mnt_ns: u32,
    pub pid_ns: u32,
    pub kind: u16,
    pub size: u16,
    pub flags: u32,
    pub cpu: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Exec {
    pub exe_ino: u64,
    /// The executable's mtime, ns since the epoch (wall clock), when `EXE_MTIME`.
    pub exe_mtime_ns: i64,
    pub exe_dev: u32,
    pub flags: u32,
    pub old_uid: u32,
    pub old_euid: u32,
    pub old_gid: u32,
    pub old_egid: u32,
    pub argc: u32,
    pub filename_len: u16,
    pub exe_len: u16,
    pub interp_len: u16,
    pub argv_len: u16,
    pub cwd_len: u16,
    pub ld_preload_len: u16,
    pub ld_library_path_len: u16,
    pub ecs_metadata_uri_len: u16,
    /// When stdin is a socket: its family, protocol and (connected inet)
    /// peer, with [`Net`]'s conventions.
    pub stdin_family: u16,
    pub stdin_protocol: u16,
    pub stdin_rport: u16,
    pub _pad: [u16; 3],
    pub stdin_raddr: [u8; 16],
    /// The executable's ctime, ns since the epoch (wall clock), when
    /// `EXE_CTIME`: set by the kernel on every change, never from user space.
    pub exe_ctime_ns: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Exit {
    pub exit_code: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Fork {
    pub child_start_ns: u64,
    pub child_pid: u32,
    pub child_ns_pid: u32,
    pub clone_flags: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Cred {
    pub syscall: u32,
    pub args: [u32; 3],
    pub old_uid: u32,
    pub old_euid: u32,
    pub old_gid: u32,
    pub old_egid: u32,
    pub old_cap_effective: u64,
    pub new_cap_effective: u64,
    pub old_cap_permitted: u64,
    pub new_cap_permitted: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct File {
    pub ino: u64,
    pub dev: u32,
    pub flags: u32,
    pub mode: u32,
    pub path_len: u16,
    pub path2_len: u16,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Net {
    pub family: u16,
    pub protocol: u16,
    pub sock_type: u16,
    pub lport: u16,
    pub rport: u16,
    pub unix_path_len: u16,
    pub backlog: u32,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Dns {
    pub family: u16,
    pub ingress: u8,
    pub protocol: u8,
    pub lport: u16,
    pub rport: u16,
    pub payload_len: u16,
    pub _pad: [u16; 3],
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Ptrace {
    pub request: i64,
    pub addr: u64,
    pub data: u64,
    pub target_pid: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MemWrite {
    pub len: u64,
    pub method: u32,
    pub target_pid: u32,
    pub path_len: u16,
    pub _pad: [u16; 3],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Module {
    pub len: u64,
    pub method: u32,
    pub flags: u32,
    pub path_len: u16,
    pub args_len: u16,
    pub _pad: [u16; 2],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Mount {
    pub flags: u64,
    pub source_len: u16,
    pub target_len: u16,
    pub fstype_len: u16,
    pub _pad: u16,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Userfaultfd {
    pub flags: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Memfd {
    pub flags: u32,
    pub name_len: u16,
    pub _pad: u16,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BpfLoad {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Library {
    pub ino: u64,
    /// The file's mtime, ns since the epoch (wall clock), when `LIB_MTIME`.
    pub mtime_ns: i64,
    pub dev: u32,
    pub prot: u32,
    pub mmap_flags: u32,
    /// `LIB_*`.
    pub flags: u32,
    pub path_len: u16,
    pub _pad: [u16; 3],
    /// The file's ctime, ns since the epoch (wall clock), when `LIB_CTIME`.
    pub ctime_ns: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Cgroup {
    pub cgroup_id: u64,
    pub level: u32,
    pub path_len: u16,
    pub _pad: u16,
}

/// `struct saker_config`: the one entry of the `saker_config` map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    pub kind_mask: u64,
    pub agent_tgid: u32,
    pub wakeup_bytes: u32,
    /// 1 = task-sidecar mode: report only the task in `saker_scope`.
    pub scoped: u32,
    /// Depth of the task's cgroup below the cgroup2 root.
    pub scope_level: u32,
    /// Kinds shed by the resource budget: built, not handed over, counted
    /// per CPU and kind in `saker_shed` (bit N = kind N).
    pub shed_mask: u64,
}

/// Key of the `saker_prefixes` LPM trie.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PrefixKey {
    pub prefixlen: u32,
    pub data: [u8; PREFIX_MAX],
}

impl Default for PrefixKey {
    fn default() -> Self {
        PrefixKey { prefixlen: 0, data: [0; PREFIX_MAX] }
    }
}

/// Value of the `saker_prefixes` LPM trie.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PrefixValue {
    pub flags: u32,
    pub prefix_len: u32,
    pub basename: [u8; BASENAME_MAX],
}

/// Marker for the mirrors above: plain integers and byte arrays only, so
/// every bit pattern is a valid value and a byte copy is a valid read.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made solely of integers and arrays
/// of integers.
pub unsafe trait Plain: Copy + Default {}

macro_rules! plain {
    ($($t:ty = $size:expr),* $(,)?) => {
        $(
            // SAFETY: integer-only #[repr(C)] struct (see the trait's contract).
            unsafe impl Plain for $t {}
            const _: () = assert!(std::mem::size_of::<$t>() == $size);
        )*
    };
}

plain! {
    Header = 104,
    Exec = 96,
    Exit = 8,
    Fork = 24,
    Cred = 64,
    File = 24,
    Net = 48,
    Dns = 48,
    Ptrace = 32,
    MemWrite = 24,
    Module = 24,
    Mount = 16,
    Userfaultfd = 8,
    Memfd = 8,
    BpfLoad = 24,
    Library = 48,
    Cgroup = 16,
    Config = 32,
    PrefixKey = 4 + PREFIX_MAX,
    PrefixValue = 8 + BASENAME_MAX,
}

// Offsets of the fields added after the first layout, checked like the
// sizes (saker_abi.h asserts the same): a reorder keeps the size but not these.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Exec, exe_mtime_ns) == 8);
    assert!(offset_of!(Exec, stdin_family) == 60);
    assert!(offset_of!(Exec, stdin_raddr) == 72);
    assert!(offset_of!(Exec, exe_ctime_ns) == 88);
    assert!(offset_of!(Library, mtime_ns) == 8);
    assert!(offset_of!(Library, flags) == 28);
    assert!(offset_of!(Library, path_len) == 32);
    assert!(offset_of!(Library, ctime_ns) == 40);
    assert!(offset_of!(Config, shed_mask) == 24);
};

/// Read a `T` from the start of `bytes`, or `None` when too short.
pub fn read<T: Plain>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: length checked above; T is Plain (any bit pattern is valid) and
    // read_unaligned copes with ring-buffer alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of a `T`, to write into a BPF map.
pub fn bytes_of<T: Plain>(value: &T) -> &[u8] {
    // SAFETY: T is Plain: fully initialised integer fields. Padding bytes
    // could be uninitialised, so every mirror declares its padding explicitly.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}
