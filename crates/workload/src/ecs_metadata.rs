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

/// A minimal blocking HTTP/1.1 client for the link-local metadata services
/// (ECS task metadata, EC2 IMDS): `http://<ip>[:port]/path` only, no TLS, no
/// DNS, no redirects, one request per connection, bounded in time and size.
pub mod http {
    use std::io::{self, Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    use std::time::{Duration, Instant};

    /// Longest status or header line (and chunk-size line) accepted.
    const MAX_LINE: usize = 8 * 1024;
    /// Most header lines accepted in one response.
    const MAX_HEADERS: usize = 100;

    /// Why a request failed.
    #[derive(Debug, thiserror::Error)]
    pub enum HttpError {
        #[error("unsupported URL {0:?}: only http://<ip>[:port]/path is supported")]
        UnsupportedUrl(String),
        #[error("header {0:?} has a name or value that cannot be sent")]
        BadHeader(String),
        #[error("cannot connect to {addr}: {source}")]
        Connect { addr: SocketAddr, source: io::Error },
        #[error("I/O error with {addr}: {source}")]
        Io { addr: SocketAddr, source: io::Error },
        #[error("no complete response from {addr} in time")]
        Timeout { addr: SocketAddr },
        #[error("malformed HTTP response from {addr}: {what}")]
        Malformed { addr: SocketAddr, what: &'static str },
        #[error("HTTP status {status} from {addr}")]
        Status { addr: SocketAddr, status: u16 },
        #[error("response body from {addr} exceeds {limit} bytes")]
        TooLarge { addr: SocketAddr, limit: usize },
    }

    /// A parsed `http://<ip>[:port]/path` URL.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Url {
        pub host: IpAddr,
        pub port: u16,
        /// Path and query, starting with `/`; the fragment is dropped.
        pub path: String,
    }

    impl Url {
        /// Parses a URL. Host names are refused (the metadata services are
        /// addressed by IP, and resolving would add a DNS lookup and its
        /// latency); so is anything that could not go verbatim into a request
        /// line, since URLs may come from untrusted environments.
        pub fn parse(url: &str) -> Result<Url, HttpError> {
            let bad = || HttpError::UnsupportedUrl(url.to_string());
            let rest = url
                .get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
                .and_then(|_| url.get(7..))
                .ok_or_else(bad)?;
            let rest = rest.split('#').next().unwrap_or_default();
            let split = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(split);
            let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
                let (host, after) = v6.split_once(']').ok_or_else(bad)?;
                let host: Ipv6Addr = host.parse().map_err(|_| bad())?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(bad)?),
                };
                (IpAddr::V6(host), port)
            } else {
                let (host, port) = match authority.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (authority, None),
                };
                let host: Ipv4Addr = host.parse().map_err(|_| bad())?;
                (IpAddr::V4(host), port)
            };
            let port = match port {
                None => 80,
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?
                }
                Some(_) => return Err(bad()),
            };
            let path = match path {
                "" => "/".to_string(),
                p if p.starts_with('?') => format!("/{p}"),
                p => p.to_string(),
            };
            // Visible ASCII only: no spaces, CR/LF or control bytes.
            if !path.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(bad());
            }
            Ok(Url { host, port, path })
        }

        pub fn socket_addr(&self) -> SocketAddr {
            SocketAddr::new(self.host, self.port)
        }

        fn host_header(&self) -> String {
            let host = match self.host {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            };
            if self.port == 80 { host } else { format!("{host}:{}", self.port) }
        }
    }

    /// Sends one request (no body) and returns the body of a 2xx response.
    ///
    /// `timeout` bounds the connect, and separately everything after it
    /// (sending the request and receiving the whole response). Bodies longer
    /// than `max_body` are refused, framed by Content-Length, chunked, or by
    /// the end of the connection.
    pub fn request(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
        max_body: usize,
    ) -> Result<Vec<u8>, HttpError> {
        let parsed = Url::parse(url)?;
        if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
            return Err(HttpError::BadHeader(method.to_string()));
        }
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: saker\r\nConnection: close\r\n",
            parsed.path,
            parsed.host_header()
        );
        for (name, value) in headers {
            // Values may carry data from the network (an IMDS token): refuse
            // anything that could end the header line.
            let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let value_ok = value.bytes().all(|b| b == b'\t' || (0x20..=0x7e).contains(&b));
            if !name_ok || !value_ok {
                return Err(HttpError::BadHeader(name.to_string()));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" && method != "HEAD" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");

        let addr = parsed.socket_addr();
        let stream =
            TcpStream::connect_timeout(&addr, timeout).map_err(|source| HttpError::Connect { addr, source })?;
        let mut conn = Conn { stream, addr, buf: Vec::new(), pos: 0, deadline: Instant::now() + timeout };
        conn.send(head.as_bytes())?;
        conn.read_response(max_body)
    }

    /// One connection, read through a small buffer against a deadline.
    struct Conn {
        stream: TcpStream,
        addr: SocketAddr,
        buf: Vec<u8>,
        /// How much of `buf` has been consumed.
        pos: usize,
        deadline: Instant,
    }

    impl Conn {
        fn remaining(&self) -> Result<Duration, HttpError> {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() { Err(HttpError::Timeout { addr: self.addr }) } else { Ok(left) }
        }

        fn io_error(&self, source: io::Error) -> HttpError {
            match source.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout { addr: self.addr },
                _ => HttpError::Io { addr: self.addr, source },
            }
        }

        fn malformed(&self, what: &'static str) -> HttpError {
            HttpError::Malformed { addr: self.addr, what }
        }

        fn send(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
            let left = self.remaining()?;
            self.stream.set_write_timeout(Some(left)).map_err(|e| self.io_error(e))?;
            self.stream.write_all(bytes).map_err(|e| self.io_error(e))
        }

        /// Reads more bytes into the buffer; `false` at end of stream.
        fn fill(&mut self) -> Result<bool, HttpError> {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let mut chunk = [0u8; 16 * 1024];
            loop {
                // The read timeout is what is left of the deadline, so a server
                // trickling bytes cannot hold us past it.
                let left = self.remaining()?;
                self.stream.set_read_timeout(Some(left)).map_err(|e| self.io_error(e))?;
                match self.stream.read(&mut chunk) {
                    Ok(0) => return Ok(false),
                    Ok(n) => {
                        self.buf.extend_from_slice(&chunk[..n]);
                        return Ok(true);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.io_error(e)),
                }
            }
        }

        /// One line without its CRLF (or bare LF).
        fn line(&mut self) -> Result<String, HttpError> {
            let mut scanned = 0;
            loop {
                let pending = &self.buf[self.pos..];
                if let Some(i) = pending[scanned..].iter().position(|&b| b == b'\n') {
                    let end = scanned + i;
                    let line = pending[..end].strip_suffix(b"\r").unwrap_or(&pending[..end]);
                    let line = String::from_utf8_lossy(line).into_owned();
                    self.pos += end + 1;
                    return Ok(line);
                }
                scanned = pending.len();
                if scanned > MAX_LINE {
                    return Err(self.malformed("line too long"));
                }
                if !self.fill()? {
                    return Err(self.malformed("connection closed mid-response"));
                }
                // `fill` moved the unconsumed bytes to the front; `scanned`
                // still counts them.
            }
        }

        /// Appends exactly `n` more bytes to `out`.
        fn take(&mut self, mut n: usize, out: &mut Vec<u8>) -> Result<(), HttpError> {
            while n > 0 {
                if self.pos == self.buf.len() && !self.fill()? {
                    return Err(self.malformed("body shorter than announced"));
                }
                let k = n.min(self.buf.len() - self.pos);
                out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
                self.pos += k;
                n -= k;
            }
            Ok(())
        }

        fn read_response(&mut self, max_body: usize) -> Result<Vec<u8>, HttpError> {
            let head = loop {
                let head = self.read_head()?;
                // 1xx are interim responses (we never ask for them, but a
                // server may send 100 Continue); the real one follows.
                if !(100..200).contains(&head.status) {
                    break head;
                }
            };
            if !(200..300).contains(&head.status) {
                return Err(HttpError::Status { addr: self.addr, status: head.status });
            }
            let too_large = HttpError::TooLarge { addr: self.addr, limit: max_body };
            let mut body = Vec::new();
            if head.chunked {
                self.read_chunked(max_body, &mut body)?;
            } else if let Some(len) = head.content_length {
                if len > max_body {
                    return Err(too_large);
                }
                self.take(len, &mut body)?;
            } else {
                // Delimited by the end of the connection (we sent
                // `Connection: close`).
                loop {
                    body.extend_from_slice(&self.buf[self.pos..]);
                    self.pos = self.buf.len();
                    if body.len() > max_body {
                        return Err(too_large);
                    }
                    if !self.fill()? {
                        break;
                    }
                }
            }
            Ok(body)
        }

        fn read_head(&mut self) -> Result<Head, HttpError> {
            let status_line = self.line()?;
            let mut parts = status_line.splitn(3, ' ');
            let version = parts.next().unwrap_or_default();
            let code = parts.next().unwrap_or_default();
            if !version.starts_with("HTTP/1.") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.malformed("bad status line"));
            }
            let status = code.parse::<u16>().map_err(|_| self.malformed("bad status code"))?;
            let mut head = Head { status, content_length: None, chunked: false };
            for _ in 0..=MAX_HEADERS {
                let line = self.line()?;
                if line.is_empty() {
                    return Ok(head);
                }
                let Some((name, value)) = line.split_once(':') else {
                    return Err(self.malformed("header line without a colon"));
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    let len = value
                        .parse::<usize>()
                        .ok()
                        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| self.malformed("bad Content-Length"))?;
                    if head.content_length.is_some_and(|l| l != len) {
                        return Err(self.malformed("conflicting Content-Length headers"));
                    }
                    head.content_length = Some(len);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    let last = value.rsplit(',').next().unwrap_or_default().trim();
                    if last.eq_ignore_ascii_case("chunked") {
                        head.chunked = true;
                    } else if !last.eq_ignore_ascii_case("identity") {
                        return Err(self.malformed("unsupported Transfer-Encoding"));
                    }
                }
            }
            Err(self.malformed("too many headers"))
        }

        fn read_chunked(&mut self, max_body: usize, body: &mut Vec<u8>) -> Result<(), HttpError> {
            loop {
                let line = self.line()?;
                let size = line.split(';').next().unwrap_or_default().trim();
                if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(self.malformed("bad chunk size"));
                }
                let size = usize::from_str_radix(size, 16).map_err(|_| self.malformed("bad chunk size"))?;
                if size == 0 {
                    // Trailer fields, if any, up to the empty line.
                    for _ in 0..=MAX_HEADERS {
                        if self.line()?.is_empty() {
                            return Ok(());
                        }
                    }
                    return Err(self.malformed("too many trailers"));
                }
                if body.len().saturating_add(size) > max_body {
                    return Err(HttpError::TooLarge { addr: self.addr, limit: max_body });
                }
                self.take(size, body)?;
                if !self.line()?.is_empty() {
                    return Err(self.malformed("chunk data longer than its size"));
                }
            }
        }
    }

    struct Head {
        status: u16,
        content_length: Option<usize>,
        chunked: bool,
    }
}

/// Test support: a loopback HTTP server standing in for the ECS task metadata
/// endpoint (which only exists inside ECS), and a generic one for other
/// loopback fixtures (the IMDS test in [`crate::host`]).
///
/// Binds `127.0.0.1:0`, answers one connection at a time, stops when dropped.
/// Not for production use; it is public so that tests in other crates can
/// attribute processes to a fake task.
pub mod fixture {
    use std::io::{self, Read, Write};
    use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// An EC2 launch-type task with two containers, in the documented v4 shape.
    pub const EC2_TASK: &str = include_str!("../tests/fixtures/ecs/task_ec2.json");
    /// A Fargate task (cluster given as an ARN), in the documented v4 shape.
    pub const FARGATE_TASK: &str = include_str!("../tests/fixtures/ecs/task_fargate.json");

    /// What the server received.
    #[derive(Debug, Clone)]
    pub struct Request {
        pub method: String,
        /// Path and query as sent.
        pub path: String,
        pub headers: Vec<(String, String)>,
    }

    impl Request {
        /// The first header with this name (case-insensitive).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    type Handler = dyn Fn(&Request) -> Vec<u8> + Send + Sync;

    /// A loopback HTTP server whose handler returns the raw response bytes.
    pub struct Server {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        requests: Arc<AtomicUsize>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        pub fn start(handler: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> io::Result<Server> {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            // Non-blocking accept polled with a short sleep, so that dropping
            // the server never waits on a connection that will not come.
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let stop = Arc::new(AtomicBool::new(false));
            let requests = Arc::new(AtomicUsize::new(0));
            let handler: Arc<Handler> = Arc::new(handler);
            let thread = {
                let (stop, requests) = (stop.clone(), requests.clone());
                std::thread::Builder::new().name("saker-http-fixture".into()).spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                if let Some(request) = serve(stream, &*handler, &requests) {
                                    tracing::trace!(?request, "fixture served");
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                std::thread::sleep(Duration::from_millis(2))
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(2)),
                        }
                    }
                })?
            };
            Ok(Server { addr, stop, requests, thread: Some(thread) })
        }

        pub fn addr(&self) -> SocketAddr {
            self.addr
        }

        /// `http://127.0.0.1:<port>`.
        pub fn base_url(&self) -> String {
            format!("http://{}", self.addr)
        }

        /// Requests received so far.
        pub fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Reads one request, answers it, closes. Errors just end the connection.
    fn serve(mut stream: TcpStream, handler: &Handler, requests: &AtomicUsize) -> Option<Request> {
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut data = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if data.len() > 64 * 1024 {
                return None;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => data.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let method = request_line.next()?.to_string();
        let path = request_line.next()?.to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let request = Request { method, path, headers };
        // Counted before answering, so a client that has its response sees
        // its request counted.
        requests.fetch_add(1, Ordering::SeqCst);
        // Read a request body, if any, so that closing does not reset the
        // connection under the client.
        let body_len: usize = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut have = data.len() - (head_end + 4);
        while have < body_len.min(64 * 1024) {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => have += n,
            }
        }
        let response = handler(&request);
        // The client may hang up early (it refuses large bodies): not an error here.
        let _ = stream.write_all(&response);
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Write);
        Some(request)
    }

    /// A complete response with a Content-Length.
    pub fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            reason(status),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// A 200 response with a chunked body, `chunk` bytes per chunk.
    pub fn chunked_response(content_type: &str, body: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
        for piece in body.chunks(chunk.max(1)) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    fn reason(status: u16) -> &'static str {
        match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Status",
        }
    }

    /// The ECS task metadata endpoint, serving one task document.
    ///
    /// Like the real endpoint it answers `GET <uri>/task` for any
    /// `/v4/<container>` base, with `Content-Type: application/json` and the
    /// document byte for byte; other paths are 404, other methods 405.
    pub struct TaskEndpoint {
        server: Server,
        document: Arc<Mutex<String>>,
    }

    impl TaskEndpoint {
        pub fn start(task_json: &str) -> io::Result<TaskEndpoint> {
            let document = Arc::new(Mutex::new(task_json.to_string()));
            let served = document.clone();
            let server = Server::start(move |request| {
                if request.method != "GET" {
                    return response(405, "text/plain", b"method not allowed");
                }
                let path = request.path.split('?').next().unwrap_or_default();
                if path == "/task" || (path.starts_with("/v4/") && path.ends_with("/task")) {
                    let doc = served.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    response(200, "application/json", doc.as_bytes())
                } else {
                    response(404, "text/plain", b"404 page not found")
                }
            })?;
            Ok(TaskEndpoint { server, document })
        }

        /// The value to put in `ECS_CONTAINER_METADATA_URI_V4`, for a made-up
        /// container id.
        pub fn uri(&self) -> String {
            self.uri_for("3f4e5d6c7b8a4d1e9f0a1b2c3d4e5f60-1234567890")
        }

        /// The `ECS_CONTAINER_METADATA_URI_V4` value for `container`.
        pub fn uri_for(&self, container: &str) -> String {
            format!("{}/v4/{container}", self.server.base_url())
        }

        /// Replaces the served document (a task whose containers changed).
        pub fn set_document(&self, task_json: &str) {
            *self.document.lock().unwrap_or_else(|p| p.into_inner()) = task_json.to_string();
        }

        /// Requests answered so far.
        pub fn requests(&self) -> usize {
            self.server.requests()
        }

        pub fn addr(&self) -> SocketAddr {
            self.server.addr()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{self, TaskEndpoint};
    use super::http::{self, HttpError, Url};
    use super::*;
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
