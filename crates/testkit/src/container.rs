//! A real runc container for tests: busybox-static rootfs built in a temp
//! dir, a fresh cgroup, run in the foreground by `runc run`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Container {
    pub id: String,
    /// The cgroup path given to runc (relative to each hierarchy's root).
    pub cgroup_path: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The overlay mounted at the bundle's rootfs (unmounted on drop).
    overlay: bool,
}

/// A change to a bundle's rootfs, given its host path.
type PrepareRootfs = Box<dyn FnOnce(&Path)>;

/// What to run and how: the init script, and optionally the cgroup path,
/// OCI annotations and environment.
pub struct ContainerSpec {
    id: Option<String>,
    script: String,
    cgroup_path: Option<String>,
    annotations: Vec<(String, String)>,
    env: Vec<String>,
    host_network: bool,
    /// Changes to the rootfs before the container starts.
    prepare: Vec<PrepareRootfs>,
    overlay: bool,
    privileged: bool,
    /// Host path → container path.
    binds: Vec<(PathBuf, String)>,
    /// Host device nodes passed in at the same path.
    devices: Vec<PathBuf>,
}

impl ContainerSpec {
    /// Share the host's network namespace (to reach a loopback server).
    pub fn host_network(mut self) -> Self {
        self.host_network = true;
        self
    }

    /// The runtime's container id (default: unique per test process). Docker
    /// and the ECS agent use 64 hex digits, the same id runc sees.
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }

    pub fn cgroup_path(mut self, path: &str) -> Self {
        self.cgroup_path = Some(path.to_owned());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Change the rootfs (given its host path) before the container starts:
    /// files the image ships, such as stand-in tools or more applet links.
    pub fn rootfs(mut self, f: impl FnOnce(&Path) + 'static) -> Self {
        self.prepare.push(Box::new(f));
        self
    }

    /// An overlayfs rootfs, as Docker's overlay2 driver makes it: the image
    /// (busybox rootfs) is the lower layer, an empty directory the upper one,
    /// so whatever the container writes lands in the upper layer.
    pub fn overlay(mut self) -> Self {
        self.overlay = true;
        self
    }

    /// Run privileged, as `docker run --privileged`: every capability, no
    /// masked or read-only /proc paths, /sys and /sys/fs/cgroup writable.
    pub fn privileged(mut self) -> Self {
        self.privileged = true;
        self
    }

    /// Bind-mount a host file or directory (a socket too) at `target`.
    pub fn bind(mut self, host: &Path, target: &str) -> Self {
        self.binds.push((host.to_path_buf(), target.to_owned()));
        self
    }

    /// Pass a host device node in at the same path, with access to it in the
    /// device cgroup, as `docker run --device`.
    pub fn device(mut self, host: &Path) -> Self {
        self.devices.push(host.to_path_buf());
        self
    }

    /// Ship `saker-trigger` in the image as `/bin/saker-trigger`, with the
    /// shared libraries it needs at their host paths.
    pub fn with_trigger(self) -> Self {
        self.rootfs(install_trigger)
    }

    /// Write the bundle (busybox rootfs + config.json).
    pub fn build(self) -> Container {
        Container::from_spec(self)
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Container {
    /// Prepare a bundle whose init runs `script` with busybox sh.
    pub fn new(script: &str) -> Container {
        Container::spec(script).build()
    }

    pub fn spec(script: &str) -> ContainerSpec {
        ContainerSpec {
            id: None,
            script: script.to_owned(),
            cgroup_path: None,
            annotations: Vec::new(),
            env: Vec::new(),
            host_network: false,
            prepare: Vec::new(),
            overlay: false,
            privileged: false,
            binds: Vec::new(),
            devices: Vec::new(),
        }
    }

    fn from_spec(spec: ContainerSpec) -> Container {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = spec.id.clone().unwrap_or_else(|| format!("saker-test-{}-{n}", std::process::id()));
        let merged = dir.path().join("rootfs");
        // With an overlay the image is the lower layer, mounted at rootfs.
        let rootfs = if spec.overlay { dir.path().join("lower") } else { merged.clone() };
        for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "touch", "sleep", "cat", "true", "echo", "nc", "nslookup"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet link");
        }
        for f in spec.prepare {
            f(&rootfs);
        }
        if spec.overlay {
            mount_overlay(dir.path(), &rootfs, &merged);
        }
        let status =
            Command::new("runc").arg("spec").current_dir(dir.path()).status().expect("runc spec (is runc installed?)");
        assert!(status.success(), "runc spec failed");
        let cfg_path = dir.path().join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).expect("config.json")).expect("config.json is JSON");
        let cgroup_path = spec.cgroup_path.unwrap_or_else(|| format!("/{id}"));
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(["/bin/sh", "-c", spec.script]);
        if let Some(env) = cfg["process"]["env"].as_array_mut() {
            env.extend(spec.env.into_iter().map(serde_json::Value::from));
        }
        cfg["root"]["readonly"] = false.into();
        if spec.host_network
            && let Some(ns) = cfg["linux"]["namespaces"].as_array_mut()
        {
            ns.retain(|n| n["type"] != "network");
        }
        cfg["linux"]["cgroupsPath"] = cgroup_path.clone().into();
        if spec.privileged {
            make_privileged(&mut cfg);
        }
        for (host, target) in &spec.binds {
            if let Some(m) = cfg["mounts"].as_array_mut() {
                m.push(serde_json::json!({
                    "destination": target, "type": "bind", "source": host, "options": ["bind", "rw"],
                }));
            }
        }
        for dev in &spec.devices {
            add_device(&mut cfg, dev);
        }
        let annotations: serde_json::Map<String, serde_json::Value> =
            spec.annotations.into_iter().map(|(k, v)| (k, v.into())).collect();
        cfg["annotations"] = annotations.into();
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write config.json");
        Container { id, cgroup_path, dir, child: None, overlay: spec.overlay }
    }

    /// Start `runc run` in the background.
    pub fn start(&mut self) {
        // The default state root (/run/runc), as a real host has it: the
        // agent reads container state from there.
        let child = Command::new("runc")
            .args(["run", &self.id])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runc run");
        self.child = Some(child);
    }

    /// The container's cgroup v2 id (inode of its cgroup2 directory), read
    /// while it runs.
    pub fn wait_cgroup_id(&self) -> u64 {
        let dir = cgroup2_root().join(self.cgroup_path.trim_start_matches('/'));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(m) = std::fs::metadata(&dir) {
                return m.ino();
            }
            assert!(Instant::now() < deadline, "cgroup {} never appeared", dir.display());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The container's cgroup2 directory (host path).
    pub fn cgroup2_dir(&self) -> PathBuf {
        cgroup2_root().join(self.cgroup_path.trim_start_matches('/'))
    }

    /// The host pid of the container's init, once runc reports it running
    /// (to enter the container the way `runc exec` does).
    pub fn wait_running_pid(&self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out =
                Command::new("runc").args(["state", &self.id]).stderr(Stdio::null()).output().expect("runc state");
            if let Ok(state) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                && state["status"] == "running"
                && let Some(pid) = state["pid"].as_u64().filter(|p| *p > 0)
            {
                return pid as u32;
            }
            assert!(Instant::now() < deadline, "container {} never ran", self.id);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The overlay's upper layer (what the container wrote), with
    /// [`ContainerSpec::overlay`].
    pub fn upper_dir(&self) -> Option<PathBuf> {
        self.overlay.then(|| self.dir.path().join("upper"))
    }

    /// Wait for the container to exit; returns its stdout.
    pub fn wait(&mut self) -> String {
        let child = self.child.take().expect("started");
        let out = child.wait_with_output().expect("runc run output");
        assert!(out.status.success(), "runc run failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("runc").args(["delete", "--force", &self.id]).stderr(Stdio::null()).status();
        if self.overlay {
            let _ = Command::new("umount").arg(self.dir.path().join("rootfs")).stderr(Stdio::null()).status();
        }
        // Parent cgroups (`/ecs/<task>`) are left in place: a task's next
        // container joins the same parent, and a recreated parent would get a
        // new cgroup id (the sidecar's kernel scope filter is keyed on it).
    }
}

/// Mount `lower` + an empty upper layer at `merged`.
fn mount_overlay(bundle: &Path, lower: &Path, merged: &Path) {
    let (upper, work) = (bundle.join("upper"), bundle.join("work"));
    for d in [&upper, &work, &merged.to_path_buf()] {
        std::fs::create_dir_all(d).expect("overlay dir");
    }
    let opts = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(merged)
        .status()
        .expect("mount overlay");
    assert!(status.success(), "mounting the overlay rootfs failed ({opts})");
}

/// Every capability, nothing masked, /sys and the cgroup tree writable.
fn make_privileged(cfg: &mut serde_json::Value) {
    // In capability-number order (0 to 37).
    const CAPS: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
    ];
    // Docker's "every capability" is every one the host's bounding set has
    // (a VM or outer container may lack some; runc refuses those).
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_owned())))
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(u64::MAX);
    let caps: Vec<&str> = CAPS.iter().enumerate().filter(|(n, _)| bounding & (1 << n) != 0).map(|(_, c)| *c).collect();
    for set in ["bounding", "effective", "permitted"] {
        cfg["process"]["capabilities"][set] = serde_json::json!(caps);
    }
    cfg["linux"]["maskedPaths"] = serde_json::json!([]);
    cfg["linux"]["readonlyPaths"] = serde_json::json!([]);
    if let Some(mounts) = cfg["mounts"].as_array_mut() {
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup") {
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| o != "ro");
            }
        }
    }
}

/// The device node at `host`, at the same path in the container, readable,
/// writable and mknod-able in its device cgroup.
fn add_device(cfg: &mut serde_json::Value, host: &Path) {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(host).expect("device node");
    let kind = if meta.file_type().is_block_device() { "b" } else { "c" };
    let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
    let node = serde_json::json!({
        "path": host, "type": kind, "major": major, "minor": minor, "fileMode": 0o660, "uid": 0, "gid": 0,
    });
    let rule = serde_json::json!({ "allow": true, "type": kind, "major": major, "minor": minor, "access": "rwm" });
    match cfg["linux"]["devices"].as_array_mut() {
        Some(v) => v.push(node),
        None => cfg["linux"]["devices"] = serde_json::json!([node]),
    }
    if let Some(v) = cfg["linux"]["resources"]["devices"].as_array_mut() {
        v.push(rule);
    }
}

/// `saker-trigger` at /bin/saker-trigger, and each shared library `ldd` lists
/// for it at its host path (the loader at /lib64 too).
fn install_trigger(rootfs: &Path) {
    let trigger = crate::trigger_path();
    std::fs::copy(&trigger, rootfs.join("bin/saker-trigger")).expect("copy saker-trigger");
    let out = Command::new("ldd").arg(&trigger).output().expect("ldd (libc-bin) on saker-trigger");
    let listing = String::from_utf8_lossy(&out.stdout);
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or
    // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vdso has no path.
    let libs = listing.lines().filter_map(|l| {
        let l = l.split(" (0x").next()?.trim();
        let path = l.rsplit("=> ").next()?.trim();
        path.starts_with('/').then(|| PathBuf::from(path))
    });
    for lib in libs {
        let dest = rootfs.join(lib.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("library dir");
        std::fs::copy(&lib, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", lib.display()));
    }
}

/// The host's static busybox (the containers' only binary).
pub fn busybox() -> &'static Path {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static is not installed (scripts/install-deps.sh installs it)")
}

/// cgroup2 mount point: /sys/fs/cgroup/unified on hybrid hosts.
pub fn cgroup2_root() -> PathBuf {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.join("cgroup.procs").exists() { unified.to_path_buf() } else { PathBuf::from("/sys/fs/cgroup") }
}

/// A random-looking hex id of `len` digits, unique per call in this process
/// (container ids are 64, ECS task ids 32).
pub fn hex_id(len: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < len {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}
