//! The resolver: cgroup id → [`Workload`] (container, ECS task, Kubernetes
//! pod), combining every source and caching the answer per cgroup id.
//!
//! Sources, cheapest first: the cgroup path ([`runtime`]), runc's state and
//! the bundle's OCI annotations ([`runc`]), the Docker Engine API
//! ([`docker`], only when its socket exists), and the ECS task metadata
//! endpoint ([`ecs_metadata`], only when the container's environment names
//! one and no ECS labels answered already). Each missing source only leaves
//! fields empty.
//!
//! A cgroup id is never reused (it is an inode of a cgroupfs directory), so
//! an answer cached per id stays right; a container whose cgroup is
//! recreated gets a new id and a fresh resolution.

use crate::cgroup::{CgroupConfig, CgroupError, CgroupResolver};
use crate::docker::DockerClient;
use crate::ecs_metadata::{TaskCache, read_metadata_uri};
use crate::identity::{ecs_from_labels, image_from_labels, image_id_from_labels, kubernetes_from_labels};
use crate::runc::RuncIndex;
use crate::runtime::{Runtime, parse_cgroup_path};
use crate::{docker, runtime};
use lru::LruCache;
use saker_model::{Container, Ecs, Kubernetes};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

/// What a process's cgroup says about its workload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Workload {
    /// The cgroup path, relative to the cgroup2 root.
    pub cgroup_path: String,
    /// Shared with every event of the container (`Arc`: no per-event copy).
    pub container: Option<Arc<Container>>,
    pub ecs: Option<Arc<Ecs>>,
    pub kubernetes: Option<Arc<Kubernetes>>,
}

/// How the resolver finds things.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    pub proc_root: PathBuf,
    /// runc state roots beyond the runtimes' defaults.
    pub runc_roots: Vec<PathBuf>,
    /// The Docker Engine API socket (used only if it exists).
    pub docker_socket: PathBuf,
    /// Podman's API socket (Docker-compatible; used only if it exists).
    pub podman_socket: PathBuf,
    /// Ask the ECS task metadata endpoint named in a container's environment.
    pub ecs_metadata: bool,
    /// Addresses the metadata endpoint may have besides the ECS agent's
    /// (169.254.170.2). The URI comes from the container's environment, which
    /// the container controls: never let it point the agent anywhere.
    pub ecs_allowed_hosts: Vec<IpAddr>,
    /// The metadata URI of the agent's own task (task-sidecar mode): used
    /// for containers whose environment cannot be read.
    pub own_metadata_uri: Option<String>,
    /// Cached answers (per cgroup id).
    pub capacity: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            proc_root: PathBuf::from("/proc"),
            runc_roots: Vec::new(),
            docker_socket: PathBuf::from(docker::DEFAULT_SOCKET),
            podman_socket: PathBuf::from(PODMAN_SOCKET),
            ecs_metadata: true,
            ecs_allowed_hosts: Vec::new(),
            own_metadata_uri: None,
            capacity: 4096,
        }
    }
}

/// A cached answer. An incomplete one — a container whose runtime state
/// was not readable yet (runc writes it only once the container's init is
/// set up, after the first events in its cgroup), or an ECS container whose
/// task could not be asked yet — is rebuilt on the container's first exec
/// and on a few later events.
struct Cached {
    workload: Option<Arc<Workload>>,
    complete: bool,
    retries_left: u8,
}

pub struct Resolver {
    cfg: ResolverConfig,
    cgroups: CgroupResolver,
    runc: RuncIndex,
    docker: Option<DockerClient>,
    podman: Option<DockerClient>,
    tasks: Option<TaskCache>,
    cache: LruCache<u64, Cached>,
    /// ECS metadata URIs seen in exec events, by cgroup id: the kernel reads
    /// them at exec, when a short-lived container's environment still exists.
    metadata_uris: LruCache<u64, String>,
    /// cgroup id → path from the kernel's cgroup creation records, in
    /// stream order: correct even after the cgroup is gone.
    known_paths: LruCache<u64, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// Podman's system service socket (rootful).
pub const PODMAN_SOCKET: &str = "/run/podman/podman.sock";

/// Later events that may rebuild an incomplete answer.
const RETRIES: u8 = 3;

impl Resolver {
    pub fn new(cfg: ResolverConfig) -> Result<Resolver, ResolverError> {
        let cgroups = CgroupResolver::new(CgroupConfig::default())?;
        let runc = RuncIndex::new(cgroups.root().to_path_buf(), cfg.runc_roots.clone());
        let docker = cfg.docker_socket.exists().then(|| DockerClient::new(&cfg.docker_socket, docker_timeout()));
        let podman = cfg.podman_socket.exists().then(|| DockerClient::new(&cfg.podman_socket, docker_timeout()));
        let tasks = cfg
            .ecs_metadata
            .then(|| cfg.ecs_allowed_hosts.iter().fold(TaskCache::default(), |cache, host| cache.allow_host(*host)));
        let cache = LruCache::new(NonZeroUsize::new(cfg.capacity).unwrap_or(NonZeroUsize::MIN));
        let metadata_uris = LruCache::new(NonZeroUsize::new(cfg.capacity).unwrap_or(NonZeroUsize::MIN));
        let known_paths = LruCache::new(NonZeroUsize::new(cfg.capacity).unwrap_or(NonZeroUsize::MIN));
        Ok(Resolver { cfg, cgroups, runc, docker, podman, tasks, cache, metadata_uris, known_paths })
    }

    /// The kernel created cgroup `cgroup_id` at `path` (relative to the
    /// cgroup2 root).
    pub fn note_cgroup(&mut self, cgroup_id: u64, path: String) {
        self.known_paths.put(cgroup_id, path);
    }

    /// An exec in cgroup `cgroup_id` carried `ECS_CONTAINER_METADATA_URI_V4`.
    pub fn note_metadata_uri(&mut self, cgroup_id: u64, uri: String) {
        if self.metadata_uris.peek(&cgroup_id) != Some(&uri) {
            self.metadata_uris.put(cgroup_id, uri);
        }
    }

    /// The workload of cgroup `cgroup_id` (`pid` is a process in it, for
    /// the fallbacks that need one; `exec` says the event is an exec, when a
    /// container's runtime state is sure to exist). `None`: a host process.
    pub fn resolve(&mut self, cgroup_id: u64, pid: u32, exec: bool) -> Option<Arc<Workload>> {
        if cgroup_id == 0 {
            return None;
        }
        let mut retries_left = RETRIES;
        if let Some(c) = self.cache.get_mut(&cgroup_id) {
            if c.complete || (!exec && c.retries_left == 0) {
                return c.workload.clone();
            }
            c.retries_left = c.retries_left.saturating_sub(1);
            retries_left = c.retries_left;
        }
        // Resolve at the first event: a short-lived container may be gone
        // soon (the cgroup resolver keeps tombstones for late events). An
        // exec is worth a walk past the rate limit: it is a container's
        // first moment with its runtime state written.
        let path = match self.known_paths.get(&cgroup_id) {
            Some(p) => p.clone(),
            None => {
                let mut entry = self.cgroups.resolve(cgroup_id);
                if entry.is_none() && exec {
                    self.cgroups.rescan();
                    entry = self.cgroups.resolve(cgroup_id);
                }
                match entry {
                    Some(entry) => entry.path,
                    None => self.cgroups.path_of_pid(pid)?, // not cached: retried on the next event
                }
            }
        };
        let (workload, complete) = match self.build(cgroup_id, &path, pid, exec) {
            Some((w, complete)) => (Some(Arc::new(w)), complete),
            None => (None, true),
        };
        self.cache.put(cgroup_id, Cached { workload: workload.clone(), complete, retries_left });
        workload
    }

    /// The workload of a cgroup path, and whether every source that should
    /// know about it answered.
    fn build(&mut self, cgroup_id: u64, path: &str, pid: u32, exec: bool) -> Option<(Workload, bool)> {
        let mut runc = self.runc.lookup(path);
        if runc.is_none() && exec {
            // The state exists by now: read it whatever the rate limit says.
            self.runc.refresh();
            runc = self.runc.lookup(path);
        }
        let parsed = parse_cgroup_path(path);
        if runc.is_none() && parsed.is_none() {
            return None; // a host cgroup (system.slice, user sessions, the root)
        }
        let labels = runc.as_ref().map(|r| r.annotations.clone()).unwrap_or_default();
        let mut from_runtime = runc.is_some();
        let runtime = parsed
            .as_ref()
            .map(|p| p.runtime)
            .filter(|r| *r != Runtime::Unknown)
            .or_else(|| runc.as_ref().and_then(|r| r.runtime_hint()));
        let id = match (&parsed, &runc) {
            (Some(p), _) => p.id.clone(),
            (None, Some(r)) => r.id.clone(),
            (None, None) => return None,
        };
        let mut container = Container {
            id,
            name: None,
            runtime: Some(runtime.and_then(|r| r.name()).unwrap_or("runc").to_owned()),
            image: image_from_labels(&labels),
            image_id: image_id_from_labels(&labels),
            labels,
        };
        // Docker's API, or podman's Docker-compatible one, for the container's
        // name, image and labels.
        let api = match runtime {
            Some(Runtime::Docker) | None => self.docker.as_ref(),
            Some(Runtime::Podman) => self.podman.as_ref(),
            _ => None,
        };
        if let Some(d) = api {
            match d.inspect(&container.id) {
                Ok(Some(info)) => {
                    from_runtime = true;
                    container.name = info.name;
                    container.image = container.image.or(info.image);
                    container.image_id = container.image_id.or(info.image_id);
                    for (k, v) in info.labels {
                        container.labels.entry(k).or_insert(v);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, id = %container.id, "Docker API lookup failed"),
            }
        }

        let mut ecs = ecs_from_labels(&container.labels);
        if ecs.is_none()
            && let Some(tasks) = &self.tasks
        {
            let uri = self
                .metadata_uris
                .get(&cgroup_id)
                .cloned()
                .or_else(|| read_metadata_uri(&self.cfg.proc_root, pid))
                .or_else(|| self.cfg.own_metadata_uri.clone());
            if let Some(task) = uri.and_then(|u| tasks.get(&u)) {
                // Only a container the task document lists belongs to the task:
                // the environment variable alone is the container's word.
                if let Some(listed) = task.container(&container.id) {
                    ecs = Some(task.ecs_for(Some(&container.id)));
                    container.name = container.name.or(listed.name);
                    container.image = container.image.or(listed.image);
                    container.image_id = container.image_id.or(listed.image_id);
                }
            }
        }
        let mut kubernetes = kubernetes_from_labels(&container.labels);
        if kubernetes.is_none()
            && let Some(uid) = parsed.as_ref().and_then(|p| p.pod_uid.clone())
        {
            kubernetes = Some(Kubernetes { pod_uid: Some(uid), ..Kubernetes::default() });
        }
        container.name = container
            .name
            .or_else(|| ecs.as_ref().and_then(|e| e.container_name.clone()))
            .or_else(|| kubernetes.as_ref().and_then(|k| k.container.clone()));
        let complete = from_runtime && (ecs.is_some() || !looks_ecs(path));
        let workload = Workload {
            cgroup_path: path.to_owned(),
            container: Some(Arc::new(container)),
            ecs: ecs.map(Arc::new),
            kubernetes: kubernetes.map(Arc::new),
        };
        Some((workload, complete))
    }
}

/// An ECS cgroup layout (`/ecs/<task>/...` or the systemd `ecstasks-` form).
fn looks_ecs(path: &str) -> bool {
    runtime::parse_cgroup_path(path).is_some_and(|p| p.ecs_task_id.is_some())
}

fn docker_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// The documented inspect shape for container `id`, as an HTTP reply.
    fn inspect_reply(id: &str) -> Vec<u8> {
        let body = serde_json::json!({
            "Id": id, "Name": "/shop-web", "Image": "sha256:5d0da3dc976460b72c77d94c8a1ad043720b0416bfc16c52c45d4847e53fadb6",
            "Config": { "Image": "docker.io/shop/web:1.4", "Labels": { "team": "payments" } }
        })
        .to_string();
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .into_bytes()
    }

    #[test]
    fn podman_container_gets_name_image_and_labels_from_its_api() {
        if !crate::test_support::privileged("creating cgroups") {
            return;
        }
        let id = format!("{:0>64}", format!("{:x}", std::process::id()));
        let cgroups = CgroupResolver::new(CgroupConfig::default()).unwrap();
        let scope =
            cgroups.root().join(format!("saker-test-{}.slice", std::process::id())).join(format!("libpod-{id}.scope"));
        std::fs::create_dir_all(&scope).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("podman.sock");
        let server = crate::test_support::unix_api_stand_in(&socket, vec![inspect_reply(&id)]);
        let cfg = ResolverConfig {
            podman_socket: socket,
            docker_socket: tmp.path().join("no-docker.sock"),
            ecs_metadata: false,
            ..ResolverConfig::default()
        };
        let mut r = Resolver::new(cfg).unwrap();
        let cgroup_id = std::fs::metadata(&scope).unwrap().ino();
        let w = r.resolve(cgroup_id, 0, true).expect("a podman container");
        let request = server.join().unwrap().remove(0);
        let c = w.container.as_ref().unwrap();
        assert_eq!(c.id, id);
        assert_eq!(c.runtime.as_deref(), Some("podman"));
        assert_eq!(c.name.as_deref(), Some("shop-web"));
        assert_eq!(c.image.as_deref(), Some("docker.io/shop/web:1.4"));
        assert!(c.image_id.as_deref().is_some_and(|i| i.starts_with("sha256:")));
        assert_eq!(c.labels.get("team").map(String::as_str), Some("payments"));
        assert!(request.starts_with(&format!("GET /containers/{id}/json")), "{request}");
        let _ = std::fs::remove_dir(&scope);
        let _ = std::fs::remove_dir(scope.parent().unwrap());
    }
}
