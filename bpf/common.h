/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Helpers shared by every sensor area: maps, configuration and self-filter,
 * and the event builder. Path resolution is in path.h, the sys_enter →
 * sys_exit argument stash in stash.h; both are included at the end.
 *
 * Events are built in a per-CPU scratch buffer and copied into the ring with
 * bpf_ringbuf_output (records are variable-sized; reserve needs a constant
 * size). Wake-ups are batched: a record only wakes the reader once the ring
 * holds more than saker_config.wakeup_bytes; otherwise the reader drains on a
 * timer (a wake-up costs ~4 us on the target machines).
 */
#ifndef SAKER_COMMON_H
#define SAKER_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "saker_abi.h"

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define PROT_EXEC 0x4
#define S_ISUID 04000
#define S_ISGID 02000
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFDIR 0040000
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

/* ---- maps ---- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* user space may resize before load */
} saker_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_config);
} saker_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} saker_scope SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SAKER_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} saker_loss SEC(".maps");

/* Records not handed over because the agent shed their kind (over its
 * resource budget), per CPU and kind; see saker_config.shed_mask. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SAKER_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} saker_shed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct saker_prefix_key);
	__type(value, struct saker_prefix_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} saker_prefixes SEC(".maps");

/* cgroups that have had an exec: the first exec in a new cgroup (a container
 * starting) wakes the reader at once, so user space can read the container's
 * runtime state before a short-lived container is gone. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} saker_seen_cgroups SEC(".maps");

static __always_inline bool first_in_cgroup(__u64 cgroup_id)
{
	if (bpf_map_lookup_elem(&saker_seen_cgroups, &cgroup_id))
		return false;
	__u8 one = 1;
	bpf_map_update_elem(&saker_seen_cgroups, &cgroup_id, &one, BPF_ANY);
	return true;
}

/* Event build buffer. Strings are appended at an offset masked to
 * EV_OFF_MASK, so every write stays inside EV_BUF_SIZE. */
#define EV_BUF_SIZE (32 * 1024)
#define EV_OFF_MASK (16 * 1024 - 1)
struct ev_buf {
	__u8 data[EV_BUF_SIZE];
};

/* Two per-CPU buffers: index 0 for task-context programs, index 1 for
 * softirq programs (cgroup_skb), which can interrupt a task-context one. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct ev_buf);
} saker_ev_scratch SEC(".maps");

/* Path assembly buffer: paths are written backwards ending at PATH_END, or
 * forwards from PATH_FWD for user-supplied strings. */
#define PATH_BUF_SIZE 16384
#define PATH_HALF 4096
#define PATH_END (PATH_HALF - 1)
#define PATH_MASK (PATH_HALF - 1)
#define PATH_MAX_COMPONENTS 40
struct path_buf {
	char data[PATH_BUF_SIZE];
};

/* Two path buffers per CPU, for events with two paths (rename, link). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct path_buf);
} saker_path_scratch SEC(".maps");

/* ---- configuration and self-filter ---- */

static __always_inline struct saker_config *saker_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&saker_config, &zero);
}

/* In task-sidecar mode, is the acting cgroup (`cgroup_id`, whose ancestor
 * at the task's level is `ancestor_id`) outside the watched task, or the
 * agent's own container? */
static __always_inline bool out_of_scope(__u64 cgroup_id, __u64 ancestor_id)
{
	__u8 *own = bpf_map_lookup_elem(&saker_scope, &cgroup_id);
	if (own && *own == SAKER_SCOPE_EXCLUDE)
		return true;
	__u8 *task = bpf_map_lookup_elem(&saker_scope, &ancestor_id);
	return !(task && *task == SAKER_SCOPE_TASK);
}

/* True when an event of `kind` from the current task should be dropped
 * before any work is done: kind disabled, the task is the agent, or (in
 * task-sidecar mode) the task is outside the watched task's cgroups. */
static __always_inline bool skip_event(__u32 kind)
{
	struct saker_config *cfg = saker_cfg();
	if (!cfg)
		return true;
	if (!(cfg->kind_mask & (1ULL << (kind & 63))))
		return true;
	if ((bpf_get_current_pid_tgid() >> 32) == cfg->agent_tgid)
		return true;
	if (!cfg->scoped)
		return false;
	return out_of_scope(bpf_get_current_cgroup_id(), bpf_get_current_ancestor_cgroup_id(cfg->scope_level));
}

/* Compare `n` bytes (n a constant); clang 14 does not lower memcmp for BPF. */
static __always_inline bool bytes_eq(const char *a, const char *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static __always_inline void count_in(void *map, __u32 kind)
{
	__u32 k = kind & (SAKER_KIND_MAX - 1);
	__u64 *n = bpf_map_lookup_elem(map, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void count_loss(__u32 kind)
{
	count_in(&saker_loss, kind);
}

/* ---- event builder ---- */

struct ev {
	__u8 *buf;  /* start of the record (the header) */
	__u32 off;  /* end of what is written so far */
	__u16 kind;
	__u8 wake;  /* wake the reader now, whatever the batching says */
};

/* Fill the header from the current task. */
static __always_inline void fill_header(struct saker_header *h, __u16 kind)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->result = 0;
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	const struct cred *cred = BPF_CORE_READ(t, cred);
	h->proc_start_ns = BPF_CORE_READ(leader, start_boottime);
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(t, real_parent, tgid);
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->euid = BPF_CORE_READ(cred, euid.val);
	h->egid = BPF_CORE_READ(cred, egid.val);
	h->mnt_ns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);

	struct pid *p = BPF_CORE_READ(leader, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), &p->numbers[level & 31]);
	h->ns_pid = up.nr;
	h->pid_ns = BPF_CORE_READ(up.ns, ns.inum);

	h->kind = kind;
	h->size = 0;
	h->flags = 0;
	h->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Start a record of `kind` whose fixed body is `body_size` bytes. The body is
 * zeroed. Returns false when no scratch buffer is available. */
static __always_inline bool ev_begin(struct ev *e, __u16 kind, __u32 body_size, __u32 scratch)
{
	__u32 idx = scratch;
	struct ev_buf *b = bpf_map_lookup_elem(&saker_ev_scratch, &idx);
	if (!b)
		return false;
	e->buf = b->data;
	e->kind = kind;
	e->wake = 0;
	e->off = sizeof(struct saker_header) + body_size;
	/* Bodies are small; clear them so unused fields are 0. */
	__builtin_memset(b->data + sizeof(struct saker_header), 0, 256);
	return true;
}

#define ev_header(e) ((struct saker_header *)(e)->buf)
#define ev_body(e, type) ((type *)((e)->buf + sizeof(struct saker_header)))

/* Start a record for the current task: header filled, body zeroed. */
static __always_inline bool ev_start(struct ev *e, __u16 kind, __u32 body_size)
{
	if (!ev_begin(e, kind, body_size, 0))
		return false;
	fill_header(ev_header(e), kind);
	return true;
}

/* Append a user-space C string; returns the bytes appended (no NUL). */
static __always_inline __u16 ev_str_user(struct ev *e, const void *src)
{
	if (!src || e->off > EV_OFF_MASK)
		return 0;
	long n = bpf_probe_read_user_str(e->buf + (e->off & EV_OFF_MASK), SAKER_STR_MAX, src);
	if (n <= 1)
		return 0;
	e->off += n - 1;
	return n - 1;
}

/* Append a kernel C string; returns the bytes appended (no NUL). */
static __always_inline __u16 ev_str_kernel(struct ev *e, const void *src)
{
	if (!src || e->off > EV_OFF_MASK)
		return 0;
	long n = bpf_probe_read_kernel_str(e->buf + (e->off & EV_OFF_MASK), SAKER_STR_MAX, src);
	if (n <= 1)
		return 0;
	e->off += n - 1;
	return n - 1;
}

/* Append `len` bytes of kernel memory (e.g. a path from a path buffer). */
static __always_inline __u16 ev_bytes_kernel(struct ev *e, const void *src, __u32 len)
{
	if (!src || e->off > EV_OFF_MASK)
		return 0;
	len &= (SAKER_STR_MAX - 1);
	if (len == 0)
		return 0;
	if (bpf_probe_read_kernel(e->buf + (e->off & EV_OFF_MASK), len, src))
		return 0;
	e->off += len;
	return len;
}

/* Append `len` bytes of user memory. */
static __always_inline __u16 ev_bytes_user(struct ev *e, const void *src, __u32 len)
{
	if (!src || e->off > EV_OFF_MASK)
		return 0;
	len &= (SAKER_STR_MAX - 1);
	if (len == 0)
		return 0;
	if (bpf_probe_read_user(e->buf + (e->off & EV_OFF_MASK), len, src))
		return 0;
	e->off += len;
	return len;
}

/* Hand the record to user space; a full ring is counted, never silent.
 * A shed kind (the agent is over its resource budget) is counted here, after
 * every filter has passed, rather than in skip_event: there the count would
 * include events the filters drop, and `agent.loss` must say exactly what
 * user space did not get. Building the record costs the traced task, not the
 * agent, whose budget is what shedding protects. */
static __always_inline void ev_submit(struct ev *e)
{
	struct saker_config *cfg = saker_cfg();
	__u32 size = e->off;
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (cfg && (cfg->shed_mask & (1ULL << (e->kind & 63)))) {
		count_in(&saker_shed, e->kind);
		return;
	}

	/* off never passes EV_OFF_MASK + SAKER_STR_MAX; the mask tells the verifier. */
	size &= (EV_BUF_SIZE - 1);
	ev_header(e)->size = size;
	if (e->wake || (cfg && bpf_ringbuf_query(&saker_events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes))
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&saker_events, e->buf, size, flags))
		count_loss(e->kind);
}

/* ---- facts about files and sockets ---- */

/* Is `inode` an overlayfs file whose upper layer holds it? In a container
 * that means written (or copied up) after the container started, not part
 * of the image. */
static __always_inline bool inode_upper_layer(struct inode *inode)
{
	if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != OVERLAYFS_SUPER_MAGIC)
		return false;
	struct ovl_inode *oi = container_of(inode, struct ovl_inode, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) != NULL;
}

/* Older layouts of the inode's mtime, as CO-RE flavours (libbpf matches
 * `inode___x` to the kernel's `struct inode`, ignoring the suffix). 6.11 and
 * later have i_mtime_sec/i_mtime_nsec, which vmlinux.h (6.18) declares. */
struct inode___v67 { /* 6.7 .. 6.10 */
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___v66 { /* before 6.7 */
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

/* The inode's modification time in ns since the epoch (wall clock, may be
 * negative); false when it cannot be read. The branch for another kernel's
 * layout is a constant false after relocation and never verified. */
static __always_inline bool inode_mtime_ns(struct inode *inode, __s64 *out)
{
	if (!inode)
		return false;
	time64_t sec = 0;
	long nsec = 0;
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		__u32 ns = 0;
		if (BPF_CORE_READ_INTO(&sec, inode, i_mtime_sec) || BPF_CORE_READ_INTO(&ns, inode, i_mtime_nsec))
			return false;
		nsec = ns;
	} else if (bpf_core_field_exists(((struct inode___v67 *)inode)->__i_mtime)) {
		struct inode___v67 *i = (void *)inode;
		if (BPF_CORE_READ_INTO(&sec, i, __i_mtime.tv_sec) || BPF_CORE_READ_INTO(&nsec, i, __i_mtime.tv_nsec))
			return false;
	} else if (bpf_core_field_exists(((struct inode___v66 *)inode)->i_mtime)) {
		struct inode___v66 *i = (void *)inode;
		if (BPF_CORE_READ_INTO(&sec, i, i_mtime.tv_sec) || BPF_CORE_READ_INTO(&nsec, i, i_mtime.tv_nsec))
			return false;
	} else {
		return false;
	}
	*out = sec * 1000000000LL + nsec;
	return true;
}

/* The inode's change time moved before its mtime did: `__i_ctime` from 6.6
 * (the ctime accessors), split into i_ctime_sec/i_ctime_nsec in 6.11. */
struct inode___ctime_v66 { /* 6.6 .. 6.10 */
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___ctime_v65 { /* before 6.6 */
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

/* Multigrain timestamps (6.13+) keep a "ctime was queried" flag in the top
 * bit of i_ctime_nsec; the kernel masks it off (inode_get_ctime_nsec). */
#define INODE_CTIME_QUERIED (1u << 31)

/* The inode's change time in ns since the epoch, as inode_mtime_ns. Unlike
 * the mtime it cannot be set from user space: every change to the inode
 * (write, chmod, utimes itself) sets it to the current time, so a backdated
 * mtime (`touch -d`) does not hide a new file. */
static __always_inline bool inode_ctime_ns(struct inode *inode, __s64 *out)
{
	if (!inode)
		return false;
	time64_t sec = 0;
	long nsec = 0;
	if (bpf_core_field_exists(inode->i_ctime_sec)) {
		__u32 ns = 0;
		if (BPF_CORE_READ_INTO(&sec, inode, i_ctime_sec) || BPF_CORE_READ_INTO(&ns, inode, i_ctime_nsec))
			return false;
		nsec = ns & ~INODE_CTIME_QUERIED;
	} else if (bpf_core_field_exists(((struct inode___ctime_v66 *)inode)->__i_ctime)) {
		struct inode___ctime_v66 *i = (void *)inode;
		if (BPF_CORE_READ_INTO(&sec, i, __i_ctime.tv_sec) || BPF_CORE_READ_INTO(&nsec, i, __i_ctime.tv_nsec))
			return false;
	} else if (bpf_core_field_exists(((struct inode___ctime_v65 *)inode)->i_ctime)) {
		struct inode___ctime_v65 *i = (void *)inode;
		if (BPF_CORE_READ_INTO(&sec, i, i_ctime.tv_sec) || BPF_CORE_READ_INTO(&nsec, i, i_ctime.tv_nsec))
			return false;
	} else {
		return false;
	}
	*out = sec * 1000000000LL + nsec;
	return true;
}

static __always_inline bool file_is_sock(struct file *f)
{
	return f && (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFSOCK;
}

/* The socket behind an open file, or NULL (not a socket). A socket file's
 * private_data is its struct socket. */
static __always_inline struct sock *file_sock(struct file *f)
{
	if (!file_is_sock(f))
		return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	if (!s)
		return NULL;
	return BPF_CORE_READ(s, sk);
}

/* The peer of a connected inet socket: address in network byte order (IPv4
 * in the first 4 bytes), port in host order. Nothing for other families. */
static __always_inline void sock_peer(struct sock *sk, __u16 family, __u8 raddr[16], __u16 *rport)
{
	if (family == AF_INET) {
		bpf_core_read(raddr, 4, &sk->__sk_common.skc_daddr);
		*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	} else if (family == AF_INET6) {
		bpf_core_read(raddr, 16, &sk->__sk_common.skc_v6_daddr);
		*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
}

#include "path.h"
#include "stash.h"

#endif /* SAKER_COMMON_H */
