//! Captures libbpf's log (which carries the verifier log) while the object
//! loads, so a refused program's error says why.

use libbpf_rs::PrintLevel;
use std::sync::Mutex;

/// Log lines kept from the last load; bounded so a huge verifier log does
/// not become a huge allocation.
static CAPTURED: Mutex<String> = Mutex::new(String::new());
const MAX_LOG: usize = 64 * 1024;

fn capture(level: PrintLevel, line: String) {
    if let Ok(mut log) = CAPTURED.lock()
        && log.len() < MAX_LOG
    {
        log.push_str(&line);
    }
    match level {
        PrintLevel::Warn => tracing::debug!(target: "libbpf", "{}", line.trim_end()),
        _ => tracing::trace!(target: "libbpf", "{}", line.trim_end()),
    }
}

/// Start capturing (clears what an earlier load left).
pub(crate) fn start() {
    if let Ok(mut log) = CAPTURED.lock() {
        log.clear();
    }
    libbpf_rs::set_print(Some((PrintLevel::Warn, capture)));
}

/// Stop capturing and return the log; keeps the tail, where the verifier's
/// verdict is.
pub(crate) fn finish() -> String {
    libbpf_rs::set_print(Some((PrintLevel::Warn, capture)));
    let log = CAPTURED.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
    // Keep the lines around the failure; the full load log can be huge.
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.len().saturating_sub(80);
    lines[from..].join("\n")
}
