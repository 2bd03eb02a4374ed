//! What the container finding tests do from inside a container with
//! `saker-trigger` (shipped in the image by `ContainerSpec::with_trigger`).
//!
//! - `docker-api SOCKET` — what a container that found the Docker socket
//!   mounted into it does first: connect to it and ask the Engine API for
//!   the host's containers (`GET /containers/json`); prints the reply's
//!   status line as `status=`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

pub fn run(action: &str, args: &[&str]) -> bool {
    match action {
        "docker-api" => docker_api(args[0]),
        _ => return false,
    }
    true
}

fn docker_api(socket: &str) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(b"GET /v1.41/containers/json HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    println!("status={}", reply.lines().next().unwrap_or(""));
}
