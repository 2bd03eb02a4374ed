//! Findings about what happens inside containers, each technique performed
//! for real inside a runc container: a binary or a library dropped after the
//! container started and then run or mapped, the Docker socket reached from
//! inside, the runc binary overwritten, a process working in a host
//! directory (CVE-2024-21626), a cgroup release agent set, the host's disk
//! mounted; and one of them from an ECS task.
//!
//! Each test asserts that exactly the expected type fires for the acting
//! process (once it has exited, so everything it did has been through the
//! detector), with the context GuardDuty documents and the container as the
//! resource; its near misses — the ordinary form of the same activity in the
//! same container — assert that the agent saw the process and found nothing
//! about it.
//!
//! Nothing touches the host: what looks destructive (runc, release_agent)
//! happens inside the container's own rootfs or in a cgroup hierarchy the
//! container mounts for itself; the disk is a loop device over a temp file;
//! the Docker socket is the test's own stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_detect::{Finding, FindingType as T};
use saker_model::{Event, Kind, Payload};
use saker_testkit::container::{Container, hex_id};
use saker_testkit::{Harness, harness};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;

// ---- what was found, about which process, in which container ----

fn ctx<'a>(f: &'a Finding, field: &str) -> &'a Value {
    f.service.runtime_details.context.get(field).unwrap_or_else(|| panic!("no context field {field}: {f:#?}"))
}

fn in_container(f: &Finding, id: &str) -> bool {
    f.resource.container_details.as_ref().is_some_and(|c| c.id == id)
}

fn event_in(e: &Event, id: &str) -> bool {
    e.container.as_ref().is_some_and(|c| c.id == id)
}

/// The finding of type `ty` about container `id`.
fn expect_in(h: &Harness, ty: T, id: &str) -> Finding {
    h.expect_finding(&format!("{ty} in container {id}"), |f| f.finding_type == ty && in_container(f, id))
}

/// A finding about a plain container: its resource is the container.
fn assert_container_resource(f: &Finding, id: &str) {
    assert_eq!(f.resource.resource_type, "Container", "{f:#?}");
    assert_eq!(f.resource.container_details.as_ref().map(|c| c.id.as_str()), Some(id), "{f:#?}");
    assert!(f.resource.ecs_cluster_details.is_none() && f.resource.kubernetes_details.is_none(), "{f:#?}");
}

use saker_testkit::exited;

/// The process of the first event matching `pred` was seen, exited, and no
/// finding is about it.
fn assert_nothing_found(h: &Harness, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let ev = h.expect(what, pred);
    let uuid = ev.process.as_ref().unwrap().uuid.to_string();
    h.expect(&format!("exit of {what}"), |e| exited(e, &uuid));
    let found = h.findings(|f| f.service.runtime_details.process.uuid == uuid);
    assert!(found.is_empty(), "{what}: nothing expected, found {found:#?}");
    ev
}

fn exec_of(e: &Event, id: &str, argv0: &str) -> bool {
    event_in(e, id)
        && e.kind == Kind::ProcessExec
        && e.exec().is_some_and(|x| x.argv.first().is_some_and(|a| a == argv0))
}

/// Run `container` to completion; returns what it printed.
fn run(mut container: Container) -> (Container, String) {
    container.start();
    let out = container.wait();
    (container, out)
}

/// Directories the image ships (busybox's rootfs has only /bin and friends).
fn image_dirs(dirs: &'static [&'static str]) -> impl FnOnce(&Path) + 'static {
    move |rootfs| {
        for d in dirs {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
    }
}

// ---- Execution:Runtime/NewBinaryExecuted ----

/// Inside the running container: the image's own binary runs (near miss),
/// then a copy of it is dropped in /usr/bin — by `busybox cp`, a process the
/// agent sees writing — and run from there. (The `sleep` puts the drop well
/// after the container's start as the agent saw it.)
const DROP_AND_RUN: &str = "sleep 1
(exec /bin/echo image-binary)
busybox cp /bin/busybox /usr/bin/busybox-payload
(exec /usr/bin/busybox-payload echo dropped-binary)";

#[test]
fn new_binary_executed_written_after_the_container_started() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let (_c, out) = run(Container::spec(DROP_AND_RUN).id(&id).rootfs(image_dirs(&["usr/bin"])).build());
    assert!(out.contains("image-binary") && out.contains("dropped-binary"), "{out}");

    let f = expect_in(h, T::NewBinaryExecuted, &id);
    assert_eq!(ctx(&f, "executablePath"), "/usr/bin/busybox-payload");
    assert_eq!(f.service.runtime_details.process.argv[0], "/usr/bin/busybox-payload");
    // Who wrote it, and when: the agent saw the write.
    let write = h.expect("busybox cp writing the payload", |e| {
        event_in(e, &id) && e.kind == Kind::FileWrite && e.file().is_some_and(|x| x.path == "/usr/bin/busybox-payload")
    });
    let writer = write.process.as_ref().unwrap();
    let modifier = ctx(&f, "modifyingProcess");
    assert_eq!(modifier["pid"], writer.pid, "{modifier}");
    assert_eq!(modifier["uuid"], writer.uuid.to_string(), "{modifier}");
    assert_eq!(modifier["argv"], serde_json::json!(writer.argv), "{modifier}");
    assert_eq!(ctx(&f, "modifiedAt"), &write.time.to_rfc3339());
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);

    // The image's binary, present before the container started: nothing.
    assert_nothing_found(h, "exec of the image's /bin/echo", |e| exec_of(e, &id, "/bin/echo"));
}

/// As Docker's overlay2 runs it: the dropped binary lands in the upper layer.
/// Its modification time is even set back to the image's (`touch -r`), so
/// only the layer tells it is new.
const DROP_BACKDATE_AND_RUN: &str = "sleep 1
(exec /bin/echo image-binary)
busybox cp /bin/busybox /usr/bin/busybox-payload
busybox touch -r /bin/busybox /usr/bin/busybox-payload
(exec /usr/bin/busybox-payload echo dropped-binary)";

#[test]
fn new_binary_executed_from_the_overlay_upper_layer() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let spec = Container::spec(DROP_BACKDATE_AND_RUN).id(&id).overlay().rootfs(image_dirs(&["usr/bin"]));
    let (c, out) = run(spec.build());
    assert!(out.contains("dropped-binary"), "{out}");
    let upper = c.upper_dir().unwrap();
    assert!(upper.join("usr/bin/busybox-payload").is_file(), "the payload is in the upper layer");
    assert!(!upper.join("bin/busybox").exists(), "the image's busybox stayed in the lower layer");

    let f = expect_in(h, T::NewBinaryExecuted, &id);
    assert_eq!(ctx(&f, "executablePath"), "/usr/bin/busybox-payload");
    let exec = h.expect("exec of the payload", |e| exec_of(e, &id, "/usr/bin/busybox-payload"));
    let x = exec.exec().unwrap();
    assert!(x.upper_layer, "{x:?}");
    let image_mtime = std::fs::metadata(lower_busybox(&upper)).unwrap().modified().unwrap();
    let image_secs = image_mtime.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(x.executable_mtime.map(|m| m.timestamp()), Some(image_secs), "backdated: {x:?}");
    let modifier = ctx(&f, "modifyingProcess");
    assert_eq!(modifier["argv"], serde_json::json!(["busybox", "cp", "/bin/busybox", "/usr/bin/busybox-payload"]));
    assert!(ctx(&f, "modifiedAt").is_string());
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);

    let image = assert_nothing_found(h, "exec of the image's /bin/echo", |e| exec_of(e, &id, "/bin/echo"));
    assert!(!image.exec().unwrap().upper_layer, "the image's binary is in the lower layer");
}

/// On a plain (non-overlay) rootfs only the file's times tell a dropped
/// binary; `touch -d` sets its mtime back to 2001 — and so moves its ctime,
/// which user space cannot set, to now.
const DROP_TOUCH_AND_RUN: &str = "sleep 1
busybox cp /bin/busybox /tmp/busybox-dropped
busybox touch -d '2001-01-01 00:00:00' /tmp/busybox-dropped
(exec /tmp/busybox-dropped echo dropped-binary)";

#[test]
fn new_binary_executed_with_a_backdated_mtime() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let (_c, out) = run(Container::spec(DROP_TOUCH_AND_RUN).id(&id).build());
    assert!(out.contains("dropped-binary"), "{out}");

    let f = expect_in(h, T::NewBinaryExecuted, &id);
    assert_eq!(ctx(&f, "executablePath"), "/tmp/busybox-dropped");
    let exec = h.expect("exec of the backdated binary", |e| exec_of(e, &id, "/tmp/busybox-dropped"));
    let x = exec.exec().unwrap();
    assert!(!x.upper_layer, "{x:?}");
    // The container's TZ is unset: touch's date is UTC.
    assert_eq!(x.executable_mtime.map(|m| m.timestamp()), Some(978_307_200), "backdated: {x:?}");
    let ctime = x.executable_ctime.unwrap_or_else(|| panic!("no ctime: {x:?}"));
    assert!(ctime < exec.time && (exec.time - ctime).num_seconds() < 60, "ctime {ctime} is the touch's: {x:?}");
    // /tmp is not watched, so no writer is known: the ctime is the last
    // change the file shows.
    assert!(f.service.runtime_details.context.get("modifyingProcess").is_none(), "{f:#?}");
    assert_eq!(ctx(&f, "modifiedAt"), &ctime.to_rfc3339());
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);
}

/// The lower layer's busybox, next to the upper layer in the bundle.
fn lower_busybox(upper: &Path) -> PathBuf {
    upper.parent().unwrap().join("lower/bin/busybox")
}

// ---- Execution:Runtime/NewLibraryLoaded ----

/// `saker-trigger` ships in the image with its shared libraries; once the
/// container runs, a shared object is dropped in /tmp and mapped executable,
/// as a loader of a downloaded plugin would. It is a copy of the image's own
/// libc: what is new is the file, not its contents.
const DROP_AND_MAP_LIBRARY: &str = "sleep 1
busybox cp /lib/*/libc.so.6 /tmp/libpayload.so
exec /bin/saker-trigger mmap-exec /tmp/libpayload.so";

#[test]
fn new_library_loaded_written_after_the_container_started() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let (_c, out) = run(Container::spec(DROP_AND_MAP_LIBRARY).id(&id).with_trigger().build());
    assert!(out.contains("mapped=true"), "{out}");

    let f = expect_in(h, T::NewLibraryLoaded, &id);
    assert_eq!(ctx(&f, "libraryPath"), "/tmp/libpayload.so");
    assert_eq!(f.service.runtime_details.process.executable_path.as_deref(), Some("/bin/saker-trigger"));
    assert!(ctx(&f, "modifiedAt").is_string());
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);
    // The libraries the image shipped (libc, mapped by the loader at start)
    // are not new: the payload is the only library reported.
    let pid = f.service.runtime_details.process.pid;
    let libc = h.expect("the trigger's libc mapped executable", |e| {
        e.pid() == Some(pid) && matches!(&e.payload, Payload::Library(l) if l.path.ends_with("/libc.so.6"))
    });
    assert!(!matches!(&libc.payload, Payload::Library(l) if l.upper_layer));
    let reported: Vec<Value> = h
        .findings(|g| g.finding_type == T::NewLibraryLoaded && in_container(g, &id))
        .iter()
        .map(|g| ctx(g, "libraryPath").clone())
        .collect();
    assert_eq!(reported, vec![Value::from("/tmp/libpayload.so")]);
}

// ---- PrivilegeEscalation:Runtime/DockerSocketAccessed ----

/// The test's stand-in for the Docker daemon: a unix socket answering one
/// Engine API request with an empty container list; returns the request.
fn docker_daemon(dir: &Path) -> (PathBuf, JoinHandle<String>) {
    let path = dir.join("docker.sock");
    let l = UnixListener::bind(&path).unwrap();
    let served = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(saker_testkit::WAIT)).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the client closed mid-request");
            req.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]").unwrap();
        String::from_utf8_lossy(&req).into_owned()
    });
    (path, served)
}

/// `-v /var/run/docker.sock:/var/run/docker.sock`: the container talks to
/// an application socket of its own (near miss), then lists the host's
/// containers through the Docker socket.
const APP_SOCKET_THEN_DOCKER: &str = "sleep 1
/bin/saker-trigger unix-connect /tmp/app.sock
exec /bin/saker-trigger docker-api /var/run/docker.sock";

#[test]
fn docker_socket_accessed_through_a_mounted_socket() {
    let Some(h) = harness() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (sock, served) = docker_daemon(dir.path());
    let id = hex_id(64);
    let spec = Container::spec(APP_SOCKET_THEN_DOCKER).id(&id).with_trigger().bind(&sock, "/var/run/docker.sock");
    let (_c, out) = run(spec.build());
    assert!(out.contains("status=HTTP/1.0 200 OK"), "{out}");
    assert!(served.join().unwrap().starts_with("GET /v1.41/containers/json HTTP/1.0"));

    let f = expect_in(h, T::DockerSocketAccessed, &id);
    assert_eq!(ctx(&f, "socketPath"), "/var/run/docker.sock");
    assert_eq!(f.service.runtime_details.process.argv[1], "docker-api");
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);

    assert_nothing_found(h, "connect to the container's own app socket", |e| {
        event_in(e, &id)
            && e.kind == Kind::NetConnect
            && e.net().is_some_and(|n| n.unix_path.as_deref() == Some("/tmp/app.sock"))
    });
}

// ---- PrivilegeEscalation:Runtime/RuncContainerEscape ----

/// CVE-2019-5736's last step: overwrite runc with a script of one's own.
/// Here the runc is the container's own /usr/sbin/runc (the host's is never
/// touched); an ordinary program written next to it is the near miss.
const OVERWRITE_RUNC: &str = "sleep 1
(printf '#!/bin/sh\\ncat /etc/shadow\\n' > /usr/sbin/healthcheck)
(printf '#!/bin/sh\\ncat /etc/shadow\\n' > /usr/sbin/runc)
exec /bin/cat /usr/sbin/runc";

#[test]
fn runc_container_escape_overwrites_runc() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let (_c, out) = run(Container::spec(OVERWRITE_RUNC).id(&id).rootfs(image_dirs(&["usr/sbin"])).build());
    assert!(out.contains("cat /etc/shadow"), "{out}");

    let f = expect_in(h, T::RuncContainerEscape, &id);
    assert_eq!(ctx(&f, "runcBinaryPath"), "/usr/sbin/runc");
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);

    assert_nothing_found(h, "write of /usr/sbin/healthcheck", |e| {
        event_in(e, &id) && e.kind == Kind::FileWrite && e.file().is_some_and(|x| x.path == "/usr/sbin/healthcheck")
    });
}

/// CVE-2024-21626 ("Leaky Vessels"): runc < 1.1.12 leaked its fd of the
/// host's /sys/fs/cgroup into the container process, and `runc exec --cwd
/// /proc/self/fd/7` (or an image's `WORKDIR /proc/self/fd/7`) left that
/// process working in the host directory: `../../..` is the host's root.
///
/// The runc here (Debian 1.1.5+ds1-1+deb12u1) has the fix backported: run
/// against a running container, `runc exec --cwd /proc/self/fd/N` fails for
/// every N from 3 to 10 with "chdir to cwd ... not a directory" (3, 4, 6, 7,
/// 8: fds of runc's own files, none a directory) or "no such file or
/// directory" (5, 9, 10), and `process.cwd` set to `/proc/self/fd/N` in
/// config.json fails `runc run` the same way. So `saker-trigger
/// enter-container` builds the state the leak led to: it opens the host's
/// /sys/fs/cgroup, joins the container's cgroup and namespaces as `runc
/// exec` does, makes the held directory its working directory (fchdir) and
/// runs a shell from the container's root. The near miss is the same entry
/// with a working directory inside the container — an ordinary `runc exec`.
const LEAKED_HOST_DIR: &str = "/sys/fs/cgroup";

#[test]
fn runc_container_escape_working_directory_outside_the_container_root() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let mut c = Container::spec("exec sleep 60").id(&id).build();
    c.start();
    let pid = c.wait_running_pid().to_string();
    let cgroup = c.cgroup2_dir().display().to_string();

    let t = h.trigger(&["enter-container", &pid, &cgroup, "/tmp", "busybox ls /"]);
    assert!(t.stdout.contains("status=0"), "{}", t.stdout);
    let host_cwd = format!("host:{LEAKED_HOST_DIR}");
    let t = h.trigger(&["enter-container", &pid, &cgroup, &host_cwd, "busybox ls ../../.."]);
    assert!(t.stdout.contains("status=0"), "{}", t.stdout);
    // What the container process listed is the host's root.
    let listed: Vec<&str> = t.stdout.lines().filter(|l| !l.starts_with("pid=") && !l.starts_with("status=")).collect();
    let mut host_root: Vec<String> = std::fs::read_dir("/")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    host_root.sort();
    assert_eq!(listed, host_root, "`ls ../../..` from the held directory lists the host's /");

    let f = expect_in(h, T::RuncContainerEscape, &id);
    assert_eq!(ctx(&f, "workingDirectory"), LEAKED_HOST_DIR);
    assert_eq!(ctx(&f, "commandLineExample"), "sh -c busybox ls ../../..");
    assert_eq!(f.service.runtime_details.process.argv, ["sh", "-c", "busybox ls ../../.."]);
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);
    // The kernel's fact behind it, on the shell's exec.
    let escaped = h.expect("exec of the shell in the host directory", |e| {
        exec_of(e, &id, "sh") && e.exec().is_some_and(|x| x.cwd.as_deref() == Some(LEAKED_HOST_DIR))
    });
    assert!(escaped.exec().unwrap().cwd_outside_root, "{escaped:#?}");

    let inside = assert_nothing_found(h, "exec of the shell in the container's /tmp", |e| {
        exec_of(e, &id, "sh") && e.exec().is_some_and(|x| x.cwd.as_deref() == Some("/tmp"))
    });
    assert!(!inside.exec().unwrap().cwd_outside_root, "{inside:#?}");
}

// ---- PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified ----

/// The release_agent escape from a privileged container: mount a cgroup v1
/// hierarchy (where the public exploits do: /tmp/cgrp) and set its release agent (run by the host's kernel, as root,
/// when a cgroup of it empties). The hierarchy is a new, named one of the
/// container's own (`name=...`, no controllers, no cgroup ever released), so
/// no agent ever runs and the host's hierarchies are untouched.
fn release_agent_script(hierarchy: &str) -> String {
    format!(
        "sleep 1
busybox mkdir /tmp/cgrp
busybox mount -t cgroup -o none,name={hierarchy} cgroup /tmp/cgrp
(echo /saker-payload > /tmp/cgrp/release_agent)
cat /tmp/cgrp/release_agent
busybox umount /tmp/cgrp"
    )
}

#[test]
fn cgroups_release_agent_modified_in_a_privileged_container() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let hierarchy = format!("saker-{}", &id[..12]);
    let (_c, out) = run(Container::spec(&release_agent_script(&hierarchy)).id(&id).privileged().build());
    assert!(out.contains("/saker-payload"), "the release agent was set: {out}");

    let f = expect_in(h, T::CGroupsReleaseAgentModified, &id);
    assert_eq!(ctx(&f, "releaseAgentPath"), "/tmp/cgrp/release_agent");
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);

    // Mounting the cgroup hierarchy itself is not a host disk.
    assert_nothing_found(h, "the cgroup mount", |e| {
        event_in(e, &id) && matches!(&e.payload, Payload::Mount(m) if m.target.as_deref() == Some("/tmp/cgrp"))
    });
}

// ---- PrivilegeEscalation:Runtime/ContainerMountsHostDirectory ----

/// A small ext4 disk on a loop device, detached on drop.
struct LoopDisk {
    device: PathBuf,
    _image: tempfile::NamedTempFile,
}

impl LoopDisk {
    fn new() -> LoopDisk {
        let image = tempfile::NamedTempFile::new().unwrap();
        image.as_file().set_len(8 << 20).unwrap();
        let mkfs = Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image.path()).status().expect("mkfs.ext4");
        assert!(mkfs.success(), "mkfs.ext4 failed");
        let out = Command::new("losetup").args(["--find", "--show"]).arg(image.path()).output().expect("losetup");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let device = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        LoopDisk { device, _image: image }
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("--detach").arg(&self.device).status();
    }
}

#[test]
fn container_mounts_host_directory_from_a_block_device() {
    let Some(h) = harness() else { return };
    let disk = LoopDisk::new();
    let dev = disk.device.to_str().unwrap().to_owned();
    // `docker run --privileged --device /dev/loopN`: a scratch tmpfs (near
    // miss), then the disk.
    let script = format!(
        "sleep 1
busybox mkdir -p /mnt/scratch /mnt/host
busybox mount -t tmpfs tmpfs /mnt/scratch
busybox mount -t ext4 {dev} /mnt/host
busybox ls /mnt/host
busybox umount /mnt/host"
    );
    let id = hex_id(64);
    let (_c, out) = run(Container::spec(&script).id(&id).privileged().device(&disk.device).build());
    assert!(out.contains("lost+found"), "the disk was mounted: {out}");

    let f = expect_in(h, T::ContainerMountsHostDirectory, &id);
    assert_eq!(ctx(&f, "mountSource"), dev.as_str());
    assert_eq!(ctx(&f, "mountTarget"), "/mnt/host");
    assert_eq!(ctx(&f, "fileSystemType"), "ext4");
    assert_container_resource(&f, &id);
    h.assert_only_type_for_process(&f);

    assert_nothing_found(h, "the tmpfs mount", |e| {
        event_in(e, &id) && matches!(&e.payload, Payload::Mount(m) if m.target.as_deref() == Some("/mnt/scratch"))
    });
}

// ---- the same, in an ECS task ----

const ACCOUNT: &str = "123456789012";

/// A binary dropped and run in a container laid out like an ECS task's on
/// EC2 (cgroup /ecs/<task>/<id>, the ECS agent's labels as OCI annotations):
/// the finding's resource is the ECS cluster, its task and the container.
#[test]
fn new_binary_executed_in_an_ecs_task_names_cluster_task_and_container() {
    let Some(h) = harness() else { return };
    let (task, id) = (hex_id(32), hex_id(64));
    let spec = Container::spec(DROP_AND_RUN)
        .id(&id)
        .cgroup_path(&format!("/ecs/{task}/{id}"))
        .annotation("com.amazonaws.ecs.cluster", &format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod"))
        .annotation("com.amazonaws.ecs.task-arn", &format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}"))
        .annotation("com.amazonaws.ecs.container-name", "web")
        .annotation("com.amazonaws.ecs.task-definition-family", "shop")
        .annotation("com.amazonaws.ecs.task-definition-version", "7")
        .rootfs(image_dirs(&["usr/bin"]));
    let (_c, out) = run(spec.build());
    assert!(out.contains("dropped-binary"), "{out}");

    let f = expect_in(h, T::NewBinaryExecuted, &id);
    assert_eq!(ctx(&f, "executablePath"), "/usr/bin/busybox-payload");
    assert_eq!(f.resource.resource_type, "ECSCluster", "{f:#?}");
    let ecs = f.resource.ecs_cluster_details.as_ref().unwrap();
    assert_eq!(ecs.name.as_deref(), Some("prod"));
    assert_eq!(ecs.arn.as_deref(), Some(&*format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod")));
    let t = &ecs.task_details;
    assert_eq!(t.arn.as_deref(), Some(&*format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}")));
    assert_eq!(t.definition_arn.as_deref(), Some("shop:7"));
    assert_eq!(t.containers.len(), 1, "{t:#?}");
    assert_eq!(t.containers[0].id, id);
    assert_eq!(t.containers[0].name.as_deref(), Some("web"));
    h.assert_only_type_for_process(&f);
}
