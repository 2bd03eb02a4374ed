// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Net area: connect, accept/accept4 and listen, from syscall tracepoints.
 *
 * sys_enter stashes the arguments; sys_exit reports the call with its result
 * (failures too). The socket behind the fd gives family, protocol, type and
 * the local address; connect's destination comes from the caller's sockaddr
 * (so refused or in-progress connects still name their target), accept's
 * peer from the new socket. Addresses are in network byte order (IPv4 in the
 * first 4 bytes), ports in host order. Unix sockets carry their path as the
 * string; abstract names (leading NUL) are reported with a leading '@'.
 */
#include "common.h"

#define UNIX_PATH_MAX 108
#define SUN_PATH_OFF 2 /* offsetof(struct sockaddr_un, sun_path) */

/* The socket behind fd `fd` of the current task, or NULL (not a socket). */
static __always_inline struct sock *fd_sock(int fd)
{
	return file_sock(fd_file(fd));
}

/* Family, protocol, type and the local address of `sk`; returns its family. */
static __always_inline __u16 net_local(struct saker_net *n, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n->family = family;
	n->protocol = BPF_CORE_READ(sk, sk_protocol);
	n->sock_type = BPF_CORE_READ(sk, sk_type);
	if (family == AF_INET) {
		bpf_core_read(n->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		n->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	} else if (family == AF_INET6) {
		bpf_core_read(n->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		n->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	return family;
}

/* The peer address of a connected `sk` (accept). */
static __always_inline void net_remote(struct saker_net *n, struct sock *sk, __u16 family)
{
	sock_peer(sk, family, n->raddr, &n->rport);
}

/* Append a sun_path of `len` bytes (user or kernel memory): a path up to its
 * first NUL, or an abstract name with its leading NUL shown as '@'. */
static __always_inline __u16 ev_sun_path(struct ev *e, const void *src, int len, bool user)
{
	if (!src || len <= 0 || e->off > EV_OFF_MASK)
		return 0;
	__u32 sz = len > UNIX_PATH_MAX ? UNIX_PATH_MAX : (__u32)len;
	__u8 *dst = e->buf + (e->off & EV_OFF_MASK);
	/* Keep the bound visible to the verifier (clang would fold the mask). */
	asm volatile("%0 &= 127" : "+r"(sz));
	if (sz == 0)
		return 0;
	long err = user ? bpf_probe_read_user(dst, sz, src) : bpf_probe_read_kernel(dst, sz, src);
	if (err)
		return 0;
	__u32 n = 0;
	if (dst[0] == 0) {
		if (sz == 1)
			return 0; /* unnamed */
		dst[0] = '@';
		n = sz;
	} else {
		for (n = 0; n < UNIX_PATH_MAX; n++)
			if (n >= sz || dst[n] == 0)
				break;
	}
	e->off += n;
	return n;
}

/* The name a unix socket is bound to (a listener, or an accepted socket,
 * which carries its listener's address). */
static __always_inline __u16 ev_unix_sock_path(struct ev *e, struct sock *sk)
{
	struct unix_sock *u = container_of(sk, struct unix_sock, sk);
	struct unix_address *a = BPF_CORE_READ(u, addr);
	if (!a)
		return 0;
	int len = BPF_CORE_READ(a, len) - SUN_PATH_OFF;
	return ev_sun_path(e, (const char *)&a->name[0] + SUN_PATH_OFF, len, false);
}

/* ---- connect ---- */

SEC("tracepoint/syscalls/sys_enter_connect")
int net_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_NET_CONNECT))
		return 0;
	stash_args(SAKER_KIND_NET_CONNECT, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int net_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_NET_CONNECT, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_NET_CONNECT, sizeof(struct saker_net)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_net *n = ev_body(&e, struct saker_net);

	struct sock *sk = fd_sock((int)s.args[0]);
	if (sk)
		net_local(n, sk);

	/* Destination as the caller gave it. */
	const __u8 *ua = (const __u8 *)s.args[1];
	int alen = (int)s.args[2];
	__u16 dfam = 0;
	if (ua && alen >= 2 && !bpf_probe_read_user(&dfam, sizeof(dfam), ua)) {
		if (dfam == AF_INET && alen >= 8) {
			struct sockaddr_in sin = {};
			if (!bpf_probe_read_user(&sin, 8, ua)) {
				n->family = AF_INET;
				n->rport = bpf_ntohs(sin.sin_port);
				__builtin_memcpy(n->raddr, &sin.sin_addr, 4);
			}
		} else if (dfam == AF_INET6 && alen >= 24) {
			struct sockaddr_in6 sin6 = {};
			if (!bpf_probe_read_user(&sin6, 24, ua)) {
				n->family = AF_INET6;
				n->rport = bpf_ntohs(sin6.sin6_port);
				__builtin_memcpy(n->raddr, &sin6.sin6_addr, 16);
			}
		} else if (dfam == AF_UNIX) {
			n->family = AF_UNIX;
			n->unix_path_len = ev_sun_path(&e, ua + SUN_PATH_OFF, alen - SUN_PATH_OFF, true);
		}
	}
	ev_submit(&e);
	return 0;
}

/* ---- accept, accept4 ---- */

SEC("tracepoint/syscalls/sys_enter_accept")
int net_enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_NET_ACCEPT))
		return 0;
	stash_args(SAKER_KIND_NET_ACCEPT, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int net_enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_NET_ACCEPT))
		return 0;
	stash_args(SAKER_KIND_NET_ACCEPT, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0, 0);
	return 0;
}

#define EAGAIN_ 11 /* EAGAIN; vmlinux.h carries no errno values */

static __always_inline int accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_NET_ACCEPT, &s))
		return 0;
	long ret = ctx->ret;
	/* A non-blocking server drains its accept queue until EAGAIN, every
	 * time: that failure says nothing and would flood the ring. Other
	 * failures are still reported. */
	if (ret == -EAGAIN_)
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_NET_ACCEPT, sizeof(struct saker_net)))
		return 0;
	ev_header(&e)->result = ret;
	struct saker_net *n = ev_body(&e, struct saker_net);

	/* The new socket; after a failure, what the listener tells. */
	struct sock *sk = fd_sock(ret >= 0 ? (int)ret : (int)s.args[0]);
	if (sk) {
		__u16 family = net_local(n, sk);
		if (ret >= 0)
			net_remote(n, sk, family);
		if (family == AF_UNIX)
			n->unix_path_len = ev_unix_sock_path(&e, sk);
	}
	ev_submit(&e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int net_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int net_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

/* ---- listen ---- */

SEC("tracepoint/syscalls/sys_enter_listen")
int net_enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	if (skip_event(SAKER_KIND_NET_LISTEN))
		return 0;
	stash_args(SAKER_KIND_NET_LISTEN, ctx->args[0], ctx->args[1], 0, 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int net_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	struct saker_stash s;
	if (!stash_take(SAKER_KIND_NET_LISTEN, &s))
		return 0;
	struct ev e;
	if (!ev_start(&e, SAKER_KIND_NET_LISTEN, sizeof(struct saker_net)))
		return 0;
	ev_header(&e)->result = ctx->ret;
	struct saker_net *n = ev_body(&e, struct saker_net);
	n->backlog = (__u32)s.args[1];
	/* Read at exit: listen() on an unbound socket picks the port. */
	struct sock *sk = fd_sock((int)s.args[0]);
	if (sk && net_local(n, sk) == AF_UNIX)
		n->unix_path_len = ev_unix_sock_path(&e, sk);
	ev_submit(&e);
	return 0;
}
