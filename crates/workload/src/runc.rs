//! runc's own state on disk: which container owns a cgroup, with its OCI
//! annotations.
//!
//! runc keeps `<root>/<container id>/state.json` while a container exists.
//! Docker, containerd and CRI-O all run containers through runc (each with its
//! own root), so this works without any runtime API. From a state file we
//! take the container id, the cgroup (the `""` key of `cgroup_paths` is the
//! cgroup2 directory on v2 and hybrid hosts), the bundle (runc records it as
//! the `bundle=<dir>` entry of `config.labels`) and the annotations (also in
//! `config.labels` as `key=value`, and in the bundle's `config.json`).
//!
//! [`RuncIndex`] maps cgroup paths (relative to the cgroup2 root, as
//! [`crate::cgroup::CgroupResolver`] gives them) to containers. It re-reads
//! the roots on a miss, at most once per `rescan_interval`, and parses only
//! state directories it has not seen. State files are root-owned but describe
//! containers someone else configured: parsed as untrusted input.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::runtime::Runtime;

/// Where runc keeps state for the runtimes that use it: runc's default (also
/// CRI-O and podman), Docker (moby), containerd's Kubernetes and default
/// namespaces.
pub const DEFAULT_ROOTS: [&str; 4] =
    ["/run/runc", "/run/docker/runtime-runc/moby", "/run/containerd/runc/k8s.io", "/run/containerd/runc/default"];

/// Largest state.json or config.json read. Real ones are tens of KiB.
const MAX_FILE: u64 = 4 << 20;
/// Most container directories read per root.
const MAX_PER_ROOT: usize = 1 << 16;

/// Why one state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RuncError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a runc state file: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
}

/// One runc container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuncContainer {
    pub id: String,
    pub bundle: Option<PathBuf>,
    /// OCI annotations (the bundle's `config.json`, else runc's copy).
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, as runc wrote it.
    pub created: Option<String>,
    pub init_pid: Option<u32>,
    /// The state root it was found under.
    pub state_root: PathBuf,
}

impl RuncContainer {
    /// The runtime that owns this runc root, when the root says so.
    pub fn runtime_hint(&self) -> Option<Runtime> {
        if self.state_root.starts_with("/run/docker") {
            Some(Runtime::Docker)
        } else if self.state_root.starts_with("/run/containerd") {
            Some(Runtime::Containerd)
        } else {
            None
        }
    }
}

#[derive(Deserialize)]
struct State {
    id: String,
    #[serde(default)]
    init_process_pid: Option<u32>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: StateConfig,
    #[serde(default)]
    cgroup_paths: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct StateConfig {
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    cgroups: StateCgroups,
}

#[derive(Deserialize, Default)]
struct StateCgroups {
    #[serde(default)]
    path: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    scope_prefix: String,
}

#[derive(Deserialize)]
struct BundleConfig {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Parse one `state.json`: the container and its cgroup path relative to
/// `cgroup2_root` (`None` when the file does not say).
pub fn parse_state(
    json: &[u8],
    cgroup2_root: &Path,
    state_root: &Path,
) -> serde_json::Result<(RuncContainer, Option<String>)> {
    let state: State = serde_json::from_slice(json)?;
    let mut annotations = BTreeMap::new();
    let mut bundle = None;
    for label in &state.config.labels {
        let Some((k, v)) = label.split_once('=') else { continue };
        // runc appends `bundle=` after the annotations: the last one is its.
        if k == "bundle" {
            bundle = Some(PathBuf::from(v));
        } else {
            annotations.insert(k.to_owned(), v.to_owned());
        }
    }
    let cgroup = cgroup_path(&state, cgroup2_root);
    let container = RuncContainer {
        id: state.id,
        bundle,
        annotations,
        created: state.created,
        init_pid: state.init_process_pid,
        state_root: state_root.to_path_buf(),
    };
    Ok((container, cgroup))
}

fn cgroup_path(state: &State, cgroup2_root: &Path) -> Option<String> {
    // v2 / hybrid: the absolute cgroup2 directory.
    if let Some(abs) = state.cgroup_paths.get("") {
        let rel = Path::new(abs).strip_prefix(cgroup2_root).ok()?;
        return Some(format!("/{}", rel.to_str()?));
    }
    // v1 only: the configured path, the same under every hierarchy.
    let c = &state.config.cgroups;
    if c.path.starts_with('/') {
        return Some(c.path.clone());
    }
    // The systemd driver: a scope `<prefix>-<name>.scope` in slice `parent`.
    if c.name.is_empty() {
        return None;
    }
    let unit = if c.name.ends_with(".slice") || c.scope_prefix.is_empty() {
        c.name.clone()
    } else {
        format!("{}-{}.scope", c.scope_prefix, c.name)
    };
    let parent = if c.parent.is_empty() { "system.slice" } else { c.parent.as_str() };
    Some(format!("{}/{unit}", expand_slice(parent)?))
}

/// systemd nests slices by name: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`.
fn expand_slice(slice: &str) -> Option<String> {
    if slice == "-.slice" {
        return Some(String::new());
    }
    let stem = slice.strip_suffix(".slice")?;
    if stem.is_empty() || stem.contains('/') || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return None;
    }
    let mut out = String::new();
    for i in stem.match_indices('-').map(|(i, _)| i).chain([stem.len()]) {
        out.push('/');
        out.push_str(&stem[..i]);
        out.push_str(".slice");
    }
    Some(out)
}

fn read_capped(path: &Path) -> Result<Vec<u8>, RuncError> {
    let err = |source| RuncError::Read { path: path.to_path_buf(), source };
    let mut buf = Vec::new();
    std::fs::File::open(path).map_err(err)?.take(MAX_FILE).read_to_end(&mut buf).map_err(err)?;
    Ok(buf)
}

/// Read one container's state directory, with the bundle's annotations.
pub fn read_state_dir(
    dir: &Path,
    cgroup2_root: &Path,
    state_root: &Path,
) -> Result<(RuncContainer, Option<String>), RuncError> {
    let path = dir.join("state.json");
    let bytes = read_capped(&path)?;
    let (mut c, cgroup) =
        parse_state(&bytes, cgroup2_root, state_root).map_err(|source| RuncError::Json { path, source })?;
    // The bundle's config.json is the authoritative annotation set; runc's
    // copy in the labels serves when the bundle is unreadable.
    if let Some(bundle) = &c.bundle
        && let Ok(bytes) = read_capped(&bundle.join("config.json"))
        && let Ok(cfg) = serde_json::from_slice::<BundleConfig>(&bytes)
    {
        c.annotations.extend(cfg.annotations);
    }
    Ok((c, cgroup))
}

/// cgroup path → runc container, over a set of state roots.
#[derive(Debug)]
pub struct RuncIndex {
    roots: Vec<PathBuf>,
    cgroup2_root: PathBuf,
    rescan_interval: Duration,
    by_cgroup: HashMap<String, Arc<RuncContainer>>,
    /// State directories already read, with the cgroup each maps to.
    known: HashMap<PathBuf, Option<String>>,
    last_scan: Option<Instant>,
}

impl RuncIndex {
    /// The default roots plus `extra_roots`, for a host whose cgroup2
    /// hierarchy is mounted at `cgroup2_root`.
    pub fn new(cgroup2_root: PathBuf, extra_roots: Vec<PathBuf>) -> Self {
        let mut roots: Vec<PathBuf> = DEFAULT_ROOTS.iter().map(PathBuf::from).collect();
        roots.extend(extra_roots);
        Self::with_roots(cgroup2_root, roots, Duration::from_millis(100))
    }

    pub fn with_roots(cgroup2_root: PathBuf, roots: Vec<PathBuf>, rescan_interval: Duration) -> Self {
        RuncIndex {
            roots,
            cgroup2_root,
            rescan_interval,
            by_cgroup: HashMap::new(),
            known: HashMap::new(),
            last_scan: None,
        }
    }

    /// The container whose cgroup is `cgroup_path` (relative to the cgroup2
    /// root). A miss re-reads the roots unless that happened recently.
    pub fn lookup(&mut self, cgroup_path: &str) -> Option<Arc<RuncContainer>> {
        if let Some(c) = self.by_cgroup.get(cgroup_path) {
            return Some(c.clone());
        }
        let now = Instant::now();
        if self.last_scan.is_some_and(|t| now.saturating_duration_since(t) < self.rescan_interval) {
            return None;
        }
        self.refresh();
        self.by_cgroup.get(cgroup_path).cloned()
    }

    /// Re-read the roots now: new containers are parsed, deleted ones dropped.
    pub fn refresh(&mut self) {
        self.last_scan = Some(Instant::now());
        let mut present = Vec::new();
        for root in &self.roots {
            let Ok(entries) = std::fs::read_dir(root) else { continue };
            present.extend(entries.flatten().take(MAX_PER_ROOT).map(|e| (root.clone(), e.path())));
        }
        let live: std::collections::HashSet<&PathBuf> = present.iter().map(|(_, d)| d).collect();
        let gone: Vec<PathBuf> = self.known.keys().filter(|d| !live.contains(d)).cloned().collect();
        for dir in gone {
            if let Some(Some(cgroup)) = self.known.remove(&dir) {
                self.by_cgroup.remove(&cgroup);
            }
        }
        for (root, dir) in present {
            if self.known.contains_key(&dir) {
                continue;
            }
            match read_state_dir(&dir, &self.cgroup2_root, &root) {
                Ok((c, cgroup)) => {
                    if let Some(cg) = &cgroup {
                        self.by_cgroup.insert(cg.clone(), Arc::new(c));
                    }
                    self.known.insert(dir, cgroup);
                }
                // Not recorded as known: a state file caught mid-write is
                // read again next time.
                Err(e) => tracing::debug!("runc state: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real state.json from runc 1.1.5 on a hybrid host, trimmed.
    const STATE: &str = include_str!("../tests/fixtures/runc-state-hybrid.json");

    fn state_with(f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(STATE).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn real_state_file() {
        let (c, cg) =
            parse_state(STATE.as_bytes(), Path::new("/sys/fs/cgroup/unified"), Path::new("/run/runc")).unwrap();
        assert_eq!(cg.as_deref(), Some("/saker-probe"));
        assert_eq!(c.id, "saker-probe");
        assert_eq!(c.bundle.as_deref(), Some(Path::new("/tmp/saker-runc-probe")));
        assert_eq!(c.init_pid, Some(9545));
        assert_eq!(c.created.as_deref(), Some("2026-11-28T13:37:29.563789393Z"));
        let want: BTreeMap<String, String> = [("com.amazonaws.ecs.cluster", "c1"), ("io.kubernetes.pod.name", "p")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        assert_eq!(c.annotations, want);
        assert_eq!(c.runtime_hint(), None);
    }

    #[test]
    fn cgroup_path_variants() {
        let root = Path::new("/sys/fs/cgroup");
        let parse = |json: Vec<u8>| parse_state(&json, root, Path::new("/run/docker/runtime-runc/moby")).unwrap();
        // pure v2, systemd driver
        let (c, cg) = parse(state_with(|v| {
            v["cgroup_paths"] = serde_json::json!({"": "/sys/fs/cgroup/system.slice/docker-abc.scope"});
        }));
        assert_eq!(cg.as_deref(), Some("/system.slice/docker-abc.scope"));
        assert_eq!(c.runtime_hint(), Some(Runtime::Docker));
        // a cgroup2 path outside the root we know: no claim
        let (_, cg) = parse(state_with(|v| v["cgroup_paths"] = serde_json::json!({"": "/elsewhere/x"})));
        assert_eq!(cg, None);
        // v1 only, cgroupfs driver
        let (_, cg) = parse(state_with(|v| {
            v["cgroup_paths"] = serde_json::json!({"memory": "/sys/fs/cgroup/memory/docker/abc"});
            v["config"]["cgroups"] = serde_json::json!({"path": "/docker/abc"});
        }));
        assert_eq!(cg.as_deref(), Some("/docker/abc"));
        // v1 only, systemd driver
        let (_, cg) = parse(state_with(|v| {
            v["cgroup_paths"] = serde_json::json!({});
            v["config"]["cgroups"] = serde_json::json!({
                "name": "abc", "parent": "kubepods-besteffort-podx.slice", "scope_prefix": "cri-containerd"
            });
        }));
        assert_eq!(
            cg.as_deref(),
            Some("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/cri-containerd-abc.scope")
        );
        // nothing usable
        let (_, cg) = parse(state_with(|v| {
            v["cgroup_paths"] = serde_json::json!({});
            v["config"]["cgroups"] = serde_json::json!({});
        }));
        assert_eq!(cg, None);
    }

    #[test]
    fn slices() {
        assert_eq!(expand_slice("system.slice").as_deref(), Some("/system.slice"));
        assert_eq!(expand_slice("a-b-c.slice").as_deref(), Some("/a.slice/a-b.slice/a-b-c.slice"));
        assert_eq!(expand_slice("-.slice").as_deref(), Some(""));
        for bad in ["a", ".slice", "a--b.slice", "-a.slice", "a/b.slice"] {
            assert_eq!(expand_slice(bad), None, "{bad}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in ["", "{", "[]", r#"{"id": 5}"#, r#"{"id":"x","config":{"labels":"no"}}"#] {
            assert!(parse_state(bad.as_bytes(), Path::new("/"), Path::new("/")).is_err(), "{bad}");
        }
        // odd labels are skipped, not fatal
        let (c, _) =
            parse_state(br#"{"id":"x","config":{"labels":["novalue","a=b=c"]}}"#, Path::new("/"), Path::new("/"))
                .unwrap();
        assert_eq!(c.annotations.get("a").map(String::as_str), Some("b=c"));
    }

    #[test]
    fn index_reads_roots_bundles_and_forgets_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("run/runc");
        let bundle = tmp.path().join("bundle");
        std::fs::create_dir_all(root.join("saker-probe")).unwrap();
        std::fs::create_dir_all(root.join("broken")).unwrap();
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(root.join("broken/state.json"), "{not json").unwrap();
        let bundle_s = bundle.to_str().unwrap().to_owned();
        let state = state_with(|v| {
            v["config"]["labels"] = serde_json::json!(["from=labels", format!("bundle={bundle_s}")]);
        });
        std::fs::write(root.join("saker-probe/state.json"), state).unwrap();
        std::fs::write(bundle.join("config.json"), r#"{"ociVersion":"1.0.2","annotations":{"from":"bundle","k":"v"}}"#)
            .unwrap();

        let mut idx = RuncIndex::with_roots(
            PathBuf::from("/sys/fs/cgroup/unified"),
            vec![root.clone(), tmp.path().join("missing")],
            Duration::ZERO,
        );
        let c = idx.lookup("/saker-probe").unwrap();
        assert_eq!(c.annotations.get("from").map(String::as_str), Some("bundle"));
        assert_eq!(c.annotations.get("k").map(String::as_str), Some("v"));
        assert_eq!(c.state_root, root);
        assert!(idx.lookup("/other").is_none());

        std::fs::remove_dir_all(root.join("saker-probe")).unwrap();
        idx.refresh();
        assert!(idx.lookup("/saker-probe").is_none());
    }

    #[test]
    fn misses_are_rate_limited() {
        let tmp = tempfile::tempdir().unwrap();
        let mut idx =
            RuncIndex::with_roots(PathBuf::from("/"), vec![tmp.path().to_path_buf()], Duration::from_secs(60));
        assert!(idx.lookup("/x").is_none());
        let first = idx.last_scan;
        assert!(idx.lookup("/y").is_none());
        assert_eq!(idx.last_scan, first);
    }

    /// A real runc container, found by its cgroup (via the cgroup id, as the
    /// agent sees it) with its annotations.
    #[test]
    fn live_runc_container() {
        if !crate::test_support::privileged("live_runc_container") {
            return;
        }
        if let Some(why) = live::unavailable() {
            panic!("live_runc_container cannot run: {why} (scripts/install-deps.sh installs runc and busybox)");
        }
        let ctr = live::Container::start(&[("com.amazonaws.ecs.cluster", "live"), ("io.kubernetes.pod.name", "p1")]);
        let mut cgroups = crate::cgroup::CgroupResolver::new(Default::default()).unwrap();
        let id = ctr.cgroup_id(cgroups.root());
        let entry = cgroups.resolve(id).expect("cgroup id resolves");
        assert_eq!(entry.path, ctr.cgroup_path);

        let mut idx = RuncIndex::new(cgroups.root().to_path_buf(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        let found = loop {
            idx.refresh();
            if let Some(c) = idx.lookup(&entry.path) {
                break c;
            }
            assert!(Instant::now() < deadline, "runc container {} not found by cgroup {}", ctr.id, entry.path);
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(found.id, ctr.id);
        assert_eq!(found.bundle.as_deref(), Some(ctr.bundle()));
        assert_eq!(found.annotations.get("com.amazonaws.ecs.cluster").map(String::as_str), Some("live"));
        assert_eq!(found.annotations.get("io.kubernetes.pod.name").map(String::as_str), Some("p1"));
        assert!(found.init_pid.is_some_and(|p| p > 1));
    }

    mod live {
        use std::os::unix::fs::MetadataExt;
        use std::path::Path;
        use std::process::{Child, Command, Stdio};
        use std::time::{Duration, Instant};

        const BUSYBOX: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

        pub fn unavailable() -> Option<String> {
            if !BUSYBOX.iter().any(|p| Path::new(p).exists()) {
                return Some("busybox-static is not installed".into());
            }
            match Command::new("runc").arg("--version").output() {
                Ok(o) if o.status.success() => None,
                _ => Some("runc is not installed".into()),
            }
        }

        pub struct Container {
            pub id: String,
            pub cgroup_path: String,
            dir: tempfile::TempDir,
            child: Child,
        }

        impl Container {
            pub fn start(annotations: &[(&str, &str)]) -> Container {
                let dir = tempfile::tempdir().unwrap();
                let id = format!("saker-workload-test-{}", std::process::id());
                let rootfs = dir.path().join("rootfs");
                for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
                    std::fs::create_dir_all(rootfs.join(d)).unwrap();
                }
                let busybox = BUSYBOX.iter().find(|p| Path::new(p).exists()).unwrap();
                std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
                std::os::unix::fs::symlink("busybox", rootfs.join("bin/sleep")).unwrap();
                assert!(Command::new("runc").arg("spec").current_dir(dir.path()).status().unwrap().success());
                let cfg_path = dir.path().join("config.json");
                let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
                let cgroup_path = format!("/{id}");
                cfg["process"]["terminal"] = false.into();
                cfg["process"]["args"] = serde_json::json!(["/bin/sleep", "60"]);
                cfg["root"]["readonly"] = false.into();
                cfg["linux"]["cgroupsPath"] = cgroup_path.clone().into();
                cfg["annotations"] = annotations.iter().map(|(k, v)| ((*k).to_owned(), serde_json::json!(v))).collect();
                std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
                let child = Command::new("runc")
                    .args(["run", &id])
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                Container { id, cgroup_path, dir, child }
            }

            pub fn bundle(&self) -> &Path {
                self.dir.path()
            }

            /// The inode of the container's cgroup2 directory, once it exists.
            pub fn cgroup_id(&self, cgroup2_root: &Path) -> u64 {
                let dir = cgroup2_root.join(self.cgroup_path.trim_start_matches('/'));
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if let Ok(m) = std::fs::metadata(&dir) {
                        return m.ino();
                    }
                    assert!(Instant::now() < deadline, "cgroup {} never appeared", dir.display());
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }

        impl Drop for Container {
            fn drop(&mut self) {
                let _ = Command::new("runc").args(["kill", &self.id, "KILL"]).stderr(Stdio::null()).status();
                let _ = self.child.kill();
                let _ = self.child.wait();
                let _ = Command::new("runc").args(["delete", "--force", &self.id]).stderr(Stdio::null()).status();
            }
        }
    }
}
