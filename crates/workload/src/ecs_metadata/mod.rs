//! ECS task metadata endpoint (version 4): which ECS task, and which
//! container of it, a process belongs to.
//!
//! The ECS agent injects `ECS_CONTAINER_METADATA_URI_V4` into every container
//! of a task; `GET {uri}/task` returns the task document (cluster, task ARN,
//! family, revision, launch type and one entry per container). We find the URI
//! in a container process's environment ([`read_metadata_uri`]), fetch the
//! document over plain HTTP ([`fetch_task`], with the minimal client in
//! [`http`]) and map it to the model ([`TaskMetadata::ecs_for`],
//! [`TaskMetadata::container`]). [`TaskCache`] keeps documents per URI so
//! per-event lookups do not fetch.
//!
//! Everything here is untrusted input: the environment belongs to a container
//! process (which can set the variable to anything), and the response is
//! whatever answers on that address. Bad input is an error or `None`, never a
//! panic; [`TaskCache`] only talks to the ECS agent's documented address unless
//! told otherwise.
//!
//! [`fixture`] is test support: a loopback stand-in for the endpoint.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod fixture;

use crate::http;
use lru::LruCache;
use saker_model::{Container, Ecs};
use serde::{Deserialize, Deserializer};

/// The environment variable the ECS agent sets in every container of a task.
pub const METADATA_URI_ENV: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// Where the ECS agent serves task metadata (on EC2 it is redirected to the
/// agent; on Fargate it is in the task's network namespace).
pub const ECS_AGENT_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2));

/// Connect timeout, and the time allowed for the rest of one request.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// Largest task document accepted. Real ones are a few KiB per container.
pub const MAX_BODY: usize = 1 << 20;

/// Largest `/proc/<pid>/environ` read. The kernel bounds it by the stack
/// limit, which an attacker-controlled process may raise; we do not follow.
const MAX_ENVIRON: u64 = 1 << 20;

/// Why a task document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum EcsMetadataError {
    #[error("task metadata request failed: {0}")]
    Http(#[from] http::HttpError),
    #[error("task metadata is not a valid v4 task document: {0}")]
    Json(#[from] serde_json::Error),
}

/// The task document (`GET ${ECS_CONTAINER_METADATA_URI_V4}/task`), reduced to
/// what attribution needs. Unknown fields are ignored: the real document has
/// many more, and AWS adds fields to v4 over time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskMetadata {
    /// Cluster short name or ARN (both occur).
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default, rename = "TaskARN")]
    pub task_arn: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    /// A string in the documented shape; a number is accepted too.
    #[serde(default, deserialize_with = "string_or_number")]
    pub revision: Option<String>,
    #[serde(default)]
    pub desired_status: Option<String>,
    #[serde(default)]
    pub known_status: Option<String>,
    /// `EC2`, `FARGATE`, `EXTERNAL`, ...; absent with old agents.
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<ContainerMetadata>,
}

/// One entry of the task document's `Containers`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerMetadata {
    /// The runtime's container id: 64 hex digits on EC2, `<32 hex>-<digits>`
    /// on Fargate.
    #[serde(default)]
    pub docker_id: Option<String>,
    /// The container name from the task definition.
    #[serde(default)]
    pub name: Option<String>,
    /// The name the agent gave the container in Docker.
    #[serde(default)]
    pub docker_name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    /// Image digest; an empty string for the agent's pause container.
    #[serde(default, rename = "ImageID")]
    pub image_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub desired_status: Option<String>,
    #[serde(default)]
    pub known_status: Option<String>,
}

impl TaskMetadata {
    /// Parses a task document.
    pub fn from_json(bytes: &[u8]) -> Result<TaskMetadata, EcsMetadataError> {
        // Through a `Value` first: serde's derived structs also accept JSON
        // arrays (fields by position), which is not the documented shape and
        // would turn junk into a plausible task.
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        let objects = value.as_object().is_some_and(|task| match task.get("Containers") {
            Some(serde_json::Value::Array(containers)) => containers.iter().all(serde_json::Value::is_object),
            _ => true,
        });
        if !objects {
            return Err(EcsMetadataError::Json(serde::de::Error::custom("task and containers must be JSON objects")));
        }
        Ok(serde_json::from_value(value)?)
    }

    /// The container with this runtime id, if it is part of the task.
    pub fn find(&self, docker_id: &str) -> Option<&ContainerMetadata> {
        self.containers.iter().find(|c| c.docker_id.as_deref() == Some(docker_id))
    }

    /// The task identity for the model; `container_name` is filled in when
    /// `docker_id` is a container of this task.
    ///
    /// The URI came from a process's environment, which the process controls:
    /// callers that want to be sure the document describes the process's own
    /// task should also check that [`TaskMetadata::find`] knows its container.
    pub fn ecs_for(&self, docker_id: Option<&str>) -> Ecs {
        let (cluster, cluster_arn) = self.cluster_identity();
        Ecs {
            cluster,
            cluster_arn,
            task_arn: non_empty(&self.task_arn),
            task_family: non_empty(&self.family),
            task_revision: non_empty(&self.revision),
            launch_type: non_empty(&self.launch_type),
            container_name: docker_id.and_then(|id| self.find(id)).and_then(|c| non_empty(&c.name)),
            availability_zone: non_empty(&self.availability_zone),
        }
    }

    /// The container with this runtime id, as the model describes containers.
    pub fn container(&self, docker_id: &str) -> Option<Container> {
        let c = self.find(docker_id)?;
        Some(Container {
            id: docker_id.to_string(),
            name: non_empty(&c.name),
            runtime: Some("ecs".to_string()),
            image: non_empty(&c.image),
            image_id: non_empty(&c.image_id),
            labels: c.labels.clone(),
        })
    }

    /// (short name, ARN) of the cluster. `Cluster` is either; when it is the
    /// short name, the ARN is rebuilt from a task ARN of the current format
    /// (`arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`), but only
    /// when that ARN names the same cluster.
    fn cluster_identity(&self) -> (Option<String>, Option<String>) {
        let Some(cluster) = non_empty(&self.cluster) else {
            return (None, None);
        };
        if cluster.starts_with("arn:") {
            let name = cluster.split_once(":cluster/").map(|(_, n)| n.to_string()).filter(|n| !n.is_empty());
            return (name, Some(cluster));
        }
        let arn = self.task_arn.as_deref().and_then(|task_arn| {
            let (prefix, resource) = task_arn.split_once(":task/")?;
            let (task_cluster, _task_id) = resource.split_once('/')?;
            (prefix.starts_with("arn:") && task_cluster == cluster).then(|| format!("{prefix}:cluster/{cluster}"))
        });
        (Some(cluster), arn)
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// `null` where a collection is expected means "none" rather than an error.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The documented type of `Revision` is a string; tolerate a number so that a
/// variant agent does not cost the whole document.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("Revision: expected a string, found {other}"))),
    }
}

/// The value of `ECS_CONTAINER_METADATA_URI_V4` in the environment of `pid`
/// (under `proc_root`, normally `/proc`). `None` when the process is gone, the
/// environment is unreadable (permissions, kernel thread) or the variable is
/// absent, empty or not UTF-8.
///
/// This is the environment the process started with; the process can set it
/// to anything, so the value is untrusted (see [`TaskCache`]).
pub fn read_metadata_uri(proc_root: &Path, pid: u32) -> Option<String> {
    let path = proc_root.join(pid.to_string()).join("environ");
    let mut environ = Vec::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(MAX_ENVIRON).read_to_end(&mut environ));
    if let Err(e) = read {
        tracing::debug!(path = %path.display(), error = %e, "cannot read process environment");
        return None;
    }
    let prefix = format!("{METADATA_URI_ENV}=");
    environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .and_then(|value| std::str::from_utf8(value).ok())
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

/// Fetches `GET {uri}/task` and parses it. Blocks for at most about
/// 2 × [`TIMEOUT`]; no retries.
pub fn fetch_task(uri: &str) -> Result<TaskMetadata, EcsMetadataError> {
    let url = format!("{}/task", uri.trim_end_matches('/'));
    let body = http::request("GET", &url, &[("Accept", "application/json")], TIMEOUT, MAX_BODY)?;
    TaskMetadata::from_json(&body)
}

/// Task documents by metadata URI, bounded (LRU) and refreshed at most once per
/// `ttl`: the document changes only when containers start or stop, and a fetch
/// costs a round trip on the event path.
///
/// A failed fetch is remembered too (for [`TaskCache::FAILURE_RETRY`], or keeps
/// serving the previous document until the next refresh), so that a
/// misbehaving endpoint costs one timeout per interval, not one per event.
///
/// Only URIs whose host is on the allowlist are fetched: by default just
/// [`ECS_AGENT_ADDR`], because the URI comes from a container's environment
/// and must not make the agent connect to arbitrary addresses.
pub struct TaskCache {
    entries: Mutex<LruCache<String, CacheEntry>>,
    ttl: Duration,
    allowed_hosts: Vec<IpAddr>,
}

struct CacheEntry {
    checked: Instant,
    task: Option<Arc<TaskMetadata>>,
}

impl TaskCache {
    /// Tasks remembered by default (one entry per task: containers of a task
    /// share the URI's task document, though each has its own URI).
    pub const DEFAULT_CAPACITY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(255);
    /// How long a document is used before it is fetched again.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
    /// How long a failed fetch is remembered (capped by the TTL).
    pub const FAILURE_RETRY: Duration = Duration::from_secs(5);

    pub fn new(capacity: NonZeroUsize, ttl: Duration) -> TaskCache {
        TaskCache { entries: Mutex::new(LruCache::new(capacity)), ttl, allowed_hosts: vec![ECS_AGENT_ADDR] }
    }

    /// Also fetch from `host` (tests: the loopback [`fixture`]).
    pub fn allow_host(mut self, host: IpAddr) -> TaskCache {
        self.allowed_hosts.push(host);
        self
    }

    /// The task document for `uri`, fetched when not cached or older than the
    /// TTL. `None` when the URI is not allowed or no document could be had.
    pub fn get(&self, uri: &str) -> Option<Arc<TaskMetadata>> {
        self.get_at(uri, Instant::now())
    }

    fn get_at(&self, uri: &str, now: Instant) -> Option<Arc<TaskMetadata>> {
        match http::Url::parse(uri) {
            Ok(url) if self.allowed_hosts.contains(&url.host) => {}
            Ok(url) => {
                tracing::debug!(uri, host = %url.host, "ECS metadata URI not on the allowed hosts; not fetched");
                return None;
            }
            Err(e) => {
                tracing::debug!(uri, error = %e, "unusable ECS metadata URI");
                return None;
            }
        }
        let previous = {
            let mut entries = self.lock();
            match entries.get(uri) {
                Some(e) if now.saturating_duration_since(e.checked) < self.fresh_for(e) => return e.task.clone(),
                Some(e) => e.task.clone(),
                None => None,
            }
        };
        // Fetch without holding the lock: other lookups must not wait on the
        // network. Two threads may fetch the same URI at once; that is rare and
        // harmless.
        let task = match fetch_task(uri) {
            Ok(task) => Some(Arc::new(task)),
            Err(e) => {
                tracing::debug!(uri, error = %e, "ECS task metadata fetch failed");
                previous
            }
        };
        self.lock().put(uri.to_string(), CacheEntry { checked: now, task: task.clone() });
        task
    }

    fn fresh_for(&self, entry: &CacheEntry) -> Duration {
        if entry.task.is_some() { self.ttl } else { self.ttl.min(Self::FAILURE_RETRY) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, CacheEntry>> {
        // A panic elsewhere while holding the lock leaves a cache that is still
        // consistent (entries are replaced whole), so keep using it.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for TaskCache {
    fn default() -> TaskCache {
        TaskCache::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{self, TaskEndpoint};
    use super::*;
    use crate::http::{self, HttpError, Url};
    use std::net::{Ipv6Addr, TcpListener};

    const EC2_WEB: &str = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
    const EC2_LOG: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const FARGATE_LEDGER: &str = "c0ffee4b1d2e4f5a8b9c0d1e2f3a4b5c-3141592653";

    fn ec2() -> TaskMetadata {
        TaskMetadata::from_json(fixture::EC2_TASK.as_bytes()).unwrap()
    }

    fn fargate() -> TaskMetadata {
        TaskMetadata::from_json(fixture::FARGATE_TASK.as_bytes()).unwrap()
    }

    #[test]
    fn parses_ec2_fixture() {
        let task = ec2();
        assert_eq!(task.cluster.as_deref(), Some("prod-web"));
        assert_eq!(task.family.as_deref(), Some("storefront"));
        assert_eq!(task.revision.as_deref(), Some("42"));
        assert_eq!(task.launch_type.as_deref(), Some("EC2"));
        assert_eq!(task.known_status.as_deref(), Some("RUNNING"));
        assert_eq!(task.containers.len(), 2);
        assert_eq!(task.containers[1].name.as_deref(), Some("log-router"));
        assert_eq!(task.containers[1].docker_id.as_deref(), Some(EC2_LOG));

        let ecs = task.ecs_for(Some(EC2_WEB));
        assert_eq!(
            ecs,
            Ecs {
                cluster: Some("prod-web".into()),
                // Rebuilt from the task ARN, which names the same cluster.
                cluster_arn: Some("arn:aws:ecs:eu-west-1:123456789012:cluster/prod-web".into()),
                task_arn: Some(
                    "arn:aws:ecs:eu-west-1:123456789012:task/prod-web/5b1d2e7c9a8f4e3db0c6a1f2e3d4c5b6".into()
                ),
                task_family: Some("storefront".into()),
                task_revision: Some("42".into()),
                launch_type: Some("EC2".into()),
                container_name: Some("web".into()),
                availability_zone: Some("eu-west-1b".into()),
            }
        );
        assert_eq!(task.ecs_for(Some(EC2_LOG)).container_name.as_deref(), Some("log-router"));
    }

    #[test]
    fn parses_fargate_fixture() {
        let task = fargate();
        let ecs = task.ecs_for(Some(FARGATE_LEDGER));
        assert_eq!(ecs.cluster.as_deref(), Some("payments"));
        assert_eq!(ecs.cluster_arn.as_deref(), Some("arn:aws:ecs:us-east-2:210987654321:cluster/payments"));
        assert_eq!(ecs.launch_type.as_deref(), Some("FARGATE"));
        assert_eq!(ecs.task_revision.as_deref(), Some("7"));
        assert_eq!(ecs.container_name.as_deref(), Some("ledger"));
        assert_eq!(ecs.availability_zone.as_deref(), Some("us-east-2c"));
    }

    #[test]
    fn container_maps_to_model() {
        let task = ec2();
        let c = task.container(EC2_WEB).unwrap();
        assert_eq!(c.id, EC2_WEB);
        assert_eq!(c.name.as_deref(), Some("web"));
        assert_eq!(c.runtime.as_deref(), Some("ecs"));
        assert_eq!(c.image.as_deref(), Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com/storefront:1.8.2"));
        assert_eq!(
            c.image_id.as_deref(),
            Some("sha256:9c1b6dbd9a1ab4f4a4e1c1a3d0a6e0a4cbd9f2e77b5f3e4a2d1c0b9a8f7e6d5c")
        );
        assert_eq!(c.labels.get("com.amazonaws.ecs.container-name").map(String::as_str), Some("web"));
        assert_eq!(c.labels.len(), 5);

        assert!(task.container("0000").is_none());
        assert_eq!(task.ecs_for(Some("0000")).container_name, None);
        assert_eq!(task.ecs_for(None).container_name, None);
        assert_eq!(task.ecs_for(None).task_family.as_deref(), Some("storefront"));
    }

    #[test]
    fn tolerant_of_shapes_seen_in_the_wild() {
        // Pause container with an empty ImageID, null labels, a numeric
        // revision, an old agent without LaunchType, and unknown fields.
        let doc = br#"{
            "Cluster": "default",
            "TaskARN": "arn:aws:ecs:us-east-2:012345678910:task/9781c248-0edd-4cdb-9a93-f63cb662a5d3",
            "Family": "nginx", "Revision": 5, "SomethingNew": {"a": [1, 2]},
            "Containers": [{"DockerId": "abc", "Name": "~internal~ecs~pause", "ImageID": "", "Labels": null,
                            "Limits": {"CPU": 0.25}}]
        }"#;
        let task = TaskMetadata::from_json(doc).unwrap();
        assert_eq!(task.revision.as_deref(), Some("5"));
        let c = task.container("abc").unwrap();
        assert_eq!(c.image_id, None);
        assert!(c.labels.is_empty());
        let ecs = task.ecs_for(Some("abc"));
        assert_eq!(ecs.cluster.as_deref(), Some("default"));
        // An old-format task ARN does not name the cluster: no ARN is made up.
        assert_eq!(ecs.cluster_arn, None);
        assert_eq!(ecs.launch_type, None);

        let empty = TaskMetadata::from_json(b"{}").unwrap();
        assert_eq!(empty.ecs_for(None), Ecs::default());
        let other_cluster = TaskMetadata::from_json(
            br#"{"Cluster": "a", "TaskARN": "arn:aws:ecs:us-east-2:012345678910:task/b/0123"}"#,
        )
        .unwrap();
        assert_eq!(other_cluster.ecs_for(None).cluster_arn, None);
    }

    #[test]
    fn malformed_documents_are_errors() {
        let cases: [&[u8]; 7] = [
            b"{",
            b"[]",
            b"not json",
            br#"{"Containers": 3}"#,
            br#"{"Containers": [["abc", "name"]]}"#,
            br#"{"Revision": {}}"#,
            br#"{"Containers": [{"Labels": {"a": 1}}]}"#,
        ];
        for doc in cases {
            assert!(matches!(TaskMetadata::from_json(doc), Err(EcsMetadataError::Json(_))), "{doc:?}");
        }
    }

    #[test]
    fn fetches_through_the_loopback_fixture() {
        let endpoint = TaskEndpoint::start(fixture::EC2_TASK).unwrap();
        let uri = endpoint.uri();
        assert!(uri.starts_with("http://127.0.0.1:"));
        assert_eq!(fetch_task(&uri).unwrap(), ec2());
        // A trailing slash on the base is tolerated.
        assert_eq!(fetch_task(&format!("{uri}/")).unwrap(), ec2());
        assert_eq!(endpoint.requests(), 2);

        endpoint.set_document(fixture::FARGATE_TASK);
        assert_eq!(fetch_task(&uri).unwrap(), fargate());
    }

    #[test]
    fn fixture_serves_the_document_verbatim() {
        let endpoint = TaskEndpoint::start(fixture::FARGATE_TASK).unwrap();
        let body = http::request("GET", &format!("{}/task", endpoint.uri()), &[], TIMEOUT, MAX_BODY).unwrap();
        assert_eq!(body, fixture::FARGATE_TASK.as_bytes());
        let not_found = http::request("GET", &endpoint.uri(), &[], TIMEOUT, MAX_BODY);
        assert!(matches!(not_found, Err(HttpError::Status { status: 404, .. })), "{not_found:?}");
    }

    fn raw_server(response: Vec<u8>) -> fixture::Server {
        fixture::Server::start(move |_| response.clone()).unwrap()
    }

    #[test]
    fn chunked_response() {
        let server = raw_server(fixture::chunked_response("application/json", fixture::EC2_TASK.as_bytes(), 100));
        assert_eq!(fetch_task(&format!("{}/v4/x", server.base_url())).unwrap(), ec2());

        // Chunk extensions and trailers are allowed by HTTP/1.1.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\nX-Trailer: y\r\n\r\n";
        let server = raw_server(raw.to_vec());
        assert_eq!(fetch_task(&server.base_url()).unwrap(), TaskMetadata::default());
    }

    #[test]
    fn body_until_close() {
        let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n".to_vec();
        raw.extend_from_slice(fixture::FARGATE_TASK.as_bytes());
        let server = raw_server(raw);
        assert_eq!(fetch_task(&server.base_url()).unwrap(), fargate());
    }

    #[test]
    fn malformed_json_over_http_is_an_error() {
        let server = raw_server(fixture::response(200, "application/json", b"{\"Cluster\": "));
        assert!(matches!(fetch_task(&server.base_url()), Err(EcsMetadataError::Json(_))));
    }

    #[test]
    fn huge_bodies_are_refused() {
        let huge = vec![b' '; MAX_BODY + 1];
        let by_length = raw_server(fixture::response(200, "application/json", &huge));
        let chunked = raw_server(fixture::chunked_response("application/json", &huge, 64 * 1024));
        let mut until_close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        until_close.extend_from_slice(&huge);
        let until_close = raw_server(until_close);
        for server in [&by_length, &chunked, &until_close] {
            let result = fetch_task(&server.base_url());
            assert!(
                matches!(result, Err(EcsMetadataError::Http(HttpError::TooLarge { limit: MAX_BODY, .. }))),
                "{result:?}"
            );
        }
        // A Content-Length over the limit is refused before reading the body.
        let announced = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".to_vec());
        assert!(matches!(fetch_task(&announced.base_url()), Err(EcsMetadataError::Http(HttpError::TooLarge { .. }))));
    }

    #[test]
    fn malformed_http_is_an_error() {
        let cases: &[&[u8]] = &[
            b"",
            b"garbage\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
        ];
        for raw in cases {
            let server = raw_server(raw.to_vec());
            let result = fetch_task(&server.base_url());
            assert!(
                matches!(result, Err(EcsMetadataError::Http(HttpError::Malformed { .. }))),
                "{:?}: {result:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let long_line = [b"HTTP/1.1 200 OK\r\nX: ".to_vec(), vec![b'a'; 20_000]].concat();
        let server = raw_server(long_line);
        assert!(matches!(
            fetch_task(&server.base_url()),
            Err(EcsMetadataError::Http(HttpError::Malformed { what: "line too long", .. }))
        ));
    }

    #[test]
    fn error_status_is_an_error() {
        let server = raw_server(fixture::response(500, "text/plain", b"oops"));
        assert!(matches!(
            fetch_task(&server.base_url()),
            Err(EcsMetadataError::Http(HttpError::Status { status: 500, .. }))
        ));
        // An interim 100 is skipped.
        let mut raw = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        raw.extend(fixture::response(200, "application/json", b"{}"));
        let server = raw_server(raw);
        assert_eq!(fetch_task(&server.base_url()).unwrap(), TaskMetadata::default());
    }

    #[test]
    fn connection_refused_fails_fast() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let start = Instant::now();
        let result = fetch_task(&format!("http://127.0.0.1:{port}/v4/x"));
        assert!(matches!(result, Err(EcsMetadataError::Http(HttpError::Connect { .. }))), "{result:?}");
        assert!(start.elapsed() < Duration::from_millis(500), "{:?}", start.elapsed());
    }

    #[test]
    fn silent_server_times_out() {
        // Accepts (the kernel does, via the backlog) but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v4/x", listener.local_addr().unwrap());
        let start = Instant::now();
        let result = http::request("GET", &format!("{url}/task"), &[], Duration::from_millis(300), MAX_BODY);
        assert!(matches!(result, Err(HttpError::Timeout { .. })), "{result:?}");
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    }

    #[test]
    fn url_parsing() {
        let u = Url::parse("http://169.254.170.2/v4/abc-123").unwrap();
        assert_eq!((u.host, u.port, u.path.as_str()), (ECS_AGENT_ADDR, 80, "/v4/abc-123"));
        let u = Url::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!((u.port, u.path.as_str()), (8080, "/"));
        let u = Url::parse("http://[::1]:9/a?b=c#frag").unwrap();
        assert_eq!((u.host, u.port, u.path.as_str()), (IpAddr::V6(Ipv6Addr::LOCALHOST), 9, "/a?b=c"));
        for bad in [
            "https://169.254.170.2/v4",
            "http://metadata.local/v4",
            "http://user@127.0.0.1/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:70000/",
            "http://127.0.0.1:/",
            "http://127.0.0.1:+80/",
            "http://[::1/",
            "http://127.0.0.1/a b",
            "http://127.0.0.1/a\r\nX-Injected: 1",
            "ftp://127.0.0.1/",
            "http:/",
            "",
        ] {
            assert!(matches!(Url::parse(bad), Err(HttpError::UnsupportedUrl(_))), "{bad:?}");
        }
    }

    #[test]
    fn headers_that_could_inject_are_refused() {
        let result = http::request("GET", "http://127.0.0.1:9/", &[("X-T", "a\r\nb")], TIMEOUT, 10);
        assert!(matches!(result, Err(HttpError::BadHeader(_))), "{result:?}");
        let result = http::request("GET", "http://127.0.0.1:9/", &[("X T", "a")], TIMEOUT, 10);
        assert!(matches!(result, Err(HttpError::BadHeader(_))), "{result:?}");
    }

    #[test]
    fn reads_uri_from_environ() {
        let proc = tempfile::tempdir().unwrap();
        let write = |pid: u32, environ: &[u8]| {
            let dir = proc.path().join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("environ"), environ).unwrap();
        };
        write(10, b"PATH=/bin\0ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/abc\0HOME=/root\0");
        write(11, b"PATH=/bin\0ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/abc\0");
        write(12, b"ECS_CONTAINER_METADATA_URI_V4=\0");
        write(13, b"ECS_CONTAINER_METADATA_URI_V4=\xff\xfe\0");
        write(14, b"XECS_CONTAINER_METADATA_URI_V4=http://127.0.0.1/\0ECS_CONTAINER_METADATA_URI_V4=http://a/");
        write(15, b"");
        assert_eq!(read_metadata_uri(proc.path(), 10).as_deref(), Some("http://169.254.170.2/v4/abc"));
        assert_eq!(read_metadata_uri(proc.path(), 11), None);
        assert_eq!(read_metadata_uri(proc.path(), 12), None);
        assert_eq!(read_metadata_uri(proc.path(), 13), None);
        assert_eq!(read_metadata_uri(proc.path(), 14).as_deref(), Some("http://a/"));
        assert_eq!(read_metadata_uri(proc.path(), 15), None);
        assert_eq!(read_metadata_uri(proc.path(), 99), None);
    }

    #[test]
    fn reads_uri_from_a_real_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env(METADATA_URI_ENV, "http://127.0.0.1:1/v4/self")
            .spawn()
            .unwrap();
        // Right after spawn the child may still show the environment it
        // inherited before exec; poll briefly.
        let deadline = Instant::now() + Duration::from_secs(2);
        let uri = loop {
            let uri = read_metadata_uri(Path::new("/proc"), child.id());
            if uri.is_some() || Instant::now() > deadline {
                break uri;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(uri.as_deref(), Some("http://127.0.0.1:1/v4/self"));
    }

    #[test]
    fn cache_fetches_once_per_ttl() {
        let endpoint = TaskEndpoint::start(fixture::EC2_TASK).unwrap();
        let cache = TaskCache::default().allow_host(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let uri = endpoint.uri();
        let now = Instant::now();
        let first = cache.get_at(&uri, now).unwrap();
        let second = cache.get_at(&uri, now + Duration::from_secs(29)).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(endpoint.requests(), 1);

        endpoint.set_document(fixture::FARGATE_TASK);
        let refreshed = cache.get_at(&uri, now + Duration::from_secs(31)).unwrap();
        assert_eq!(endpoint.requests(), 2);
        assert_eq!(*refreshed, fargate());
    }

    #[test]
    fn cache_remembers_failures() {
        let endpoint = TaskEndpoint::start("not json").unwrap();
        let cache = TaskCache::default().allow_host(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let uri = endpoint.uri();
        let now = Instant::now();
        assert!(cache.get_at(&uri, now).is_none());
        assert!(cache.get_at(&uri, now + Duration::from_secs(1)).is_none());
        assert_eq!(endpoint.requests(), 1);
        // Retried after FAILURE_RETRY, and then it works.
        endpoint.set_document(fixture::EC2_TASK);
        assert!(cache.get_at(&uri, now + TaskCache::FAILURE_RETRY).is_some());
        assert_eq!(endpoint.requests(), 2);
        // A failed refresh keeps the last good document.
        endpoint.set_document("{");
        let later = now + TaskCache::FAILURE_RETRY + TaskCache::DEFAULT_TTL;
        assert_eq!(cache.get_at(&uri, later).as_deref(), Some(&ec2()));
        assert_eq!(endpoint.requests(), 3);
    }

    #[test]
    fn cache_only_talks_to_allowed_hosts() {
        let endpoint = TaskEndpoint::start(fixture::EC2_TASK).unwrap();
        // Default allowlist: the ECS agent address only, so a container
        // pointing the variable at loopback (or anywhere) gets nothing.
        let cache = TaskCache::default();
        assert!(cache.get(&endpoint.uri()).is_none());
        assert!(cache.get("http://[::1]:1/v4/x").is_none());
        assert!(cache.get("https://169.254.170.2/v4/x").is_none());
        assert_eq!(endpoint.requests(), 0);
    }
}
