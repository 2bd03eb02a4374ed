//! Task-sidecar scope: which cgroups belong to the watched task.
//!
//! A task's containers are sibling cgroups under the task's cgroup (ECS:
//! `/ecs/<task-id>/<container>`; Kubernetes: the pod's slice). The agent,
//! running as one of them, watches the others: every child cgroup of the
//! task cgroup except its own. Rescanned periodically, because containers
//! join a task after the agent starts.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the task lives in the cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskScope {
    /// The task's cgroup directory (absolute, under the cgroup2 mount).
    pub task_cgroup: PathBuf,
    /// The agent's own container cgroup, never watched.
    pub own_cgroup: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("task-sidecar mode: cannot tell this process's cgroup from {path}: {reason}")]
    OwnCgroup { path: PathBuf, reason: String },
    #[error("task-sidecar mode: task cgroup {path} is not readable: {source}")]
    TaskCgroup { path: PathBuf, source: std::io::Error },
    #[error("task-sidecar mode: this process runs in the root cgroup, so it is not inside a task; pass --task-cgroup")]
    NotInTask,
}

impl TaskScope {
    /// The task around this process: the parent of its own cgroup.
    pub fn detect(proc_root: &Path, cgroup2_root: &Path) -> Result<TaskScope, ScopeError> {
        let path = proc_root.join("self/cgroup");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ScopeError::OwnCgroup { path: path.clone(), reason: e.to_string() })?;
        // The cgroup2 line is "0::<path>" on unified and hybrid hosts.
        let own = text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or_else(|| ScopeError::OwnCgroup { path: path.clone(), reason: "no cgroup2 (0::) line".into() })?;
        let own_rel = own.trim().trim_start_matches('/');
        let own_dir = Path::new(own_rel);
        let Some(task_rel) = own_dir.parent().filter(|p| !own_rel.is_empty() && !p.as_os_str().is_empty()) else {
            return Err(ScopeError::NotInTask);
        };
        Ok(TaskScope { task_cgroup: cgroup2_root.join(task_rel), own_cgroup: Some(cgroup2_root.join(own_dir)) })
    }

    /// A task cgroup given explicitly (the agent runs outside the task).
    pub fn explicit(task_cgroup: PathBuf) -> TaskScope {
        TaskScope { task_cgroup, own_cgroup: None }
    }

    /// Cgroup ids (inodes) of the task's containers and everything below
    /// them, except the agent's own container.
    pub fn member_ids(&self) -> Result<BTreeSet<u64>, ScopeError> {
        let mut ids = BTreeSet::new();
        let entries = std::fs::read_dir(&self.task_cgroup)
            .map_err(|source| ScopeError::TaskCgroup { path: self.task_cgroup.clone(), source })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if Some(&p) == self.own_cgroup.as_ref() || !p.is_dir() {
                continue;
            }
            collect(&p, &mut ids, 0);
        }
        Ok(ids)
    }
}

/// Add `dir` and its sub-cgroups (bounded depth: a container may nest a few).
fn collect(dir: &Path, ids: &mut BTreeSet<u64>, depth: u32) {
    let Ok(md) = std::fs::metadata(dir) else { return };
    ids.insert(md.ino());
    if depth >= 4 {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect(&e.path(), ids, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_task_from_own_cgroup_and_excludes_itself() {
        let proc = tempfile::tempdir().unwrap();
        let cg = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("self")).unwrap();
        std::fs::write(proc.path().join("self/cgroup"), "1:cpu:/ecs/t1/agent\n0::/ecs/t1/agent\n").unwrap();
        for c in ["agent", "app", "app/sub", "web"] {
            std::fs::create_dir_all(cg.path().join("ecs/t1").join(c)).unwrap();
        }
        std::fs::create_dir_all(cg.path().join("ecs/t2/other")).unwrap();
        let scope = TaskScope::detect(proc.path(), cg.path()).unwrap();
        assert_eq!(scope.task_cgroup, cg.path().join("ecs/t1"));
        let ids = scope.member_ids().unwrap();
        let ino = |p: &str| std::fs::metadata(cg.path().join(p)).unwrap().ino();
        assert!(
            ids.contains(&ino("ecs/t1/app"))
                && ids.contains(&ino("ecs/t1/app/sub"))
                && ids.contains(&ino("ecs/t1/web"))
        );
        assert!(!ids.contains(&ino("ecs/t1/agent")), "never its own container");
        assert!(!ids.contains(&ino("ecs/t2/other")) && !ids.contains(&ino("ecs/t1")));
    }

    #[test]
    fn root_cgroup_is_not_a_task() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("self")).unwrap();
        std::fs::write(proc.path().join("self/cgroup"), "0::/\n").unwrap();
        assert!(matches!(TaskScope::detect(proc.path(), Path::new("/x")), Err(ScopeError::NotInTask)));
        std::fs::write(proc.path().join("self/cgroup"), "0::/lonely\n").unwrap();
        assert!(matches!(TaskScope::detect(proc.path(), Path::new("/x")), Err(ScopeError::NotInTask)));
    }
}
