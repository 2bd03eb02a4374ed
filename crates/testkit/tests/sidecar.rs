//! Task-sidecar mode (`--scope task`): an agent scoped to task A sees task
//! A's two containers and nothing from task B or the host. Its own test
//! binary: the harness runs with the scope set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_agent::AgentConfig;
use saker_agent::scope::TaskScope;
use saker_model::Kind;
use saker_testkit::container::{Container, cgroup2_root, hex_id};

#[test]
fn scoped_agent_sees_only_its_task() {
    if !saker_testkit::privileged() {
        return;
    }
    let (task_a, task_b) = (hex_id(32), hex_id(32));
    let root = cgroup2_root();
    let task_dir = root.join("ecs").join(&task_a);
    std::fs::create_dir_all(&task_dir).unwrap();

    let cfg =
        AgentConfig { scope: Some(TaskScope::explicit(root.clone(), task_dir.clone())), ..AgentConfig::default() };
    let h = saker_testkit::start(cfg).expect("scoped agent starts");

    let run = |task: &str, tag: &str| {
        let id = hex_id(64);
        let mut c =
            Container::spec(&format!("exec /bin/echo {tag}")).id(&id).cgroup_path(&format!("/ecs/{task}/{id}")).build();
        c.start();
        assert!(c.wait().contains(tag));
        id
    };
    let other = run(&task_b, "task-b-only");
    let host = std::process::Command::new(saker_testkit::trigger_path())
        .args(["spawn", "/bin/echo", "host-only"])
        .output()
        .unwrap();
    assert!(host.status.success());
    let first = run(&task_a, "task-a-first");
    let second = run(&task_a, "task-a-second");

    let tagged = |tag: &'static str| {
        move |e: &saker_model::Event| e.exec().is_some_and(|x| x.argv.last().is_some_and(|a| a == tag))
    };
    let a1 = h.expect("exec in task A's first container", tagged("task-a-first"));
    let a2 = h.expect("exec in task A's second container", tagged("task-a-second"));
    assert_ne!(a1.task.as_ref().unwrap().cgroup_id, a2.task.as_ref().unwrap().cgroup_id, "two containers");
    // Everything reported belongs to task A: no task B, no host process
    // (both ran before task A's second container, whose event has arrived).
    let stray = h.find(|e| {
        e.kind == Kind::ProcessExec
            && e.exec().is_some_and(|x| x.argv.iter().any(|a| a == "task-b-only" || a == "host-only"))
    });
    assert!(stray.is_none(), "out-of-scope event: {stray:?}");
    let _ = (other, first, second);
    let _ = std::fs::remove_dir(&task_dir);
}
