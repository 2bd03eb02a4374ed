//! The webhook against a real HTTP/1.1 server on 127.0.0.1 (a few lines of
//! tokio below) that checks every request's signature the way a receiver
//! would: HMAC-SHA256 over `timestamp "." body`, computed here independently
//! of the crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use hmac::{Hmac, Mac};
use saker_export::config::{Secret, WebhookConfig, WebhookFormat};
use saker_export::sink::Sink;
use saker_export::webhook::{self, WebhookSink};
use saker_export::{ExportItem, SystemClock};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "receiver-and-sender-share-this";

#[derive(Debug, Clone)]
struct Request {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    signature_ok: bool,
}

/// Answers each request with the next status of `script` (the last one
/// repeats), after checking its signature with `secret`: a bad signature is
/// answered 401, whatever the script says.
async fn server(script: Vec<u16>, secret: &'static str) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook?token=t0ps3cret", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                let k = conn.read(&mut buf).await.unwrap();
                assert!(k > 0, "client closed mid-request");
                raw.extend_from_slice(&buf[..k]);
                if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            assert!(lines.next().unwrap().starts_with("POST /hook?token=t0ps3cret HTTP/1.1"));
            let headers: HashMap<String, String> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers["content-length"].parse().unwrap();
            while raw.len() < head_end + len {
                let k = conn.read(&mut buf).await.unwrap();
                raw.extend_from_slice(&buf[..k]);
            }
            let body = raw[head_end..head_end + len].to_vec();
            let signature_ok = check(secret, &headers, &body);
            let status = if signature_ok { script[n.min(script.len() - 1)] } else { 401 };
            n += 1;
            log.lock().unwrap().push(Request { headers, body, signature_ok });
            let extra = if status == 429 { "Retry-After: 0\r\n" } else { "" };
            let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n");
            conn.write_all(resp.as_bytes()).await.unwrap();
            let _ = conn.shutdown().await;
        }
    });
    (url, seen)
}

/// The receiver's check, written from the documented signed string.
fn check(secret: &str, headers: &HashMap<String, String>, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (headers.get("x-saker-timestamp"), headers.get("x-saker-signature")) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let fresh = (chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() <= 300;
    expected == *sig && fresh
}

fn sink(url: String, secret: &str, max_attempts: u32) -> WebhookSink {
    let cfg = WebhookConfig {
        name: "hook".into(),
        url,
        secret: Secret::new(secret),
        format: WebhookFormat::Eventbridge,
        max_attempts,
        initial_backoff_ms: 5,
        max_backoff_ms: 20,
        timeout_secs: 5,
    };
    WebhookSink::new(&cfg, ctx(), Arc::new(SystemClock)).unwrap()
}

#[tokio::test]
async fn retries_500_500_then_200_and_delivers_once() {
    let (url, seen) = server(vec![500, 500, 200], SECRET).await;
    let item = new(reverse_shell_ecs());
    let report = sink(url, SECRET, 5).deliver(std::slice::from_ref(&item)).await;
    assert_eq!((report.delivered, report.failed, report.retries), (1, 0, 2), "{report:?}");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.signature_ok));
    assert!(seen.iter().all(|r| r.headers["content-type"] == "application/json"));
    // Every attempt carries the same event: a receiver can drop duplicates by id.
    assert!(seen.iter().all(|r| r.body == seen[0].body));
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(event["version"], "0");
    assert_eq!(event["source"], "saker");
    assert_eq!(event["detail-type"], "Saker Finding");
    assert_eq!(event["account"], "123456789012");
    assert_eq!(event["region"], "eu-west-1");
    assert_eq!(event["resources"], serde_json::json!([]));
    assert_eq!(serde_json::from_value::<saker_detect::Finding>(event["detail"].clone()).unwrap(), item.finding);
    // The crate's own verifier agrees with the receiver.
    let r = &seen[2];
    let now = chrono::Utc::now().timestamp();
    assert!(webhook::verify(
        SECRET.as_bytes(),
        &r.headers["x-saker-timestamp"],
        &r.body,
        &r.headers["x-saker-signature"],
        now,
        300
    ));
}

#[tokio::test]
async fn retries_429_honouring_retry_after() {
    let (url, seen) = server(vec![429, 200], SECRET).await;
    let report = sink(url, SECRET, 3).deliver(&[new(c2_ip_instance())]).await;
    assert_eq!((report.delivered, report.retries), (1, 1), "{report:?}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_signature_is_rejected_and_not_retried() {
    let (url, seen) = server(vec![200], SECRET).await;
    let report = sink(url, "a-different-secret-entirely", 5).deliver(&[new(c2_ip_instance())]).await;
    assert_eq!((report.delivered, report.failed, report.retries), (0, 1, 0), "{report:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "4xx other than 408/429 is final");
    assert!(!seen[0].signature_ok);
    let err = report.last_error.unwrap();
    assert!(err.contains("401"), "{err}");

    // And the verifier refuses tampering and staleness.
    let (ts, body) = ("1800000000", br#"{"a":1}"#.as_slice());
    let sig = webhook::signature(SECRET.as_bytes(), ts, body);
    assert!(webhook::verify(SECRET.as_bytes(), ts, body, &sig, 1_800_000_100, 300));
    assert!(!webhook::verify(SECRET.as_bytes(), ts, br#"{"a":2}"#, &sig, 1_800_000_100, 300));
    assert!(!webhook::verify(SECRET.as_bytes(), "1800000001", body, &sig, 1_800_000_100, 300));
    assert!(!webhook::verify(SECRET.as_bytes(), ts, body, &sig, 1_800_001_000, 300));
    assert!(!webhook::verify(b"wrong", ts, body, &sig, 1_800_000_100, 300));
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let (url, seen) = server(vec![503], SECRET).await;
    let items = [new(reverse_shell_ecs()), ExportItem::new(c2_ip_instance(), saker_export::FindingState::Updated)];
    let report = sink(url, SECRET, 3).deliver(&items).await;
    assert_eq!((report.delivered, report.failed, report.retries), (0, 2, 4), "{report:?}");
    assert_eq!(seen.lock().unwrap().len(), 6, "3 attempts per event");
    let err = report.last_error.unwrap();
    assert!(err.contains("gave up after 3 attempts") && err.contains("503"), "{err}");
}

#[tokio::test]
async fn connect_errors_are_retried_then_counted() {
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let url = format!("http://{addr}/hook?token=t0ps3cret");
    let report = sink(url, SECRET, 2).deliver(&[new(reverse_shell_ecs())]).await;
    assert_eq!((report.delivered, report.failed, report.retries), (0, 1, 1), "{report:?}");
    let err = report.last_error.unwrap();
    assert!(!err.contains("t0ps3cret"), "the URL's query stays out of errors: {err}");
    assert!(err.to_lowercase().contains("refused"), "the cause is in the error: {err}");
}
