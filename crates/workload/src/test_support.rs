//! Test-only helpers shared by this crate's unit tests.

use std::io::{Read, Write};
use std::path::Path;
use std::thread::JoinHandle;

/// A unix-socket stand-in for a container API (no Docker or podman service
/// runs where the tests run): answers one connection per reply, in order,
/// dribbling each reply in small writes. Returns the request heads it read.
pub(crate) fn unix_api_stand_in(path: &Path, replies: Vec<Vec<u8>>) -> JoinHandle<Vec<String>> {
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bind stand-in socket");
    std::thread::spawn(move || {
        let mut requests = Vec::new();
        for reply in replies {
            let (mut s, _) = listener.accept().expect("accept");
            let mut req = Vec::new();
            let mut b = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut b).expect("read request");
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&b[..n]);
            }
            for piece in reply.chunks(1000) {
                s.write_all(piece).expect("write reply");
            }
            requests.push(String::from_utf8_lossy(&req).into_owned());
        }
        requests
    })
}

/// Whether a privileged test may run: as root, yes; otherwise it skips with a
/// loud message — unless `SAKER_REQUIRE_PRIVILEGED=1` (CI), where it fails.
pub(crate) fn privileged(why: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() != Ok("1"), "privileged test not run as root: {why}");
    eprintln!("SKIPPED (LOUDLY): {why} needs root");
    false
}
