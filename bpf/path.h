/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Path resolution: kernel `struct path` and user path strings to text in a
 * per-CPU path buffer, and the path-of-interest filter (LPM trie).
 * Included by common.h; not a standalone header.
 */
#ifndef SAKER_PATH_H
#define SAKER_PATH_H

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
	/* The walk reached the top of a mount tree (a mount with no parent)
	 * without meeting the task's root: the path is not below the task's
	 * root (a directory of another mount namespace, a detached or lazily
	 * unmounted tree). Pseudo files (pipes, memfds, a file bind-mounted on a
	 * detached mount) have no path at all and are not flagged. */
	__u32 outside_root;
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
	__u32 outside_root; /* see struct resolved */
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
		/* The top of a mount tree, and the task's root was not met on
		 * the way (it is checked first). Past the first step, or for a
		 * directory at the first, the path lies outside the task's root:
		 * a cwd there is a container escape (CVE-2024-21626). */
		if (i > 0 || (BPF_CORE_READ(d, d_inode, i_mode) & S_IFMT) == S_IFDIR)
			c->outside_root = 1;
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
	r->outside_root = c.outside_root;
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
		r->outside_root = 0;
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
	r->outside_root = d.outside_root;
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

#endif /* SAKER_PATH_H */
