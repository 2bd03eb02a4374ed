//! A minimal blocking HTTP/1.1 client for the link-local metadata services
//! (ECS task metadata, EC2 IMDS): `http://<ip>[:port]/path` only, no TLS, no
//! DNS, no redirects, one request per connection, bounded in time and size.
//! The same response handling serves the Docker/podman APIs over unix sockets.
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
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
    #[error("cannot connect to {peer}: {source}")]
    Connect { peer: String, source: io::Error },
    #[error("I/O error with {peer}: {source}")]
    Io { peer: String, source: io::Error },
    #[error("no complete response from {peer} in time")]
    Timeout { peer: String },
    #[error("malformed HTTP response from {peer}: {what}")]
    Malformed { peer: String, what: &'static str },
    #[error("HTTP status {status} from {peer}")]
    Status { peer: String, status: u16 },
    #[error("response body from {peer} exceeds {limit} bytes")]
    TooLarge { peer: String, limit: usize },
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
    let head = request_head(method, &parsed.path, &parsed.host_header(), headers)?;
    let addr = parsed.socket_addr();
    let peer = addr.to_string();
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| HttpError::Connect { peer: peer.clone(), source })?;
    let mut conn = Conn { stream, peer, buf: Vec::new(), pos: 0, deadline: Instant::now() + timeout };
    conn.send(head.as_bytes())?;
    conn.read_response(max_body)
}

/// `GET path` over a unix socket (the Docker and podman APIs), with the same
/// response handling as [`request`]. `timeout` bounds the whole exchange.
pub fn get_unix(socket: &Path, path: &str, timeout: Duration, max_body: usize) -> Result<Vec<u8>, HttpError> {
    let head = request_head("GET", path, "localhost", &[])?;
    let peer = socket.display().to_string();
    let stream = UnixStream::connect(socket).map_err(|source| HttpError::Connect { peer: peer.clone(), source })?;
    let mut conn = Conn { stream, peer, buf: Vec::new(), pos: 0, deadline: Instant::now() + timeout };
    conn.send(head.as_bytes())?;
    conn.read_response(max_body)
}

/// The request line and headers. Paths and values may carry data from the
/// network (a container id, an IMDS token): refuse anything that could end
/// a line.
fn request_head(method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> Result<String, HttpError> {
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
        return Err(HttpError::BadHeader(method.to_string()));
    }
    if !path.starts_with('/') || !path.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(HttpError::UnsupportedUrl(path.to_string()));
    }
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: saker\r\nConnection: close\r\n");
    for (name, value) in headers {
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
    Ok(head)
}

/// The transports a [`Conn`] runs over: both have per-call timeouts.
trait Transport: Read + Write {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

impl Transport for UnixStream {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

/// One connection, read through a small buffer against a deadline.
struct Conn<S: Transport> {
    stream: S,
    peer: String,
    buf: Vec<u8>,
    /// How much of `buf` has been consumed.
    pos: usize,
    deadline: Instant,
}

impl<S: Transport> Conn<S> {
    fn remaining(&self) -> Result<Duration, HttpError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() { Err(HttpError::Timeout { peer: self.peer.clone() }) } else { Ok(left) }
    }

    fn io_error(&self, source: io::Error) -> HttpError {
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout { peer: self.peer.clone() },
            _ => HttpError::Io { peer: self.peer.clone(), source },
        }
    }

    fn malformed(&self, what: &'static str) -> HttpError {
        HttpError::Malformed { peer: self.peer.clone(), what }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        let left = self.remaining()?;
        self.stream.set_timeouts(None, Some(left)).map_err(|e| self.io_error(e))?;
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
            self.stream.set_timeouts(Some(left), None).map_err(|e| self.io_error(e))?;
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
            return Err(HttpError::Status { peer: self.peer.clone(), status: head.status });
        }
        let too_large = HttpError::TooLarge { peer: self.peer.clone(), limit: max_body };
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
                return Err(HttpError::TooLarge { peer: self.peer.clone(), limit: max_body });
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
