// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The floor of `saker bench` (crates/bench): the cheapest possible observer.
 * Attached to the tracepoints the sensor uses for the benchmark's workloads
 * (file opens, exec/fork/exit, connect), each program only increments one
 * per-CPU counter — no filtering, no copies, no ring buffer — so its cost
 * is what merely being attached to those hooks costs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_hits SEC(".maps");

static __always_inline int floor_hit(void)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&floor_hits, &key);
	if (n)
		*n += 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int floor_enter_openat(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_exit_openat")
int floor_exit_openat(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_enter_open")
int floor_enter_open(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_exit_open")
int floor_exit_open(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_enter_execve")
int floor_enter_execve(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_exit_execve")
int floor_exit_execve(void *ctx) { return floor_hit(); }

SEC("tp_btf/sched_process_exec")
int floor_exec(void *ctx) { return floor_hit(); }

SEC("tp_btf/sched_process_fork")
int floor_fork(void *ctx) { return floor_hit(); }

SEC("tp_btf/sched_process_exit")
int floor_exit(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_enter_connect")
int floor_enter_connect(void *ctx) { return floor_hit(); }

SEC("tracepoint/syscalls/sys_exit_connect")
int floor_exit_connect(void *ctx) { return floor_hit(); }

char LICENSE[] SEC("license") = "GPL";
