//! Threat-intelligence techniques: being reached by a listed address.
//!
//! - `tcp-accept-once ADDR:PORT` — listen on ADDR:PORT, accept one connection
//!   (a Tor node connecting in, for `TorRelay`), print `peer=`. Gives up
//!   after ten seconds with `peer=none`.

use std::net::TcpListener;
use std::time::{Duration, Instant};

pub fn run(action: &str, args: &[&str]) -> bool {
    match action {
        "tcp-accept-once" => accept_once(args[0]),
        _ => return false,
    }
    true
}

fn accept_once(addr: &str) {
    let l = TcpListener::bind(addr).unwrap();
    println!("listening={}", l.local_addr().unwrap());
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match l.accept() {
            Ok((_s, peer)) => {
                println!("peer={peer}");
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("accept on {addr}: {e}"),
        }
    }
    println!("peer=none");
}
