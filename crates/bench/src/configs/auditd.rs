//! The auditd configuration: Debian's auditd, the classic alternative,
//! watching what the agent's default configuration reports for these
//! workloads — execve/execveat, connect, and writes (`-p wa`) under the
//! agent's default file prefixes.
//!
//! The bench starts its own auditd (`auditd -n -c <temp dir>`: Debian's
//! settings, but the log in the temp dir so records can be counted and
//! nothing rotates), loads its rules under one key, and on the way out
//! deletes them, stops the daemon and puts back the kernel's audit enable
//! flag and backlog limit. An auditd already running belongs to someone
//! else: the configuration is then unavailable, and nothing is touched.

use super::Observed;
use crate::BenchError;
use crate::procfs;
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "saker-bench";

/// Debian's auditd.conf, but logging into the bench's directory without
/// rotation, and with no plugins (no syslog/af_unix forwarding).
const CONF: &str = "local_events = yes
write_logs = yes
log_file = {DIR}/audit.log
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 0
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
priority_boost = 4
name_format = NONE
q_depth = 2000
overflow_action = SYSLOG
plugin_dir = {DIR}/plugins
end_of_event_timeout = 2
";

/// The kernel's audit state that the bench changes and puts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    pub enabled: u64,
    pub pid: u64,
    pub backlog_limit: u64,
    pub lost: u64,
}

pub struct Auditd {
    child: Child,
    pid: u32,
    dir: tempfile::TempDir,
    before: Status,
    kauditd: Option<u32>,
    cpu_start: u64,
    lost_start: u64,
    cleaned: bool,
}

impl Auditd {
    pub fn start() -> Result<Self, BenchError> {
        let before = status()?;
        if before.pid != 0 {
            return Err(BenchError::Auditd(format!(
                "an audit daemon already runs (pid {}); the bench leaves it alone",
                before.pid
            )));
        }
        if before.enabled == 2 {
            return Err(BenchError::Auditd("the audit configuration is locked (enabled 2)".into()));
        }
        let dir = tempfile::Builder::new()
            .prefix("saker-bench-auditd-")
            .tempdir()
            .map_err(|e| BenchError::io("creating auditd's directory", e))?;
        let conf = CONF.replace("{DIR}", &dir.path().display().to_string());
        let conf_path = dir.path().join("auditd.conf");
        std::fs::write(&conf_path, conf).map_err(|e| BenchError::io("writing auditd.conf", e))?;
        use std::os::unix::fs::PermissionsExt;
        // auditd refuses a configuration others could write.
        std::fs::set_permissions(&conf_path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| BenchError::io("chmod auditd.conf", e))?;
        std::fs::create_dir(dir.path().join("plugins")).map_err(|e| BenchError::io("creating plugins dir", e))?;
        let child = Command::new("auditd")
            .arg("-n")
            .arg("-c")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C reaches the bench, which then
            // deletes the rules before stopping the daemon.
            .process_group(0)
            .spawn()
            .map_err(|e| BenchError::Auditd(format!("cannot run auditd (apt-get install auditd): {e}")))?;
        let pid = child.id();
        let mut me = Auditd { child, pid, dir, before, kauditd: None, cpu_start: 0, lost_start: 0, cleaned: false };
        me.wait_registered()?;
        auditctl(&["-b", "8192"])?;
        for rule in rules() {
            auditctl(&rule.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        me.kauditd = procfs::kernel_thread("kauditd");
        procfs::reset_peak_rss(pid)?;
        me.cpu_start = me.cpu()?;
        me.lost_start = status()?.lost;
        Ok(me)
    }

    /// Until the kernel names our daemon as the audit daemon.
    fn wait_registered(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if status()?.pid == u64::from(self.pid) {
                return Ok(());
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                return Err(BenchError::Auditd(format!("auditd exited at start ({exit})")));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Auditd("auditd did not register with the kernel in 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's CPU time plus the kernel thread that hands it records.
    fn cpu(&self) -> Result<u64, BenchError> {
        let k = self.kauditd.map(procfs::cpu_micros).transpose()?.unwrap_or(0);
        Ok(procfs::cpu_micros(self.pid)? + k)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    pub fn finish(mut self, _wall: Duration) -> Result<Observed, BenchError> {
        self.wait_log_settled();
        auditctl(&["-D", "-k", KEY])?;
        let cpu = self.cpu()?.saturating_sub(self.cpu_start);
        let rss = procfs::peak_rss_kib(self.pid)?;
        let lost = status()?.lost.saturating_sub(self.lost_start);
        let events = count_records(&self.log())?;
        self.cleanup()?;
        Ok(Observed {
            events: Some(events),
            lost: Some(lost),
            shed: None,
            cpu_micros: Some(cpu),
            peak_rss_kib: Some(rss),
        })
    }

    /// auditd writes asynchronously: wait until the log stops growing.
    fn wait_log_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let size = || std::fs::metadata(self.log()).map(|m| m.len()).unwrap_or(0);
        let mut last = size();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(300));
            let now = size();
            if now == last {
                return;
            }
            last = now;
        }
        tracing::warn!("auditd's log still grew after 60 s; counting what is there");
    }

    /// Rules out, daemon stopped, kernel state put back. Idempotent.
    fn cleanup(&mut self) -> Result<(), BenchError> {
        if self.cleaned {
            return Ok(());
        }
        self.cleaned = true;
        let rules = auditctl(&["-D", "-k", KEY]);
        // SAFETY: kill on our own child's pid; it has not been reaped yet.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
        let enabled = auditctl(&["-e", &self.before.enabled.to_string()]);
        let backlog = auditctl(&["-b", &self.before.backlog_limit.to_string()]);
        rules.and(enabled).and(backlog)
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            tracing::warn!(error = %e, "restoring the audit state");
        }
    }
}

/// The rules: the syscalls of the agent's process and network events, and
/// write/attribute watches on the agent's default file prefixes that exist.
fn rules() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut rules = vec![
        s(&["-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-S", "execveat", "-k", KEY]),
        s(&["-a", "always,exit", "-F", "arch=b64", "-S", "connect", "-k", KEY]),
    ];
    for p in saker_sensor::default_path_interest() {
        if p.basename.is_some() || p.dot_component || !Path::new(&p.prefix).exists() {
            continue;
        }
        let target = p.prefix.trim_end_matches('/');
        rules.push(s(&["-w", target, "-p", "wa", "-k", KEY]));
    }
    rules
}

fn auditctl(args: &[&str]) -> Result<(), BenchError> {
    let out = Command::new("auditctl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Auditd(format!("cannot run auditctl (apt-get install auditd): {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Auditd(format!(
            "auditctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn status() -> Result<Status, BenchError> {
    let out = Command::new("auditctl")
        .arg("-s")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Auditd(format!("cannot run auditctl (apt-get install auditd): {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Auditd(format!("auditctl -s: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(parse_status(&String::from_utf8_lossy(&out.stdout)))
}

/// `auditctl -s` output: `name value` lines.
pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(name), Some(value)) = (it.next(), it.next()) else { continue };
        let Ok(v) = value.parse::<u64>() else { continue };
        match name {
            "enabled" => s.enabled = v,
            "pid" => s.pid = v,
            "backlog_limit" => s.backlog_limit = v,
            "lost" => s.lost = v,
            _ => {}
        }
    }
    s
}

/// Audit events carrying the bench's key: one SYSCALL record each.
fn count_records(log: &Path) -> Result<u64, BenchError> {
    let file = match std::fs::File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(BenchError::io(format!("opening {}", log.display()), e)),
    };
    let needle = format!("key=\"{KEY}\"");
    let mut n = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| BenchError::io("reading auditd's log", e))?;
        if line.starts_with(b"type=SYSCALL ") && line.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses() {
        let s = parse_status("enabled 1\nfailure 1\npid 42\nrate_limit 0\nbacklog_limit 64\nlost 7\nbacklog 0\n");
        assert_eq!(s, Status { enabled: 1, pid: 42, backlog_limit: 64, lost: 7 });
    }

    #[test]
    fn records_with_the_key_are_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        std::fs::write(
            &log,
            "type=SYSCALL msg=audit(1:2): syscall=59 key=\"saker-bench\"\x1dARCH=x86_64\n\
             type=PATH msg=audit(1:2): name=\"/bin/true\"\n\
             type=SYSCALL msg=audit(1:3): syscall=44 key=(null)\n",
        )
        .unwrap();
        assert_eq!(count_records(&log).unwrap(), 1);
        assert_eq!(count_records(&dir.path().join("missing")).unwrap(), 0);
    }

    #[test]
    fn rules_watch_existing_default_prefixes() {
        let r = rules();
        assert!(r.iter().any(|x| x.contains(&"/etc".to_owned())));
        assert!(r.iter().all(|x| x.last().map(String::as_str) == Some(KEY)));
    }
}
