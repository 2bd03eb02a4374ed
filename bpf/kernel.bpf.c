// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Kernel area: operations that reach into other processes or into the
 * kernel itself — ptrace, process_vm_writev (mem.write), init_module /
 * finit_module, mount, userfaultfd, memfd_create, bpf(BPF_PROG_LOAD) — and
 * executable file mappings (library.load, mmap with PROT_EXEC).
 *
 * Every syscall is split in two: sys_enter checks the kind bit and the agent
 * self-filter, filters what it cheaply can from the raw arguments and
 * stashes them; sys_exit builds the record with the syscall's result
 * (failed attempts included). User memory (strings, iovecs, bpf_attr) is
 * read at sys_exit, after the kernel has copied it in, so its pages are
 * resident.
 *
 * Exit hooks do not call skip_event: a stash exists only when the enter hook
 * passed it, and an exit hook that left its stash behind (kind switched off
 * in between) could later pair it with another call of the same syscall.
 *
 * Not covered: the new mount API (fsopen/fsconfig/fsmount/move_mount),
 * ld.so and the main executable mapped by the kernel during execve (the exec
 * event covers those), and 32-bit (compat) syscalls, which x86 syscall
 * tracepoints do not see.
 */
#include "common.h"

#define MAP_ANONYMOUS 0x20
#define BPF_PROG_LOAD_CMD 5
#define KERNEL_IOV_MAX 8

/* The UAPI layout of union bpf_attr's BPF_PROG_LOAD part is fixed; read it
 * from user memory at these offsets (checked against vmlinux.h here). */
#define BPF_ATTR_PROG_TYPE_OFF 0
#define BPF_ATTR_INSN_CNT_OFF 4
#define BPF_ATTR_PROG_NAME_OFF 48
#define BPF_ATTR_PROG_NAME_END (BPF_ATTR_PROG_NAME_OFF + 16)
_Static_assert(__builtin_offsetof(union bpf_attr, prog_type) == BPF_ATTR_PROG_TYPE_OFF, "bpf_attr.prog_type");
_Static_assert(__builtin_offsetof(union bpf_attr, insn_cnt) == BPF_ATTR_INSN_CNT_OFF, "bpf_attr.insn_cnt");
_Static_assert(__builtin_offsetof(union bpf_attr, prog_name) == BPF_ATTR_PROG_NAME_OFF, "bpf_attr.prog_name");

/* ---- ptrace ---- */

/* Requests a debugger or tracer issues in bulk (per stop / per traced
 * syscall) that neither gain access to nor modify the tracee: not reported,
 * or strace/gdb would flood the ring. Everything else is reported: TRACEME,
 * ATTACH, SEIZE, POKE*, SET*REGS*, SETOPTIONS, DETACH, KILL, unknown ones. */
static __always_inline bool ptrace_noisy(long req)
{
	switch (req) {
	case 1:      /* PTRACE_PEEKTEXT */
	case 2:      /* PTRACE_PEEKDATA */
	case 3:      /* PTRACE_PEEKUSR */
	case 7:      /* PTRACE_CONT */
	case 9:      /* PTRACE_SINGLESTEP */
	case 12:     /* PTRACE_GETREGS */
	case 14:     /* PTRACE_GETFPREGS */
	case 18:     /* PTRACE_GETFPXREGS */
	case 24:     /* PTRACE_SYSCALL */
	case 25:     /* PTRACE_GET_THREAD_AREA */
	case 31:     /* PTRACE_SYSEMU */
	case 32:     /* PTRACE_SYSEMU_SINGLESTEP */
	case 0x4201: /* PTRACE_GETEVENTMSG */
	case 0x4202: /* PTRACE_GETSIGINFO */
	case 0x4204: /* PTRACE_GETREGSET */
	case 0x4207: /* PTRACE_INTERRUPT */
	case 0x4208: /* PTRACE_LISTEN */
	case 0x4209: /* PTRACE_PEEKSIGINFO */
	case 0x420a: /* PTRACE_GETSIGMASK */
	case 0x420e: /* PTRACE_GET_SYSCALL_INFO */
		return true;
	}
	return false;
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int kernel_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_PTRACE))
		return 0;
	long req = (long)ctx->args[0];
	if (ptrace_noisy(req))
		return 0;
	stash_args(SAKER_KIND_PTRACE, req, ctx->args[1], ctx->args[2], ctx->args[3], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int kernel_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_PTRACE, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_PTRACE, sizeof(struct saker_ptrace)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_ptrace *p = ev_body(&e, struct saker_ptrace);
	p->request = (__s64)s.args[0];
	p->target_pid = (__u32)s.args[1]; /* as given: the caller's pid namespace */
	p->addr = s.args[2];
	p->data = s.args[3];
	ev_submit(&e);
	return 0;
}

/* ---- process_vm_writev ---- */

SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int kernel_enter_process_vm_writev(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_MEM_WRITE))
		return 0;
	/* pid, local_iov, liovcnt, remote_iov, riovcnt, flags */
	stash_args(SAKER_KIND_MEM_WRITE, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4],
		   ctx->args[5]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_process_vm_writev")
int kernel_exit_process_vm_writev(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_MEM_WRITE, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_MEM_WRITE, sizeof(struct saker_mem_write)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_mem_write *m = ev_body(&e, struct saker_mem_write);
	m->method = SAKER_MEM_PROCESS_VM_WRITEV;
	m->target_pid = (__u32)s.args[0];

	/* Bytes requested: the remote iovecs' lengths (the first 8). */
	const struct iovec *riov = (const struct iovec *)s.args[3];
	__u64 cnt = s.args[4];
	__u64 total = 0;
	for (int i = 0; i < KERNEL_IOV_MAX; i++) {
		if (i >= cnt)
			break;
		__u64 len = 0;
		if (bpf_probe_read_user(&len, sizeof(len), &riov[i].iov_len))
			break;
		total += len;
	}
	m->len = total;
	ev_submit(&e);
	return 0;
}

/* ---- init_module / finit_module ---- */

/* Report a module load attempt. init_module: a0 = image, a1 = len,
 * a2 = uargs. finit_module: a0 = fd, a1 = uargs, a2 = flags. */
static __always_inline void module_emit(long result, __u32 method, __u64 a0, __u64 a1, __u64 a2)
{
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_MODULE_LOAD, sizeof(struct saker_module)))
		return;
	ev_header(&e)->result = result;
	struct saker_module *m = ev_body(&e, struct saker_module);
	m->method = method;
	if (method == SAKER_MODULE_INIT) {
		m->len = a1;
		m->args_len = ev_str_user(&e, (const void *)a2);
	} else {
		m->flags = (__u32)a2;
		/* The fd is still open: path and size of the image file. */
		struct file *f = fd_file((int)a0);
		if (f) {
			m->len = BPF_CORE_READ(f, f_inode, i_size);
			struct resolved r;
			if (resolve_path(0, &f->f_path, &r))
				m->path_len = ev_path(&e, 0, &r);
		}
		m->args_len = ev_str_user(&e, (const void *)a1);
	}
	ev_submit(&e);
}

/* These tracepoints exist only with CONFIG_MODULES; without it the
 * programs cannot attach and the loader attaches kernel_fallback_module. */

SEC("tracepoint/syscalls/sys_enter_init_module")
int kernel_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_MODULE_LOAD))
		return 0;
	/* umod, len, uargs; args[5] tells the exit hook which syscall stashed. */
	stash_args(SAKER_KIND_MODULE_LOAD, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0, SAKER_MODULE_INIT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_init_module")
int kernel_exit_init_module(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_MODULE_LOAD, &s) || s.args[5] != SAKER_MODULE_INIT)
		return 0;
	module_emit(ctx->ret, SAKER_MODULE_INIT, s.args[0], s.args[1], s.args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int kernel_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_MODULE_LOAD))
		return 0;
	/* fd, uargs, flags */
	stash_args(SAKER_KIND_MODULE_LOAD, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0, SAKER_MODULE_FINIT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int kernel_exit_finit_module(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_MODULE_LOAD, &s) || s.args[5] != SAKER_MODULE_FINIT)
		return 0;
	module_emit(ctx->ret, SAKER_MODULE_FINIT, s.args[0], s.args[1], s.args[2]);
	return 0;
}

/* Fallback for kernels built without module support: the syscalls exist
 * but have no tracepoints, and always fail with ENOSYS. A module load
 * attempt there is still worth reporting (an intruder trying a rootkit).
 * raw_tracepoint/sys_enter sees every syscall, so this costs ~150 ns per
 * syscall: the loader attaches it only when the tracepoints above are
 * missing. */
#define ENOSYS 38
#if defined(__TARGET_ARCH_x86)
#define NR_INIT_MODULE 175
#define NR_FINIT_MODULE 313
#elif defined(__TARGET_ARCH_arm64)
#define NR_INIT_MODULE 105
#define NR_FINIT_MODULE 273
#endif

SEC("raw_tracepoint/sys_enter")
int kernel_fallback_module(struct bpf_raw_tracepoint_args *ctx)
{
	long id = ctx->args[1];
	if (id != NR_INIT_MODULE && id != NR_FINIT_MODULE)
		return 0;
	if (skip_event(SAKER_KIND_MODULE_LOAD))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__u64 a0 = PT_REGS_PARM1_CORE_SYSCALL(regs);
	__u64 a1 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	__u64 a2 = PT_REGS_PARM3_CORE_SYSCALL(regs);
	module_emit(-ENOSYS, id == NR_INIT_MODULE ? SAKER_MODULE_INIT : SAKER_MODULE_FINIT, a0, a1, a2);
	return 0;
}

/* ---- mount ---- */

SEC("tracepoint/syscalls/sys_enter_mount")
int kernel_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_MOUNT))
		return 0;
	/* source, target, fstype, flags, data */
	stash_args(SAKER_KIND_MOUNT, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mount")
int kernel_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_MOUNT, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_MOUNT, sizeof(struct saker_mount)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_mount *m = ev_body(&e, struct saker_mount);
	m->flags = s.args[3];
	/* As given by the caller (target not resolved against the cwd). */
	m->source_len = ev_str_user(&e, (const void *)s.args[0]);
	m->target_len = ev_str_user(&e, (const void *)s.args[1]);
	m->fstype_len = ev_str_user(&e, (const void *)s.args[2]);
	ev_submit(&e);
	return 0;
}

/* ---- userfaultfd ---- */

SEC("tracepoint/syscalls/sys_enter_userfaultfd")
int kernel_enter_userfaultfd(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_USERFAULTFD))
		return 0;
	stash_args(SAKER_KIND_USERFAULTFD, ctx->args[0], 0, 0, 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_userfaultfd")
int kernel_exit_userfaultfd(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_USERFAULTFD, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_USERFAULTFD, sizeof(struct saker_userfaultfd)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	ev_body(&e, struct saker_userfaultfd)->flags = (__u32)s.args[0];
	ev_submit(&e);
	return 0;
}

/* ---- memfd_create ---- */

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int kernel_enter_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_MEMFD_CREATE))
		return 0;
	stash_args(SAKER_KIND_MEMFD_CREATE, ctx->args[0], ctx->args[1], 0, 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_memfd_create")
int kernel_exit_memfd_create(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_MEMFD_CREATE, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_MEMFD_CREATE, sizeof(struct saker_memfd)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_memfd *m = ev_body(&e, struct saker_memfd);
	m->flags = (__u32)s.args[1];
	/* The name as given (the kernel shows it as "memfd:<name>"). */
	m->name_len = ev_str_user(&e, (const void *)s.args[0]);
	ev_submit(&e);
	return 0;
}

/* ---- bpf(BPF_PROG_LOAD) ---- */

SEC("tracepoint/syscalls/sys_enter_bpf")
int kernel_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_BPF_LOAD))
		return 0;
	if ((int)ctx->args[0] != BPF_PROG_LOAD_CMD)
		return 0;
	/* cmd, attr, size */
	stash_args(SAKER_KIND_BPF_LOAD, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int kernel_exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_BPF_LOAD, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_BPF_LOAD, sizeof(struct saker_bpf_load)))
		return 0;
	ev_header(&e)->result = ctx->ret; /* the new program fd, or an error */
	struct saker_bpf_load *b = ev_body(&e, struct saker_bpf_load);
	const __u8 *attr = (const __u8 *)s.args[1];
	__u32 size = (__u32)s.args[2];
	/* The kernel treats bytes past `size` as zero; read only what was given. */
	if (attr && size >= BPF_ATTR_INSN_CNT_OFF + 4) {
		__u32 head[2] = {};
		if (!bpf_probe_read_user(head, sizeof(head), attr + BPF_ATTR_PROG_TYPE_OFF)) {
			b->prog_type = head[0];
			b->insn_cnt = head[1];
		}
	}
	if (attr && size >= BPF_ATTR_PROG_NAME_END)
		bpf_probe_read_user(b->prog_name, sizeof(b->prog_name), attr + BPF_ATTR_PROG_NAME_OFF);
	ev_submit(&e);
	return 0;
}

/* ---- mmap(PROT_EXEC) of a file ---- */

SEC("tracepoint/syscalls/sys_enter_mmap")
int kernel_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_LIBRARY_LOAD))
		return 0;
	/* addr, len, prot, flags, fd, off. Hot: filter on the raw arguments. */
	__u64 prot = ctx->args[2];
	__u64 flags = ctx->args[3];
	int fd = (int)ctx->args[4];
	if (!(prot & PROT_EXEC) || fd < 0 || (flags & MAP_ANONYMOUS))
		return 0;
	stash_args(SAKER_KIND_LIBRARY_LOAD, ctx->args[0], ctx->args[1], prot, flags, (__u64)fd, ctx->args[5]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int kernel_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_LIBRARY_LOAD, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_LIBRARY_LOAD, sizeof(struct saker_library)))
		return 0;
	ev_header(&e)->result = ctx->ret; /* the mapped address, or an error */
	struct saker_library *l = ev_body(&e, struct saker_library);
	l->prot = (__u32)s.args[2];
	l->mmap_flags = (__u32)s.args[3];
	/* The fd is still open at exit (barring a racing close). */
	struct file *f = fd_file((int)s.args[4]);
	if (f) {
		struct inode *inode = BPF_CORE_READ(f, f_inode);
		l->ino = BPF_CORE_READ(inode, i_ino);
		l->dev = BPF_CORE_READ(inode, i_sb, s_dev);
		/* As for exec: a library dropped after the container started. */
		if (inode_upper_layer(inode))
			l->flags |= SAKER_LIB_UPPER_LAYER;
		if (inode_mtime_ns(inode, &l->mtime_ns))
			l->flags |= SAKER_LIB_MTIME;
		if (inode_ctime_ns(inode, &l->ctime_ns))
			l->flags |= SAKER_LIB_CTIME;
		struct resolved r;
		if (resolve_path(0, &f->f_path, &r))
			l->path_len = ev_path(&e, 0, &r);
	}
	ev_submit(&e);
	return 0;
}
