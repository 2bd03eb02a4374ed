// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * File area: opens with write intent, rename, link, symlink, unlink, chmod,
 * and opens of /proc/<pid>/mem for writing (reported as mem.write).
 *
 * Every syscall is split in two: sys_enter filters what it can cheaply (kind
 * bits, self-filter, open flags) and stashes the arguments; sys_exit
 * resolves the path(s) — from the new fd's struct file for a successful open,
 * otherwise from the user strings joined to dirfd/cwd (not normalised) —
 * applies the path-interest filter and reports, failures included.
 */
#include "common.h"

#ifndef AT_REMOVEDIR
#define AT_REMOVEDIR 0x200
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#define FILE_WRITE_INTENT (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)
#define FILE_PB_MASK (PATH_BUF_SIZE / 2 - 1)

/* Skip unless at least one of two kinds is enabled (and not the agent). */
static __always_inline bool file_skip2(__u32 k1, __u32 k2)
{
	struct saker_config *cfg = saker_cfg();
	if (!cfg)
		return true;
	if (!(cfg->kind_mask & ((1ULL << (k1 & 63)) | (1ULL << (k2 & 63)))))
		return true;
	return (bpf_get_current_pid_tgid() >> 32) == cfg->agent_tgid;
}

/* ---- path resolution, kept out of line so each program verifies one copy ---- */

/* Path of the file behind fd `fd` into path buffer `buf`; fills ino/dev when
 * asked. Returns 1 on success. */
static __noinline int file_resolve_fd(__u32 buf, int fd, struct resolved *r, struct saker_file *body)
{
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	if (body) {
		struct inode *inode = BPF_CORE_READ(f, f_inode);
		body->ino = BPF_CORE_READ(inode, i_ino);
		body->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	}
	return resolve_path(buf, &f->f_path, r) ? 1 : 0;
}

/* A user path relative to `dirfd` into path buffer `buf`. With AT_EMPTY_PATH
 * and an empty string the path is dirfd's own (cwd for AT_FDCWD). */
static __noinline int file_resolve_user(__u32 buf, int dirfd, const char *upath, __u32 at_flags, struct resolved *r)
{
	if (at_flags & AT_EMPTY_PATH) {
		char first = 1;
		if (upath && !bpf_probe_read_user(&first, 1, upath) && first == 0) {
			if (dirfd == AT_FDCWD) {
				struct task_struct *t = (struct task_struct *)bpf_get_current_task();
				struct fs_struct *fs = BPF_CORE_READ(t, fs);
				return resolve_path(buf, &fs->pwd, r) ? 1 : 0;
			}
			return file_resolve_fd(buf, dirfd, r, NULL);
		}
	}
	return resolve_user_path(buf, dirfd, upath, r) ? 1 : 0;
}

/* ---- /proc/<pid>/mem ---- */

/* Is the resolved path /proc/<x>/.../mem? Sets *pid to <x> when it is a
 * decimal number, the current tgid for "self"/"thread-self", else 0. */
static __noinline int proc_mem_target(__u32 buf, struct resolved *r, __u32 *pid)
{
	struct path_buf *pb = path_buf(buf);
	__u32 len = r->len;
	if (!pb || len < 11 || len >= SAKER_PREFIX_MAX)
		return 0;
	char p[SAKER_PREFIX_MAX] = {};
	bpf_probe_read_kernel(p, sizeof(p), &pb->data[r->start & FILE_PB_MASK]);
	if (!bytes_eq(p, "/proc/", 6))
		return 0;
	char tail[4] = {};
	bpf_probe_read_kernel(tail, sizeof(tail), &pb->data[(r->start + len - 4) & FILE_PB_MASK]);
	if (!bytes_eq(tail, "/mem", 4))
		return 0;

	__u32 n = 0;
	int digits = 0;
	bool number = true;
	for (int i = 6; i < 20; i++) {
		char c = p[i];
		if (c == '/' || c == 0)
			break;
		if (c < '0' || c > '9') {
			number = false;
			break;
		}
		n = n * 10 + (c - '0');
		digits++;
	}
	if (number && digits > 0)
		*pid = n;
	else if (bytes_eq(&p[6], "self/", 5) || bytes_eq(&p[6], "thread-self/", 12))
		*pid = bpf_get_current_pid_tgid() >> 32;
	else
		*pid = 0;
	return 1;
}

/* ---- write-intent opens ---- */

static __always_inline void write_enter(__u64 dirfd, __u64 upath, __u64 flags, __u64 mode)
{
	if (!(flags & FILE_WRITE_INTENT))
		return;
	if (file_skip2(SAKER_KIND_FILE_WRITE, SAKER_KIND_MEM_WRITE))
		return;
	stash_args(SAKER_KIND_FILE_WRITE, dirfd, upath, flags, mode, 0, 0);
}

static __always_inline int write_exit(long ret)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_FILE_WRITE, &s))
		return 0;

	struct saker_file fb = {};
	struct resolved r;
	int ok;
	if (ret >= 0)
		ok = file_resolve_fd(0, (int)ret, &r, &fb);
	else
		ok = file_resolve_user(0, (int)s.args[0], (const char *)s.args[1], 0, &r);
	if (!ok)
		return 0;

	struct ev e;
	__u32 pid = 0;
	if (!skip_event(SAKER_KIND_MEM_WRITE) && proc_mem_target(0, &r, &pid)) {
		if (!ev_start(&e, SAKER_KIND_MEM_WRITE, sizeof(struct saker_mem_write)))
			return 0;
		ev_header(&e)->result = ret;
		struct saker_mem_write *m = ev_body(&e, struct saker_mem_write);
		m->method = SAKER_MEM_PROC_MEM;
		m->target_pid = pid;
		m->len = 0;
		m->path_len = ev_path(&e, 0, &r);
		ev_submit(&e);
		return 0;
	}

	if (skip_event(SAKER_KIND_FILE_WRITE) || !path_interesting(0, &r))
		return 0;
	if (!ev_start(&e, SAKER_KIND_FILE_WRITE, sizeof(struct saker_file)))
		return 0;
	ev_header(&e)->result = ret;
	struct saker_file *f = ev_body(&e, struct saker_file);
	f->ino = fb.ino;
	f->dev = fb.dev;
	f->flags = (__u32)s.args[2];
	f->mode = (__u32)s.args[3];
	f->path_len = ev_path(&e, 0, &r);
	ev_submit(&e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int file_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	write_enter(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int file_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return write_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int file_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};
	if (bpf_probe_read_user(&how, sizeof(how), (const void *)ctx->args[2]))
		return 0;
	write_enter(ctx->args[0], ctx->args[1], how.flags, how.mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int file_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return write_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_open")
int file_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	write_enter((__u64)AT_FDCWD, ctx->args[0], ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int file_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return write_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int file_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	write_enter((__u64)AT_FDCWD, ctx->args[0], O_CREAT | O_WRONLY | O_TRUNC, ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_creat")
int file_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return write_exit(ctx->ret);
}

/* ---- two-path operations: rename, link ----
 * Stash: olddirfd, oldpath, newdirfd, newpath, flags. */

static __always_inline void two_enter(__u32 kind, __u64 olddfd, __u64 oldp, __u64 newdfd, __u64 newp, __u64 flags)
{
	if (skip_event(kind))
		return;
	stash_args(kind, olddfd, oldp, newdfd, newp, flags, 0);
}

static __always_inline int two_exit(__u32 kind, long ret)
{
	struct saker_stash s;
	if (!stash_take(kind, &s))
		return 0;
	/* linkat(AT_EMPTY_PATH) links the file behind olddirfd itself. */
	__u32 old_at = kind == SAKER_KIND_FILE_LINK ? (__u32)s.args[4] : 0;
	struct resolved r0 = {}, r1 = {};
	bool ok0 = file_resolve_user(0, (int)s.args[0], (const char *)s.args[1], old_at, &r0);
	bool ok1 = file_resolve_user(1, (int)s.args[2], (const char *)s.args[3], 0, &r1);
	if (!(ok0 && path_interesting(0, &r0)) && !(ok1 && path_interesting(1, &r1)))
		return 0;

	struct ev e;
	if (!ev_start(&e, kind, sizeof(struct saker_file)))
		return 0;
	ev_header(&e)->result = ret;
	struct saker_file *f = ev_body(&e, struct saker_file);
	f->flags = (__u32)s.args[4];
	if (ok0)
		f->path_len = ev_path(&e, 0, &r0);
	if (ok1)
		f->path2_len = ev_path(&e, 1, &r1);
	ev_submit(&e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_rename")
int file_enter_rename(struct trace_event_raw_sys_enter *ctx)
{
	two_enter(SAKER_KIND_FILE_RENAME, (__u64)AT_FDCWD, ctx->args[0], (__u64)AT_FDCWD, ctx->args[1], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_rename")
int file_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	return two_exit(SAKER_KIND_FILE_RENAME, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_renameat")
int file_enter_renameat(struct trace_event_raw_sys_enter *ctx)
{
	two_enter(SAKER_KIND_FILE_RENAME, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int file_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	return two_exit(SAKER_KIND_FILE_RENAME, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_renameat2")
int file_enter_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	two_enter(SAKER_KIND_FILE_RENAME, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int file_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	return two_exit(SAKER_KIND_FILE_RENAME, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_link")
int file_enter_link(struct trace_event_raw_sys_enter *ctx)
{
	two_enter(SAKER_KIND_FILE_LINK, (__u64)AT_FDCWD, ctx->args[0], (__u64)AT_FDCWD, ctx->args[1], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_link")
int file_exit_link(struct trace_event_raw_sys_exit *ctx)
{
	return two_exit(SAKER_KIND_FILE_LINK, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_linkat")
int file_enter_linkat(struct trace_event_raw_sys_enter *ctx)
{
	two_enter(SAKER_KIND_FILE_LINK, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int file_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
	return two_exit(SAKER_KIND_FILE_LINK, ctx->ret);
}

/* ---- symlink: stash newdirfd, linkpath, target ---- */

static __always_inline void symlink_enter(__u64 newdfd, __u64 linkpath, __u64 target)
{
	if (skip_event(SAKER_KIND_FILE_SYMLINK))
		return;
	stash_args(SAKER_KIND_FILE_SYMLINK, newdfd, linkpath, target, 0, 0, 0);
}

static __always_inline int symlink_exit(long ret)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_FILE_SYMLINK, &s))
		return 0;
	struct resolved r;
	if (!file_resolve_user(0, (int)s.args[0], (const char *)s.args[1], 0, &r) || !path_interesting(0, &r))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_FILE_SYMLINK, sizeof(struct saker_file)))
		return 0;
	ev_header(&e)->result = ret;
	struct saker_file *f = ev_body(&e, struct saker_file);
	f->path_len = ev_path(&e, 0, &r);
	f->path2_len = ev_str_user(&e, (const void *)s.args[2]);
	ev_submit(&e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_symlink")
int file_enter_symlink(struct trace_event_raw_sys_enter *ctx)
{
	symlink_enter((__u64)AT_FDCWD, ctx->args[1], ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int file_exit_symlink(struct trace_event_raw_sys_exit *ctx)
{
	return symlink_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_symlinkat")
int file_enter_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	symlink_enter(ctx->args[1], ctx->args[2], ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int file_exit_symlinkat(struct trace_event_raw_sys_exit *ctx)
{
	return symlink_exit(ctx->ret);
}

/* ---- one-path operations: unlink, chmod ----
 * Stash: dirfd, path (0 = the file behind dirfd, for fchmod), flags, mode. */

static __always_inline void one_enter(__u32 kind, __u64 dfd, __u64 upath, __u64 flags, __u64 mode)
{
	if (skip_event(kind))
		return;
	stash_args(kind, dfd, upath, flags, mode, 0, 0);
}

static __always_inline int one_exit(__u32 kind, long ret)
{
	struct saker_stash s;
	if (!stash_take(kind, &s))
		return 0;
	struct resolved r;
	int ok;
	if (s.args[1] == 0)
		ok = file_resolve_fd(0, (int)s.args[0], &r, NULL);
	else
		ok = file_resolve_user(0, (int)s.args[0], (const char *)s.args[1], (__u32)s.args[2], &r);
	if (!ok || !path_interesting(0, &r))
		return 0;
	struct ev e;
	if (!ev_start(&e, kind, sizeof(struct saker_file)))
		return 0;
	ev_header(&e)->result = ret;
	struct saker_file *f = ev_body(&e, struct saker_file);
	f->flags = (__u32)s.args[2];
	f->mode = (__u32)s.args[3];
	f->path_len = ev_path(&e, 0, &r);
	ev_submit(&e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlink")
int file_enter_unlink(struct trace_event_raw_sys_enter *ctx)
{
	one_enter(SAKER_KIND_FILE_UNLINK, (__u64)AT_FDCWD, ctx->args[0], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int file_exit_unlink(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_UNLINK, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int file_enter_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	/* Only AT_REMOVEDIR is valid for unlinkat; keep it out of the
	 * AT_EMPTY_PATH handling in one_exit. */
	one_enter(SAKER_KIND_FILE_UNLINK, ctx->args[0], ctx->args[1], ctx->args[2] & ~(__u64)AT_EMPTY_PATH, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int file_exit_unlinkat(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_UNLINK, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_rmdir")
int file_enter_rmdir(struct trace_event_raw_sys_enter *ctx)
{
	one_enter(SAKER_KIND_FILE_UNLINK, (__u64)AT_FDCWD, ctx->args[0], AT_REMOVEDIR, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int file_exit_rmdir(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_UNLINK, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_chmod")
int file_enter_chmod(struct trace_event_raw_sys_enter *ctx)
{
	one_enter(SAKER_KIND_FILE_CHMOD, (__u64)AT_FDCWD, ctx->args[0], 0, ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_chmod")
int file_exit_chmod(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_CHMOD, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_fchmod")
int file_enter_fchmod(struct trace_event_raw_sys_enter *ctx)
{
	one_enter(SAKER_KIND_FILE_CHMOD, ctx->args[0], 0, 0, ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fchmod")
int file_exit_fchmod(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_CHMOD, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_fchmodat")
int file_enter_fchmodat(struct trace_event_raw_sys_enter *ctx)
{
	one_enter(SAKER_KIND_FILE_CHMOD, ctx->args[0], ctx->args[1], 0, ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fchmodat")
int file_exit_fchmodat(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_CHMOD, ctx->ret);
}

/* fchmodat2 (Linux 6.6+): attaching fails on older kernels, which the loader
 * tolerates. */
SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int file_enter_fchmodat2(struct trace_event_raw_sys_enter *ctx)
{
	one_enter(SAKER_KIND_FILE_CHMOD, ctx->args[0], ctx->args[1], ctx->args[3], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fchmodat2")
int file_exit_fchmodat2(struct trace_event_raw_sys_exit *ctx)
{
	return one_exit(SAKER_KIND_FILE_CHMOD, ctx->ret);
}
