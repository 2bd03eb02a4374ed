/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The event ABI between Saker's BPF programs and user space.
 *
 * Every record in the ring buffer is one `struct saker_header` followed by a
 * kind-specific body (`struct saker_<kind>`) and then the body's strings,
 * packed back to back in the order the body declares their `*_len` fields.
 * Strings carry no terminator; a length of 0 means "absent".
 *
 * Rust mirrors every struct here in crates/abi/src/raw.rs with compile-time
 * size checks: change both together, and never reuse a kind number.
 */
#ifndef SAKER_ABI_H
#define SAKER_ABI_H

#define SAKER_ABI_VERSION 1

#define SAKER_COMM_LEN 16
/* Longest string copied for one field (paths, argv block, mount data...). */
#define SAKER_STR_MAX 4096
/* Bytes of a DNS message copied from a packet (UDP DNS is <= 512 classic). */
#define SAKER_DNS_MAX 512
/* Longest path prefix in the interest set (bytes). */
#define SAKER_PREFIX_MAX 64
#define SAKER_BASENAME_MAX 32

/* Event kinds. Explicit numbers, never reused; each is also a bit in
 * saker_config.kind_mask (so they stay below 64). */
enum saker_kind {
	SAKER_KIND_PROCESS_EXEC = 1,
	SAKER_KIND_PROCESS_EXIT = 2,
	SAKER_KIND_PROCESS_FORK = 3,
	SAKER_KIND_PROCESS_CRED = 4, /* setuid/setgid families, capset */
	SAKER_KIND_FILE_WRITE = 10,  /* open with write/create/truncate intent */
	SAKER_KIND_FILE_RENAME = 11,
	SAKER_KIND_FILE_UNLINK = 12,
	SAKER_KIND_FILE_LINK = 13,
	SAKER_KIND_FILE_SYMLINK = 14,
	SAKER_KIND_FILE_CHMOD = 15,
	SAKER_KIND_NET_CONNECT = 20,
	SAKER_KIND_NET_ACCEPT = 21,
	SAKER_KIND_NET_LISTEN = 22,
	SAKER_KIND_DNS = 30, /* one DNS message; user space splits query/answer */
	SAKER_KIND_PTRACE = 40,
	SAKER_KIND_MEM_WRITE = 41,
	SAKER_KIND_MODULE_LOAD = 42,
	SAKER_KIND_MOUNT = 43,
	SAKER_KIND_USERFAULTFD = 44,
	SAKER_KIND_MEMFD_CREATE = 45,
	SAKER_KIND_BPF_LOAD = 46,
	SAKER_KIND_LIBRARY_LOAD = 47,
	SAKER_KIND_CGROUP_MKDIR = 50, /* internal: a cgroup2 directory was created */
	SAKER_KIND_MAX = 64,
};

/* saker_header.flags */
#define SAKER_HDR_NO_TASK (1u << 0) /* built outside the task's context (DNS on ingress) */

/* Common to every event. 104 bytes. */
struct saker_header {
	__u64 ts_ns;         /* CLOCK_BOOTTIME */
	__u64 cgroup_id;     /* cgroup v2 id = inode of the cgroup2 directory */
	__s64 result;        /* syscall return value where there is one, else 0 */
	__u64 proc_start_ns; /* the thread group leader's start, CLOCK_BOOTTIME */
	__u32 pid;           /* thread group id, in the initial pid namespace */
	__u32 tid;
	__u32 ppid;          /* real parent's tgid */
	__u32 ns_pid;        /* tgid in the task's own pid namespace */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 mnt_ns;        /* mount namespace inode number */
	__u32 pid_ns;        /* pid namespace inode number */
	__u16 kind;          /* enum saker_kind */
	__u16 size;          /* whole record: header + body + strings */
	__u32 flags;         /* SAKER_HDR_* */
	__u32 cpu;           /* CPU the record was built on */
	__u32 _pad;
	char comm[SAKER_COMM_LEN];
};

/* saker_exec.flags */
#define SAKER_EXE_MEMFD (1u << 0)       /* executable is a memfd */
#define SAKER_EXE_DELETED (1u << 1)     /* executable has no links left */
#define SAKER_EXE_UPPER_LAYER (1u << 2) /* executable lives in an overlayfs upper layer */
#define SAKER_EXE_SETUID (1u << 3)      /* executable has the set-user-id bit */
#define SAKER_EXE_SETGID (1u << 4)      /* executable has the set-group-id bit */
#define SAKER_EXE_ARGV_TRUNCATED (1u << 5)
/* The new image's standard streams (fds 0, 1, 2) that are sockets: a shell
 * whose stdin/stdout is a socket is how reverse shells look. */
#define SAKER_EXE_STDIN_SOCKET (1u << 6)
#define SAKER_EXE_STDOUT_SOCKET (1u << 7)
#define SAKER_EXE_STDERR_SOCKET (1u << 8)
#define SAKER_EXE_MTIME (1u << 9) /* exe_mtime_ns is set (0 is a valid mtime: 1970) */
/* The working directory is not below the process's root: the dentry walk
 * from it reached the top of a mount tree without meeting the root. In a
 * container that is a host directory (CVE-2024-21626: a leaked fd used as
 * cwd), and cwd is then the path as the host sees it. */
#define SAKER_EXE_CWD_OUTSIDE_ROOT (1u << 10)
#define SAKER_EXE_CTIME (1u << 11) /* exe_ctime_ns is set */

/* process.exec; a failed execve is reported from sys_exit with result < 0,
 * filename and argv, and no exe. Strings: filename, exe, interp, argv (NUL
 * separated), cwd, ld_preload, ld_library_path, ecs_metadata_uri (the
 * ECS_CONTAINER_METADATA_URI_V4 value: read here because a short-lived
 * container's environment is gone before user space could read it). */
struct saker_exec {
	__u64 exe_ino;
	__s64 exe_mtime_ns; /* executable's i_mtime: wall clock, ns since the epoch (SAKER_EXE_MTIME) */
	__u32 exe_dev;
	__u32 flags; /* SAKER_EXE_* */
	__u32 old_uid;
	__u32 old_euid;
	__u32 old_gid;
	__u32 old_egid;
	__u32 argc;
	__u16 filename_len;
	__u16 exe_len;
	__u16 interp_len;
	__u16 argv_len;
	__u16 cwd_len;
	__u16 ld_preload_len;
	__u16 ld_library_path_len;
	__u16 ecs_metadata_uri_len;
	/* When stdin is a socket (SAKER_EXE_STDIN_SOCKET): its family and
	 * protocol, and for a connected inet socket its peer, with the
	 * conventions of struct saker_net (address in network byte order, IPv4
	 * in the first 4 bytes; port in host order; 0 = not connected). */
	__u16 stdin_family;
	__u16 stdin_protocol;
	__u16 stdin_rport;
	__u16 _pad[3];
	__u8 stdin_raddr[16];
	/* The executable's i_ctime, as exe_mtime_ns (SAKER_EXE_CTIME). Set by
	 * the kernel on every change to the inode, never from user space: a
	 * backdated mtime (`touch -d`) leaves it at the time of the change. */
	__s64 exe_ctime_ns;
};

/* process.exit: the thread group leader exits. */
struct saker_exit {
	__u32 exit_code; /* raw wait status: code << 8 | signal */
	__u32 _pad;
};

/* process.fork: a new process (not thread). The header is the parent's. */
struct saker_fork {
	__u64 child_start_ns;
	__u32 child_pid;
	__u32 child_ns_pid;
	__u64 clone_flags;
};

enum saker_cred_syscall {
	SAKER_CRED_SETUID = 1,
	SAKER_CRED_SETREUID = 2,
	SAKER_CRED_SETRESUID = 3,
	SAKER_CRED_SETFSUID = 4,
	SAKER_CRED_SETGID = 5,
	SAKER_CRED_SETREGID = 6,
	SAKER_CRED_SETRESGID = 7,
	SAKER_CRED_SETFSGID = 8,
	SAKER_CRED_CAPSET = 9,
};

/* process.cred: the header carries the credentials after the call. */
struct saker_cred {
	__u32 syscall; /* enum saker_cred_syscall */
	__u32 args[3]; /* requested ids (0xffffffff = unchanged) */
	__u32 old_uid;
	__u32 old_euid;
	__u32 old_gid;
	__u32 old_egid;
	__u64 old_cap_effective;
	__u64 new_cap_effective;
	__u64 old_cap_permitted;
	__u64 new_cap_permitted;
};

/* file.*: strings path then path2.
 *  write:   path = opened file (resolved when the open succeeded)
 *  rename:  path = old, path2 = new
 *  link:    path = existing file, path2 = new link
 *  symlink: path = new link, path2 = link target as given
 *  unlink:  path
 *  chmod:   path, mode */
struct saker_file {
	__u64 ino;   /* when known (successful open) */
	__u32 dev;
	__u32 flags; /* open flags, or renameat2/unlinkat/linkat flags */
	__u32 mode;  /* create mode, or chmod mode */
	__u16 path_len;
	__u16 path2_len;
};

/* net.connect / net.accept / net.listen. Addresses in network byte order,
 * IPv4 in the first 4 bytes; ports in host order. String: unix_path. */
struct saker_net {
	__u16 family;   /* AF_INET, AF_INET6, AF_UNIX */
	__u16 protocol; /* IPPROTO_TCP / IPPROTO_UDP / 0 */
	__u16 sock_type;
	__u16 lport;
	__u16 rport;
	__u16 unix_path_len;
	__u32 backlog;  /* listen() */
	__u8 laddr[16];
	__u8 raddr[16];
};

/* DNS message seen on port 53. "local" is the side of the socket's owner.
 * String: the DNS payload (for TCP without the 2-byte length prefix). */
struct saker_dns {
	__u16 family;
	__u8 ingress;  /* 1 = received by the local socket */
	__u8 protocol; /* IPPROTO_UDP / IPPROTO_TCP */
	__u16 lport;
	__u16 rport;
	__u16 payload_len;
	__u16 _pad[3];
	__u8 laddr[16];
	__u8 raddr[16];
};

/* ptrace attempt. */
struct saker_ptrace {
	__s64 request;
	__u64 addr;
	__u64 data;
	__u32 target_pid;
	__u32 _pad;
};

enum saker_mem_write_method {
	SAKER_MEM_PROCESS_VM_WRITEV = 1,
	SAKER_MEM_PROC_MEM = 2, /* open of /proc/<pid>/mem for writing */
};

/* mem.write. String: path (for /proc/<pid>/mem). */
struct saker_mem_write {
	__u64 len;
	__u32 method;
	__u32 target_pid;
	__u16 path_len;
	__u16 _pad[3];
};

enum saker_module_method {
	SAKER_MODULE_INIT = 1,   /* init_module(2): image from memory */
	SAKER_MODULE_FINIT = 2,  /* finit_module(2): image from a file */
};

/* module.load. Strings: path (finit_module's fd), args. */
struct saker_module {
	__u64 len;
	__u32 method;
	__u32 flags;
	__u16 path_len;
	__u16 args_len;
	__u16 _pad[2];
};

/* mount. Strings: source, target, fstype. */
struct saker_mount {
	__u64 flags;
	__u16 source_len;
	__u16 target_len;
	__u16 fstype_len;
	__u16 _pad;
};

/* userfaultfd. */
struct saker_userfaultfd {
	__u32 flags;
	__u32 _pad;
};

/* memfd.create. String: name. */
struct saker_memfd {
	__u32 flags;
	__u16 name_len;
	__u16 _pad;
};

/* bpf.load: bpf(BPF_PROG_LOAD). */
struct saker_bpf_load {
	__u32 prog_type;
	__u32 insn_cnt;
	char prog_name[16];
};

/* saker_library.flags */
#define SAKER_LIB_UPPER_LAYER (1u << 0) /* the file lives in an overlayfs upper layer */
#define SAKER_LIB_MTIME (1u << 1)       /* mtime_ns is set */
#define SAKER_LIB_CTIME (1u << 2)       /* ctime_ns is set */

/* library.load: a file mapped with PROT_EXEC. String: path. File facts
 * (ino, dev, mtime, ctime, flags) are known when the fd still named the file at
 * sys_exit (a racing close leaves them 0). */
struct saker_library {
	__u64 ino;
	__s64 mtime_ns; /* i_mtime: wall clock, ns since the epoch (SAKER_LIB_MTIME) */
	__u32 dev;
	__u32 prot;
	__u32 mmap_flags;
	__u32 flags; /* SAKER_LIB_* */
	__u16 path_len;
	__u16 _pad[3];
	__s64 ctime_ns; /* i_ctime, as mtime_ns (SAKER_LIB_CTIME); see saker_exec.exe_ctime_ns */
};

/* cgroup.mkdir (internal, not an event kind users see): a cgroup2 directory
 * was created. Attribution learns id -> path in stream order from it, so a
 * container's events resolve even when the container (and its cgroup) is
 * gone by the time user space reads them. String: path (relative to the
 * cgroup2 root). */
struct saker_cgroup {
	__u64 cgroup_id;
	__u32 level;
	__u16 path_len;
	__u16 _pad;
};

/* ---- Maps shared with user space ---- */

/* saker_config (array, 1 entry). Written by the agent at start and whenever
 * it changes what it watches. */
struct saker_config {
	__u64 kind_mask;    /* bit N set = enum saker_kind N enabled */
	__u32 agent_tgid;   /* never report this process */
	__u32 wakeup_bytes; /* force a ring-buffer wake-up past this much unread data */
	__u32 scoped;       /* 1 = task-sidecar mode: report only the watched task */
	__u32 scope_level;  /* depth of the task's cgroup below the cgroup2 root */
	/* Kinds shed by the agent's resource budget (bit N = kind N). A record
	 * of a shed kind is built as usual (every filter applies) but not
	 * handed over: ev_submit counts it in saker_shed instead, so the count
	 * is exactly the records user space did not get. Never set for exec,
	 * fork/exit, cred, net, dns or the kernel kinds (user space enforces). */
	__u64 shed_mask;
};

/* saker_scope (hash, u64 cgroup id -> u8), task-sidecar mode: a task's
 * cgroup with SAKER_SCOPE_TASK (matched as the ancestor at scope_level of
 * the acting cgroup, so containers that join later are covered with no
 * update), and the agent's own container cgroup with SAKER_SCOPE_EXCLUDE
 * (matched exactly). */
#define SAKER_SCOPE_TASK 1
#define SAKER_SCOPE_EXCLUDE 2

/* saker_prefixes (LPM trie): paths of interest for file events. */
struct saker_prefix_key {
	__u32 prefixlen; /* in bits */
	char data[SAKER_PREFIX_MAX];
};

#define SAKER_PREFIX_DOT_COMPONENT (1u << 0) /* only <prefix><one component>/.<...> (home dot-files) */
#define SAKER_PREFIX_BASENAME (1u << 1)      /* only files named `basename` under the prefix */

struct saker_prefix_value {
	__u32 flags;
	__u32 prefix_len; /* bytes of the prefix itself (LPM does not return it) */
	char basename[SAKER_BASENAME_MAX];
};

/* saker_loss (per-CPU array, SAKER_KIND_MAX entries): records the kernel could
 * not hand to user space, by kind. */

/* saker_shed (per-CPU array, SAKER_KIND_MAX entries, u64): records built but
 * not handed over because their kind was in saker_config.shed_mask. */

/* The Rust mirror (crates/abi/src/raw.rs) asserts the same sizes. */
_Static_assert(sizeof(struct saker_header) == 104, "saker_header size");
_Static_assert(sizeof(struct saker_exec) == 96, "saker_exec size");
_Static_assert(sizeof(struct saker_library) == 48, "saker_library size");
_Static_assert(__builtin_offsetof(struct saker_exec, exe_mtime_ns) == 8, "saker_exec layout");
_Static_assert(__builtin_offsetof(struct saker_exec, stdin_family) == 60, "saker_exec layout");
_Static_assert(__builtin_offsetof(struct saker_exec, stdin_raddr) == 72, "saker_exec layout");
_Static_assert(__builtin_offsetof(struct saker_exec, exe_ctime_ns) == 88, "saker_exec layout");
_Static_assert(__builtin_offsetof(struct saker_library, mtime_ns) == 8, "saker_library layout");
_Static_assert(__builtin_offsetof(struct saker_library, flags) == 28, "saker_library layout");
_Static_assert(__builtin_offsetof(struct saker_library, path_len) == 32, "saker_library layout");
_Static_assert(__builtin_offsetof(struct saker_library, ctime_ns) == 40, "saker_library layout");
_Static_assert(sizeof(struct saker_cred) == 64, "saker_cred size");
_Static_assert(sizeof(struct saker_net) == 48, "saker_net size");
_Static_assert(sizeof(struct saker_dns) == 48, "saker_dns size");
_Static_assert(sizeof(struct saker_config) == 32, "saker_config size");
_Static_assert(__builtin_offsetof(struct saker_config, shed_mask) == 24, "saker_config layout");

#endif /* SAKER_ABI_H */
