//! A DNS resolver for tests, on a loopback address: answers every A query
//! with 10.9.8.7, over UDP and TCP — except names under [`REBIND_DOMAIN`],
//! answered with the cloud metadata address (a DNS rebinding attack).

use std::io::{Read, Write};

/// Names under this domain resolve to 169.254.169.254, the instance
/// metadata service, the way an attacker's rebinding name does.
pub const REBIND_DOMAIN: &str = "rebind.saker.test";

/// The address every other name resolves to.
pub const ANSWER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 9, 8, 7);

/// A resolver on 127.0.0.153:53 answering every A query with [`ANSWER`]
/// (names under [`REBIND_DOMAIN`]: 169.254.169.254).
pub fn resolver() -> &'static str {
    use std::sync::OnceLock;
    static ADDR: OnceLock<&'static str> = OnceLock::new();
    ADDR.get_or_init(|| {
        let addr = "127.0.0.153:53";
        let udp = std::net::UdpSocket::bind(addr).expect("bind UDP 127.0.0.153:53");
        let tcp = std::net::TcpListener::bind(addr).expect("bind TCP 127.0.0.153:53");
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                if let Some(answer) = answer(&buf[..n]) {
                    let _ = udp.send_to(&answer, peer);
                }
            }
        });
        std::thread::spawn(move || {
            for mut s in tcp.incoming().flatten() {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if s.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(a) = answer(&q) {
                    let mut framed = (a.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&a);
                    let _ = s.write_all(&framed);
                }
            }
        });
        addr
    })
}

pub fn answer(query: &[u8]) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    let q = Message::from_vec(query).ok()?;
    let mut m = Message::new();
    m.set_id(q.id()).set_message_type(MessageType::Response);
    for question in q.queries() {
        m.add_query(question.clone());
        let name = question.name().to_ascii().to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        let rebind = name.strip_suffix(REBIND_DOMAIN).is_some_and(|rest| rest.is_empty() || rest.ends_with('.'));
        let addr = if rebind { std::net::Ipv4Addr::new(169, 254, 169, 254) } else { ANSWER };
        m.add_answer(Record::from_rdata(question.name().clone(), 300, RData::A(A::from(addr))));
    }
    m.to_vec().ok()
}
