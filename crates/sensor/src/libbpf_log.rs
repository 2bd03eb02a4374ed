//! Captures libbpf's log (which carries the verifier log) while an object
//! loads, so a refused program's error says why.

use libbpf_rs::PrintLevel;
use std::sync::Mutex;

/// Log lines kept from the current load; bounded so a huge verifier log
/// does not become a huge allocation.
static CAPTURED: Mutex<String> = Mutex::new(String::new());
/// libbpf's print callback is process-global: one capturing load at a time.
static LOADING: Mutex<()> = Mutex::new(());
const MAX_LOG: usize = 64 * 1024;
const TAIL_LINES: usize = 80;

fn capture_line(level: PrintLevel, line: String) {
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

/// Run `load` with libbpf's warnings captured; returns its result and the
/// tail of the log (the verifier's verdict is at the end).
pub(crate) fn capture<T>(load: impl FnOnce() -> T) -> (T, String) {
    let _guard = LOADING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Ok(mut log) = CAPTURED.lock() {
        log.clear();
    }
    libbpf_rs::set_print(Some((PrintLevel::Warn, capture_line)));
    let result = load();
    libbpf_rs::set_print(None);
    let log = CAPTURED.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    (result, lines[from..].join("\n"))
}
