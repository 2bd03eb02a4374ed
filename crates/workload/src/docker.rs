//! A minimal Docker Engine API client: `GET /containers/<id>/json` over the
//! daemon's unix socket, for a container's name, image and labels.
//!
//! Written by hand (HTTP/1.1 over `UnixStream`) because that one request is
//! all attribution needs. The socket is the daemon's, but the labels and names
//! in the answer were chosen by whoever started the container: the response is
//! parsed as untrusted input, bounded in size and time. No daemon (no socket,
//! or nothing listening) is `Ok(None)` and costs one failed `connect`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    #[error("docker socket {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("docker API request timed out")]
    Timeout,
    #[error("malformed HTTP response: {0}")]
    Http(&'static str),
    #[error("docker API answered {status}")]
    Status { status: u16 },
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
        let io = |source| DockerError::Io { path: self.socket.clone(), source };
        let mut stream = match UnixStream::connect(&self.socket) {
            Ok(s) => s,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        };
        let deadline = Instant::now() + self.timeout;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let request = format!("GET /containers/{id}/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).map_err(io)?;

        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let response = loop {
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
            let left = left.ok_or(DockerError::Timeout)?;
            stream.set_read_timeout(Some(left)).map_err(io)?;
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Err(DockerError::Timeout);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err(DockerError::Http("response too large"));
            }
            if let Some(r) = parse_response(&buf, n == 0)? {
                break r;
            }
            if n == 0 {
                return Err(DockerError::Http("connection closed mid-response"));
            }
        };
        match response.status {
            200 => parse_inspect(&response.body).map(Some),
            404 => Ok(None),
            status => Err(DockerError::Status { status }),
        }
    }
}

/// A complete HTTP response.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Parse an HTTP/1.x response from what has arrived so far. `Ok(None)`: not
/// complete yet. `eof`: the peer closed, so a body without length ends here.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<HttpResponse>, DockerError> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| DockerError::Http("header is not UTF-8"))?;
    let rest = &buf[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut words = status_line.split(' ');
    if !words.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(DockerError::Http("not an HTTP/1.x status line"));
    }
    let status = words.next().and_then(|s| s.parse::<u16>().ok()).ok_or(DockerError::Http("bad status code"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(DockerError::Http("bad header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| DockerError::Http("bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|v| v.trim() == "chunked");
        }
    }
    let body = if chunked {
        match dechunk(rest)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else if let Some(len) = content_length {
        if len > MAX_RESPONSE {
            return Err(DockerError::Http("response too large"));
        }
        match rest.get(..len) {
            Some(body) => body.to_vec(),
            None => return Ok(None),
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if eof {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(HttpResponse { status, body }))
}

/// Decode a chunked body; `Ok(None)` until the last chunk has arrived.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, DockerError> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(&rest[..eol]).map_err(|_| DockerError::Http("bad chunk size"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| DockerError::Http("bad chunk size"))?;
        if size > MAX_RESPONSE || body.len() + size > MAX_RESPONSE {
            return Err(DockerError::Http("response too large"));
        }
        rest = &rest[eol + 2..];
        if size == 0 {
            // Trailers, if any, are not needed: the body is complete.
            return Ok(Some(body));
        }
        let Some(data) = rest.get(..size) else { return Ok(None) };
        body.extend_from_slice(data);
        match rest.get(size..size + 2) {
            Some(b"\r\n") => rest = &rest[size + 2..],
            Some(_) => return Err(DockerError::Http("chunk not followed by CRLF")),
            None => return Ok(None),
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
    fn http_content_length_and_chunked() {
        let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", INSPECT.len()).into_bytes();
        resp.extend_from_slice(INSPECT);
        let got = parse_response(&resp, false).unwrap().unwrap();
        assert_eq!((got.status, got.body.as_slice()), (200, INSPECT));
        // every prefix is incomplete, never an error or a panic
        for cut in 0..resp.len() {
            assert_eq!(parse_response(&resp[..cut], false).unwrap(), None, "cut {cut}");
        }
        let resp = chunked(INSPECT, 700);
        assert_eq!(parse_response(&resp, false).unwrap().unwrap().body, INSPECT);
        for cut in (0..resp.len()).step_by(37) {
            assert_eq!(parse_response(&resp[..cut], false).unwrap(), None, "cut {cut}");
        }
        let nf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 29\r\n\r\n{\"message\":\"No such container\"}";
        assert_eq!(parse_response(nf, false).unwrap().unwrap().status, 404);
        // no length: the body runs to EOF
        let eof = b"HTTP/1.0 200 OK\r\n\r\n{}";
        assert_eq!(parse_response(eof, false).unwrap(), None);
        assert_eq!(parse_response(eof, true).unwrap().unwrap().body, b"{}");
    }

    #[test]
    fn http_garbage_is_an_error() {
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX",
        ] {
            assert!(parse_response(bad, true).is_err(), "{}", String::from_utf8_lossy(bad));
        }
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
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            for answer in [chunked(INSPECT, 300), b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}".to_vec()] {
                let (mut s, _) = listener.accept().unwrap();
                let mut req = Vec::new();
                let mut b = [0u8; 512];
                while !req.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut b).unwrap();
                    req.extend_from_slice(&b[..n]);
                }
                let req = String::from_utf8(req).unwrap();
                assert!(req.starts_with("GET /containers/"), "{req}");
                for piece in answer.chunks(1000) {
                    s.write_all(piece).unwrap();
                }
            }
        });
        let client = DockerClient::new(&path, Duration::from_secs(5));
        let c = client.inspect(ID).unwrap().unwrap();
        assert_eq!(c.image.as_deref(), Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2"));
        assert_eq!(client.inspect("gone").unwrap(), None);
        server.join().unwrap();
    }

    #[test]
    fn silent_server_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = Instant::now();
        let r = DockerClient::new(&path, Duration::from_millis(100)).inspect(ID);
        assert!(matches!(r, Err(DockerError::Timeout)), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
