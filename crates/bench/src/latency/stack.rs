//! The system under test, as it is deployed: a `saker server` process on the
//! embedded SQLite store in a temporary directory, and a `saker agent`
//! process enrolled with an agent token, streaming to the server's gRPC port
//! over TLS pinned to the certificate the server made. Both are the running
//! `saker` binary re-executed with its ordinary subcommands; the agent's
//! configuration file has a `[server]` section and nothing else, so it runs
//! its default detections (and its default resource budget).
//!
//! Set-up, in order: `saker server enroll` and `saker server token` issue the
//! agent token and an administrator API token on the fresh store (the
//! administrator's offline tools, before the server runs); the server starts
//! and prints its API URL; the agent starts. Tear-down stops the agent first
//! (it hands over what it spooled), then the server; dropping a `Stack` that
//! was not stopped kills both.

use crate::BenchError;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to print its URL.
const SERVER_START: Duration = Duration::from_secs(60);
/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

pub struct Stack {
    dir: tempfile::TempDir,
    server: Option<Child>,
    agent: Option<Child>,
    /// The REST API, e.g. `http://127.0.0.1:40123`.
    pub api_url: String,
    /// An administrator API token.
    pub api_token: String,
}

impl Stack {
    /// Start the server and the agent; returns once both processes run (the
    /// agent may still be loading its programs: the caller's warm-up
    /// triggers tell when it watches).
    pub fn start(exe: &Path) -> Result<Stack, BenchError> {
        let dir = tempfile::Builder::new()
            .prefix("saker-bench-latency-")
            .tempdir()
            .map_err(|e| BenchError::io("creating a temporary directory", e))?;
        let server_dir = dir.path().join("server");
        std::fs::create_dir_all(&server_dir)
            .map_err(|e| BenchError::io(format!("creating {}", server_dir.display()), e))?;
        let data_dir = server_dir.display().to_string();

        let agent_token = offline(exe, &["server", "--data-dir", &data_dir, "enroll", "--account", "admin"])?;
        let api_token = offline(exe, &["server", "--data-dir", &data_dir, "token", "--account", "admin"])?;
        let token_file = dir.path().join("agent.token");
        write(&token_file, &agent_token)?;

        let mut stack = Stack { dir, server: None, agent: None, api_url: String::new(), api_token };
        let server = Command::new(exe)
            .args(["server", "--data-dir", &data_dir, "--listen", "127.0.0.1:0"])
            .args(["--grpc-listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&stack.log_path("server"))?)
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {} server", exe.display()), e))?;
        let stdout = stack.server.insert(server).stdout.take();
        let (api_url, grpc_url) = stack.await_addresses(stdout)?;
        stack.api_url = api_url;
        tracing::info!(api = %stack.api_url, grpc = %grpc_url, "server up");

        let config = stack.dir.path().join("agent.toml");
        let cert = server_dir.join("tls").join("server.crt");
        write(
            &config,
            &format!(
                "# saker bench latency: the agent's default configuration, reporting to the bench's server.\n\
                 [server]\nurl = {}\ntoken_file = {}\nca_cert = {}\ndata_dir = {}\n",
                toml_str(&grpc_url)?,
                toml_str(&token_file.display().to_string())?,
                toml_str(&cert.display().to_string())?,
                toml_str(&stack.dir.path().join("agent").display().to_string())?,
            ),
        )?;
        let agent = Command::new(exe)
            .args(["agent", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&stack.log_path("agent"))?)
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {} agent", exe.display()), e))?;
        tracing::info!(pid = agent.id(), "agent started");
        stack.agent = Some(agent);
        Ok(stack)
    }

    fn log_path(&self, who: &str) -> PathBuf {
        self.dir.path().join(format!("{who}.log"))
    }

    /// The server prints `… console and API at <url>` and `… agents connect
    /// to <url> (…)` once it listens (both bound with port 0: no race for a
    /// port).
    fn await_addresses(&mut self, stdout: Option<std::process::ChildStdout>) -> Result<(String, String), BenchError> {
        let Some(stdout) = stdout else { return Err(BenchError::Server("no stdout to read".into())) };
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so the server never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + SERVER_START;
        let (mut api, mut grpc) = (None, None);
        while api.is_none() || grpc.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                return Err(BenchError::Server(format!(
                    "did not print its addresses within {SERVER_START:?}\n{}",
                    self.logs()
                )));
            };
            if let Some(url) = line.split(" console and API at ").nth(1) {
                api = Some(url.trim().to_owned());
            } else if let Some(rest) = line.split(" agents connect to ").nth(1) {
                grpc = rest.split_whitespace().next().map(str::to_owned);
            }
        }
        match (api, grpc) {
            (Some(a), Some(g)) if a.starts_with("http") && g.starts_with("https://") => Ok((a, g)),
            (a, g) => Err(BenchError::Server(format!("unexpected start lines: API {a:?}, gRPC {g:?}"))),
        }
    }

    /// An error when the server or the agent has exited.
    pub fn check(&mut self) -> Result<(), BenchError> {
        let mut exited = None;
        for (who, child) in [("server", &mut self.server), ("agent", &mut self.agent)] {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                *child = None;
                exited = Some((who, status));
                break;
            }
        }
        let Some((who, status)) = exited else { return Ok(()) };
        let msg = format!("the {who} exited ({status})\n{}", self.logs());
        Err(if who == "agent" { BenchError::Agent(msg) } else { BenchError::Server(msg) })
    }

    /// The last lines of both logs, for an error message.
    pub fn logs(&self) -> String {
        ["server", "agent"]
            .iter()
            .map(|who| {
                let text = std::fs::read_to_string(self.log_path(who)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!("--- {who}.log (last lines) ---\n{}", lines[lines.len().saturating_sub(15)..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop the agent (SIGTERM: it delivers what it spooled), then the server.
    pub fn stop(mut self) -> Result<(), BenchError> {
        let agent = stop(self.agent.take(), "agent");
        let server = stop(self.server.take(), "server");
        match (agent, server) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) => Err(BenchError::Agent(format!("{e}\n{}", self.logs()))),
            (_, Err(e)) => Err(BenchError::Server(format!("{e}\n{}", self.logs()))),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in [self.agent.take(), self.server.take()].into_iter().flatten() {
            kill(c);
        }
    }
}

/// SIGTERM, wait up to the grace period, then SIGKILL. An error when the
/// child had to be killed or exited with a failure.
fn stop(child: Option<Child>, who: &str) -> Result<(), String> {
    let Some(mut c) = child else { return Ok(()) };
    if let Ok(pid) = libc::pid_t::try_from(c.id()) {
        // SAFETY: signalling our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        match c.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("the {who} stopped with {status}")),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for the {who}: {e}")),
        }
    }
    kill(c);
    Err(format!("the {who} did not stop within {STOP_GRACE:?} of SIGTERM; killed"))
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// Run one of the administrator's offline commands; its last stdout line.
fn offline(exe: &Path, args: &[&str]) -> Result<String, BenchError> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::io(format!("running saker {}", args.join(" ")), e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().last().map(str::trim) {
        Some(line) if out.status.success() && !line.is_empty() => Ok(line.to_owned()),
        _ => Err(BenchError::Server(format!(
            "saker {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))),
    }
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|e| BenchError::io(format!("writing {}", path.display()), e))
}

fn log_file(path: &Path) -> Result<File, BenchError> {
    File::create(path).map_err(|e| BenchError::io(format!("creating {}", path.display()), e))
}

/// A TOML basic string.
fn toml_str(s: &str) -> Result<String, BenchError> {
    if s.chars().any(char::is_control) {
        return Err(BenchError::Usage(format!("a control character in {s:?}")));
    }
    Ok(format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn toml_strings_are_quoted_and_escaped() {
        assert_eq!(super::toml_str("/tmp/a").unwrap(), "\"/tmp/a\"");
        assert_eq!(super::toml_str("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(super::toml_str("a\nb").is_err());
    }
}
