// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Process area: exec (and failed exec attempts), fork, exit, and credential
 * changes (setuid/setgid families, capset).
 *
 * exec is split across three hooks: sys_enter_execve(at) saves the caller's
 * credentials and arguments; tp_btf/sched_process_exec reports a successful
 * exec from the new image (resolved executable, argv from the new mm, cwd,
 * LD_* values from the new environment); sys_exit_execve(at) reports only
 * failures, from the saved arguments.
 */
#include "common.h"

#define ENV_SCAN_MAX 128
#define ARGV_FAILED_MAX 32

SEC("tracepoint/syscalls/sys_enter_execve")
int process_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_PROCESS_EXEC))
		return 0;
	stash_args_creds(SAKER_KIND_PROCESS_EXEC, AT_FDCWD, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int process_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_PROCESS_EXEC))
		return 0;
	stash_args_creds(SAKER_KIND_PROCESS_EXEC, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4], 0);
	return 0;
}

/* Append the user argv array (for failed execs, where there is no new mm):
 * NUL-separated, like the argument block of a running process. */
static __always_inline __u16 ev_argv_array(struct ev *e, const char *const *argv, __u32 *argc)
{
	__u32 start = e->off;
	__u32 n = 0;
	for (int i = 0; i < ARGV_FAILED_MAX; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (e->off > EV_OFF_MASK)
			break;
		long len = bpf_probe_read_user_str(e->buf + (e->off & EV_OFF_MASK), SAKER_STR_MAX, arg);
		if (len <= 0)
			break;
		e->off += len; /* keep the NUL as separator */
		n++;
	}
	*argc = n;
	return e->off - start;
}

static __always_inline int exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_PROCESS_EXEC, &s))
		return 0;
	if (ctx->ret >= 0)
		return 0; /* reported by sched_process_exec */

	struct ev e;
	if (!ev_start(&e, SAKER_KIND_PROCESS_EXEC, sizeof(struct saker_exec)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_exec *x = ev_body(&e, struct saker_exec);
	x->old_uid = s.old_uid;
	x->old_euid = s.old_euid;
	x->old_gid = s.old_gid;
	x->old_egid = s.old_egid;

	struct resolved r;
	if (resolve_user_path(0, (int)s.args[0], (const char *)s.args[1], &r))
		x->filename_len = ev_path(&e, 0, &r);
	__u32 argc = 0;
	x->argv_len = ev_argv_array(&e, (const char *const *)s.args[2], &argc);
	x->argc = argc;
	ev_submit(&e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int process_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return exit_execve(ctx);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int process_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return exit_execve(ctx);
}

/* Find `NAME=` in the new environment; returns the value's user address. */
struct env_scan {
	const char *ld_preload;
	const char *ld_library_path;
	const char *ecs_metadata_uri;
};

struct env_walk {
	unsigned long at;
	unsigned long end;
	struct env_scan found;
};

/* One environment string per call; bpf_loop verifies this once instead of
 * once per string. Returns 1 to stop. */
static long env_step(__u32 i, void *arg)
{
	struct env_walk *w = arg;
	struct path_buf *pb = path_buf(1);
	if (!pb || w->at >= w->end)
		return 1;
	long n = bpf_probe_read_user_str(pb->data, PATH_HALF, (const void *)w->at);
	if (n <= 0)
		return 1;
	if (pb->data[0] == 'L' && pb->data[1] == 'D' && pb->data[2] == '_') {
		if (n > 11 && bytes_eq(pb->data, "LD_PRELOAD=", 11))
			w->found.ld_preload = (const char *)w->at + 11;
		else if (n > 16 && bytes_eq(pb->data, "LD_LIBRARY_PATH=", 16))
			w->found.ld_library_path = (const char *)w->at + 16;
	} else if (pb->data[0] == 'E' && pb->data[1] == 'C' && pb->data[2] == 'S' && n > 30 &&
		   bytes_eq(pb->data, "ECS_CONTAINER_METADATA_URI_V4=", 30)) {
		w->found.ecs_metadata_uri = (const char *)w->at + 30;
	}
	w->at += n;
	return 0;
}

static __always_inline void scan_env(struct mm_struct *mm, struct env_scan *out)
{
	struct env_walk w = {
		.at = BPF_CORE_READ(mm, env_start),
		.end = BPF_CORE_READ(mm, env_end),
	};
	bpf_loop(ENV_SCAN_MAX, env_step, &w, 0);
	*out = w.found;
}

/* Which of the new image's standard streams (fds 0..2) are sockets, and
 * for stdin its family, protocol and peer. A shell reading a TCP socket is
 * what a reverse shell looks like; daemons (systemd's journal stream on
 * stdout/stderr, inetd-style services) have sockets too, so the family and
 * peer let a detector tell them apart. Close-on-exec fds are already closed
 * here, so this is what the new program really has. */
static __always_inline void stdio_sockets(struct task_struct *p, struct saker_exec *x)
{
	struct fdtable *fdt = BPF_CORE_READ(p, files, fdt);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	if (!fds)
		return;
	for (int i = 0; i < 3; i++) {
		struct file *f = NULL;
		if ((unsigned int)i >= max_fds || bpf_core_read(&f, sizeof(f), &fds[i]))
			break;
		if (!file_is_sock(f))
			continue;
		x->flags |= SAKER_EXE_STDIN_SOCKET << i;
		if (i != 0)
			continue;
		struct sock *sk = file_sock(f);
		if (!sk)
			continue;
		x->stdin_family = BPF_CORE_READ(sk, __sk_common.skc_family);
		x->stdin_protocol = BPF_CORE_READ(sk, sk_protocol);
		sock_peer(sk, x->stdin_family, x->stdin_raddr, &x->stdin_rport);
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (skip_event(SAKER_KIND_PROCESS_EXEC))
		return 0;

	struct saker_stash s = {};
	__u32 old_tid = old_pid;
	struct saker_stash *sp = bpf_map_lookup_elem(&saker_stash, &old_tid);
	if (sp) {
		__builtin_memcpy(&s, sp, sizeof(s));
		bpf_map_delete_elem(&saker_stash, &old_tid);
	}

	struct ev e;
	if (!ev_start(&e, SAKER_KIND_PROCESS_EXEC, sizeof(struct saker_exec)))
		return 0;
	struct saker_exec *x = ev_body(&e, struct saker_exec);
	if (sp) {
		x->old_uid = s.old_uid;
		x->old_euid = s.old_euid;
		x->old_gid = s.old_gid;
		x->old_egid = s.old_egid;
	} else {
		x->old_uid = x->old_euid = x->old_gid = x->old_egid = (__u32)-1;
	}

	/* The file actually executed (the interpreter, for scripts). */
	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	x->exe_ino = BPF_CORE_READ(inode, i_ino);
	x->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	if (mode & S_ISUID)
		x->flags |= SAKER_EXE_SETUID;
	if (mode & S_ISGID)
		x->flags |= SAKER_EXE_SETGID;
	if (BPF_CORE_READ(inode, __i_nlink) == 0)
		x->flags |= SAKER_EXE_DELETED;
	if (inode_upper_layer(inode))
		x->flags |= SAKER_EXE_UPPER_LAYER;
	/* A detector compares it with the container's start: a binary modified
	 * after the container started was not in the image. */
	if (inode_mtime_ns(inode, &x->exe_mtime_ns))
		x->flags |= SAKER_EXE_MTIME;
	/* The mtime can be backdated (`touch -d`); the ctime cannot. */
	if (inode_ctime_ns(inode, &x->exe_ctime_ns))
		x->flags |= SAKER_EXE_CTIME;
	stdio_sockets(p, x);

	x->filename_len = ev_str_kernel(&e, BPF_CORE_READ(bprm, filename));

	struct path_buf *pb = path_buf(0);
	struct resolved r;
	if (pb && resolve_path(0, &file->f_path, &r)) {
		char head[6] = {};
		bpf_probe_read_kernel(head, sizeof(head), &pb->data[r.last & PATH_MASK]);
		if (bytes_eq(head, "memfd:", 6))
			x->flags |= SAKER_EXE_MEMFD;
		x->exe_len = ev_path(&e, 0, &r);
	}

	const char *interp = BPF_CORE_READ(bprm, interp);
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (interp != filename)
		x->interp_len = ev_str_kernel(&e, interp);

	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	unsigned long arg_len = arg_end - arg_start;
	if (arg_len > SAKER_STR_MAX - 1) {
		arg_len = SAKER_STR_MAX - 1;
		x->flags |= SAKER_EXE_ARGV_TRUNCATED;
	}
	x->argv_len = ev_bytes_user(&e, (const void *)arg_start, arg_len);
	x->argc = BPF_CORE_READ(bprm, argc);

	struct fs_struct *fs = BPF_CORE_READ(p, fs);
	if (resolve_path(0, &fs->pwd, &r)) {
		x->cwd_len = ev_path(&e, 0, &r);
		/* A directory is never a pseudo file: a cwd the walk could not
		 * connect to the root is outside it (CVE-2024-21626). */
		if (r.outside_root)
			x->flags |= SAKER_EXE_CWD_OUTSIDE_ROOT;
	}

	struct env_scan env = {};
	scan_env(mm, &env);
	x->ld_preload_len = ev_str_user(&e, env.ld_preload);
	x->ld_library_path_len = ev_str_user(&e, env.ld_library_path);
	x->ecs_metadata_uri_len = ev_str_user(&e, env.ecs_metadata_uri);

	e.wake = first_in_cgroup(ev_header(&e)->cgroup_id);
	ev_submit(&e);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (skip_event(SAKER_KIND_PROCESS_FORK))
		return 0;
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0; /* a new thread, not a new process */

	struct ev e;
	if (!ev_start(&e, SAKER_KIND_PROCESS_FORK, sizeof(struct saker_fork)))
		return 0;
	struct saker_fork *f = ev_body(&e, struct saker_fork);
	f->child_pid = BPF_CORE_READ(child, tgid);
	f->child_start_ns = BPF_CORE_READ(child, start_boottime);
	struct pid *cp = BPF_CORE_READ(child, thread_pid);
	unsigned int level = BPF_CORE_READ(cp, level);
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), &cp->numbers[level & 31]);
	f->child_ns_pid = up.nr;
	ev_submit(&e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *p, bool group_dead)
{
	/* Any exiting thread: drop an argument stash it may have left behind
	 * (killed inside a syscall, it never reached sys_exit). */
	__u32 tid = BPF_CORE_READ(p, pid);
	bpf_map_delete_elem(&saker_stash, &tid);
	if (!group_dead || skip_event(SAKER_KIND_PROCESS_EXIT))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_PROCESS_EXIT, sizeof(struct saker_exit)))
		return 0;
	struct saker_exit *x = ev_body(&e, struct saker_exit);
	int code = BPF_CORE_READ(p, exit_code);
	int group_code = BPF_CORE_READ(p, signal, group_exit_code);
	x->exit_code = group_code ? group_code : code;
	ev_submit(&e);
	return 0;
}

/* ---- credential changes ---- */

static __always_inline int cred_exit(struct trace_event_raw_sys_exit *ctx, __u32 which)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_PROCESS_CRED, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_PROCESS_CRED, sizeof(struct saker_cred)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_cred *c = ev_body(&e, struct saker_cred);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	c->syscall = which;
	c->args[0] = s.args[0];
	c->args[1] = s.args[1];
	c->args[2] = s.args[2];
	c->old_uid = s.old_uid;
	c->old_euid = s.old_euid;
	c->old_gid = s.old_gid;
	c->old_egid = s.old_egid;
	c->old_cap_effective = s.old_cap_effective;
	c->old_cap_permitted = s.old_cap_permitted;
	c->new_cap_effective = BPF_CORE_READ(t, cred, cap_effective.val);
	c->new_cap_permitted = BPF_CORE_READ(t, cred, cap_permitted.val);
	ev_submit(&e);
	return 0;
}

/* A tracepoint program may not read past the tracepoint's record: a
 * one-argument syscall's sys_enter has no args[1], and reading it makes the
 * attach fail (EACCES). So the hooks read exactly `nargs` arguments. */
#define CRED_ARG(ctx, n, i) ((n) > (i) ? (ctx)->args[(i)] : 0)
#define CRED_HOOKS(name, which, nargs)                                                             \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                                 \
	int process_enter_##name(struct trace_event_raw_sys_enter *ctx)                             \
	{                                                                                           \
		if (skip_event(SAKER_KIND_PROCESS_CRED))                                            \
			return 0;                                                                   \
		stash_args_creds(SAKER_KIND_PROCESS_CRED, CRED_ARG(ctx, nargs, 0), CRED_ARG(ctx, nargs, 1), \
			   CRED_ARG(ctx, nargs, 2), 0, 0, 0);                                       \
		return 0;                                                                           \
	}                                                                                           \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                  \
	int process_exit_##name(struct trace_event_raw_sys_exit *ctx)                               \
	{                                                                                           \
		return cred_exit(ctx, which);                                                       \
	}

CRED_HOOKS(setuid, SAKER_CRED_SETUID, 1)
CRED_HOOKS(setreuid, SAKER_CRED_SETREUID, 2)
CRED_HOOKS(setresuid, SAKER_CRED_SETRESUID, 3)
CRED_HOOKS(setfsuid, SAKER_CRED_SETFSUID, 1)
CRED_HOOKS(setgid, SAKER_CRED_SETGID, 1)
CRED_HOOKS(setregid, SAKER_CRED_SETREGID, 2)
CRED_HOOKS(setresgid, SAKER_CRED_SETRESGID, 3)
CRED_HOOKS(setfsgid, SAKER_CRED_SETFSGID, 1)
CRED_HOOKS(capset, SAKER_CRED_CAPSET, 2)

/* ---- cgroup creation (for attribution) ---- */

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(process_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	/* Only the cgroup2 hierarchy (hierarchy id 0): its ids are the ones
	 * events carry. Not subject to the self-filter or the task scope:
	 * attribution needs every container's cgroup. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	struct saker_config *cfg = saker_cfg();
	if (!cfg || !(cfg->kind_mask & (1ULL << SAKER_KIND_CGROUP_MKDIR)))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_CGROUP_MKDIR, sizeof(struct saker_cgroup)))
		return 0;
	struct saker_cgroup *c = ev_body(&e, struct saker_cgroup);
	c->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	c->level = BPF_CORE_READ(cgrp, level);
	c->path_len = ev_str_kernel(&e, path);
	ev_submit(&e);
	return 0;
}
