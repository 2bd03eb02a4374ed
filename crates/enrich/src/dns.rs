//! DNS messages captured on port 53, parsed with hickory-proto.
//!
//! The payload is attacker-influenced (a malicious resolver or a crafted
//! packet): a message that does not parse is an error, never a panic.

use hickory_proto::op::{Message, MessageType};
use saker_model::{DnsInfo, DnsQuestion, DnsRecord, Kind};

/// Why a captured DNS payload was not turned into an event.
#[derive(Debug, thiserror::Error)]
#[error("malformed DNS message ({len} bytes): {reason}")]
pub struct DnsParseError {
    pub len: usize,
    pub reason: String,
}

/// Parse one DNS message. Returns `dns.query` or `dns.answer` and its info;
/// `server` is the remote end of the process's socket.
pub fn parse(
    payload: &[u8],
    transport: &str,
    server_address: String,
    server_port: u16,
) -> Result<(Kind, DnsInfo), DnsParseError> {
    let msg = Message::from_vec(payload).map_err(|e| DnsParseError { len: payload.len(), reason: e.to_string() })?;
    let questions = msg
        .queries()
        .iter()
        .map(|q| DnsQuestion { name: display_name(&q.name().to_ascii()), qtype: q.query_type().to_string() })
        .collect();
    let mut info = DnsInfo {
        id: msg.id(),
        transport: transport.to_owned(),
        server_address,
        server_port,
        questions,
        answers: Vec::new(),
        response_code: None,
    };
    let kind = match msg.message_type() {
        MessageType::Query => Kind::DnsQuery,
        MessageType::Response => {
            info.response_code = Some(format!("{:?}", msg.response_code()));
            info.answers = msg
                .answers()
                .iter()
                .map(|r| DnsRecord {
                    name: display_name(&r.name().to_ascii()),
                    rtype: r.record_type().to_string(),
                    ttl: r.ttl(),
                    data: r.data().to_string(),
                })
                .collect();
            Kind::DnsAnswer
        }
    };
    Ok((kind, info))
}

/// Names without the root's trailing dot, as people write them.
fn display_name(name: &str) -> String {
    match name.strip_suffix('.') {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::str::FromStr;

    fn query_bytes() -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x1234);
        m.add_query(Query::query(Name::from_str("evil.example.com.").unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    #[test]
    fn parses_query() {
        let (kind, info) = parse(&query_bytes(), "udp", "127.0.0.1".into(), 53).unwrap();
        assert_eq!(kind, Kind::DnsQuery);
        assert_eq!(info.id, 0x1234);
        assert_eq!(info.questions, vec![DnsQuestion { name: "evil.example.com".into(), qtype: "A".into() }]);
        assert!(info.answers.is_empty());
    }

    #[test]
    fn parses_answer() {
        let mut m = Message::new();
        m.set_id(7).set_message_type(MessageType::Response);
        let name = Name::from_str("evil.example.com.").unwrap();
        m.add_query(Query::query(name.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(name, 60, RData::A(A::new(169, 254, 169, 254))));
        let (kind, info) = parse(&m.to_vec().unwrap(), "tcp", "10.0.0.2".into(), 53).unwrap();
        assert_eq!(kind, Kind::DnsAnswer);
        assert_eq!(info.answers[0].data, "169.254.169.254");
        assert_eq!(info.answers[0].rtype, "A");
        assert_eq!(info.response_code.as_deref(), Some("NoError"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(&[0xff; 5], "udp", String::new(), 53).is_err());
        let mut truncated = query_bytes();
        truncated.truncate(truncated.len() - 3);
        assert!(parse(&truncated, "udp", String::new(), 53).is_err());
    }
}
