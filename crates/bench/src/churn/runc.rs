//! Short-lived runc containers for the churn soak: one busybox-static rootfs,
//! read-only and shared; per container a bundle holding only `config.json`
//! (its own id and cgroup), `runc run` in the foreground — which creates the
//! container, starts it, waits for it to exit and deletes it — then the bundle
//! removed. The testkit's `Container` (a dev-only crate) builds a fresh
//! rootfs per container; the bench needs a thousand, so it keeps one.

use crate::BenchError;
use std::path::Path;
use std::process::{Command, Stdio};

/// What every container prints (and the bench checks).
const GREETING: &str = "saker-churn";

/// The shared rootfs and the `config.json` every container starts from.
pub struct Runc {
    dir: tempfile::TempDir,
    template: serde_json::Value,
    /// Prefix of every container id: the bench's pid, so runs never collide.
    prefix: String,
    next: u64,
}

impl Runc {
    /// Build the rootfs and the spec template. Needs `runc` and busybox-static.
    pub fn new() -> Result<Self, BenchError> {
        let busybox =
            ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(Path::new).find(|p| p.exists()).ok_or_else(|| {
                BenchError::Runc("busybox-static is not installed (apt-get install busybox-static)".into())
            })?;
        let dir = tempfile::Builder::new()
            .prefix("saker-churn-")
            .tempdir()
            .map_err(|e| BenchError::io("creating the bundle directory", e))?;
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).map_err(|e| BenchError::io("creating the rootfs", e))?;
        }
        std::fs::copy(busybox, rootfs.join("bin/busybox")).map_err(|e| BenchError::io("copying busybox", e))?;
        for applet in ["sh", "echo", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .map_err(|e| BenchError::io("linking busybox applets", e))?;
        }
        let out = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .map_err(|e| BenchError::io("running `runc spec` (is runc installed?)", e))?;
        if !out.status.success() {
            return Err(BenchError::Runc(format!("runc spec: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        let spec_path = dir.path().join("config.json");
        let spec = std::fs::read(&spec_path).map_err(|e| BenchError::io("reading runc's spec", e))?;
        let mut template: serde_json::Value = serde_json::from_slice(&spec)?;
        template["process"]["terminal"] = false.into();
        template["process"]["args"] = serde_json::json!(["/bin/echo", GREETING]);
        template["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
        Ok(Runc { dir, template, prefix: format!("{:08x}", std::process::id()), next: 0 })
    }

    /// Run one container to completion: its id, or the reason it failed.
    pub fn run_one(&mut self) -> Result<String, BenchError> {
        self.next += 1;
        // 64 hex digits, as Docker and containerd name containers; the
        // cgroup `/<id>` is where the agent's attribution expects one.
        let id = format!("{}{:056x}", self.prefix, self.next);
        let bundle = self.dir.path().join(&id);
        let result = self.run_in(&id, &bundle);
        let _ = std::fs::remove_dir_all(&bundle);
        if result.is_err() {
            let _ = Command::new("runc").args(["delete", "--force", &id]).stderr(Stdio::null()).status();
        }
        result.map(|()| id)
    }

    fn run_in(&self, id: &str, bundle: &Path) -> Result<(), BenchError> {
        let mut spec = self.template.clone();
        spec["linux"]["cgroupsPath"] = format!("/{id}").into();
        std::fs::create_dir(bundle).map_err(|e| BenchError::io("creating a bundle", e))?;
        std::fs::write(bundle.join("config.json"), serde_json::to_vec(&spec)?)
            .map_err(|e| BenchError::io("writing a bundle's config.json", e))?;
        let out = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BenchError::io("running `runc run`", e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains(GREETING) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(BenchError::Runc(format!("{id}: {} (stdout {stdout:?}): {}", out.status, stderr.trim())));
        }
        Ok(())
    }

    /// Containers of this run that runc still knows, or whose cgroup2
    /// directory is still there (should be none).
    pub fn leftovers(&self) -> Vec<String> {
        let ours = |dir: &str| -> Vec<String> {
            let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.starts_with(&self.prefix) && name.len() == 64)
                .collect()
        };
        let mut v = ours("/run/runc");
        let unified = Path::new("/sys/fs/cgroup/unified");
        let cgroup2 = if unified.join("cgroup.procs").exists() { "/sys/fs/cgroup/unified" } else { "/sys/fs/cgroup" };
        v.extend(ours(cgroup2));
        v.sort();
        v.dedup();
        v
    }
}
