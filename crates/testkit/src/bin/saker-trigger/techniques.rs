//! Attack techniques the finding tests perform for real, one module per test
//! area. `run` returns false for an action no module knows.

#[path = "techniques/benign.rs"]
mod benign;
#[path = "techniques/container.rs"]
mod container;
#[path = "techniques/intel.rs"]
mod intel;
#[path = "techniques/process.rs"]
mod process;

pub fn run(action: &str, args: &[&str]) -> bool {
    if intel::run(action, args) {
        return true;
    }
    if benign::run(action, args) {
        return true;
    }
    if process::run(action, args) {
        return true;
    }
    if container::run(action, args) {
        return true;
    }
    let _ = (action, args);
    false
}
