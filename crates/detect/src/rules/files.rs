//! File rules: sensitive files modified, cgroup release agents, the runc
//! binary overwritten from a container; container runtime sockets reached
//! from a container. Also remembers who wrote which file in a container, for
//! `NewBinaryExecuted` / `NewLibraryLoaded`.

use super::tables::{ACCOUNT_TOOLS, RUNTIME_SOCKETS, is_package_manager};
use super::{Hit, RuleCtx, basename, program_name, succeeded};
use crate::catalog::FindingType as T;
use crate::state::Modification;
use saker_model::{Event, Kind};

pub(super) fn on_file(ev: &Event, cx: &mut RuleCtx<'_>, hits: &mut Vec<Hit>) {
    let Some(f) = ev.file() else { return };
    let op = match ev.kind {
        Kind::FileWrite => "Write",
        Kind::FileRename => "Rename",
        Kind::FileUnlink => "Delete",
        Kind::FileLink => "Link",
        Kind::FileSymlink => "Symlink",
        Kind::FileChmod => "Chmod",
        _ => return,
    };
    // The file that ends up changed: a rename or link changes its new name.
    let changed = f.new_path.as_deref().unwrap_or(&f.path);

    if let (Some(c), Some(p)) = (&ev.container, &ev.process)
        && succeeded(ev)
    {
        cx.state.note_write(&c.id, changed, Modification { process: p.clone(), at: ev.time });
    }

    // Attempts count for escapes: a refused write to release_agent is still
    // someone trying.
    if basename(changed) == "release_agent" || basename(&f.path) == "release_agent" {
        hits.push(Hit::new(T::CGroupsReleaseAgentModified, changed).ctx("releaseAgentPath", changed));
        return;
    }
    if ev.container.is_some() && is_runc(changed) && ev.kind != Kind::FileUnlink {
        hits.push(Hit::new(T::RuncContainerEscape, changed).ctx("runcBinaryPath", changed));
        return;
    }
    if !succeeded(ev) {
        return;
    }
    let Some(t) = sensitive(changed).or_else(|| sensitive(&f.path)) else { return };
    if expected_writer(ev, t, changed) {
        return;
    }
    let mut related: Vec<&str> = Vec::new();
    if let Some(n) = f.new_path.as_deref() {
        related.push(if n == changed { &f.path } else { n });
    }
    if let Some(target) = f.target.as_deref() {
        related.push(target);
    }
    hits.push(
        Hit::new(t, format!("{op}:{changed}"))
            .ctx("fileOperation", op)
            .ctx("filePath", changed)
            .ctx("relatedFilePaths", related),
    );
}

fn is_runc(path: &str) -> bool {
    matches!(basename(path), "runc" | "docker-runc" | "runc.amd64" | "runc.arm64")
}

/// Which family a sensitive path belongs to.
fn sensitive(path: &str) -> Option<T> {
    const PRIVILEGE: &[&str] = &["/etc/sudoers", "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"];
    const PRIVILEGE_DIRS: &[&str] = &["/etc/sudoers.d/", "/etc/pam.d/", "/etc/security/"];
    const PERSISTENCE: &[&str] =
        &["/etc/crontab", "/etc/rc.local", "/etc/profile", "/etc/bash.bashrc", "/etc/environment"];
    const PERSISTENCE_DIRS: &[&str] = &[
        "/etc/cron.d/",
        "/etc/cron.hourly/",
        "/etc/cron.daily/",
        "/etc/cron.weekly/",
        "/etc/cron.monthly/",
        "/var/spool/cron/",
        "/etc/systemd/system/",
        "/lib/systemd/system/",
        "/usr/lib/systemd/system/",
        "/etc/init.d/",
        "/etc/profile.d/",
        "/etc/update-motd.d/",
        "/etc/xdg/autostart/",
    ];
    const PERSISTENCE_HOME: &[&str] = &[
        ".bashrc",
        ".bash_profile",
        ".profile",
        ".zshrc",
        ".bash_login",
        ".bash_logout",
        "authorized_keys",
        "authorized_keys2",
    ];
    const EVASION: &[&str] = &["/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/rsyslog.conf", "/etc/selinux/config"];
    const EVASION_DIRS: &[&str] = &["/etc/ld.so.conf.d/", "/etc/audit/", "/etc/rsyslog.d/", "/etc/apparmor.d/"];

    let in_dirs = |dirs: &[&str]| dirs.iter().any(|d| path.starts_with(d));
    if PRIVILEGE.contains(&path) || in_dirs(PRIVILEGE_DIRS) {
        return Some(T::SensitiveFileModifiedPrivilegeEscalation);
    }
    if EVASION.contains(&path) || in_dirs(EVASION_DIRS) {
        return Some(T::SensitiveFileModifiedDefenseEvasion);
    }
    if PERSISTENCE.contains(&path) || in_dirs(PERSISTENCE_DIRS) {
        return Some(T::SensitiveFileModifiedPersistence);
    }
    let home = path.starts_with("/root/") || path.starts_with("/home/");
    if home && PERSISTENCE_HOME.contains(&basename(path)) {
        return Some(T::SensitiveFileModifiedPersistence);
    }
    None
}

/// Writers whose job is this file: package managers (and what they run),
/// account tools for account files, `crontab` for cron tables, `systemctl`
/// for unit links. Editors and everything else are reported.
fn expected_writer(ev: &Event, t: T, path: &str) -> bool {
    let name = program_name(ev);
    let below_package_manager =
        is_package_manager(name) || ev.lineage.iter().any(|p| is_package_manager(super::process_name(p)));
    if below_package_manager {
        return true;
    }
    match t {
        T::SensitiveFileModifiedPrivilegeEscalation => ACCOUNT_TOOLS.contains(&name),
        T::SensitiveFileModifiedPersistence => {
            (name == "crontab" && path.starts_with("/var/spool/cron/"))
                || (matches!(name, "systemctl" | "systemd") && path.starts_with("/etc/systemd/system/"))
        }
        _ => false,
    }
}

/// A container process talking to the container runtime's socket.
pub(super) fn on_net(ev: &Event, hits: &mut Vec<Hit>) {
    let (Some(n), Some(_)) = (ev.net(), &ev.container) else { return };
    if ev.kind != Kind::NetConnect || n.family != "unix" {
        return;
    }
    let Some(path) = n.unix_path.as_deref() else { return };
    if RUNTIME_SOCKETS.contains(&path) {
        hits.push(Hit::new(T::DockerSocketAccessed, path).ctx("socketPath", path));
    }
}
