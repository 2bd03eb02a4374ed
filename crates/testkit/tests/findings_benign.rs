//! Ordinary work is not a finding. A noisy detector is a detector people
//! switch off: each test here does everyday work for real, with the agent
//! running and detection on, checks that the agent saw the work (so "nothing
//! found" is not "nothing seen"), and asserts that no finding names any of
//! the processes involved.
//!
//! "Nothing found" is judged once the pipeline has processed everything the
//! work caused: every process involved has been reaped, then a marker process
//! started afterwards is awaited — events go through detection in the order
//! the kernel recorded them, and an event's findings go out before the next
//! event is processed.
//!
//! Programs the machine lacks or that must not be run for real on the host
//! are stand-ins: a copy of `saker-trigger` named `dpkg`, `cron` or `java`
//! doing that program's kind of work for real (writes, renames, chmod, jobs
//! run through `sh -c`, code mapped from a memfd). Files under /usr go to
//! test-owned paths and are removed afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_detect::Finding;
use saker_model::{Event, Kind, Payload};
use saker_testkit::{Harness, by, harness, trigger_path};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

// ---- running the work ----

/// Run `cmd` to completion; it must succeed. Its pid and output.
fn run(cmd: &mut Command) -> (u32, Output) {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (pid, out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory for the test's files; `public` makes it readable by every
/// user (a web server's CGI runs as nobody).
fn workdir(public: bool) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("saker-benign-").tempdir().unwrap();
    if public {
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    d
}

fn write_executable(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stand-in for the program `name`: a copy of `saker-trigger` by that name
/// in `dir`, run as `NAME ACTION ARGS...`. Copied by a child process: a
/// write descriptor open in the test process would be inherited by other
/// tests' children between fork and exec, and executing the copy would then
/// fail with ETXTBSY.
fn standin(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("install").arg("-m").arg("0755").arg(trigger_path()).arg(&path).status().unwrap();
    assert!(status.success(), "copying saker-trigger to {}: {status}", path.display());
    path
}

/// Removes test-owned paths under /usr, whatever happens to the test: the
/// trees, the files, then the parent directories if nothing else is in them.
struct Cleanup {
    trees: Vec<PathBuf>,
    files: Vec<PathBuf>,
    parents: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for t in &self.trees {
            let _ = std::fs::remove_dir_all(t);
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for p in &self.parents {
            let _ = std::fs::remove_dir(p);
        }
    }
}

// ---- what the agent saw and found ----

fn exec_of(e: &Event) -> Option<&saker_model::ExecInfo> {
    (e.kind == Kind::ProcessExec).then(|| e.exec()).flatten()
}

fn parent_is(e: &Event, pid: u32) -> bool {
    e.lineage.first().is_some_and(|p| p.pid == pid)
}

fn below(e: &Event, pid: u32) -> bool {
    e.lineage.iter().any(|p| p.pid == pid)
}

/// Everything recorded so far has been through detection: a marker process
/// started now has been seen, and events are processed in order.
fn processed(h: &Harness) {
    let t = h.trigger(&["spawn", "/bin/true"]);
    h.expect("the marker process after the work", |e| e.kind == Kind::ProcessExec && by(e, t.pid));
}

/// The finding is about one of `roots` or a descendant of one.
fn involves(f: &Finding, roots: &[u32]) -> bool {
    let p = &f.service.runtime_details.process;
    roots.contains(&p.pid) || p.lineage.iter().any(|a| roots.contains(&a.pid))
}

/// Once everything is processed, no finding names any process of the work
/// (`roots` and their descendants).
fn assert_no_findings(h: &Harness, work: &str, roots: &[u32]) {
    processed(h);
    let found = h.findings(|f| involves(f, roots));
    let described: Vec<String> = found
        .iter()
        .map(|f| {
            let p = &f.service.runtime_details.process;
            format!(
                "{} for {} {:?} (pid {}), context {}",
                f.finding_type,
                p.name,
                p.executable_path,
                p.pid,
                serde_json::to_string(&f.service.runtime_details.context).unwrap()
            )
        })
        .collect();
    assert!(found.is_empty(), "{work} is ordinary work, yet it was reported:\n{}", described.join("\n"));
}

// ---- the specs ----

#[test]
fn compiling_and_running_a_c_program_is_not_a_finding() {
    let Some(h) = harness() else { return };
    let dir = workdir(false);
    let src = dir.path().join("hello.c");
    std::fs::write(&src, "#include <stdio.h>\nint main(void) { puts(\"hello from C\"); return 0; }\n").unwrap();
    let bin = dir.path().join("hello");

    let (cc, _) = run(Command::new("cc").arg("-O2").arg("-o").arg(&bin).arg(&src));
    let (hello, out) = run(&mut Command::new(&bin));

    assert_eq!(stdout(&out), "hello from C\n");
    h.expect("the compiler proper, below cc", |e| {
        exec_of(e).is_some_and(|x| x.executable.as_deref().is_some_and(|p| p.ends_with("/cc1"))) && below(e, cc)
    });
    h.expect("the new program running", |e| exec_of(e).is_some() && by(e, hello));
    assert_no_findings(h, "compiling a C program with cc and running it", &[cc, hello]);
}

#[test]
fn compiling_and_running_a_rust_program_is_not_a_finding() {
    let Some(h) = harness() else { return };
    let dir = workdir(false);
    let src = dir.path().join("hello.rs");
    std::fs::write(&src, "fn main() { println!(\"hello from Rust\"); }\n").unwrap();
    let bin = dir.path().join("hello");

    let (rustc, _) = run(Command::new("rustc").arg("--edition=2021").arg("-o").arg(&bin).arg(&src));
    let (hello, out) = run(&mut Command::new(&bin));

    assert_eq!(stdout(&out), "hello from Rust\n");
    h.expect("the linker driver, below rustc", |e| {
        exec_of(e).is_some_and(|x| x.argv.first().is_some_and(|a| a == "cc")) && below(e, rustc)
    });
    h.expect("the new program running", |e| exec_of(e).is_some() && by(e, hello));
    assert_no_findings(h, "compiling a Rust program with rustc and running it", &[rustc, hello]);
}

#[test]
fn a_package_manager_installing_files_under_usr_is_not_a_finding() {
    let Some(h) = harness() else { return };
    let dir = workdir(false);
    let dpkg_path = standin(dir.path(), "dpkg");
    let id = std::process::id();
    let libdir = format!("/usr/local/lib/saker-benign-test/{id}");
    let bin = format!("/usr/local/bin/saker-benign-{id}");
    let helper = format!("{bin}-helper");
    let _cleanup = Cleanup {
        trees: vec![libdir.clone().into()],
        files: vec![bin.clone().into(), helper.clone().into()],
        parents: vec!["/usr/local/lib/saker-benign-test".into()],
    };

    let (dpkg, out) = run(Command::new(&dpkg_path).args(["benign-dpkg", &libdir, &bin]));
    assert!(stdout(&out).contains("status=0"), "{}", stdout(&out));
    // The package's program works: run it from a shell.
    let (user, out) = run(Command::new("/bin/bash").args(["-c", &format!("{bin} && {helper}")]));
    assert_eq!(stdout(&out), "saker-benign\n");

    h.expect("dpkg renaming the unpacked program into /usr/local/bin", |e| {
        e.kind == Kind::FileRename && by(e, dpkg) && e.file().is_some_and(|f| f.new_path.as_deref() == Some(&bin))
    });
    let postinst = h.expect("the postinst `sh -c` run by dpkg", |e| {
        exec_of(e).is_some_and(|x| x.argv.get(1).is_some_and(|a| a == "-c")) && parent_is(e, dpkg)
    });
    let sh = postinst.pid().unwrap();
    h.expect("the postinst writing its helper under /usr/local/bin", |e| {
        e.kind == Kind::FileWrite && by(e, sh) && e.file().is_some_and(|f| f.path == helper)
    });
    h.expect("chmod of the helper, below the postinst", |e| {
        e.kind == Kind::FileChmod && parent_is(e, sh) && e.file().is_some_and(|f| f.path == helper)
    });
    assert_no_findings(h, "a package manager installing files under /usr and running its postinst", &[dpkg, user]);
}

#[test]
fn a_web_server_serving_requests_and_running_cgi_is_not_a_finding() {
    let Some(h) = harness() else { return };
    let root = workdir(true);
    std::fs::write(root.path().join("index.html"), "<p>welcome</p>\n").unwrap();
    std::fs::create_dir(root.path().join("cgi-bin")).unwrap();
    std::fs::set_permissions(root.path().join("cgi-bin"), std::fs::Permissions::from_mode(0o755)).unwrap();
    write_executable(
        &root.path().join("cgi-bin/hello.sh"),
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nsh -c 'echo hello from cgi'\n",
    );
    let dir = root.path().to_str().unwrap();

    let python = ["/usr/bin/python3", "-m", "http.server", "--cgi", "--bind", "127.0.0.1", "--directory", dir, "0"];
    let busybox = ["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:0", "-h", dir];
    let mut roots = Vec::new();
    for server in [&python[..], &busybox[..]] {
        let mut child =
            Command::new(server[0]).args(&server[1..]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pid = child.id();
        roots.push(pid);
        let listen = h.expect(&format!("{} listening", server[1]), |e| e.kind == Kind::NetListen && by(e, pid));
        let port = listen.net().and_then(|n| n.local_port).unwrap();
        let url = format!("http://127.0.0.1:{port}");

        let (curl, page) = run(Command::new("curl").args(["-sSf", &format!("{url}/index.html")]));
        assert_eq!(stdout(&page), "<p>welcome</p>\n");
        let (curl_cgi, cgi) = run(Command::new("curl").args(["-sSf", &format!("{url}/cgi-bin/hello.sh")]));
        assert_eq!(stdout(&cgi), "hello from cgi\n");
        let (wget, page) = run(Command::new("wget").args(["-qO-", &format!("{url}/index.html")]));
        assert_eq!(stdout(&page), "<p>welcome</p>\n");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.") && response.contains("welcome"), "{response}");
        roots.extend([curl, curl_cgi, wget]);

        h.expect(&format!("{}'s CGI running `sh -c 'echo ...'`", server[1]), |e| {
            exec_of(e).is_some_and(|x| x.argv.iter().any(|a| a == "echo hello from cgi")) && below(e, pid)
        });
        // SAFETY: signalling the server this test started.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        child.wait().unwrap();
    }
    assert_no_findings(h, "a web server on loopback serving pages and CGI to curl, wget and a client", &roots);
    // The client in the test binary itself.
    let me = std::process::id();
    let own: Vec<Finding> = h.findings(|f| f.service.runtime_details.process.pid == me);
    assert!(own.is_empty(), "the HTTP client was reported: {own:#?}");
}

#[test]
fn a_cron_job_is_not_a_finding() {
    let Some(h) = harness() else { return };
    let dir = workdir(false);
    let cron_path = standin(dir.path(), "cron");
    let out_file = dir.path().join("date.out");
    let job = format!("date > {}", out_file.display());

    let (cron, out) = run(Command::new(&cron_path).args(["benign-run", "/bin/sh", "-c", &job]));

    assert!(stdout(&out).contains("status=0"), "{}", stdout(&out));
    assert!(!std::fs::read_to_string(&out_file).unwrap().is_empty());
    h.expect("cron running the job through `sh -c`", |e| {
        exec_of(e).is_some_and(|x| x.argv.get(2) == Some(&job))
            && e.lineage.first().is_some_and(|p| p.pid == cron && &*p.name == "cron")
    });
    assert_no_findings(h, "cron running a scheduled command", &[cron]);
}

#[test]
fn sudo_and_su_from_an_admin_shell_are_not_elevation_to_root() {
    let Some(h) = harness() else { return };
    assert!(Path::new("/usr/bin/sudo").exists(), "sudo is not installed: run scripts/install-deps.sh");

    // root's shell: sudo and su succeed.
    let (root_shell, _) = run(Command::new("/bin/bash").args(["-c", "sudo -n true && su root -c true; id -u"]));
    // A user's shell: sudo is set-user-id root, so its exec gains root; it
    // then refuses (no sudoers entry, no password) and that is fine.
    let user_shell = Command::new("/bin/bash")
        .args(["-c", "sudo -n true; echo status=$?"])
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&user_shell.stdout).contains("status="), "{user_shell:?}");

    let sudo = h.expect("sudo gaining root from the user's shell", |e| {
        exec_of(e).is_some_and(|x| {
            x.setuid && x.previous.is_some_and(|c| c.euid == 65534) && x.argv.first().is_some_and(|a| a == "sudo")
        }) && e.process.as_ref().is_some_and(|p| p.euid == 0)
    });
    let user_shell_pid = sudo.lineage.first().unwrap().pid;
    assert_eq!(&*sudo.lineage.first().unwrap().name, "bash");
    h.expect("su run from root's shell", |e| {
        exec_of(e).is_some_and(|x| x.argv.first().is_some_and(|a| a == "su")) && parent_is(e, root_shell)
    });
    assert_no_findings(h, "sudo and su from an administrator's shell", &[root_shell, user_shell_pid]);
}

#[test]
fn a_jit_runtime_mapping_code_from_a_memory_file_is_not_a_finding() {
    let Some(h) = harness() else { return };
    let dir = workdir(false);
    let java_path = standin(dir.path(), "java");

    let (java, out) = run(Command::new(&java_path).arg("benign-jit"));
    assert!(stdout(&out).contains("ran=true"), "{}", stdout(&out));
    // A real JIT: node compiling hot JavaScript and a WebAssembly module.
    let js = "const m = new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0])); \
              new WebAssembly.Instance(m); let s = 0; for (let i = 0; i < 1e6; i++) s += i; console.log(s)";
    let (node, out) = run(Command::new("node").args(["-e", js]));
    assert_eq!(stdout(&out), "499999500000\n");

    h.expect("java mapping its memfd executable", |e| {
        e.kind == Kind::LibraryLoad
            && by(e, java)
            && matches!(&e.payload, Payload::Library(l) if l.path.starts_with("/memfd:jit-code"))
    });
    h.expect("node running", |e| exec_of(e).is_some() && by(e, node));
    assert_no_findings(h, "JIT runtimes mapping generated code", &[java, node]);

    // The control: the same work by a program that is no JIT runtime is
    // fileless code, and this suite would see it reported.
    let loader_path = standin(dir.path(), "loader");
    let (loader, _) = run(Command::new(&loader_path).arg("benign-jit"));
    h.expect_finding("the same memfd mapping by a non-JIT program", |f| {
        f.finding_type == saker_detect::FindingType::FilelessExecution && involves(f, &[loader])
    });
}

#[test]
fn scripts_and_everyday_commands_from_a_shell_are_not_a_finding() {
    let Some(h) = harness() else { return };
    let dir = workdir(false);
    let sh_script = dir.path().join("script.sh");
    let py_script = dir.path().join("script.py");
    std::fs::write(&sh_script, "echo from sh\nls / > /dev/null\nwc -l /etc/hostname > /dev/null\n").unwrap();
    std::fs::write(&py_script, "import os, platform\nprint('from python', platform.system(), os.getpid() > 0)\n")
        .unwrap();
    let commands = format!(
        "sh {} && /usr/bin/python3 {} && bash -c 'echo from bash' && env > /dev/null && ls -la / > /dev/null \
         && ps aux > /dev/null && id && uname -a && true",
        sh_script.display(),
        py_script.display()
    );

    let (bash, out) = run(Command::new("/bin/bash").args(["-c", &commands]));

    let text = stdout(&out);
    for line in ["from sh", "from python Linux True", "from bash", "uid=0(root)", "Linux"] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    for program in ["sh", "python3", "env", "ls", "ps", "id", "uname"] {
        h.expect(&format!("{program} run from the shell"), |e| {
            exec_of(e).is_some_and(|x| x.argv.first().is_some_and(|a| a.rsplit('/').next() == Some(program)))
                && parent_is(e, bash)
        });
    }
    assert_no_findings(h, "scripts and everyday commands run from a shell", &[bash]);
}
