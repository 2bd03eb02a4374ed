//! Test support: a loopback HTTP server standing in for the ECS task metadata
//! endpoint (which only exists inside ECS), and a generic one for other
//! loopback fixtures (the IMDS test in [`crate::host`]).
//!
//! Binds `127.0.0.1:0`, answers one connection at a time, stops when dropped.
//! Not for production use; it is public so that tests in other crates can
//! attribute processes to a fake task.
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// An EC2 launch-type task with two containers, in the documented v4 shape.
pub const EC2_TASK: &str = include_str!("../../tests/fixtures/ecs/task_ec2.json");
/// A Fargate task (cluster given as an ARN), in the documented v4 shape.
pub const FARGATE_TASK: &str = include_str!("../../tests/fixtures/ecs/task_fargate.json");

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
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
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
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
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
    let mut out =
        format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
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
