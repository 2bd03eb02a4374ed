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
}

/// What to run and how: the init script, and optionally the cgroup path,
/// OCI annotations and environment.
pub struct ContainerSpec {
    id: Option<String>,
    script: String,
    cgroup_path: Option<String>,
    annotations: Vec<(String, String)>,
    env: Vec<String>,
    host_network: bool,
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
        }
    }

    fn from_spec(spec: ContainerSpec) -> Container {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = spec.id.clone().unwrap_or_else(|| format!("saker-test-{}-{n}", std::process::id()));
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "touch", "sleep", "cat", "true", "echo", "nc", "nslookup"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet link");
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
        let annotations: serde_json::Map<String, serde_json::Value> =
            spec.annotations.into_iter().map(|(k, v)| (k, v.into())).collect();
        cfg["annotations"] = annotations.into();
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write config.json");
        Container { id, cgroup_path, dir, child: None }
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
    }
}

fn busybox() -> &'static Path {
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
