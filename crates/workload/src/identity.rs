//! ECS, Kubernetes and image identity from a container's labels or OCI
//! annotations.
//!
//! The ECS agent labels every container it starts (`com.amazonaws.ecs.*`);
//! the kubelet's CRI labels (`io.kubernetes.*`) and containerd's CRI
//! annotations (`io.kubernetes.cri.*`) name the pod; CRI-O and containerd
//! annotate the image. Only keys those projects document are read. Values are
//! whatever the container's creator wrote: they are reported, never trusted.

use std::collections::BTreeMap;

use saker_model::{Ecs, Kubernetes};

type Labels = BTreeMap<String, String>;

fn get<'a>(labels: &'a Labels, keys: &[&str]) -> Option<&'a str> {
    keys.iter().filter_map(|k| labels.get(*k)).map(|v| v.trim()).find(|v| !v.is_empty())
}

/// ECS task identity from the ECS agent's container labels; `None` when the
/// container has none of them.
pub fn ecs_from_labels(labels: &Labels) -> Option<Ecs> {
    let cluster_label = get(labels, &["com.amazonaws.ecs.cluster"]);
    let task_arn = get(labels, &["com.amazonaws.ecs.task-arn"]);
    let container_name = get(labels, &["com.amazonaws.ecs.container-name"]);
    let family = get(labels, &["com.amazonaws.ecs.task-definition-family"]);
    let revision = get(labels, &["com.amazonaws.ecs.task-definition-version"]);
    if [cluster_label, task_arn, container_name, family, revision].iter().all(Option::is_none) {
        return None;
    }
    // The agent writes the cluster as configured: a name or a cluster ARN
    // (`arn:aws:ecs:<region>:<account>:cluster/<name>`).
    let (cluster, cluster_arn) = match cluster_label {
        Some(c) => match arn_resource(c, "cluster") {
            Some(name) => (Some(name.to_owned()), Some(c.to_owned())),
            None => (Some(c.to_owned()), None),
        },
        // A task ARN in the long format names its cluster:
        // `arn:aws:ecs:<region>:<account>:task/<cluster>/<task id>`.
        None => (task_arn.and_then(task_arn_cluster).map(str::to_owned), None),
    };
    Some(Ecs {
        cluster,
        cluster_arn,
        task_arn: task_arn.map(str::to_owned),
        task_family: family.map(str::to_owned),
        task_revision: revision.map(str::to_owned),
        launch_type: None,
        container_name: container_name.map(str::to_owned),
        availability_zone: None,
    })
}

/// `arn:<partition>:ecs:<region>:<account>:<kind>/<rest>` → `<rest>`.
fn arn_resource<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("ecs"), Some(_region), Some(_account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    resource.strip_prefix(kind)?.strip_prefix('/').filter(|r| !r.is_empty())
}

fn task_arn_cluster(arn: &str) -> Option<&str> {
    let (cluster, id) = arn_resource(arn, "task")?.split_once('/')?;
    (!cluster.is_empty() && !id.is_empty() && !id.contains('/')).then_some(cluster)
}

/// Kubernetes identity from the kubelet's CRI labels (Docker/dockershim,
/// CRI-O annotations) or containerd's CRI annotations; `None` when neither
/// names a pod.
pub fn kubernetes_from_labels(labels: &Labels) -> Option<Kubernetes> {
    let k = Kubernetes {
        namespace: get(labels, &["io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace"])
            .map(str::to_owned),
        pod: get(labels, &["io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name"]).map(str::to_owned),
        pod_uid: get(labels, &["io.kubernetes.pod.uid", "io.kubernetes.cri.sandbox-uid"]).map(str::to_owned),
        container: get(labels, &["io.kubernetes.container.name", "io.kubernetes.cri.container-name"])
            .map(str::to_owned),
    };
    // A container name alone does not make a pod.
    (k.pod.is_some() || k.pod_uid.is_some()).then_some(k)
}

/// The image a container was created from, from runtime annotations:
/// containerd's CRI `io.kubernetes.cri.image-name`, CRI-O's
/// `io.kubernetes.cri-o.ImageName`, and the OCI image-spec
/// `org.opencontainers.image.ref.name` when it is a full reference.
/// (`org.opencontainers.image.base.name` is deliberately not read: it names
/// the image this one was built *from*.)
pub fn image_from_labels(labels: &Labels) -> Option<String> {
    if let Some(name) = get(labels, &["io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName"]) {
        return Some(name.to_owned());
    }
    // The image spec allows a bare tag (`latest`, `1.0`) as ref.name. A tag
    // never contains `/`, `:` or `@`; a value with one is a full reference.
    get(labels, &["org.opencontainers.image.ref.name"]).filter(|r| r.contains(['/', ':', '@'])).map(str::to_owned)
}

/// The image id or digest, from CRI-O's `io.kubernetes.cri-o.ImageRef`.
pub fn image_id_from_labels(labels: &Labels) -> Option<String> {
    get(labels, &["io.kubernetes.cri-o.ImageRef"]).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const TASK_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/prod/5a0d5ceddf6c44a1928d9e9c1e1a4c1b";

    #[test]
    fn ecs_with_cluster_name() {
        let l = labels(&[
            ("com.amazonaws.ecs.cluster", "prod"),
            ("com.amazonaws.ecs.task-arn", TASK_ARN),
            ("com.amazonaws.ecs.container-name", "web"),
            ("com.amazonaws.ecs.task-definition-family", "web-task"),
            ("com.amazonaws.ecs.task-definition-version", "7"),
        ]);
        let e = ecs_from_labels(&l).unwrap();
        assert_eq!(e.cluster.as_deref(), Some("prod"));
        assert_eq!(e.cluster_arn, None);
        assert_eq!(e.task_arn.as_deref(), Some(TASK_ARN));
        assert_eq!(e.container_name.as_deref(), Some("web"));
        assert_eq!(e.task_family.as_deref(), Some("web-task"));
        assert_eq!(e.task_revision.as_deref(), Some("7"));
        assert_eq!(e.launch_type, None);
    }

    #[test]
    fn ecs_cluster_arn_and_derivations() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/blue";
        let e = ecs_from_labels(&labels(&[("com.amazonaws.ecs.cluster", arn)])).unwrap();
        assert_eq!((e.cluster.as_deref(), e.cluster_arn.as_deref()), (Some("blue"), Some(arn)));
        // GovCloud / China partitions
        let gov = "arn:aws-us-gov:ecs:us-gov-west-1:1:cluster/g";
        assert_eq!(
            ecs_from_labels(&labels(&[("com.amazonaws.ecs.cluster", gov)])).unwrap().cluster.as_deref(),
            Some("g")
        );
        // no cluster label: the long task ARN names it; the short one does not
        let e = ecs_from_labels(&labels(&[("com.amazonaws.ecs.task-arn", TASK_ARN)])).unwrap();
        assert_eq!(e.cluster.as_deref(), Some("prod"));
        let short = "arn:aws:ecs:us-east-1:123456789012:task/5a0d5ceddf6c44a1928d9e9c1e1a4c1b";
        assert_eq!(ecs_from_labels(&labels(&[("com.amazonaws.ecs.task-arn", short)])).unwrap().cluster, None);
        // not-quite ARNs stay names
        for odd in ["arn:aws:ecs:r:a:cluster/", "arn:aws:s3:::cluster/x", "cluster/x"] {
            let e = ecs_from_labels(&labels(&[("com.amazonaws.ecs.cluster", odd)])).unwrap();
            assert_eq!((e.cluster.as_deref(), e.cluster_arn), (Some(odd), None), "{odd}");
        }
    }

    #[test]
    fn no_ecs_labels_no_ecs() {
        assert_eq!(ecs_from_labels(&labels(&[("maintainer", "x"), ("com.amazonaws.ecs.cluster", " ")])), None);
    }

    #[test]
    fn kubernetes_from_kubelet_labels_and_cri_annotations() {
        let kubelet = labels(&[
            ("io.kubernetes.pod.name", "web-7d4b9"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", "8d3f1c2e-6b7a-4c5d-9e0f-1a2b3c4d5e6f"),
            ("io.kubernetes.container.name", "nginx"),
        ]);
        let want = Kubernetes {
            namespace: Some("shop".into()),
            pod: Some("web-7d4b9".into()),
            pod_uid: Some("8d3f1c2e-6b7a-4c5d-9e0f-1a2b3c4d5e6f".into()),
            container: Some("nginx".into()),
        };
        assert_eq!(kubernetes_from_labels(&kubelet).as_ref(), Some(&want));
        let cri = labels(&[
            ("io.kubernetes.cri.sandbox-name", "web-7d4b9"),
            ("io.kubernetes.cri.sandbox-namespace", "shop"),
            ("io.kubernetes.cri.sandbox-uid", "8d3f1c2e-6b7a-4c5d-9e0f-1a2b3c4d5e6f"),
            ("io.kubernetes.cri.container-name", "nginx"),
            ("io.kubernetes.cri.container-type", "container"),
        ]);
        assert_eq!(kubernetes_from_labels(&cri), Some(want));
        // a pause (sandbox) container: pod but no container name
        let sandbox =
            labels(&[("io.kubernetes.cri.sandbox-name", "p"), ("io.kubernetes.cri.container-type", "sandbox")]);
        let k = kubernetes_from_labels(&sandbox).unwrap();
        assert_eq!((k.pod.as_deref(), k.container), (Some("p"), None));
        assert_eq!(kubernetes_from_labels(&labels(&[("io.kubernetes.container.name", "x")])), None);
        assert_eq!(kubernetes_from_labels(&Labels::new()), None);
    }

    #[test]
    fn image_keys() {
        let l = labels(&[("io.kubernetes.cri.image-name", "docker.io/library/nginx:1.27")]);
        assert_eq!(image_from_labels(&l).as_deref(), Some("docker.io/library/nginx:1.27"));
        let l = labels(&[
            ("io.kubernetes.cri-o.ImageName", "quay.io/app/web:2"),
            ("io.kubernetes.cri-o.ImageRef", "sha256:0123"),
        ]);
        assert_eq!(image_from_labels(&l).as_deref(), Some("quay.io/app/web:2"));
        assert_eq!(image_id_from_labels(&l).as_deref(), Some("sha256:0123"));
        let l = labels(&[("org.opencontainers.image.ref.name", "ghcr.io/o/app:3")]);
        assert_eq!(image_from_labels(&l).as_deref(), Some("ghcr.io/o/app:3"));
        let l = labels(&[("org.opencontainers.image.ref.name", "nginx:1.27")]);
        assert_eq!(image_from_labels(&l).as_deref(), Some("nginx:1.27"));
        // a bare tag, or only the base image: no image name
        assert_eq!(image_from_labels(&labels(&[("org.opencontainers.image.ref.name", "latest")])), None);
        assert_eq!(image_from_labels(&labels(&[("org.opencontainers.image.base.name", "docker.io/debian:12")])), None);
    }
}
