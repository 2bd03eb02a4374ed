//! Regenerates `crates/bench/assets/mixed.sakerrec.gz`, the recording
//! `saker bench pipeline` replays, from the real sensor on this machine:
//!
//! ```text
//! sudo cargo test -p saker-agent --test record_asset -- --ignored --nocapture
//! ```
//!
//! A child bash script makes the activity (execs of /bin/true, shell
//! pipelines, file writes, renames, chmods, symlinks and deletes under a
//! watched dot-directory of /root, writes to a file named `release_agent` in
//! a temp directory, TCP connects to a loopback
//! listener, DNS queries to a loopback resolver — among them one of
//! GuardDuty's published test domains). Loopback only. This process is the
//! "agent" and is excluded in the kernel, as the agent always is; whatever
//! else runs on the machine meanwhile is recorded too, as it would be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::record::{RecordOptions, record};
use saker_sensor::SensorConfig;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The resolver's address: its own loopback address, so it never meets the
/// test kit's (127.0.0.153) when both run on one machine.
const RESOLVER: &str = "127.0.0.154";
/// GuardDuty's C&C test domain (`Backdoor:Runtime/C&CActivity.B!DNS`).
pub const TEST_DOMAIN: &str = "c2.guarddutyc2activityb.com";
const RECORDS: u64 = 30_000;

fn asset() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/assets/mixed.sakerrec.gz"))
}

/// A DNS A query for `name`, as bash `printf` escapes.
fn query_escapes(id: u16, name: &str) -> String {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// Answer every query with 10.9.8.7: the query, flagged a response, plus
/// one A record pointing back at the question's name.
fn resolver() -> UdpSocket {
    let sock = UdpSocket::bind((RESOLVER, 53)).expect("bind the loopback resolver");
    let s = sock.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut a = buf[..n].to_vec();
            a[2] = 0x81;
            a[3] = 0x80;
            a[6] = 0;
            a[7] = 1;
            a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7]);
            let _ = s.send_to(&a, peer);
        }
    });
    sock
}

fn listener() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    });
    port
}

fn activity(port: u16, dir: &std::path::Path) -> Child {
    let benign = query_escapes(0x1234, "bench.saker.test");
    let flagged = query_escapes(0x4321, TEST_DOMAIN);
    let script = format!(
        r#"
set -u
dir='{dir}'
for i in $(seq 1 100000); do
  /bin/true
  echo "line $i" | cat | wc -c > /dev/null
  echo "$i" > "$dir/release_agent"
  echo "$i" > /root/.saker-bench-rec/state
  {{ exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; }} 2>/dev/null
  if [ $((i % 50)) -eq 1 ]; then
    printf '{flagged}' > /dev/udp/{RESOLVER}/53
  else
    printf '{benign}' > /dev/udp/{RESOLVER}/53
  fi
  sh -c 'ls / > /dev/null'
  if [ $((i % 10)) -eq 0 ]; then
    mv /root/.saker-bench-rec/state /root/.saker-bench-rec/state.old
    chmod 600 /root/.saker-bench-rec/state.old
    ln -sf state.old /root/.saker-bench-rec/link
    rm -f /root/.saker-bench-rec/state.old /root/.saker-bench-rec/link
  fi
done
"#,
        dir = dir.display()
    );
    Command::new("bash").arg("-c").arg(script).spawn().expect("bash")
}

#[test]
#[ignore = "privileged: regenerates the committed benchmark recording"]
fn regenerate_mixed_recording() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all("/root/.saker-bench-rec").unwrap();
    let _resolver = resolver();
    let port = listener();
    let out = asset();
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let partial = out.with_extension("gz.partial");

    let opts = RecordOptions { duration: Duration::from_secs(120), max_records: RECORDS, gzip: true };
    let mut child: Option<Child> = None;
    let stats = record(&SensorConfig::default(), &partial, &opts, &AtomicBool::new(false), &mut || {
        child = Some(activity(port, dir.path()));
    });
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = std::fs::remove_dir_all("/root/.saker-bench-rec");
    let stats = stats.unwrap();
    eprintln!("{stats:#?}");
    assert_eq!(stats.records, RECORDS, "the activity made too few records in time");
    let size = std::fs::metadata(&partial).unwrap().len();
    assert!(size <= 3 << 20, "{size} bytes is over the 3 MB asset budget");
    std::fs::rename(&partial, &out).unwrap();

    // The recording replays, and holds what the activity should cause.
    let r = saker_agent::replay::replay(&out, 1, Some(saker_agent::DetectionConfig::default())).unwrap();
    eprintln!("{r:#?}");
    assert_eq!(r.decode_errors, 0);
    for t in ["Backdoor:Runtime/C&CActivity.B!DNS", "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified"] {
        assert!(r.findings_by_type.contains_key(t), "no {t} in {:?}", r.findings_by_type);
    }
}
