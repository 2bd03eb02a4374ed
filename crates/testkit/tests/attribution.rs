//! Workload attribution with real runc containers: ECS identity from the
//! ECS agent's labels and from the task metadata endpoint (served on
//! loopback in its documented v4 shape: the one thing that cannot run
//! here), Kubernetes identity from CRI labels, and none for host processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{Event, Kind};
use saker_testkit::container::{Container, hex_id};
use saker_testkit::{by, harness};

const ACCOUNT: &str = "123456789012";
/// The OCI annotation runc containers carry their image name in here.
const IMAGE_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A container laid out like an ECS task's on EC2: cgroup /ecs/<task>/<id>,
/// the ECS agent's labels as OCI annotations.
fn ecs_container(task: &str, name: &str, image: &str, script: &str) -> Container {
    let id = hex_id(64);
    Container::spec(script)
        .id(&id)
        .cgroup_path(&format!("/ecs/{task}/{id}"))
        .host_network()
        .annotation("com.amazonaws.ecs.cluster", &format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod"))
        .annotation("com.amazonaws.ecs.task-arn", &format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}"))
        .annotation("com.amazonaws.ecs.container-name", name)
        .annotation("com.amazonaws.ecs.task-definition-family", "shop")
        .annotation("com.amazonaws.ecs.task-definition-version", "7")
        .annotation(IMAGE_ANNOTATION, image)
        .build()
}

/// One kind of event to find, by its payload.
type Check = Box<dyn Fn(&Event) -> bool>;

fn in_container(e: &Event, id: &str) -> bool {
    e.container.as_ref().is_some_and(|c| c.id == id)
}

#[test]
fn two_ecs_tasks_every_kind_carries_its_own_task() {
    let Some(h) = harness() else { return };
    let resolver = saker_testkit::dns::resolver();
    let (task_a, task_b) = (hex_id(32), hex_id(32));
    // exec, file write, a connect and a DNS query from inside each container.
    // Each container connects to its own (closed) loopback port, so events
    // tell the containers apart by payload, not by the attribution under test.
    // The short sleep keeps runc's state (the labels' source) on disk past
    // the first exec even on a loaded machine; short-lived containers are
    // the churn test's subject.
    let script = |tag: &str, port: u16| {
        format!(
            "sleep 0.2; touch /etc/saker-{tag}; nc -w 1 127.0.0.1 {port} </dev/null; nslookup {tag}.saker-test.example {}; exec /bin/echo {tag}",
            resolver.trim_end_matches(":53")
        )
    };
    let mut a = ecs_container(&task_a, "web", "shop/web:1.4", &script("task-a", 9));
    let mut b = ecs_container(&task_b, "worker", "shop/worker:2.0", &script("task-b", 7));
    a.start();
    let _ = a.wait();
    b.start();
    let _ = b.wait();

    for (c, task, name, image, tag, port) in
        [(&a, &task_a, "web", "shop/web:1.4", "task-a", 9), (&b, &task_b, "worker", "shop/worker:2.0", "task-b", 7)]
    {
        let checks: [(&str, Check); 4] = [
            ("exec", Box::new(move |e: &Event| e.exec().is_some_and(|x| x.argv.last().is_some_and(|a| a == tag)))),
            ("file.write", Box::new(move |e: &Event| e.file().is_some_and(|f| f.path == format!("/etc/saker-{tag}")))),
            (
                "net.connect",
                Box::new(move |e: &Event| {
                    e.kind == Kind::NetConnect && e.net().is_some_and(|n| n.remote_port == Some(port))
                }),
            ),
            (
                "dns.query",
                Box::new(move |e: &Event| {
                    e.kind == Kind::DnsQuery
                        && matches!(&e.payload, saker_model::Payload::Dns(d) if d.questions.iter().any(|q| q.name.starts_with(tag)))
                }),
            ),
        ];
        for (what, pred) in checks {
            let ev = h.expect(&format!("{what} in {name}"), |e| pred(e) && e.container.is_some());
            let ct = ev.container.as_ref().unwrap();
            assert_eq!(ct.id, c.id, "{what}: container id");
            assert_eq!(ct.image.as_deref(), Some(image), "{what}: image");
            let ecs = ev.ecs.as_ref().unwrap_or_else(|| panic!("{what}: no ecs object"));
            assert_eq!(ecs.cluster.as_deref(), Some("prod"));
            assert_eq!(ecs.cluster_arn.as_deref(), Some(&*format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod")));
            assert_eq!(ecs.task_arn.as_deref(), Some(&*format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}")));
            assert_eq!((ecs.task_family.as_deref(), ecs.task_revision.as_deref()), (Some("shop"), Some("7")));
            assert_eq!(ecs.container_name.as_deref(), Some(name));
            assert!(ev.host.as_ref().is_some_and(|h| !h.hostname.is_empty()), "host identity on every event");
        }
    }

    // A host process: no container, no task.
    let t = h.trigger(&["spawn", "/bin/true"]);
    let ev =
        h.expect("host exec", |e| e.kind == Kind::ProcessExec && e.lineage.first().is_some_and(|p| p.pid == t.pid));
    assert!(ev.container.is_none() && ev.ecs.is_none() && ev.kubernetes.is_none());
    assert!(ev.host.is_some());
    let _ = by; // (used by other tests in this file)
}

#[test]
fn task_metadata_endpoint_supplies_the_task() {
    let Some(h) = harness() else { return };
    let task = hex_id(32);
    let id = hex_id(64);
    let doc = serde_json::json!({
        "Cluster": format!("arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/payments"),
        "TaskARN": format!("arn:aws:ecs:us-west-2:{ACCOUNT}:task/payments/{task}"),
        "Family": "ledger",
        "Revision": "12",
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "LaunchType": "EC2",
        "AvailabilityZone": "us-west-2b",
        "Containers": [{
            "DockerId": id,
            "Name": "ledger-api",
            "DockerName": format!("ecs-ledger-12-ledger-api-{}", &id[..8]),
            "Image": "payments/ledger:3.1",
            "ImageID": "sha256:8f1c5d1e0b6a3f4c2e9d7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d",
            "Labels": {},
            "KnownStatus": "RUNNING",
        }],
    });
    let endpoint = saker_workload::ecs_metadata::fixture::TaskEndpoint::start(&doc.to_string()).unwrap();
    // No ECS labels at all: only the endpoint named in the environment.
    let mut c = Container::spec("exec /bin/echo from-metadata")
        .id(&id)
        .cgroup_path(&format!("/ecs/{task}/{id}"))
        .env("ECS_CONTAINER_METADATA_URI_V4", &endpoint.uri_for(&id))
        .build();
    c.start();
    let _ = c.wait();
    let ev = h.expect("exec in the metadata container", |e| {
        e.exec().is_some_and(|x| x.argv.last().is_some_and(|a| a == "from-metadata")) && in_container(e, &id)
    });
    let ecs = ev.ecs.as_ref().expect("ecs from the metadata endpoint");
    assert_eq!(ecs.cluster.as_deref(), Some("payments"));
    assert_eq!(ecs.task_arn.as_deref(), Some(&*format!("arn:aws:ecs:us-west-2:{ACCOUNT}:task/payments/{task}")));
    assert_eq!(ecs.launch_type.as_deref(), Some("EC2"));
    assert_eq!((ecs.task_family.as_deref(), ecs.task_revision.as_deref()), (Some("ledger"), Some("12")));
    assert_eq!(ecs.container_name.as_deref(), Some("ledger-api"));
    let ct = ev.container.as_ref().unwrap();
    assert_eq!(ct.image.as_deref(), Some("payments/ledger:3.1"));
    assert!(ct.image_id.as_deref().is_some_and(|i| i.starts_with("sha256:")));
}

#[test]
fn kubernetes_labels_produce_the_kubernetes_object() {
    let Some(h) = harness() else { return };
    let id = hex_id(64);
    let pod_uid = "4f2a1c3e-7b6d-4e5f-9a8b-0c1d2e3f4a5b";
    // Labels come from runc's state, which exists only while the container
    // runs: give it a moment (a container gone within a millisecond keeps its
    // id but may lose its labels; see ARCHITECTURE.md).
    let mut c = Container::spec("sleep 0.2; exec /bin/echo in-pod")
        .id(&id)
        .cgroup_path(&format!("/kubepods/besteffort/pod{pod_uid}/{id}"))
        .annotation("io.kubernetes.pod.name", "checkout-7d9f")
        .annotation("io.kubernetes.pod.namespace", "shop")
        .annotation("io.kubernetes.pod.uid", pod_uid)
        .annotation("io.kubernetes.container.name", "api")
        .build();
    c.start();
    let _ = c.wait();
    let ev = h.expect("exec in the pod", |e| {
        e.exec().is_some_and(|x| x.argv.last().is_some_and(|a| a == "in-pod")) && in_container(e, &id)
    });
    let k = ev.kubernetes.as_ref().expect("kubernetes object");
    assert_eq!(k.namespace.as_deref(), Some("shop"));
    assert_eq!(k.pod.as_deref(), Some("checkout-7d9f"));
    assert_eq!(k.pod_uid.as_deref(), Some(pod_uid));
    assert_eq!(k.container.as_deref(), Some("api"));
    assert!(ev.ecs.is_none());
}
