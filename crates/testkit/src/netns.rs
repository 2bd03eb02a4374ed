//! A network namespace joined to the host by a veth pair, with addresses from
//! the documentation ranges (198.51.100.0/24, 2001:db8::/32): a remote peer
//! the tests own. Tests connect to listeners inside it, or connect out of it
//! to listeners on the host side, without any real internet address.
//!
//! ```ignore
//! let mut ns = Netns::new(3);                          // subnet 3 of the range
//! let inside = ns.listen((ns.ns_v4, 0).into());        // accepts until dropped
//! let s = ns.connect((ns.host_v4, 7000).into());       // from inside, to the host
//! ```
//!
//! Everything is removed on drop (listeners closed, veth and netns deleted).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Netns {
    /// The namespace's name (`ip netns`).
    pub name: String,
    /// The veth end left on the host.
    pub host_if: String,
    /// Host side of the link.
    pub host_v4: Ipv4Addr,
    pub host_v6: Ipv6Addr,
    /// Inside the namespace.
    pub ns_v4: Ipv4Addr,
    pub ns_v6: Ipv6Addr,
    /// Listeners inside, each with the thread accepting on it.
    listeners: Vec<(Arc<TcpListener>, JoinHandle<()>)>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl Netns {
    /// A namespace on subnet `index` (0..64) of the test ranges: the host end
    /// is 198.51.100.(4·index+1)/30 and 2001:db8:5a:index::1/64, the inside
    /// end .(4·index+2) and ::2. Use one index per test so addresses stay
    /// distinct across tests running in parallel.
    pub fn new(index: u8) -> Netns {
        assert!(index < 64, "subnet index {index} out of 0..64");
        let pid = std::process::id();
        let name = format!("saker-t{pid}-{index}");
        let host_if = format!("sk{}h{index}", pid % 100_000);
        let ns_if = format!("sk{}n{index}", pid % 100_000);
        let base = 4 * index;
        let host_v4 = Ipv4Addr::new(198, 51, 100, base + 1);
        let ns_v4 = Ipv4Addr::new(198, 51, 100, base + 2);
        let host_v6 = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, u16::from(index), 0, 0, 0, 1);
        let ns_v6 = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, u16::from(index), 0, 0, 0, 2);
        // From here on, drop cleans up whatever was made.
        let ns = Netns { name, host_if, host_v4, host_v6, ns_v4, ns_v6, listeners: Vec::new() };
        let n = ns.name.as_str();
        ip(&["netns", "add", n]);
        ip(&["link", "add", &ns.host_if, "type", "veth", "peer", "name", &ns_if, "netns", n]);
        ip(&["addr", "add", &format!("{host_v4}/30"), "dev", &ns.host_if]);
        ip(&["-6", "addr", "add", &format!("{host_v6}/64"), "dev", &ns.host_if, "nodad"]);
        ip(&["link", "set", &ns.host_if, "up"]);
        ip(&["-n", n, "addr", "add", &format!("{ns_v4}/30"), "dev", &ns_if]);
        ip(&["-n", n, "-6", "addr", "add", &format!("{ns_v6}/64"), "dev", &ns_if, "nodad"]);
        ip(&["-n", n, "link", "set", &ns_if, "up"]);
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ns
    }

    /// Run `f` on a thread that has joined the namespace; sockets it creates
    /// stay in the namespace after it returns.
    pub fn in_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("opening the netns");
                // SAFETY: a valid namespace fd; only this thread moves.
                let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("the netns thread panicked")
        })
    }

    /// A TCP listener inside the namespace at `addr` (port 0: any) that
    /// accepts and closes connections until the namespace is dropped.
    /// Returns its address.
    pub fn listen(&mut self, addr: SocketAddr) -> SocketAddr {
        let l = self.in_ns(|| TcpListener::bind(addr)).unwrap_or_else(|e| panic!("listen on {addr} in netns: {e}"));
        let local = l.local_addr().expect("listener address");
        let l = Arc::new(l);
        let accepting = {
            let l = Arc::clone(&l);
            // Ends when drop shuts the listener down (accept fails).
            std::thread::spawn(move || {
                while let Ok((s, _)) = l.accept() {
                    drop(s);
                }
            })
        };
        self.listeners.push((l, accepting));
        local
    }

    /// Connect from inside the namespace to `to`, retrying while nothing
    /// listens there yet (a listener being started by another process).
    pub fn connect(&self, to: SocketAddr) -> TcpStream {
        let deadline = Instant::now() + crate::WAIT;
        loop {
            match self.in_ns(|| TcpStream::connect_timeout(&to, Duration::from_secs(2))) {
                Ok(s) => return s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("connect from netns {} to {to}: {e}", self.name),
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for (l, accepting) in self.listeners.drain(..) {
            // SAFETY: an open listener's fd (we hold it); shutdown wakes the
            // blocked accept, which then fails.
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
            let _ = accepting.join();
        }
        // Deleting one end of a veth pair deletes both.
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}
