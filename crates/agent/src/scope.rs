//! Task-sidecar scope: which task the agent watches.
//!
//! A task's containers are sibling cgroups under the task's cgroup (ECS:
//! `/ecs/<task-id>/<container>`; Kubernetes: the pod's slice). The agent,
//! running as one of them, watches everything below the task's cgroup except
//! its own container. The kernel matches the task as an *ancestor* of the
//! acting cgroup, so containers that join the task later are covered without
//! any update from here.

use saker_sensor::ScopeFilter;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the task lives in the cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskScope {
    /// The cgroup2 mount point.
    pub cgroup2_root: PathBuf,
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
    #[error("task-sidecar mode: {path} is not under the cgroup2 mount {root}")]
    OutsideHierarchy { path: PathBuf, root: PathBuf },
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
        Ok(TaskScope {
            cgroup2_root: cgroup2_root.into(),
            task_cgroup: cgroup2_root.join(task_rel),
            own_cgroup: Some(cgroup2_root.join(own_dir)),
        })
    }

    /// A task cgroup given explicitly (the agent runs outside the task).
    pub fn explicit(cgroup2_root: PathBuf, task_cgroup: PathBuf) -> TaskScope {
        TaskScope { cgroup2_root, task_cgroup, own_cgroup: None }
    }

    /// The kernel filter: the task's cgroup id and depth, the agent's own
    /// container to skip.
    pub fn filter(&self) -> Result<ScopeFilter, ScopeError> {
        let rel = self.task_cgroup.strip_prefix(&self.cgroup2_root).map_err(|_| ScopeError::OutsideHierarchy {
            path: self.task_cgroup.clone(),
            root: self.cgroup2_root.clone(),
        })?;
        let task_level = rel.components().count() as u32;
        if task_level == 0 {
            return Err(ScopeError::NotInTask);
        }
        let md = std::fs::metadata(&self.task_cgroup)
            .map_err(|source| ScopeError::TaskCgroup { path: self.task_cgroup.clone(), source })?;
        let exclude = self.own_cgroup.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.ino());
        Ok(ScopeFilter { task_cgroup: md.ino(), task_level, exclude })
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
        let f = scope.filter().unwrap();
        let ino = |p: &str| std::fs::metadata(cg.path().join(p)).unwrap().ino();
        assert_eq!(f.task_cgroup, ino("ecs/t1"));
        assert_eq!(f.task_level, 2);
        assert_eq!(f.exclude, Some(ino("ecs/t1/agent")), "never its own container");
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
