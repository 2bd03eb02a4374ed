//! Files destination: gzip JSON Lines laid out as GuardDuty's S3 export is,
//! ready for `aws s3 sync`, a log shipper, or Athena over a mounted bucket:
//!
//! ```text
//! <root>/<prefix>/<account>/<region>/<yyyy>/<mm>/<dd>/<HHMMSS>-<uuid>.jsonl.gz
//! ```
//!
//! One open file per (account, region); the date and time in the path are
//! when the file was opened (UTC). A file is closed when it holds
//! `max_file_bytes` of JSON or is `max_file_age_secs` old.
//!
//! Readers never see a partial gzip: a file is written as
//! `.<HHMMSS>-<uuid>.jsonl.gz.partial` (hidden, another suffix) in the same
//! directory and renamed to its final name once the gzip trailer is written
//! and the data is on disk. Each delivered batch ends in a gzip sync flush,
//! so after a crash the `.partial` file decodes up to its last batch; on
//! start-up such files are recovered into complete files.
//!
//! Path segments are safe by construction: the account and region come from
//! `ExportContext` (12 digits; `[a-z0-9-]`), the prefix is checked by
//! `ExportsConfig::validate`.

use crate::clock::Clock;
use crate::config::{FilesConfig, JsonFormat};
use crate::context::{ExportContext, ExportItem};
use crate::error::ExportError;
use crate::eventbridge::new_event_id;
use crate::sink::{DeliveryReport, Sink, SinkFuture};
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

const PARTIAL_SUFFIX: &str = ".partial";

/// A prefix of relative path segments, each of `[A-Za-z0-9._-]` and not `.`
/// or `..`.
pub fn is_safe_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

struct OpenFile {
    partial: PathBuf,
    done: PathBuf,
    gz: GzEncoder<BufWriter<File>>,
    opened: DateTime<Utc>,
    bytes: u64,
}

/// The synchronous writer behind [`JsonlFiles`]: testable on its own, and
/// run on tokio's blocking pool by the sink.
pub struct FileWriter {
    base: PathBuf,
    max_bytes: u64,
    max_age: chrono::Duration,
    open: HashMap<(String, String), OpenFile>,
}

impl FileWriter {
    /// `base` is `<root>/<prefix>`. Recovers `.partial` files a crash left.
    pub fn new(base: PathBuf, max_bytes: u64, max_age: chrono::Duration) -> Result<Self, ExportError> {
        fs::create_dir_all(&base).map_err(|source| ExportError::Io { what: "creating", path: base.clone(), source })?;
        recover_partials(&base, 0);
        Ok(FileWriter { base, max_bytes: max_bytes.max(1), max_age, open: HashMap::new() })
    }

    /// Append one JSON line for `(account, region)`, rotating first if the
    /// current file is full or old.
    pub fn write_line(
        &mut self,
        account: &str,
        region: &str,
        line: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), ExportError> {
        let key = (account.to_owned(), region.to_owned());
        let len = line.len() as u64 + 1;
        let full = self
            .open
            .get(&key)
            .is_some_and(|f| f.bytes > 0 && (f.bytes + len > self.max_bytes || self.too_old(f, now)));
        if full && let Some(f) = self.open.remove(&key) {
            finish(f)?;
        }
        let file = match self.open.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(open_file(&self.base, account, region, now)?),
        };
        let io = |source| ExportError::Io { what: "writing", path: file.partial.clone(), source };
        file.gz.write_all(line).map_err(io)?;
        file.gz.write_all(b"\n").map_err(io)?;
        file.bytes += len;
        Ok(())
    }

    /// End of a batch: make everything so far decodable (gzip sync flush).
    pub fn flush(&mut self) -> Result<(), ExportError> {
        for f in self.open.values_mut() {
            f.gz.flush().map_err(|source| ExportError::Io { what: "flushing", path: f.partial.clone(), source })?;
        }
        Ok(())
    }

    /// Close files past their age. Returns the files completed.
    pub fn rotate_due(&mut self, now: DateTime<Utc>) -> Result<Vec<PathBuf>, ExportError> {
        let due: Vec<_> = self.open.iter().filter(|(_, f)| self.too_old(f, now)).map(|(k, _)| k.clone()).collect();
        let mut done = Vec::new();
        for key in due {
            if let Some(f) = self.open.remove(&key) {
                done.push(finish(f)?);
            }
        }
        Ok(done)
    }

    /// Close every file (shutdown). Returns the files completed.
    pub fn close_all(&mut self) -> Result<Vec<PathBuf>, ExportError> {
        let mut done = Vec::new();
        let mut first_err = None;
        for (_, f) in self.open.drain() {
            match finish(f) {
                Ok(p) => done.push(p),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        first_err.map_or(Ok(done), Err)
    }

    fn too_old(&self, f: &OpenFile, now: DateTime<Utc>) -> bool {
        now - f.opened >= self.max_age
    }
}

fn open_file(base: &Path, account: &str, region: &str, now: DateTime<Utc>) -> Result<OpenFile, ExportError> {
    let dir = base.join(account).join(region).join(now.format("%Y/%m/%d").to_string());
    fs::create_dir_all(&dir).map_err(|source| ExportError::Io { what: "creating", path: dir.clone(), source })?;
    let name = format!("{}-{}.jsonl.gz", now.format("%H%M%S"), new_event_id());
    let partial = dir.join(format!(".{name}{PARTIAL_SUFFIX}"));
    let file = File::options().write(true).create_new(true).open(&partial).map_err(|source| ExportError::Io {
        what: "creating",
        path: partial.clone(),
        source,
    })?;
    Ok(OpenFile {
        done: dir.join(name),
        partial,
        gz: GzEncoder::new(BufWriter::new(file), Compression::default()),
        opened: now,
        bytes: 0,
    })
}

/// Write the gzip trailer, put the bytes on disk, then give the file its
/// final name (and make the rename durable).
fn finish(f: OpenFile) -> Result<PathBuf, ExportError> {
    let buf = f.gz.finish().map_err(io_err("finishing", &f.partial))?;
    let file = buf.into_inner().map_err(|e| io_err("flushing", &f.partial)(e.into_error()))?;
    file.sync_all().map_err(io_err("syncing", &f.partial))?;
    fs::rename(&f.partial, &f.done).map_err(io_err("renaming", &f.partial))?;
    if let Some(dir) = f.done.parent() {
        // Durability of the rename; a failure here loses nothing written.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(f.done)
}

/// Turn `.partial` files into complete ones, keeping every whole line that
/// decodes. The layout is five levels deep; the walk stops at eight and never
/// follows symbolic links.
fn recover_partials(dir: &Path, depth: usize) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(ty) = entry.file_type() else { continue };
        let path = entry.path();
        if ty.is_dir() && depth < 8 {
            recover_partials(&path, depth + 1);
        } else if ty.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(done_name) = name.strip_prefix('.').and_then(|n| n.strip_suffix(PARTIAL_SUFFIX))
                && let Err(e) = recover_one(&path, &dir.join(done_name))
            {
                tracing::warn!(path = %path.display(), error = %e, "could not recover a partial export file");
            }
        }
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + use<> {
    let path = path.to_owned();
    move |source| ExportError::Io { what, path, source }
}

fn recover_one(partial: &Path, done: &Path) -> Result<(), ExportError> {
    let io = |what| io_err(what, partial);
    let mut text = Vec::new();
    let mut dec = GzDecoder::new(File::open(partial).map_err(io("opening"))?);
    // A truncated stream ends in an error after the last flushed block: keep
    // what decoded.
    let _ = dec.read_to_end(&mut text);
    let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if keep > 0 {
        let file = File::options().write(true).create_new(true).open(done).map_err(io("creating"))?;
        let mut gz = GzEncoder::new(BufWriter::new(file), Compression::default());
        gz.write_all(&text[..keep]).map_err(io("writing"))?;
        let file = gz.finish().map_err(io("finishing"))?.into_inner().map_err(|e| io("flushing")(e.into_error()))?;
        file.sync_all().map_err(io("syncing"))?;
        tracing::info!(path = %done.display(), bytes = keep, "recovered a partial export file");
    }
    fs::remove_file(partial).map_err(io("removing"))
}

/// The files destination (async face of [`FileWriter`]).
pub struct JsonlFiles {
    name: String,
    format: JsonFormat,
    ctx: ExportContext,
    clock: Arc<dyn Clock>,
    writer: Arc<Mutex<FileWriter>>,
}

impl JsonlFiles {
    /// `root` already resolved against the data directory.
    pub fn new(cfg: &FilesConfig, root: &Path, ctx: ExportContext, clock: Arc<dyn Clock>) -> Result<Self, ExportError> {
        if !is_safe_prefix(&cfg.prefix) {
            return Err(ExportError::Config(format!("{}: unsafe prefix {:?}", cfg.name, cfg.prefix)));
        }
        let age = chrono::Duration::seconds(i64::try_from(cfg.max_file_age_secs).unwrap_or(i64::MAX / 1000));
        let writer = FileWriter::new(root.join(&cfg.prefix), cfg.max_file_bytes, age)?;
        Ok(JsonlFiles { name: cfg.name.clone(), format: cfg.format, ctx, clock, writer: Arc::new(Mutex::new(writer)) })
    }

    /// Run `job` on the writer on the blocking pool (file I/O must not stall
    /// the runtime).
    async fn with_writer<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut FileWriter) -> Result<T, ExportError> + Send + 'static,
    ) -> Result<T, ExportError> {
        let writer = Arc::clone(&self.writer);
        let run = move || job(&mut writer.lock().unwrap_or_else(PoisonError::into_inner));
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(e) => {
                Err(ExportError::Io { what: "file task", path: PathBuf::new(), source: std::io::Error::other(e) })
            }
        }
    }

    async fn rotation(&self, close: bool) -> DeliveryReport {
        let now = self.clock.now();
        let mut report = DeliveryReport::new(&self.name, "files");
        let result = self.with_writer(move |w| if close { w.close_all() } else { w.rotate_due(now) }).await;
        if let Err(e) = result {
            tracing::warn!(destination = %self.name, error = %e, "closing export files failed");
            report.last_error = Some(e.to_string());
        }
        report
    }
}

impl Sink for JsonlFiles {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "files"
    }

    fn deliver<'a>(&'a self, items: &'a [ExportItem]) -> SinkFuture<'a> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut report = DeliveryReport::new(&self.name, "files");
            let mut lines = Vec::with_capacity(items.len());
            for item in items {
                let f = &item.finding;
                match self.format.render(item, &self.ctx, now).and_then(|v| Ok(serde_json::to_vec(&v)?)) {
                    Ok(line) => lines.push((self.ctx.account_of(f).to_owned(), self.ctx.region_of(f).to_owned(), line)),
                    Err(e) => {
                        report.failed += 1;
                        report.last_error = Some(e.to_string());
                    }
                }
            }
            let count = lines.len();
            let written = self
                .with_writer(move |w| {
                    let mut ok = 0;
                    let mut err = None;
                    for (account, region, line) in &lines {
                        match w.write_line(account, region, line, now) {
                            Ok(()) => ok += 1,
                            Err(e) => err = Some(e),
                        }
                    }
                    w.flush()?;
                    Ok((ok, err))
                })
                .await;
            match written {
                Ok((ok, err)) => {
                    report.delivered += ok;
                    report.failed += count - ok;
                    if let Some(e) = err {
                        report.last_error = Some(e.to_string());
                    }
                }
                Err(e) => {
                    report.failed += count;
                    report.last_error = Some(e.to_string());
                }
            }
            if let Some(e) = &report.last_error {
                tracing::warn!(destination = %self.name, error = %e, "writing export files failed");
            }
            report
        })
    }

    fn tick(&self) -> SinkFuture<'_> {
        Box::pin(self.rotation(false))
    }

    fn close(&self) -> SinkFuture<'_> {
        Box::pin(self.rotation(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(is_safe_prefix("saker"));
        assert!(is_safe_prefix("a/b-c/d_e.f"));
        assert!(!is_safe_prefix(""));
        assert!(!is_safe_prefix("/abs"));
        assert!(!is_safe_prefix("a/../b"));
        assert!(!is_safe_prefix("a//b"));
        assert!(!is_safe_prefix("a b"));
    }
}
