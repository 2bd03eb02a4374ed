//! Exec flags that matter for detection: a deleted executable, and one
//! written into an overlayfs upper layer (after a container started) versus
//! one from the image's lower layer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saker_model::{ExecInfo, Kind, Payload};
use saker_testkit::{by, harness};
use std::process::Command;

fn exec(e: &saker_model::Event) -> Option<&ExecInfo> {
    match &e.payload {
        Payload::Exec(x) if e.kind == Kind::ProcessExec && e.result == Some(0) => Some(x),
        _ => None,
    }
}

#[test]
fn deleted_executable_is_flagged() {
    let Some(h) = harness() else { return };
    let t = h.trigger(&["deleted-exec"]);
    let child: u32 = t.stdout.lines().find_map(|l| l.strip_prefix("child=")).unwrap().parse().unwrap();
    let ev = h.expect("exec of the unlinked copy", |e| by(e, child) && exec(e).is_some());
    let x = exec(&ev).unwrap();
    assert!(x.deleted, "{x:?}");
    assert!(!x.memfd);
    assert!(x.executable.as_deref().is_some_and(|p| p.starts_with("/tmp/saker-deleted-")), "{x:?}");
}

/// An overlay mount like a container's root: `lower` is the image, writes
/// land in `upper`. Unmounted on drop.
struct Overlay {
    dir: tempfile::TempDir,
}

impl Overlay {
    fn new() -> Overlay {
        let dir = tempfile::tempdir().unwrap();
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::copy("/bin/true", dir.path().join("lower/image-true")).unwrap();
        let p = |d: &str| dir.path().join(d).display().to_string();
        let opts = format!("lowerdir={},upperdir={},workdir={}", p("lower"), p("upper"), p("work"));
        let status =
            Command::new("mount").args(["-t", "overlay", "overlay", "-o", &opts]).arg(p("merged")).status().unwrap();
        assert!(status.success(), "mount overlay");
        Overlay { dir }
    }

    fn merged(&self, name: &str) -> String {
        self.dir.path().join("merged").join(name).display().to_string()
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path().join("merged")).status();
    }
}

#[test]
fn upper_layer_executable_is_flagged() {
    let Some(h) = harness() else { return };
    let ovl = Overlay::new();
    // Written after the "container" started: lands in the upper layer.
    std::fs::copy("/bin/true", ovl.merged("dropped-true")).unwrap();
    let image = ovl.merged("image-true");
    let dropped = ovl.merged("dropped-true");
    h.trigger(&["spawn", &image]);
    h.trigger(&["spawn", &dropped]);
    let from_image =
        h.expect("exec from the lower layer", |e| exec(e).is_some_and(|x| x.filename.as_deref() == Some(&*image)));
    let from_upper =
        h.expect("exec from the upper layer", |e| exec(e).is_some_and(|x| x.filename.as_deref() == Some(&*dropped)));
    assert!(!exec(&from_image).unwrap().upper_layer, "image binary is not upper-layer");
    assert!(exec(&from_upper).unwrap().upper_layer, "dropped binary is upper-layer");
}
