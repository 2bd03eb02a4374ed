/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The per-thread argument stash: sys_enter saves a syscall's arguments (and
 * optionally the caller's credentials), sys_exit takes them back to report
 * the call with its result.
 * Included by common.h; not a standalone header.
 */
#ifndef SAKER_STASH_H
#define SAKER_STASH_H

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

#endif /* SAKER_STASH_H */
