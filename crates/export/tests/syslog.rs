//! Syslog messages parsed back by an RFC 5424 parser written from the RFC's
//! ABNF (§6), and delivered over real UDP and TCP sockets on loopback, with
//! RFC 6587 octet-counting framing on TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::DateTime;
use saker_detect::Finding;
use saker_export::config::{SyslogConfig, SyslogFormat, Transport};
use saker_export::sink::Sink;
use saker_export::syslog::{self, Facility};
use saker_export::syslog_sink::SyslogSink;
use saker_export::{ExportItem, FindingState};
use std::time::Duration;
use support::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

/// One parsed RFC 5424 message.
#[derive(Debug)]
struct Parsed {
    facility: u8,
    severity: u8,
    timestamp: String,
    hostname: String,
    app: String,
    procid: String,
    msgid: String,
    sd: Vec<(String, Vec<(String, String)>)>,
    msg: Vec<u8>,
}

/// RFC 5424 §6: HEADER SP STRUCTURED-DATA [SP MSG]. Every rule the ABNF
/// states is checked; any violation panics with the reason.
fn parse(bytes: &[u8]) -> Parsed {
    let mut p = bytes;
    let take_until = |p: &mut &[u8], stop: u8| -> Vec<u8> {
        let end = p.iter().position(|b| *b == stop).expect("field terminator");
        let (field, rest) = p.split_at(end);
        *p = &rest[1..];
        field.to_vec()
    };
    // PRI = "<" PRIVAL ">", PRIVAL = 1*3DIGIT, 0..191.
    assert_eq!(p[0], b'<', "PRI starts with <");
    p = &p[1..];
    let prival = take_until(&mut p, b'>');
    assert!((1..=3).contains(&prival.len()) && prival.iter().all(u8::is_ascii_digit), "PRIVAL");
    let prival: u16 = std::str::from_utf8(&prival).unwrap().parse().unwrap();
    assert!(prival <= 191, "PRIVAL range");
    // VERSION = NONZERO-DIGIT 0*2DIGIT; we send 1.
    let version = take_until(&mut p, b' ');
    assert_eq!(version, b"1", "VERSION");
    let mut header = |max: usize, what: &str| {
        let f = String::from_utf8(take_until(&mut p, b' ')).unwrap();
        assert!(!f.is_empty() && f.len() <= max, "{what} length");
        assert!(f.bytes().all(|b| (33..=126).contains(&b)), "{what} is PRINTUSASCII: {f:?}");
        f
    };
    let timestamp = header(64, "TIMESTAMP");
    let hostname = header(255, "HOSTNAME");
    let app = header(48, "APP-NAME");
    let procid = header(128, "PROCID");
    let msgid = header(32, "MSGID");
    // TIMESTAMP: FULL-DATE "T" FULL-TIME, TIME-SECFRAC at most 6 digits.
    if timestamp != "-" {
        DateTime::parse_from_rfc3339(&timestamp).expect("TIMESTAMP is RFC 3339");
        if let Some(frac) = timestamp.split('.').nth(1) {
            let digits = frac.trim_end_matches(|c: char| !c.is_ascii_digit()).len();
            assert!((1..=6).contains(&digits), "TIME-SECFRAC has 1 to 6 digits: {timestamp}");
        }
    }
    // STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT.
    let mut sd = Vec::new();
    if p[0] == b'-' {
        p = &p[1..];
    } else {
        while !p.is_empty() && p[0] == b'[' {
            p = &p[1..];
            let id = sd_name(&mut p, "SD-ID");
            let mut params = Vec::new();
            while p[0] == b' ' {
                p = &p[1..];
                let name = sd_name(&mut p, "PARAM-NAME");
                assert_eq!(&p[..2], b"=\"", "PARAM-NAME \"=\" %d34");
                p = &p[2..];
                // PARAM-VALUE: UTF-8 with '"', '\' and ']' escaped.
                let mut value = Vec::new();
                loop {
                    match p[0] {
                        b'\\' if matches!(p.get(1), Some(b'"' | b'\\' | b']')) => {
                            value.push(p[1]);
                            p = &p[2..];
                        }
                        b'"' => {
                            p = &p[1..];
                            break;
                        }
                        b']' => panic!("unescaped ] in PARAM-VALUE"),
                        b => {
                            value.push(b);
                            p = &p[1..];
                        }
                    }
                }
                params.push((name, String::from_utf8(value).expect("PARAM-VALUE is UTF-8")));
            }
            assert_eq!(p[0], b']', "SD-ELEMENT ends with ]");
            p = &p[1..];
            sd.push((id, params));
        }
    }
    let msg = if p.is_empty() {
        Vec::new()
    } else {
        assert_eq!(p[0], b' ', "SP before MSG");
        p[1..].to_vec()
    };
    Parsed {
        facility: (prival / 8) as u8,
        severity: (prival % 8) as u8,
        timestamp,
        hostname,
        app,
        procid,
        msgid,
        sd,
        msg,
    }
}

/// SD-NAME = 1*32PRINTUSASCII except '=', SP, ']', '"'.
fn sd_name(p: &mut &[u8], what: &str) -> String {
    let end = p.iter().position(|b| matches!(b, b'=' | b' ' | b']' | b'"')).unwrap();
    let (name, rest) = p.split_at(end);
    assert!((1..=32).contains(&name.len()), "{what} length");
    assert!(name.iter().all(|b| (33..=126).contains(b)), "{what} characters");
    *p = rest;
    String::from_utf8(name.to_vec()).unwrap()
}

/// MSG = BOM + the finding's JSON; returns the finding.
fn finding_of(msg: &[u8]) -> Finding {
    assert_eq!(&msg[..3], b"\xEF\xBB\xBF", "MSG-UTF8 starts with the BOM");
    serde_json::from_slice(&msg[3..]).expect("MSG is the finding JSON")
}

fn param<'a>(p: &'a Parsed, name: &str) -> &'a str {
    let (id, params) = &p.sd[0];
    assert_eq!(id, "saker@32473");
    &params.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
}

#[test]
fn message_round_trips_through_an_rfc5424_parser() {
    for (what, f) in all() {
        let msg = syslog::message(&new(f.clone()), &ctx(), Facility::Local4).unwrap();
        let p = parse(msg.as_bytes());
        assert_eq!(p.facility, 20, "{what}");
        assert_eq!(p.app, "saker");
        assert_eq!(p.procid, "-");
        assert_eq!(param(&p, "id"), f.id);
        assert_eq!(param(&p, "type"), f.finding_type.name());
        assert_eq!(param(&p, "severity"), format!("{:.1}", f.severity));
        assert_eq!(finding_of(&p.msg), f, "{what}");
    }
}

#[test]
fn header_fields_and_escapes() {
    let p = parse(syslog::message(&new(reverse_shell_ecs()), &ctx(), Facility::Authpriv).unwrap().as_bytes());
    assert_eq!((p.facility, p.severity), (10, 2)); // authpriv, critical (8.0)
    assert_eq!(p.timestamp, "2026-11-28T14:31:47.200000Z");
    assert_eq!(p.hostname, "ip-10-0-12-34.eu-west-1.compute.internal");
    assert_eq!(p.msgid, "Execution:Runtime/ReverseShell");
    assert_eq!(param(&p, "count"), "1");

    // Long type: MSGID cut to 32, the full name in the structured data.
    let long =
        edit(&reverse_shell_ecs(), |j| j["type"] = "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified".into());
    let p = parse(syslog::message(&new(long), &ctx(), Facility::Authpriv).unwrap().as_bytes());
    assert_eq!(p.msgid, "PrivilegeEscalation:Runtime/CGro");
    assert_eq!(param(&p, "type"), "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified");

    // Hostile host name: sanitized in the header; severity 5.0 is Warning.
    let p = parse(syslog::message(&new(hostile_host_behaviour()), &ctx(), Facility::Authpriv).unwrap().as_bytes());
    assert_eq!(p.hostname, "evil_host\"]_");
    assert_eq!(p.severity, 4);

    // A value with every character that needs escaping.
    let tricky = edit(&reverse_shell_ecs(), |j| j["id"] = "a\"b\\c]d".into());
    let p = parse(syslog::message(&new(tricky), &ctx(), Facility::Authpriv).unwrap().as_bytes());
    assert_eq!(param(&p, "id"), "a\"b\\c]d");
}

fn sink(address: String, transport: Transport) -> SyslogSink {
    let cfg = SyslogConfig {
        name: "test".into(),
        address,
        transport,
        facility: Facility::Local0,
        format: SyslogFormat::Rfc5424,
    };
    SyslogSink::new(&cfg, ctx())
}

fn items() -> Vec<ExportItem> {
    vec![
        new(reverse_shell_ecs()),
        new(c2_dns_container()),
        ExportItem::new(hostile_host_behaviour(), FindingState::Updated),
    ]
}

#[tokio::test]
async fn udp_one_message_per_datagram() {
    let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let s = sink(rx.local_addr().unwrap().to_string(), Transport::Udp);
    let items = items();
    let report = s.deliver(&items).await;
    assert_eq!((report.delivered, report.failed), (3, 0), "{report:?}");
    let mut buf = vec![0u8; 70_000];
    for item in &items {
        let n = tokio::time::timeout(Duration::from_secs(5), rx.recv(&mut buf)).await.unwrap().unwrap();
        let p = parse(&buf[..n]);
        assert_eq!(p.facility, 16);
        assert_eq!(finding_of(&p.msg), item.finding);
    }
}

#[tokio::test]
async fn udp_refuses_a_message_larger_than_a_datagram() {
    let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let s = sink(rx.local_addr().unwrap().to_string(), Transport::Udp);
    let huge = edit(&reverse_shell_ecs(), |j| {
        j["service"]["runtimeDetails"]["process"]["argv"] = serde_json::json!(["x".repeat(70_000)]);
    });
    let report = s.deliver(&[new(huge)]).await;
    assert_eq!((report.delivered, report.failed), (0, 1));
    assert!(report.last_error.unwrap().contains("exceeds the UDP limit"));
}

#[tokio::test]
async fn tcp_octet_counting_frames() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = sink(listener.local_addr().unwrap().to_string(), Transport::Tcp);
    let items = items();
    let reader = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut all = Vec::new();
        let mut frames = Vec::new();
        let mut buf = [0u8; 8192];
        // MSG-LEN SP SYSLOG-MSG, repeated; read until three whole frames.
        while frames.len() < 3 {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed early");
            all.extend_from_slice(&buf[..n]);
            while let Some(sp) = all.iter().position(|b| *b == b' ') {
                let len: usize = std::str::from_utf8(&all[..sp]).unwrap().parse().expect("MSG-LEN is digits");
                assert!(all[0] != b'0', "MSG-LEN has no leading zero");
                if all.len() < sp + 1 + len {
                    break;
                }
                frames.push(all[sp + 1..sp + 1 + len].to_vec());
                all.drain(..sp + 1 + len);
            }
        }
        assert!(all.is_empty(), "no bytes outside frames");
        frames
    });
    let report = s.deliver(&items).await;
    assert_eq!((report.delivered, report.failed), (3, 0), "{report:?}");
    let frames = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
    for (frame, item) in frames.iter().zip(&items) {
        assert_eq!(finding_of(&parse(frame).msg), item.finding);
    }
}

#[tokio::test]
async fn tcp_receiver_away_is_a_counted_failure() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let s = sink(addr.to_string(), Transport::Tcp);
    let report = s.deliver(&items()[..1]).await;
    assert_eq!((report.delivered, report.failed), (0, 1));
    assert!(report.last_error.is_some());
}
