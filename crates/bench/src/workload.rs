//! The workloads: what each does, how big it is, and the code that runs in
//! the child process (`saker bench-child workload ...`), so each is timed from
//! outside and shares no thread with an observer.

use crate::BenchError;
use crate::project::Project;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Worst case: write-opens and closes of one file under /etc/ (in the
    /// agent's default interest set), so every call is an event.
    OpenClose,
    /// Spawn (vfork + exec) of /bin/true, waiting for each.
    ExecStorm,
    /// TCP connects to a loopback listener (accepted and reset at once).
    ConnectStorm,
    /// `make -j<cpus>` of a generated C project: compilers, execs, opens.
    Build,
}

impl Workload {
    pub const ALL: [Workload; 4] = [Workload::OpenClose, Workload::ExecStorm, Workload::ConnectStorm, Workload::Build];

    pub fn name(self) -> &'static str {
        match self {
            Workload::OpenClose => "open-close",
            Workload::ExecStorm => "exec-storm",
            Workload::ConnectStorm => "connect-storm",
            Workload::Build => "build",
        }
    }

    pub fn parse(name: &str) -> Result<Self, BenchError> {
        Self::ALL.into_iter().find(|w| w.name() == name).ok_or_else(|| BenchError::UnknownName {
            what: "workload",
            name: name.to_owned(),
            known: Self::ALL.map(Self::name).join(", "),
        })
    }

    /// Iterations (for `Build`: source files), full and quick.
    pub fn size(self, quick: bool) -> u64 {
        match (self, quick) {
            (Workload::OpenClose, false) => 200_000,
            (Workload::OpenClose, true) => 20_000,
            (Workload::ExecStorm, false) => 2_000,
            (Workload::ExecStorm, true) => 200,
            (Workload::ConnectStorm, false) => 20_000,
            (Workload::ConnectStorm, true) => 2_000,
            (Workload::Build, false) => 40,
            (Workload::Build, true) => 6,
        }
    }
}

/// What a measured run needs to start a workload.
pub struct Launcher<'a> {
    /// The binary with the `bench-child` subcommand (the running `saker`).
    pub exe: &'a Path,
    /// The file the open/close loop opens (under /etc/: watched by default).
    pub watched_file: &'a Path,
    /// The generated project of the build workload.
    pub project: Option<&'a Project>,
}

impl Launcher<'_> {
    /// Anything to do before a run that must not be measured: the build's
    /// `make clean`.
    pub fn prepare(&self, w: Workload) -> Result<(), BenchError> {
        match (w, self.project) {
            (Workload::Build, Some(p)) => p.clean(),
            _ => Ok(()),
        }
    }

    /// Run the workload to completion; its wall time.
    pub fn run(&self, w: Workload, iterations: u64) -> Result<Duration, BenchError> {
        let mut cmd = match w {
            Workload::Build => match self.project {
                Some(p) => p.make_command(),
                None => return Err(BenchError::Usage("the build workload has no project".into())),
            },
            _ => {
                let mut c = Command::new(self.exe);
                c.args(["bench-child", "workload", w.name(), "--iterations", &iterations.to_string(), "--path"])
                    .arg(self.watched_file);
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let started = Instant::now();
        let out = cmd.output().map_err(|e| BenchError::io(format!("starting workload {}", w.name()), e))?;
        let wall = started.elapsed();
        if !out.status.success() {
            let tail = String::from_utf8_lossy(&out.stderr);
            let tail: String = tail.chars().rev().take(800).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(BenchError::Workload { workload: w.name().into(), detail: format!("{}: {tail}", out.status) });
        }
        Ok(wall)
    }
}

/// The child side: run `iterations` of a loop workload and exit.
pub fn run_child(w: Workload, iterations: u64, path: &Path) -> Result<(), BenchError> {
    match w {
        Workload::OpenClose => open_close(iterations, path),
        Workload::ExecStorm => exec_storm(iterations),
        Workload::ConnectStorm => connect_storm(iterations),
        Workload::Build => Err(BenchError::Usage("the build workload runs make, not bench-child".into())),
    }
}

/// The file the open/close loop uses: one per bench run, removed after.
pub fn watched_file() -> PathBuf {
    PathBuf::from(format!("/etc/saker-bench-{}.tmp", std::process::id()))
}

fn open_close(iterations: u64, path: &Path) -> Result<(), BenchError> {
    // O_WRONLY|O_CREAT: write intent, which is what makes an open under a
    // watched prefix a `file.write` event (bpf/file.bpf.c, write_enter).
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    for _ in 0..iterations {
        let f = options.open(path).map_err(|e| BenchError::io(format!("opening {}", path.display()), e))?;
        drop(f);
    }
    Ok(())
}

fn exec_storm(iterations: u64) -> Result<(), BenchError> {
    for _ in 0..iterations {
        let status = Command::new("/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| BenchError::io("running /bin/true", e))?;
        if !status.success() {
            return Err(BenchError::Workload { workload: "exec-storm".into(), detail: format!("/bin/true: {status}") });
        }
    }
    Ok(())
}

fn connect_storm(iterations: u64) -> Result<(), BenchError> {
    // Loopback only: benchmarks never send traffic off the machine.
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| BenchError::io("binding a loopback listener", e))?;
    let addr = listener.local_addr().map_err(|e| BenchError::io("listener address", e))?;
    for _ in 0..iterations {
        // Connect, then accept in the same thread: the handshake completes
        // in the kernel, so there is no accept thread to fall behind and no
        // full backlog to turn a connect into a 1 s SYN retransmit.
        let client = TcpStream::connect(addr).map_err(|e| BenchError::io("connecting to the listener", e))?;
        let (server, _) = listener.accept().map_err(|e| BenchError::io("accepting", e))?;
        // Reset instead of FIN: no TIME_WAIT, so repeated runs never run out
        // of ephemeral ports.
        reset_on_close(&client)?;
        drop(client);
        drop(server);
    }
    std::io::stdout().flush().ok();
    Ok(())
}

fn reset_on_close(s: &TcpStream) -> Result<(), BenchError> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket fd and a pointer to a correctly sized linger.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(BenchError::io("SO_LINGER", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(Workload::parse(w.name()).unwrap(), w);
        }
        assert!(Workload::parse("nope").is_err());
    }

    #[test]
    fn loops_run_unprivileged() {
        let dir = tempfile::tempdir().unwrap();
        run_child(Workload::OpenClose, 10, &dir.path().join("f")).unwrap();
        run_child(Workload::ConnectStorm, 10, Path::new("/unused")).unwrap();
        run_child(Workload::ExecStorm, 2, Path::new("/unused")).unwrap();
    }
}
