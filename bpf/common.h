/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Helpers shared by every sensor area: maps, the event builder, path
 * resolution and the path-of-interest filter.
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
#include "saker_abi.h"

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define PROT_EXEC 0x4
#define S_ISUID 04000
#define S_ISGID 02000
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
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SAKER_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} saker_loss SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct saker_prefix_key);
	__type(value, struct saker_prefix_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} saker_prefixes SEC(".maps");

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

/* True when an event of `kind` from the current task should be dropped
 * before any work is done: kind disabled, or the task is the agent. */
static __always_inline bool skip_event(__u32 kind)
{
	struct saker_config *cfg = saker_cfg();
	if (!cfg)
		return true;
	if (!(cfg->kind_mask & (1ULL << (kind & 63))))
		return true;
	return (bpf_get_current_pid_tgid() >> 32) == cfg->agent_tgid;
}

/* Compare `n` bytes (n a constant); clang 14 does not lower memcmp for BPF. */
static __always_inline bool bytes_eq(const char *a, const char *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static __always_inline void count_loss(__u32 kind)
{
	__u32 k = kind & (SAKER_KIND_MAX - 1);
	__u64 *n = bpf_map_lookup_elem(&saker_loss, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* ---- event builder ---- */

struct ev {
	__u8 *buf;  /* start of the record (the header) */
	__u32 off;  /* end of what is written so far */
	__u16 kind;
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

/* Hand the record to user space; a full ring is counted, never silent. */
static __always_inline void ev_submit(struct ev *e)
{
	struct saker_config *cfg = saker_cfg();
	__u32 size = e->off;
	__u64 flags = BPF_RB_NO_WAKEUP;

	/* off never passes EV_OFF_MASK + SAKER_STR_MAX; the mask tells the verifier. */
	size &= (EV_BUF_SIZE - 1);
	ev_header(e)->size = size;
	if (cfg && bpf_ringbuf_query(&saker_events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&saker_events, e->buf, size, flags))
		count_loss(e->kind);
}

/* ---- paths ---- */

static __always_inline struct path_buf *path_buf(__u32 idx)
{
	return bpf_map_lookup_elem(&saker_path_scratch, &idx);
}

/* A resolved path inside a path buffer: data[start .. start+len). */
struct resolved {
	__u32 start;
	__u32 len;
	__u32 last; /* start of the last component */
};

struct walk_ctx {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	struct dentry *root_d;
	struct vfsmount *root_m;
	__u32 buf;  /* path buffer index */
	__u32 off;  /* first byte written so far */
	__u32 last; /* start of the last component */
};

/* One step of the walk towards the root; bpf_loop verifies it once instead
 * of once per iteration. Returns 1 to stop. */
static long walk_step(__u32 i, void *arg)
{
	struct walk_ctx *c = arg;
	struct path_buf *pb = path_buf(c->buf);
	if (!pb)
		return 1;
	if (c->d == c->root_d && c->vm == c->root_m)
		return 1;
	struct dentry *d = c->d;
	struct vfsmount *vm = c->vm;
	struct mount *m = c->m;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	if (d == mnt_root || d == parent) {
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);
		if (mp != m) {
			/* Cross to the mount this one sits on. */
			c->d = BPF_CORE_READ(m, mnt_mountpoint);
			c->m = mp;
			c->vm = &mp->mnt;
			return 0;
		}
		if (i == 0) {
			/* Nothing above this dentry: a pseudo file (pipe, anon
			 * inode) or a file bind-mounted on a detached mount (runc's
			 * cloned binary). Report its own name, unless it is a
			 * filesystem root ("/"). */
			struct qstr q = BPF_CORE_READ(d, d_name);
			__u32 len = q.len & 255;
			char first = 0;
			bpf_probe_read_kernel(&first, 1, q.name);
			if (len == 0 || (len == 1 && first == '/'))
				return 1;
			__u32 off = c->off - len;
			bpf_probe_read_kernel(&pb->data[off & PATH_MASK], len, q.name);
			off -= 1;
			pb->data[off & PATH_MASK] = '/';
			c->off = off;
			c->last = off + 1;
		}
		return 1;
	}
	struct qstr q = BPF_CORE_READ(d, d_name);
	__u32 len = q.len & 255;
	if (len + 1 > c->off)
		return 1;
	__u32 off = c->off - len;
	bpf_probe_read_kernel(&pb->data[off & PATH_MASK], len, q.name);
	if (c->off == PATH_END)
		c->last = off;
	off -= 1;
	pb->data[off & PATH_MASK] = '/';
	c->off = off;
	c->d = parent;
	return 0;
}

/* Write the path of `path` (a kernel `struct path *`) into path buffer
 * `buf` backwards so that it ends at PATH_END, stopping at the current
 * task's root so container processes see their own paths. */
static __always_inline bool resolve_path(__u32 buf, const struct path *path, struct resolved *r)
{
	struct path_buf *pb = path_buf(buf);
	if (!pb)
		return false;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct walk_ctx c = {
		.root_d = BPF_CORE_READ(t, fs, root.dentry),
		.root_m = BPF_CORE_READ(t, fs, root.mnt),
		.d = BPF_CORE_READ(path, dentry),
		.vm = BPF_CORE_READ(path, mnt),
		.buf = buf,
		.off = PATH_END,
		.last = PATH_END,
	};
	c.m = container_of(c.vm, struct mount, mnt);
	pb->data[PATH_END] = 0;
	bpf_loop(PATH_MAX_COMPONENTS, walk_step, &c, 0);
	__u32 off = c.off;
	if (off == PATH_END) {
		off -= 1;
		pb->data[off & PATH_MASK] = '/';
		c.last = off;
	}
	r->start = off & PATH_MASK;
	r->len = PATH_END - r->start;
	r->last = c.last;
	return true;
}

/* The `struct file *` behind fd `fd` of the current task, or NULL. */
static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd & 0xfffff]);
	return f;
}

/* Resolve a user-supplied path relative to `dirfd` (AT_FDCWD = cwd): the
 * directory is resolved backwards, then the user string is appended after
 * PATH_END. Paths are not normalised ("..", symlinks): that happens in user
 * space, which sees the same string. */
static __always_inline bool resolve_user_path(__u32 buf, int dirfd, const char *upath, struct resolved *r)
{
	struct path_buf *pb = path_buf(buf);
	char first = 0;
	if (!pb || !upath || bpf_probe_read_user(&first, 1, upath))
		return false;
	if (first == '/') {
		long n = bpf_probe_read_user_str(&pb->data[PATH_HALF], PATH_HALF, upath);
		if (n <= 1)
			return false;
		r->start = PATH_HALF;
		r->len = n - 1;
		r->last = PATH_HALF;
		return true;
	}
	const struct path *dir;
	if (dirfd == AT_FDCWD) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct fs_struct *fs = BPF_CORE_READ(t, fs);
		dir = &fs->pwd;
	} else {
		struct file *f = fd_file(dirfd);
		if (!f)
			return false;
		dir = &f->f_path;
	}
	struct resolved d;
	if (!resolve_path(buf, dir, &d))
		return false;
	/* Directory is data[d.start .. PATH_END); put '/' at PATH_END (unless the
	 * directory is "/") and the user string after it. */
	__u32 at = PATH_END;
	if (d.len > 1) {
		pb->data[PATH_END] = '/';
		at = PATH_HALF;
	}
	long n = bpf_probe_read_user_str(&pb->data[at & (PATH_BUF_SIZE / 2 - 1)], PATH_HALF, upath);
	if (n <= 1)
		return false;
	r->start = d.start;
	r->len = (at - d.start) + n - 1;
	r->last = at;
	return true;
}

/* Is the resolved path inside the file-event interest set? */
static __always_inline bool path_interesting(__u32 buf, struct resolved *r)
{
	struct path_buf *pb = path_buf(buf);
	if (!pb)
		return false;
	struct saker_prefix_key key = {};
	__u32 n = r->len < SAKER_PREFIX_MAX ? r->len : SAKER_PREFIX_MAX;
	key.prefixlen = n * 8;
	bpf_probe_read_kernel(key.data, SAKER_PREFIX_MAX, &pb->data[r->start & (PATH_BUF_SIZE / 2 - 1)]);
	struct saker_prefix_value *v = bpf_map_lookup_elem(&saker_prefixes, &key);
	if (!v)
		return false;
	if (v->flags & SAKER_PREFIX_BASENAME) {
		char name[SAKER_BASENAME_MAX] = {};
		bpf_probe_read_kernel_str(name, sizeof(name), &pb->data[r->last & (PATH_BUF_SIZE / 2 - 1)]);
		for (int i = 0; i < SAKER_BASENAME_MAX; i++) {
			if (name[i] != v->basename[i])
				return false;
			if (name[i] == 0)
				break;
		}
	}
	if (v->flags & SAKER_PREFIX_DOT_COMPONENT) {
		/* <prefix><component>/.<rest>: find the '/' after the prefix. The
		 * matched key length is not returned by LPM, so the value carries
		 * the prefix's own length. */
		char tail[SAKER_PREFIX_MAX] = {};
		__u32 from = r->start + (v->prefix_len & (SAKER_PREFIX_MAX - 1));
		bpf_probe_read_kernel(tail, sizeof(tail), &pb->data[from & (PATH_BUF_SIZE / 2 - 1)]);
		for (int i = 0; i < SAKER_PREFIX_MAX - 1; i++) {
			if (tail[i] == 0)
				return false;
			if (tail[i] == '/')
				return tail[i + 1] == '.';
		}
		return false;
	}
	return true;
}

/* Copy a resolved path into the event; returns the bytes appended. */
static __always_inline __u16 ev_path(struct ev *e, __u32 buf, struct resolved *r)
{
	struct path_buf *pb = path_buf(buf);
	if (!pb)
		return 0;
	return ev_bytes_kernel(e, &pb->data[r->start & (PATH_BUF_SIZE / 2 - 1)], r->len);
}

/* ---- per-thread stash between sys_enter and sys_exit ---- */

/* Syscall arguments saved at sys_enter, read at sys_exit. */
struct saker_stash {
	__u64 args[6];
	__u32 kind;
	__u32 old_uid;
	__u32 old_euid;
	__u32 old_gid;
	__u32 old_egid;
	__u32 _pad;
	__u64 old_cap_effective;
	__u64 old_cap_permitted;
};

/* LRU, and cleared when a thread exits: a thread killed inside a syscall
 * never reaches sys_exit, and its entry must not pin a slot forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32); /* tid */
	__type(value, struct saker_stash);
} saker_stash SEC(".maps");

/* Save the syscall's arguments (and optionally the caller's credentials)
 * for the exit hook. */
static __always_inline void stash_put(__u32 kind, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4, __u64 a5,
				      bool with_creds)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct saker_stash s = {};
	s.args[0] = a0;
	s.args[1] = a1;
	s.args[2] = a2;
	s.args[3] = a3;
	s.args[4] = a4;
	s.args[5] = a5;
	s.kind = kind;
	if (with_creds) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		const struct cred *c = BPF_CORE_READ(t, cred);
		s.old_uid = BPF_CORE_READ(c, uid.val);
		s.old_euid = BPF_CORE_READ(c, euid.val);
		s.old_gid = BPF_CORE_READ(c, gid.val);
		s.old_egid = BPF_CORE_READ(c, egid.val);
		s.old_cap_effective = BPF_CORE_READ(c, cap_effective.val);
		s.old_cap_permitted = BPF_CORE_READ(c, cap_permitted.val);
	}
	if (bpf_map_update_elem(&saker_stash, &tid, &s, BPF_ANY))
		count_loss(kind); /* the exit hook will find nothing: say so */
}

/* Save the syscall's arguments for the exit hook. */
static __always_inline void stash_args(__u32 kind, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4, __u64 a5)
{
	stash_put(kind, a0, a1, a2, a3, a4, a5, false);
}

/* The same, plus the credentials before the call (exec, setuid family):
 * the exit hook reports the transition. */
static __always_inline void stash_args_creds(__u32 kind, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4,
					     __u64 a5)
{
	stash_put(kind, a0, a1, a2, a3, a4, a5, true);
}

/* Take (look up and delete) the stash of this thread for `kind`. The copy
 * lands in `out`; returns false when there is none. */
static __always_inline bool stash_take(__u32 kind, struct saker_stash *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct saker_stash *s = bpf_map_lookup_elem(&saker_stash, &tid);
	if (!s)
		return false;
	if (s->kind != kind) {
		bpf_map_delete_elem(&saker_stash, &tid);
		return false;
	}
	__builtin_memcpy(out, s, sizeof(*out));
	bpf_map_delete_elem(&saker_stash, &tid);
	return true;
}

#endif /* SAKER_COMMON_H */
