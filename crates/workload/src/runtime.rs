//! Which container a cgroup path belongs to, read from the path alone.
//!
//! Every container runtime names the cgroup it creates after the container
//! id, in one of a handful of layouts (cgroupfs or systemd driver, plain or
//! Kubernetes, v1 or v2 — v1 paths look the same). [`parse_cgroup_path`] turns
//! such a path into a [`ContainerRef`]: the runtime, the container id and,
//! when the path has them, the Kubernetes pod uid and the ECS task id. It is
//! the cheapest attribution source: no I/O at all.
//!
//! Paths come from the kernel but their names can be chosen by anyone who can
//! create a cgroup (delegated subtrees); only exact, well-formed components
//! match, everything else is `None`.

/// The container runtime a cgroup layout belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
    /// ECS on Fargate: the id is `<task id>-<digits>`, known to no runtime API
    /// we can reach; the task metadata endpoint knows more.
    Ecs,
    /// A container id in a layout that does not name its runtime (a bare
    /// 64-hex directory outside any known parent).
    Unknown,
}

impl Runtime {
    /// The `container.runtime` string of the event model; `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Runtime::Docker => Some("docker"),
            Runtime::Containerd => Some("containerd"),
            Runtime::CriO => Some("cri-o"),
            Runtime::Podman => Some("podman"),
            Runtime::Ecs => Some("ecs"),
            Runtime::Unknown => None,
        }
    }
}

/// A container named by a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub runtime: Runtime,
    /// The runtime's container id (64 hex digits, or `<task>-<n>` on Fargate).
    pub id: String,
    /// Kubernetes pod uid (with dashes), when the path is under a pod cgroup.
    pub pod_uid: Option<String>,
    /// ECS task id (32 hex digits), when the path is under an ECS task cgroup.
    pub ecs_task_id: Option<String>,
}

/// Parse a cgroup path (relative to the hierarchy root, e.g. from
/// `/proc/<pid>/cgroup` or [`crate::cgroup::CgroupResolver`]). `None` for host
/// cgroups and anything not recognised.
pub fn parse_cgroup_path(path: &str) -> Option<ContainerRef> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // The deepest component that names a container wins: runtimes add
    // sub-cgroups below the container's (podman's `/container`, CRI-O's
    // `/container`), and nested containers (docker-in-docker) are named last.
    let (idx, runtime, id) = parts.iter().enumerate().rev().find_map(|(i, p)| {
        let (rt, id) = container_component(p, &parts[..i])?;
        Some((i, rt, id))
    })?;
    let ancestors = &parts[..idx];
    let pod_uid = parts[..=idx].iter().rev().find_map(|p| pod_uid_component(p));
    let ecs_task_id = ecs_task_id(ancestors);
    Some(ContainerRef { runtime, id, pod_uid, ecs_task_id })
}

/// Does this one component name a container? `ancestors` decides the runtime
/// for layouts whose leaf is a bare id.
fn container_component(part: &str, ancestors: &[&str]) -> Option<(Runtime, String)> {
    // systemd-driver names: `<prefix>-<id>.scope`. conmon scopes (CRI-O,
    // podman) hold the monitor, not the container, and do not match because
    // `conmon-<id>` is not an id.
    const SCOPES: [(&str, Runtime); 5] = [
        ("docker-", Runtime::Docker),
        ("cri-containerd-", Runtime::Containerd),
        ("nerdctl-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
        ("libpod-", Runtime::Podman),
    ];
    let stem = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, rt) in SCOPES {
        if let Some(id) = stem.strip_prefix(prefix)
            && is_hex(id, 64)
        {
            return Some((rt, id.to_owned()));
        }
    }
    // A systemd cgroupsPath used verbatim as a directory name
    // (`kubepods-...-pod<uid>.slice:cri-containerd:<id>`), seen when the
    // cgroupfs driver is given a systemd-style path.
    let mut fields = part.split(':');
    if let (Some(_slice), Some(prefix), Some(id), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        && is_hex(id, 64)
    {
        let rt = match prefix {
            "docker" => Runtime::Docker,
            "cri-containerd" | "nerdctl" => Runtime::Containerd,
            "crio" => Runtime::CriO,
            "libpod" => Runtime::Podman,
            _ => Runtime::Unknown,
        };
        return Some((rt, id.to_owned()));
    }
    if is_hex(part, 64) {
        return Some((bare_id_runtime(ancestors), part.to_owned()));
    }
    // Fargate: `/ecs/<task id>/<task id>-<digits>`.
    if let Some((task, n)) = part.split_once('-')
        && is_hex(task, 32)
        && !n.is_empty()
        && n.len() <= 20
        && n.bytes().all(|b| b.is_ascii_digit())
        && ecs_task_id(ancestors).is_some()
    {
        return Some((Runtime::Ecs, part.to_owned()));
    }
    None
}

/// The runtime of a bare 64-hex leaf, from where it sits.
fn bare_id_runtime(ancestors: &[&str]) -> Runtime {
    match ancestors.last() {
        // Docker's cgroupfs driver: `/docker/<id>`; the ECS agent on EC2
        // uses Docker with `/ecs/<task>/<id>`.
        Some(&"docker") => Runtime::Docker,
        _ if ecs_task_id(ancestors).is_some() => Runtime::Docker,
        // Kubernetes with the cgroupfs driver: `/kubepods/<qos>/pod<uid>/<id>`.
        // dockershim is gone from Kubernetes (1.24), CRI-O names its leaf
        // `crio-<id>`: a bare id under a pod is containerd's.
        _ if ancestors.iter().any(|p| pod_uid_component(p).is_some()) => Runtime::Containerd,
        _ => Runtime::Unknown,
    }
}

/// The ECS task id from `/ecs/<task id>/...` (cgroupfs) or
/// `ecstasks-<task id>.slice` (the ECS agent on cgroup v2 / systemd).
fn ecs_task_id(ancestors: &[&str]) -> Option<String> {
    for (i, p) in ancestors.iter().enumerate() {
        if *p == "ecs"
            && let Some(task) = ancestors.get(i + 1)
            && is_hex(task, 32)
        {
            return Some((*task).to_owned());
        }
        if let Some(task) = p.strip_prefix("ecstasks-").and_then(|s| s.strip_suffix(".slice"))
            && is_hex(task, 32)
        {
            return Some(task.to_owned());
        }
    }
    None
}

/// A pod uid from `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid_>.slice`
/// (systemd, dashes turned into underscores), also inside a
/// `<slice>:<prefix>:<id>` name.
fn pod_uid_component(part: &str) -> Option<String> {
    let part = part.split(':').next().unwrap_or(part);
    let raw = if let Some(s) = part.strip_suffix(".slice") {
        let i = s.rfind("-pod")?;
        if !s.starts_with("kubepods") {
            return None;
        }
        &s[i + 4..]
    } else {
        part.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    // A uid is a UUID; static pods use a 32-hex hash of their manifest.
    let well_formed = (uid.len() == 36 || uid.len() == 32)
        && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && uid.bytes().any(|b| b != b'-');
    well_formed.then_some(uid)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80";
    const ID2: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const TASK: &str = "5a0d5ceddf6c44a1928d9e9c1e1a4c1b";
    const UID: &str = "8d3f1c2e-6b7a-4c5d-9e0f-1a2b3c4d5e6f";
    const UID_: &str = "8d3f1c2e_6b7a_4c5d_9e0f_1a2b3c4d5e6f";

    fn case(path: &str, runtime: Runtime, id: &str, pod: Option<&str>, task: Option<&str>) {
        let got = parse_cgroup_path(path).unwrap_or_else(|| panic!("{path}: not recognised"));
        let want = ContainerRef {
            runtime,
            id: id.to_owned(),
            pod_uid: pod.map(str::to_owned),
            ecs_task_id: task.map(str::to_owned),
        };
        assert_eq!(got, want, "{path}");
    }

    #[test]
    fn docker() {
        case(&format!("/docker/{ID}"), Runtime::Docker, ID, None, None);
        case(&format!("/system.slice/docker-{ID}.scope"), Runtime::Docker, ID, None, None);
        // rootless Docker under the user's systemd instance
        case(
            &format!("/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope"),
            Runtime::Docker,
            ID,
            None,
            None,
        );
        // docker-in-docker: the inner container is the one the process is in
        case(&format!("/docker/{ID2}/docker/{ID}"), Runtime::Docker, ID, None, None);
    }

    #[test]
    fn kubernetes_containerd_and_docker() {
        case(&format!("/kubepods/besteffort/pod{UID}/{ID}"), Runtime::Containerd, ID, Some(UID), None);
        case(&format!("/kubepods/pod{UID}/{ID}"), Runtime::Containerd, ID, Some(UID), None);
        case(
            &format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{ID}.scope"
            ),
            Runtime::Containerd,
            ID,
            Some(UID),
            None,
        );
        case(
            &format!("/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"),
            Runtime::Containerd,
            ID,
            Some(UID),
            None,
        );
        // containerd in a cgroup namespace given a systemd-style path
        case(
            &format!("/system.slice/containerd.service/kubepods-besteffort-pod{UID_}.slice:cri-containerd:{ID}"),
            Runtime::Containerd,
            ID,
            Some(UID),
            None,
        );
        // dockershim / cri-dockerd with the systemd driver
        case(
            &format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/docker-{ID}.scope"),
            Runtime::Docker,
            ID,
            Some(UID),
            None,
        );
        // nerdctl outside Kubernetes
        case(&format!("/system.slice/nerdctl-{ID}.scope"), Runtime::Containerd, ID, None, None);
    }

    #[test]
    fn crio() {
        case(
            &format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-{ID}.scope"),
            Runtime::CriO,
            ID,
            Some(UID),
            None,
        );
        case(
            &format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-{ID}.scope/container"),
            Runtime::CriO,
            ID,
            Some(UID),
            None,
        );
        case(&format!("/kubepods/burstable/pod{UID}/crio-{ID}"), Runtime::CriO, ID, Some(UID), None);
        // conmon is the monitor, not the container
        let conmon = format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-conmon-{ID}.scope");
        assert_eq!(parse_cgroup_path(&conmon), None);
    }

    #[test]
    fn podman() {
        case(&format!("/machine.slice/libpod-{ID}.scope"), Runtime::Podman, ID, None, None);
        case(&format!("/machine.slice/libpod-{ID}.scope/container"), Runtime::Podman, ID, None, None);
        case(&format!("/libpod_parent/libpod-{ID}"), Runtime::Podman, ID, None, None);
        case(
            &format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
            Runtime::Podman,
            ID,
            None,
            None,
        );
        assert_eq!(parse_cgroup_path(&format!("/machine.slice/libpod-conmon-{ID}.scope")), None);
    }

    #[test]
    fn ecs() {
        case(&format!("/ecs/{TASK}/{ID}"), Runtime::Docker, ID, None, Some(TASK));
        // the ECS agent's cgroup v2 layout
        case(
            &format!("/ecstasks.slice/ecstasks-{TASK}.slice/docker-{ID}.scope"),
            Runtime::Docker,
            ID,
            None,
            Some(TASK),
        );
        let fargate = format!("{TASK}-2974895575");
        case(&format!("/ecs/{TASK}/{fargate}"), Runtime::Ecs, &fargate, None, Some(TASK));
        // `<32hex>-<digits>` means nothing outside an ECS task
        assert_eq!(parse_cgroup_path(&format!("/system.slice/{fargate}")), None);
        // the task cgroup itself is not a container
        assert_eq!(parse_cgroup_path(&format!("/ecs/{TASK}")), None);
    }

    #[test]
    fn bare_id_elsewhere_is_unknown_runtime() {
        case(&format!("/default/{ID}"), Runtime::Unknown, ID, None, None);
        assert_eq!(Runtime::Unknown.name(), None);
        assert_eq!(Runtime::CriO.name(), Some("cri-o"));
    }

    #[test]
    fn host_and_malformed_paths() {
        for path in [
            "",
            "/",
            "/user.slice/user-0.slice/session-1.scope",
            "/system.slice/sshd.service",
            "/system.slice/docker.service",
            "/system.slice/containerd.service",
            "/init.scope",
            "/kubepods.slice/kubepods-besteffort.slice",
            &format!("/kubepods/besteffort/pod{UID}"),
            // wrong length, upper case, trailing junk
            &format!("/docker/{}", &ID[..63]),
            &format!("/docker/{}", ID.to_uppercase()),
            &format!("/system.slice/docker-{ID}x.scope"),
            "/system.slice/docker-.scope",
            "/a:b:c",
        ] {
            assert_eq!(parse_cgroup_path(path), None, "{path}");
        }
    }

    #[test]
    fn pod_uid_forms() {
        assert_eq!(pod_uid_component(&format!("pod{UID}")).as_deref(), Some(UID));
        assert_eq!(pod_uid_component(&format!("kubepods-besteffort-pod{UID_}.slice")).as_deref(), Some(UID));
        // static pods: 32-hex hash
        assert_eq!(pod_uid_component(&format!("pod{TASK}")).as_deref(), Some(TASK));
        assert_eq!(pod_uid_component("podman.slice"), None);
        assert_eq!(pod_uid_component(&format!("other-pod{UID_}.slice")), None);
        assert_eq!(pod_uid_component(&format!("pod{}", "-".repeat(36))), None);
    }
}
