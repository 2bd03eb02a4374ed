//! Event builders for detection tests: each test reads as "these events in,
//! these findings out".

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use saker_detect::intel::{Intel, IntelHandle};
use saker_detect::{DetectConfig, Detector, Finding, FindingType};
use saker_model::*;
use std::sync::Arc;
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().with_timezone(&Utc)
}

pub fn proc(pid: u32, exe: &str, argv: &[&str]) -> Process {
    Process {
        uuid: Uuid::from_u128(pid as u128 + 1000),
        parent_uuid: None,
        pid,
        ns_pid: pid,
        name: exe.rsplit('/').next().unwrap_or(exe).chars().take(15).collect::<String>().into(),
        executable: Some(exe.into()),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
        ..Default::default()
    }
}

/// One event; chain the builder methods below.
pub fn event(kind: Kind, p: Process, payload: Payload) -> Event {
    Event {
        kind,
        time: t0(),
        result: Some(0),
        process: Some(Arc::new(p)),
        lineage: Default::default(),
        container: None,
        ecs: None,
        kubernetes: None,
        host: Some(Arc::new(Host {
            hostname: "test-host".into(),
            machine_id: Some("m1".into()),
            ec2_instance_id: None,
        })),
        task: None,
        payload,
    }
}

pub trait EventExt {
    fn parent(self, p: Process) -> Self;
    fn in_container(self, id: &str) -> Self;
    fn in_ecs_task(self, cluster: &str, task: &str) -> Self;
    fn at(self, secs: i64) -> Self;
    fn result(self, r: i64) -> Self;
    fn root(self) -> Self;
}

impl EventExt for Event {
    fn parent(mut self, mut parent: Process) -> Self {
        if let Some(p) = &mut self.process {
            Arc::make_mut(p).parent_uuid = Some(parent.uuid);
        }
        parent.parent_uuid = None;
        self.lineage = std::iter::once(Arc::new(parent)).chain(self.lineage.iter().cloned()).collect();
        self
    }
    fn in_container(mut self, id: &str) -> Self {
        self.container = Some(Arc::new(Container {
            id: id.to_owned(),
            runtime: Some("runc".into()),
            image: Some("public.ecr.aws/test/app:1".into()),
            ..Default::default()
        }));
        self
    }
    fn in_ecs_task(mut self, cluster: &str, task: &str) -> Self {
        self.ecs = Some(Arc::new(Ecs {
            cluster: Some(cluster.into()),
            task_arn: Some(task.into()),
            task_family: Some("web".into()),
            task_revision: Some("3".into()),
            container_name: Some("app".into()),
            ..Default::default()
        }));
        self
    }
    fn at(mut self, secs: i64) -> Self {
        self.time = t0() + Duration::seconds(secs);
        self
    }
    fn result(mut self, r: i64) -> Self {
        self.result = Some(r);
        self
    }
    fn root(mut self) -> Self {
        if let Some(p) = &mut self.process {
            let p = Arc::make_mut(p);
            p.uid = 0;
            p.euid = 0;
        }
        self
    }
}

pub fn exec_event(pid: u32, exe: &str, argv: &[&str]) -> Event {
    let x = ExecInfo {
        filename: Some(exe.to_owned()),
        executable: Some(exe.to_owned()),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    event(Kind::ProcessExec, proc(pid, exe, argv), Payload::Exec(Box::new(x)))
}

pub fn with_exec(mut ev: Event, f: impl FnOnce(&mut ExecInfo)) -> Event {
    if let Payload::Exec(x) = &mut ev.payload {
        f(x);
    }
    ev
}

/// An exec whose stdin and stdout are a TCP socket connected to `addr:port`.
pub fn with_socket_stdio(ev: Event, addr: &str, port: u16) -> Event {
    with_exec(ev, |x| {
        x.stdin_socket = true;
        x.stdout_socket = true;
        x.stdin_peer = Some(SocketPeer {
            family: "inet".into(),
            protocol: Some("tcp".into()),
            remote_address: Some(addr.into()),
            remote_port: Some(port),
        });
    })
}

pub fn file_event(kind: Kind, pid: u32, exe: &str, path: &str) -> Event {
    let f = FileInfo { path: path.to_owned(), flags: 0o1, ..Default::default() };
    event(kind, proc(pid, exe, &[exe]), Payload::File(f))
}

pub fn net_event(kind: Kind, pid: u32, exe: &str, argv: &[&str], remote: &str, port: u16) -> Event {
    let family = if remote.contains(':') { "inet6" } else { "inet" };
    let n = NetInfo {
        family: family.into(),
        protocol: Some("tcp".into()),
        local_address: Some("10.0.0.5".into()),
        local_port: Some(40000),
        remote_address: Some(remote.to_owned()),
        remote_port: Some(port),
        ..Default::default()
    };
    event(kind, proc(pid, exe, argv), Payload::Net(n))
}

pub fn unix_connect(pid: u32, exe: &str, path: &str) -> Event {
    let n = NetInfo { family: "unix".into(), unix_path: Some(path.to_owned()), ..Default::default() };
    event(Kind::NetConnect, proc(pid, exe, &[exe]), Payload::Net(n))
}

pub fn dns_query(pid: u32, name: &str) -> Event {
    let d = DnsInfo {
        id: 7,
        transport: "udp".into(),
        server_address: "127.0.0.53".into(),
        server_port: 53,
        questions: vec![DnsQuestion { name: name.to_owned(), qtype: "A".into() }],
        ..Default::default()
    };
    event(Kind::DnsQuery, proc(pid, "/usr/bin/curl", &["curl"]), Payload::Dns(d))
}

pub fn dns_answer(pid: u32, name: &str, addr: &str) -> Event {
    let d = DnsInfo {
        id: 7,
        transport: "udp".into(),
        server_address: "127.0.0.53".into(),
        server_port: 53,
        questions: vec![DnsQuestion { name: name.to_owned(), qtype: "A".into() }],
        answers: vec![DnsRecord { name: name.to_owned(), rtype: "A".into(), ttl: 60, data: addr.to_owned() }],
        response_code: Some("NoError".into()),
    };
    event(Kind::DnsAnswer, proc(pid, "/usr/bin/curl", &["curl"]), Payload::Dns(d))
}

/// Run events through a fresh detector.
pub fn detect(intel: Intel, events: &[Event]) -> Vec<Finding> {
    let mut d = Detector::new(DetectConfig::default(), IntelHandle::new(intel));
    let mut out = Vec::new();
    for ev in events {
        d.process(ev, &mut out);
    }
    d.flush(&mut out);
    for f in &out {
        assert!(
            f.undeclared_context_fields().is_empty(),
            "{}: context fields missing from the catalog: {:?}",
            f.finding_type,
            f.undeclared_context_fields()
        );
    }
    out
}

pub fn types(findings: &[Finding]) -> Vec<FindingType> {
    findings.iter().map(|f| f.finding_type).collect()
}

/// Exactly one finding, of this type; returns it.
#[track_caller]
pub fn only(findings: &[Finding], t: FindingType) -> &Finding {
    assert_eq!(types(findings), vec![t], "{:#?}", findings);
    &findings[0]
}

pub fn ctx<'a>(f: &'a Finding, field: &str) -> &'a serde_json::Value {
    f.service.runtime_details.context.get(field).unwrap_or_else(|| panic!("context {field} missing: {:#?}", f))
}
