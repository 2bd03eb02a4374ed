//! Suspicious command lines, by what they are for: execution (download and
//! run), defence evasion, discovery, persistence, privilege escalation.
//!
//! A command is judged by its program and arguments, or for `sh -c TEXT` by
//! the text. Commands that are an administrator's daily work (installing a
//! crontab, chmod u+s) are reported only in an unusual context: in a
//! container, below a network service, or not started by a person's shell.

use super::tables::{INTERACTIVE_PARENTS, applet, is_package_manager, is_shell};
use super::{Hit, command_line, executable_name, parent_name, process_name, succeeded};
use crate::catalog::FindingType as T;
use saker_model::Event;

/// The parts of an exec a command rule looks at.
struct Cmd<'a> {
    name: &'a str,
    args: &'a [String],
    /// The text of `sh -c TEXT`.
    script: Option<&'a str>,
    /// Started by a person at a terminal on the host (not in a container,
    /// parent an interactive shell or login).
    by_person: bool,
    by_package_manager: bool,
}

impl Cmd<'_> {
    fn has(&self, arg: &str) -> bool {
        self.args.iter().any(|a| a == arg)
    }

    fn text_has(&self, needle: &str) -> bool {
        self.script.is_some_and(|s| s.contains(needle))
    }
}

pub(super) fn on_exec(ev: &Event, hits: &mut Vec<Hit>) {
    let Some(x) = ev.exec() else { return };
    if !succeeded(ev) || x.argv.is_empty() {
        return;
    }
    // The applet's own argv: `busybox crontab -l` is `crontab -l`.
    let (name, argv) = applet(executable_name(ev), &x.argv);
    let script = if is_shell(name) {
        argv.iter()
            .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))
            .and_then(|i| argv.get(i + 1))
    } else {
        None
    };
    let cmd = Cmd {
        name,
        args: argv.get(1..).unwrap_or_default(),
        script: script.map(String::as_str),
        by_person: ev.container.is_none() && INTERACTIVE_PARENTS.contains(&parent_name(ev)),
        by_package_manager: ev.lineage.iter().any(|p| is_package_manager(process_name(p))),
    };
    let line = || command_line(&x.argv);

    if let Some((why, file)) = download_and_run(&cmd) {
        let severity = if cmd.by_person { 2.0 } else { 5.0 };
        let mut hit = Hit::new(T::SuspiciousCommandExecution, why).severity(severity).ctx("commandLineExample", line());
        if let Some(f) = file {
            hit = hit.ctx("threatFilePath", f);
        }
        hits.push(hit);
    }
    if let Some((why, service)) = defence_evasion(&cmd) {
        let mut hit = Hit::new(T::SuspiciousCommandDefenseEvasion, why).ctx("commandLineExample", line());
        if let Some(s) = service {
            hit = hit.ctx("serviceName", s);
        }
        hits.push(hit);
    }
    if let Some(preload) = x.ld_preload.as_deref().filter(|p| hijacking_preload(p)) {
        hits.push(
            Hit::new(T::SuspiciousCommandDefenseEvasion, format!("ld_preload:{preload}"))
                .ctx("ldPreloadValue", preload)
                .ctx("commandLineExample", line()),
        );
    }
    if let Some(why) = discovery(&cmd) {
        hits.push(Hit::new(T::SuspiciousCommandDiscovery, why).ctx("commandLineExample", line()));
    }
    if !cmd.by_package_manager {
        if let Some(why) = persistence(&cmd) {
            hits.push(Hit::new(T::SuspiciousCommandPersistence, why).ctx("commandLineExample", line()));
        }
        if let Some(why) = privilege(&cmd) {
            hits.push(Hit::new(T::SuspiciousCommandPrivilegeEscalation, why).ctx("commandLineExample", line()));
        }
    }
}

const FETCHERS: &[&str] = &["curl ", "wget ", "curl\t", "wget\t", "fetch ", "tftp "];
const PIPE_TO_SHELL: &[&str] =
    &["| sh", "|sh", "| bash", "|bash", "| /bin/sh", "| /bin/bash", "| python", "|python", "| perl", "|perl"];

/// Fetch something and run it at once; the file it ran, when named.
fn download_and_run<'a>(c: &Cmd<'a>) -> Option<(&'static str, Option<String>)> {
    let text = c.script?;
    let fetches = FETCHERS.iter().any(|f| text.contains(f));
    if fetches && PIPE_TO_SHELL.iter().any(|p| text.contains(p)) {
        return Some(("download piped to an interpreter", None));
    }
    if fetches && text.contains("chmod") && (text.contains("+x") || text.contains("777") || text.contains("755")) {
        return Some(("download made executable", output_file(text)));
    }
    if text.contains("base64 -d") && PIPE_TO_SHELL.iter().any(|p| text.contains(p)) {
        return Some(("decoded payload piped to an interpreter", None));
    }
    None
}

/// The `-O FILE` / `-o FILE` of a curl or wget in a script.
fn output_file(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-O" || w == "-o" || w == "--output" || w == "--output-document" {
            return words.next().map(|f| f.trim_matches(|c| c == '"' || c == '\'' || c == ';').to_owned());
        }
    }
    None
}

const SECURITY_SERVICES: &[&str] = &[
    "firewalld",
    "ufw",
    "iptables",
    "nftables",
    "apparmor",
    "auditd",
    "falco",
    "osqueryd",
    "wazuh-agent",
    "ossec",
    "falcon-sensor",
    "amazon-guardduty-agent",
    "aws-guardduty-agent",
    "saker",
    "saker-agent",
    "tetragon",
    "sysdig",
    "clamav-daemon",
    "clamav-freshclam",
    "rsyslog",
    "syslog",
    "systemd-journald",
    "amazon-cloudwatch-agent",
    "amazon-ssm-agent",
    "selinux",
];

fn defence_evasion<'a>(c: &Cmd<'a>) -> Option<(&'static str, Option<&'a str>)> {
    match c.name {
        "iptables" | "ip6tables" | "iptables-legacy" | "iptables-nft" => {
            if c.has("-F") || c.has("--flush") {
                return Some(("firewall rules flushed", None));
            }
            if c.has("-P") && c.has("ACCEPT") {
                return Some(("firewall default policy set to accept", None));
            }
        }
        "nft" if c.has("flush") && c.has("ruleset") => return Some(("firewall rules flushed", None)),
        "ufw" if c.has("disable") => return Some(("firewall disabled", Some("ufw"))),
        "setenforce" if c.has("0") || c.has("Permissive") => return Some(("SELinux enforcement disabled", None)),
        "crontab" if c.has("-r") => return Some(("scheduled tasks wiped", None)),
        "auditctl" if c.has("-D") || (c.has("-e") && c.has("0")) => return Some(("audit rules removed", None)),
        "systemctl" if c.args.iter().any(|a| a == "stop" || a == "disable" || a == "mask" || a == "kill") => {
            if let Some(s) =
                c.args.iter().map(|a| a.trim_end_matches(".service")).find(|a| SECURITY_SERVICES.contains(a))
            {
                return Some(("security service stopped", Some(s)));
            }
        }
        "service" if c.has("stop") => {
            if let Some(s) = c.args.first().map(String::as_str).filter(|a| SECURITY_SERVICES.contains(a)) {
                return Some(("security service stopped", Some(s)));
            }
        }
        "rm" | "shred" | "unlink"
            if c.args.iter().any(|a| a.ends_with(".bash_history") || a.ends_with(".zsh_history")) =>
        {
            return Some(("shell history deleted", None));
        }
        _ => {}
    }
    if c.text_has("unset HISTFILE") || c.text_has("HISTFILE=/dev/null") || c.text_has("history -c") {
        return Some(("shell history disabled", None));
    }
    None
}

/// A preloaded library outside the system's library directories.
fn hijacking_preload(value: &str) -> bool {
    const SYSTEM: &[&str] = &["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/lib32/", "/lib32/"];
    value
        .split([':', ' '])
        .filter(|p| !p.is_empty())
        .any(|p| !SYSTEM.iter().any(|s| p.starts_with(s)) || p.contains("/../"))
}

/// Discovery commands are an administrator's daily work at a terminal on
/// the host; they are reported in an unusual context only — in a container,
/// below a network service or a script, not started by a person's shell.
fn discovery(c: &Cmd<'_>) -> Option<&'static str> {
    if c.by_person {
        return None;
    }
    match c.name {
        "find"
            if c.args.windows(2).any(|w| {
                w[0] == "-perm"
                    && matches!(w[1].as_str(), "-4000" | "/4000" | "-u=s" | "-2000" | "/2000" | "-g=s" | "/6000")
            }) =>
        {
            return Some("search for set-id binaries");
        }
        "getcap" if c.has("-r") => return Some("search for file capabilities"),
        "curl" | "wget" if c.args.iter().any(|a| metadata_secret(a)) => {
            return Some("cloud credentials queried from the metadata service");
        }
        "cat" | "head" | "tail" | "less" | "more" if c.has("/etc/shadow") || c.has("/etc/gshadow") => {
            return Some("password hashes read");
        }
        _ => {}
    }
    if c.script.is_some_and(metadata_secret) {
        return Some("cloud credentials queried from the metadata service");
    }
    None
}

/// A URL (or script text) that reads credentials or user data from the
/// instance metadata service or the ECS task credential endpoint. Other
/// metadata (instance id, region) is not secret.
fn metadata_secret(text: &str) -> bool {
    const SECRETS: &[&str] = &[
        "169.254.169.254/latest/meta-data/iam/security-credentials",
        "169.254.169.254/latest/meta-data/identity-credentials",
        "169.254.169.254/latest/user-data",
        "[fd00:ec2::254]/latest/meta-data/iam/security-credentials",
        "169.254.170.2/v2/credentials",
        "169.254.170.2/v1/credentials",
    ];
    SECRETS.iter().any(|s| text.contains(s))
}

fn persistence(c: &Cmd<'_>) -> Option<&'static str> {
    match c.name {
        // `crontab FILE` / `crontab -` install a table; -l lists, -e edits
        // interactively, -r removes (defence evasion).
        "crontab" if !c.by_person && crontab_installs(c.args) => return Some("crontab installed"),
        "systemctl" if !c.by_person && c.has("enable") => return Some("service enabled"),
        "update-rc.d" | "chkconfig" if !c.by_person => return Some("init script enabled"),
        _ => {}
    }
    if c.text_has("authorized_keys") && (c.text_has(">>") || c.text_has("> ")) {
        return Some("SSH key added");
    }
    if (c.text_has("/etc/cron") || c.text_has("/var/spool/cron") || c.text_has("| crontab")) && c.text_has("echo") {
        return Some("cron job written");
    }
    if c.text_has("@reboot") {
        return Some("cron job written");
    }
    None
}

/// Does `crontab ARGS` install a table? It does with a FILE or `-`;
/// `-l` lists, `-e` edits at a terminal, `-r` removes (defence evasion), and
/// `-u USER` / `-c DIR` take a value that is not a file.
fn crontab_installs(args: &[String]) -> bool {
    let mut args = args.iter();
    let mut file = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "-l" | "-e" | "-r" => return false,
            "-u" | "-c" => {
                args.next();
            }
            "-" => file = true,
            a if !a.starts_with('-') => file = true,
            _ => {}
        }
    }
    file
}

/// A chmod mode that sets the set-user-id or set-group-id bit: `u+s`,
/// `g+s`, `+s`, or an octal mode with 04000/02000 (`4755`, `04755`, `6711`).
fn sets_setid(mode: &str) -> bool {
    if mode.starts_with('-') {
        return false;
    }
    if mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) && (4..=5).contains(&mode.len()) {
        return u32::from_str_radix(mode, 8).is_ok_and(|m| m & 0o6000 != 0);
    }
    // Symbolic: clauses `[ugoa]*[+=][rwxXst]*`, so a file named `a+s` is not a mode.
    mode.split(',').any(|clause| {
        clause.split_once(['+', '=']).is_some_and(|(who, perms)| {
            who.bytes().all(|b| b"ugoa".contains(&b))
                && perms.bytes().all(|b| b"rwxXst".contains(&b))
                && perms.contains('s')
        })
    })
}

fn privilege(c: &Cmd<'_>) -> Option<&'static str> {
    match c.name {
        "chmod" => {
            let setid = c.args.iter().any(|a| sets_setid(a));
            if setid && !c.by_person {
                return Some("set-id bit set on a file");
            }
            if setid
                && c.args
                    .iter()
                    .any(|a| a.starts_with("/tmp/") || a.starts_with("/dev/shm/") || a.starts_with("/var/tmp/"))
            {
                return Some("set-id bit set on a file");
            }
        }
        "setcap"
            if c.args
                .iter()
                .any(|a| a.contains("cap_setuid") || a.contains("cap_sys_admin") || a.contains("cap_dac_override")) =>
        {
            return Some("privileged capability granted to a file");
        }
        "usermod" | "gpasswd" | "adduser"
            if c.args.iter().any(|a| matches!(a.as_str(), "sudo" | "wheel" | "root" | "admin" | "docker" | "adm"))
                && !c.by_person =>
        {
            return Some("user added to a privileged group");
        }
        _ => {}
    }
    if c.text_has("sudoers") && (c.text_has(">>") || c.text_has("NOPASSWD")) {
        return Some("sudoers changed");
    }
    None
}
