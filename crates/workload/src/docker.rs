//! A minimal Docker Engine API client: `GET /containers/<id>/json` over the
//! daemon's unix socket, for a container's name, image and labels.
//!
//! One request is all attribution needs; it goes through [`crate::http`]'s
//! client over the unix socket. The socket is the daemon's, but the labels and names
//! in the answer were chosen by whoever started the container: the response is
//! parsed as untrusted input, bounded in size and time. No daemon (no socket,
//! or nothing listening) is `Ok(None)` and costs one failed `connect`.

use crate::http::{self, HttpError};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where dockerd listens by default.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Largest response accepted. An inspect document is a few KiB.
const MAX_RESPONSE: usize = 4 << 20;

/// Why an inspect request failed (a missing daemon or container is not an
/// error: see [`DockerClient::inspect`]).
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("not a valid container id or name: {0:?}")]
    BadId(String),
    #[error("container API: {0}")]
    Http(#[from] HttpError),
    #[error("inspect document is not valid: {0}")]
    Json(#[from] serde_json::Error),
}

/// What attribution takes from `/containers/<id>/json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: Option<String>,
    /// `Config.Image`: the image as the user named it.
    pub image: Option<String>,
    /// `Image`: the image id (`sha256:...`).
    pub image_id: Option<String>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
}

/// A Docker Engine API client on one unix socket.
#[derive(Debug, Clone)]
pub struct DockerClient {
    socket: PathBuf,
    timeout: Duration,
}

impl Default for DockerClient {
    fn default() -> Self {
        DockerClient::new(DEFAULT_SOCKET, Duration::from_millis(500))
    }
}

impl DockerClient {
    /// `timeout` bounds the whole request, connect to last byte.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Self {
        DockerClient { socket: socket.into(), timeout }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Inspect one container. `Ok(None)`: no daemon at the socket, or no such
    /// container (404).
    pub fn inspect(&self, id: &str) -> Result<Option<DockerContainer>, DockerError> {
        // The id goes into the request line: only what Docker allows in ids
        // and names, so nothing can smuggle a path or a header.
        let valid = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid {
            return Err(DockerError::BadId(id.chars().take(80).collect()));
        }
        match http::get_unix(&self.socket, &format!("/containers/{id}/json"), self.timeout, MAX_RESPONSE) {
            Ok(body) => parse_inspect(&body).map(Some),
            // No daemon listening, or no such container.
            Err(HttpError::Connect { source, .. })
                if matches!(source.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) =>
            {
                Ok(None)
            }
            Err(HttpError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    config: Option<InspectConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Map an inspect document (`GET /containers/{id}/json`) to what we keep.
pub fn parse_inspect(body: &[u8]) -> Result<DockerContainer, DockerError> {
    let doc: Inspect = serde_json::from_slice(body)?;
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let config = doc.config.unwrap_or(InspectConfig { image: None, labels: None });
    Ok(DockerContainer {
        id: doc.id,
        name: non_empty(doc.name.map(|n| n.strip_prefix('/').map(str::to_owned).unwrap_or(n))),
        image: non_empty(config.image),
        image_id: non_empty(doc.image),
        labels: config.labels.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const INSPECT: &[u8] = include_bytes!("../tests/fixtures/docker-inspect.json");
    const ID: &str = "ba033ac4401106a3b513bc9d639eee123ad78ca3616b921167cd74b20e25ed39";

    fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
        let mut out =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for c in body.chunks(piece) {
            out.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn inspect_document_maps_to_container() {
        let c = parse_inspect(INSPECT).unwrap();
        assert_eq!(c.id, ID);
        assert_eq!(c.name.as_deref(), Some("ecs-web-task-7-web-c2e8f0b4a1d3e5f7a901"));
        assert_eq!(c.image.as_deref(), Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2"));
        assert!(c.image_id.as_deref().unwrap().starts_with("sha256:9b0e"));
        assert_eq!(c.labels.get("com.amazonaws.ecs.container-name").map(String::as_str), Some("web"));
        assert_eq!(c.labels.len(), 6);
        // null labels, missing config, and garbage
        let c = parse_inspect(br#"{"Id":"x","Name":"/n","Config":{"Labels":null}}"#).unwrap();
        assert_eq!((c.name.as_deref(), c.labels.len(), c.image), (Some("n"), 0, None));
        assert!(parse_inspect(br#"{"Id":"x"}"#).is_ok());
        assert!(parse_inspect(b"{").is_err());
        assert!(parse_inspect(br#"{"Id":"x","Config":{"Labels":{"a":1}}}"#).is_err());
    }

    #[test]
    fn no_daemon_is_none_and_ids_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let client = DockerClient::new(tmp.path().join("docker.sock"), Duration::from_millis(200));
        assert!(client.inspect(ID).unwrap().is_none());
        for bad in ["", "../../info", "a b", "x\r\nHost: evil", &"a".repeat(129)] {
            assert!(matches!(client.inspect(bad), Err(DockerError::BadId(_))), "{bad:?}");
        }
        // a socket file nobody listens on
        let path = tmp.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(DockerClient::new(path, Duration::from_millis(200)).inspect(ID).unwrap().is_none());
    }

    /// A fixture server on a unix socket (not a daemon): checks the request
    /// and answers with a canned chunked response, dribbled in small writes.
    #[test]
    fn client_round_trip_against_fixture_server() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("docker.sock");
        let server = crate::test_support::unix_api_stand_in(
            &path,
            vec![chunked(INSPECT, 300), b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}".to_vec()],
        );
        let client = DockerClient::new(&path, Duration::from_secs(5));
        let c = client.inspect(ID).unwrap().unwrap();
        assert_eq!(c.image.as_deref(), Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2"));
        assert_eq!(client.inspect("gone").unwrap(), None);
        let requests = server.join().unwrap();
        assert!(requests.iter().all(|r| r.starts_with("GET /containers/")), "{requests:?}");
    }

    #[test]
    fn silent_server_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = Instant::now();
        let r = DockerClient::new(&path, Duration::from_millis(100)).inspect(ID);
        assert!(matches!(r, Err(DockerError::Http(HttpError::Timeout { .. }))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
