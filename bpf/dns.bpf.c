// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * DNS area: every UDP or TCP message with port 53 on either side, IPv4 and
 * IPv6, in both directions, copied from the packet (up to SAKER_DNS_MAX
 * bytes; TCP without its 2-byte length prefix).
 *
 * Packets are seen by cgroup_skb programs, which run outside the owning
 * task's context (ingress always runs in softirq; egress may run from a timer
 * or another socket's softirq). The owner is therefore recorded when the
 * socket is created: cgroup/sock_create runs in the creating task and stores
 * a prefilled event header in the socket's sk_storage; the skb programs copy
 * it and mark the record SAKER_HDR_NO_TASK. Sockets created before the sensor
 * was attached, and server-side TCP sockets (made by the kernel at accept),
 * have no owner: their records carry pid 0 and an empty comm, with the
 * socket's cgroup id.
 *
 * Records are built straight in the ring buffer (fixed-size reservation,
 * header.size = the bytes used) instead of in a per-CPU scratch buffer: an
 * egress program running in task context can be interrupted by an ingress
 * one in softirq on the same CPU, and they would share the scratch.
 */
#include "common.h"
#include <bpf/bpf_endian.h>

#define DNS_PORT 53
#define DNS_HDR_LEN 12
#define DNS_BODY_OFF (sizeof(struct saker_header))
#define DNS_PAYLOAD_OFF (sizeof(struct saker_header) + sizeof(struct saker_dns))
#define DNS_RECORD_MAX (DNS_PAYLOAD_OFF + SAKER_DNS_MAX)
#define IP_FRAG_OFFSET_MASK 0x1fff

_Static_assert(SAKER_DNS_MAX == 512, "dns_skb's length mask assumes 512");

/* Owner of an inet socket: the event header of its creating task, filled at
 * cgroup/sock_create (ts_ns, kind, size, flags, cpu are set per record). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct saker_header);
} saker_sk_owner SEC(".maps");

SEC("cgroup/sock_create")
int dns_sock_create(struct bpf_sock *sk)
{
	/* Stored whatever the kind mask says: the mask may change while the
	 * socket lives, and the agent's own sockets must be recognisable. */
	if (sk->family != AF_INET && sk->family != AF_INET6)
		return 1;
	if (sk->protocol != IPPROTO_UDP && sk->protocol != IPPROTO_TCP)
		return 1;
	struct saker_header *h = bpf_sk_storage_get(&saker_sk_owner, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (h)
		fill_header(h, SAKER_KIND_DNS);
	return 1; /* allow */
}

/* Where the DNS message sits in a packet. */
struct dns_pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 off;  /* payload offset from the network header */
	__u32 len;  /* payload bytes to copy */
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 protocol;
};

/* Parse IPv4/IPv6 + UDP/TCP; true when the packet carries a DNS message. */
static __always_inline bool dns_parse(struct __sk_buff *skb, struct dns_pkt *p)
{
	__u8 vhl;
	__u32 l4;
	if (bpf_skb_load_bytes(skb, 0, &vhl, 1))
		return false;
	if ((vhl >> 4) == 4) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return false;
		if (ip.frag_off & bpf_htons(IP_FRAG_OFFSET_MASK))
			return false; /* not the first fragment: no L4 header */
		l4 = (vhl & 0xf) * 4;
		if (l4 < sizeof(ip))
			return false;
		p->family = AF_INET;
		p->protocol = ip.protocol;
		__builtin_memcpy(p->saddr, &ip.saddr, 4);
		__builtin_memcpy(p->daddr, &ip.daddr, 4);
	} else if ((vhl >> 4) == 6) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return false;
		/* Extension headers are not walked: DNS does not use them. */
		l4 = sizeof(ip6);
		p->family = AF_INET6;
		p->protocol = ip6.nexthdr;
		__builtin_memcpy(p->saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->daddr, &ip6.daddr, 16);
	} else {
		return false;
	}

	__u16 ports[2];
	__u32 off;
	if (p->protocol == IPPROTO_UDP) {
		off = l4 + 8;
	} else if (p->protocol == IPPROTO_TCP) {
		__u8 doff;
		if (bpf_skb_load_bytes(skb, l4 + 12, &doff, 1))
			return false;
		off = l4 + (doff >> 4) * 4;
	} else {
		return false;
	}
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return false;
	p->sport = bpf_ntohs(ports[0]);
	p->dport = bpf_ntohs(ports[1]);
	if (p->sport != DNS_PORT && p->dport != DNS_PORT)
		return false;
	if (skb->len <= off)
		return false; /* no payload (TCP handshake, ACKs) */
	__u32 len = skb->len - off;

	if (p->protocol == IPPROTO_TCP) {
		/* A segment starting a message: 2-byte length, then the message.
		 * Continuation segments of messages longer than one segment are
		 * not followed; their first bytes rarely pass the checks below. */
		__u16 mlen;
		if (len <= 2 || bpf_skb_load_bytes(skb, off, &mlen, sizeof(mlen)))
			return false;
		mlen = bpf_ntohs(mlen);
		off += 2;
		len -= 2;
		if (mlen < len)
			len = mlen; /* several messages in one segment: the first */
	}
	if (len < DNS_HDR_LEN)
		return false;
	if (len > SAKER_DNS_MAX)
		len = SAKER_DNS_MAX;
	p->off = off;
	p->len = len;
	return true;
}

static __always_inline int dns_skb(struct __sk_buff *skb, __u8 ingress)
{
	/* No task here: the kind bit is checked directly, and the agent is
	 * recognised by the socket's owner. */
	struct saker_config *cfg = saker_cfg();
	if (!cfg || !(cfg->kind_mask & (1ULL << SAKER_KIND_DNS)))
		return 1;
	if (cfg->scoped && out_of_scope(bpf_skb_cgroup_id(skb), bpf_skb_ancestor_cgroup_id(skb, cfg->scope_level)))
		return 1;

	/* Cheap pre-filter from the socket, before touching the packet: a
	 * connected socket whose ports are both not 53 carries no DNS. An
	 * unconnected one (remote port 0: a UDP client using sendto) is parsed. */
	__u32 sk_lport = skb->local_port;             /* host order */
	__u32 sk_rport = bpf_ntohl(skb->remote_port); /* network order in the ctx */
	if (sk_lport != DNS_PORT && sk_rport != DNS_PORT && sk_rport != 0)
		return 1;

	struct dns_pkt p = {};
	if (!dns_parse(skb, &p))
		return 1;

	struct saker_header *owner = NULL;
	struct bpf_sock *sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		owner = bpf_sk_storage_get(&saker_sk_owner, sk, 0, 0);
	if (owner && owner->pid == cfg->agent_tgid)
		return 1;

	__u8 *rec = bpf_ringbuf_reserve(&saker_events, DNS_RECORD_MAX, 0);
	if (!rec) {
		count_loss(SAKER_KIND_DNS);
		return 1;
	}
	struct saker_header *h = (struct saker_header *)rec;
	if (owner)
		__builtin_memcpy(h, owner, sizeof(*h));
	else
		__builtin_memset(h, 0, sizeof(*h));

	/* p.len is in [DNS_HDR_LEN, SAKER_DNS_MAX]; restate that as [1, 512] in
	 * a form clang cannot fold away, for the verifier. */
	__u32 len = p.len - 1;
	asm volatile("%0 &= 511" : "+r"(len));
	len += 1;
	if (bpf_skb_load_bytes(skb, p.off, rec + DNS_PAYLOAD_OFF, len)) {
		bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
		return 1;
	}

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_skb_cgroup_id(skb);
	h->result = 0;
	h->kind = SAKER_KIND_DNS;
	h->size = DNS_PAYLOAD_OFF + len;
	h->flags = SAKER_HDR_NO_TASK;
	h->cpu = bpf_get_smp_processor_id();
	h->_pad = 0;

	struct saker_dns *d = (struct saker_dns *)(rec + DNS_BODY_OFF);
	__builtin_memset(d, 0, sizeof(*d));
	d->family = p.family;
	d->ingress = ingress;
	d->protocol = p.protocol;
	d->payload_len = len;
	/* "local" is the socket's side: the source going out, the destination coming in. */
	if (ingress) {
		d->lport = p.dport;
		d->rport = p.sport;
		__builtin_memcpy(d->laddr, p.daddr, 16);
		__builtin_memcpy(d->raddr, p.saddr, 16);
	} else {
		d->lport = p.sport;
		d->rport = p.dport;
		__builtin_memcpy(d->laddr, p.saddr, 16);
		__builtin_memcpy(d->raddr, p.daddr, 16);
	}

	/* Same wake-up policy as ev_submit. Reserve/submit are safe from
	 * softirq (the ring's lock is taken with interrupts off). */
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&saker_events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
	return 1;
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	return dns_skb(skb, 0);
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	return dns_skb(skb, 1);
}
