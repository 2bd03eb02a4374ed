//! net.connect / net.accept / net.listen over loopback and unix sockets, and
//! DNS queries/answers (UDP and TCP) against a resolver this test runs on a
//! loopback address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Event, Kind, Payload};
use saker_testkit::{by, harness};

#[test]
fn tcp_listen_connect_accept() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["tcp-serve-once"]);
    let port: u16 = t.stdout.lines().find_map(|l| l.strip_prefix("port=")).unwrap().parse().unwrap();

    let l = h.expect("listen", |e| e.kind == Kind::NetListen && by(e, t.pid));
    let n = l.net().unwrap();
    assert_eq!((n.family.as_str(), n.local_port), ("inet", Some(port)));
    assert_eq!(n.protocol.as_deref(), Some("tcp"));

    let c = h.expect("connect to the listener", |e| {
        e.kind == Kind::NetConnect && by(e, t.pid) && e.net().is_some_and(|n| n.remote_port == Some(port))
    });
    let n = c.net().unwrap();
    assert_eq!(n.remote_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.result, Some(0));
    let client_port = n.local_port.unwrap();
    assert_ne!(client_port, 0);

    let a = h.expect("accept", |e| e.kind == Kind::NetAccept && by(e, t.pid));
    let n = a.net().unwrap();
    assert_eq!(n.local_port, Some(port));
    assert_eq!(n.remote_port, Some(client_port), "accept sees the client's port");
}

#[test]
fn failed_connect_is_reported() {
    let Some(h) = harness() else { return };
    // A port nobody listens on: bind and close to find one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = h.trigger(&["tcp-connect", &format!("127.0.0.1:{port}")]);
    let c = h.expect("refused connect", |e| e.kind == Kind::NetConnect && by(e, t.pid));
    assert_eq!(c.result, Some(-(libc::ECONNREFUSED as i64)));
    assert_eq!(c.net().unwrap().remote_port, Some(port));
}

#[test]
fn ipv6_connect() {
    let Some(h) = harness() else { return };
    let l = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = h.trigger(&["tcp-connect", &format!("[::1]:{port}")]);
    let c = h.expect("IPv6 connect", |e| e.kind == Kind::NetConnect && by(e, t.pid));
    let n = c.net().unwrap();
    assert_eq!((n.family.as_str(), n.remote_address.as_deref()), ("inet6", Some("::1")));
    assert_eq!(n.remote_port, Some(port));
}

#[test]
fn unix_socket_connect_has_path() {
    let Some(h) = harness() else { return };
    let path = format!("/tmp/saker-test-{}.sock", std::process::id());
    let t = h.trigger(&["unix-connect", &path]);
    let c = h.expect("unix connect", |e| e.kind == Kind::NetConnect && by(e, t.pid));
    let n = c.net().unwrap();
    assert_eq!(n.family, "unix");
    assert_eq!(n.unix_path.as_deref(), Some(&*path));
}

fn dns_roundtrip(transport: &str, name: &str) {
    let Some(h) = harness() else { return };
    let server = saker_testkit::dns::resolver();
    let mut args = vec!["dns", server, name];
    if transport == "tcp" {
        args.push("tcp");
    }
    let t = h.trigger(&args);
    assert!(t.stdout.contains("answer_bytes="), "{}", t.stdout);
    let asks = |e: &Event| match &e.payload {
        Payload::Dns(d) => d.questions.iter().any(|q| q.name == name && q.qtype == "A"),
        _ => false,
    };
    let q = h.expect("dns.query from the trigger", |e| e.kind == Kind::DnsQuery && by(e, t.pid) && asks(e));
    let Payload::Dns(d) = &q.payload else { unreachable!() };
    assert_eq!(d.transport, transport);
    assert_eq!((d.server_address.as_str(), d.server_port), ("127.0.0.153", 53));
    let a = h.expect("dns.answer to the trigger", |e| e.kind == Kind::DnsAnswer && by(e, t.pid) && asks(e));
    let Payload::Dns(d) = &a.payload else { unreachable!() };
    assert_eq!(d.answers[0].data, "10.9.8.7");
    assert_eq!(d.answers[0].name, name);
    assert_eq!(d.response_code.as_deref(), Some("NoError"));
}

#[test]
fn dns_over_udp() {
    dns_roundtrip("udp", "c2.saker-test.example");
}

#[test]
fn dns_over_tcp() {
    dns_roundtrip("tcp", "tcp.saker-test.example");
}
