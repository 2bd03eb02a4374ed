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

impl Container {
    /// Prepare a bundle whose init runs `script` with busybox sh.
    pub fn new(script: &str) -> Container {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = format!("saker-test-{}-{}", std::process::id(), dir.path().file_name().unwrap().to_string_lossy());
        let id: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "touch", "sleep", "cat", "true", "echo", "nc"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet link");
        }
        let status =
            Command::new("runc").arg("spec").current_dir(dir.path()).status().expect("runc spec (is runc installed?)");
        assert!(status.success(), "runc spec failed");
        let cfg_path = dir.path().join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).expect("config.json")).expect("config.json is JSON");
        let cgroup_path = format!("/{id}");
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
        cfg["root"]["readonly"] = false.into();
        cfg["linux"]["cgroupsPath"] = cgroup_path.clone().into();
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write config.json");
        Container { id, cgroup_path, dir, child: None }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Start `runc run` in the background.
    pub fn start(&mut self) {
        let child = Command::new("runc")
            .arg("--root")
            .arg(self.state_dir())
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
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.state_dir())
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
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
