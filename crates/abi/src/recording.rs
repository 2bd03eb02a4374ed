//! Saker's own format for recorded ring-buffer records (`*.sakerrec`, or
//! `*.sakerrec.gz`): what `saker bench pipeline` replays.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! magic            8 bytes  "SAKERREC"
//! version          u32      FORMAT_VERSION
//! header_size      u32      size_of::<raw::Header>() of the recording ABI
//! body_count       u32      entries in the body table
//! body table       body_count × (kind u16, size u16)   per-kind body sizes
//! boot_offset_ns   i64      CLOCK_REALTIME − CLOCK_BOOTTIME when recorded
//! records          repeated: len u32, then len bytes (one raw ring record)
//! ```
//!
//! The end of the file at a record boundary is the end of the recording. The
//! whole file may be gzip-compressed; readers detect it by the gzip magic.
//!
//! The header size and the body table are the ABI's shape: a recording made
//! by a build with another ABI would decode into garbage, so the reader
//! refuses it. The boot offset lets a replay turn kernel timestamps into the
//! wall-clock times they had when recorded.
//!
//! Recordings are input: every length is checked; a damaged file yields every
//! record before the damage, then one error.

use crate::raw;
use crate::raw::kind;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The first bytes of every (uncompressed) recording.
pub const MAGIC: &[u8; 8] = b"SAKERREC";
/// Bumped when the container layout (not the ABI) changes.
pub const FORMAT_VERSION: u32 = 1;
/// No ring record comes near this (`header.size` is a u16); a larger length
/// prefix means the file is damaged, and must not make us allocate it.
pub const MAX_RECORD_LEN: u32 = 1 << 20;
/// More body-table entries than kinds can exist: a damaged header.
const MAX_BODY_ENTRIES: u32 = kind::MAX as u32;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a recording could not be written or read.
#[derive(Debug, Error)]
pub enum RecordingError {
    #[error("{path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("not a Saker recording (bad magic)")]
    BadMagic,
    #[error("recording format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("recording was made with another event ABI ({detail}); record it again with this build")]
    AbiMismatch { detail: String },
    #[error("recording header is damaged: {0}")]
    BadHeader(&'static str),
    #[error("recording is truncated in record {record} (at byte {offset} of the uncompressed stream)")]
    Truncated { record: u64, offset: u64 },
    #[error("recording is corrupt at record {record} (byte {offset}): length {len} is over {MAX_RECORD_LEN}")]
    Corrupt { record: u64, offset: u64, len: u32 },
    #[error("record of {0} bytes is too large to record")]
    TooLarge(usize),
    #[error("recording I/O at record {record}: {source}")]
    Io { record: u64, source: io::Error },
}

/// The recording's header: the ABI shape it was made with and its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingHeader {
    pub version: u32,
    pub header_size: u32,
    /// (kind, body size) for every kind, ascending by kind.
    pub body_sizes: Vec<(u16, u16)>,
    /// CLOCK_REALTIME − CLOCK_BOOTTIME (ns) when the recording was made.
    pub boot_offset_ns: i64,
}

/// The fixed body size of each kind in this build's ABI.
pub fn body_size(k: u16) -> Option<usize> {
    use std::mem::size_of;
    Some(match k {
        kind::PROCESS_EXEC => size_of::<raw::Exec>(),
        kind::PROCESS_EXIT => size_of::<raw::Exit>(),
        kind::PROCESS_FORK => size_of::<raw::Fork>(),
        kind::PROCESS_CRED => size_of::<raw::Cred>(),
        kind::FILE_WRITE
        | kind::FILE_RENAME
        | kind::FILE_UNLINK
        | kind::FILE_LINK
        | kind::FILE_SYMLINK
        | kind::FILE_CHMOD => size_of::<raw::File>(),
        kind::NET_CONNECT | kind::NET_ACCEPT | kind::NET_LISTEN => size_of::<raw::Net>(),
        kind::DNS => size_of::<raw::Dns>(),
        kind::PTRACE => size_of::<raw::Ptrace>(),
        kind::MEM_WRITE => size_of::<raw::MemWrite>(),
        kind::MODULE_LOAD => size_of::<raw::Module>(),
        kind::MOUNT => size_of::<raw::Mount>(),
        kind::USERFAULTFD => size_of::<raw::Userfaultfd>(),
        kind::MEMFD_CREATE => size_of::<raw::Memfd>(),
        kind::BPF_LOAD => size_of::<raw::BpfLoad>(),
        kind::LIBRARY_LOAD => size_of::<raw::Library>(),
        kind::CGROUP_MKDIR => size_of::<raw::Cgroup>(),
        _ => return None,
    })
}

impl RecordingHeader {
    /// This build's ABI, with the given boot-clock offset.
    pub fn current(boot_offset_ns: i64) -> Self {
        let mut body_sizes: Vec<(u16, u16)> = kind::ALL
            .iter()
            .filter_map(|&k| body_size(k).and_then(|s| u16::try_from(s).ok()).map(|s| (k, s)))
            .collect();
        body_sizes.sort_unstable();
        RecordingHeader {
            version: FORMAT_VERSION,
            header_size: std::mem::size_of::<raw::Header>() as u32,
            body_sizes,
            boot_offset_ns,
        }
    }

    /// `Ok` when records of this recording decode with this build.
    pub fn check_abi(&self) -> Result<(), RecordingError> {
        let ours = RecordingHeader::current(self.boot_offset_ns);
        if self.header_size != ours.header_size {
            return Err(RecordingError::AbiMismatch {
                detail: format!("record header of {} bytes, this build's is {}", self.header_size, ours.header_size),
            });
        }
        if self.body_sizes != ours.body_sizes {
            let differing: Vec<String> = ours
                .body_sizes
                .iter()
                .filter(|e| !self.body_sizes.contains(e))
                .map(|(k, s)| {
                    let theirs = self.body_sizes.iter().find(|(tk, _)| tk == k).map(|(_, ts)| ts.to_string());
                    format!("kind {k}: {} bytes here, {} there", s, theirs.as_deref().unwrap_or("absent"))
                })
                .chain(
                    self.body_sizes
                        .iter()
                        .filter(|(k, _)| !ours.body_sizes.iter().any(|(ok, _)| ok == k))
                        .map(|(k, _)| format!("kind {k}: unknown to this build")),
                )
                .collect();
            return Err(RecordingError::AbiMismatch { detail: differing.join("; ") });
        }
        Ok(())
    }

    fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(MAGIC)?;
        w.write_all(&self.version.to_le_bytes())?;
        w.write_all(&self.header_size.to_le_bytes())?;
        w.write_all(&(self.body_sizes.len() as u32).to_le_bytes())?;
        for (k, s) in &self.body_sizes {
            w.write_all(&k.to_le_bytes())?;
            w.write_all(&s.to_le_bytes())?;
        }
        w.write_all(&self.boot_offset_ns.to_le_bytes())
    }

    fn read_from(r: &mut impl Read) -> Result<Self, RecordingError> {
        let mut magic = [0u8; 8];
        read_header_field(r, &mut magic)?;
        if &magic != MAGIC {
            return Err(RecordingError::BadMagic);
        }
        let version = read_u32(r)?;
        if version != FORMAT_VERSION {
            return Err(RecordingError::UnsupportedVersion { found: version });
        }
        let header_size = read_u32(r)?;
        let count = read_u32(r)?;
        if count > MAX_BODY_ENTRIES {
            return Err(RecordingError::BadHeader("body table longer than the number of kinds"));
        }
        let mut body_sizes = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let mut e = [0u8; 4];
            read_header_field(r, &mut e)?;
            body_sizes.push((u16::from_le_bytes([e[0], e[1]]), u16::from_le_bytes([e[2], e[3]])));
        }
        let mut off = [0u8; 8];
        read_header_field(r, &mut off)?;
        Ok(RecordingHeader { version, header_size, body_sizes, boot_offset_ns: i64::from_le_bytes(off) })
    }
}

fn read_header_field(r: &mut impl Read, buf: &mut [u8]) -> Result<(), RecordingError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => RecordingError::BadHeader("file ends inside the header"),
        _ => RecordingError::Io { record: 0, source: e },
    })
}

fn read_u32(r: &mut impl Read) -> Result<u32, RecordingError> {
    let mut b = [0u8; 4];
    read_header_field(r, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Where a [`Writer`] made by [`Writer::create`] writes: a file, compressed
/// or not.
pub enum FileSink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            FileSink::Plain(w) => w.write(buf),
            FileSink::Gzip(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            FileSink::Plain(w) => w.write_all(buf),
            FileSink::Gzip(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            FileSink::Plain(w) => w.flush(),
            FileSink::Gzip(w) => w.flush(),
        }
    }
}

/// Writes a recording: the header at once, then one record at a time.
pub struct Writer<W: Write> {
    out: W,
    records: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, header: &RecordingHeader) -> Result<Self, RecordingError> {
        header.write_to(&mut out).map_err(|source| RecordingError::Io { record: 0, source })?;
        Ok(Writer { out, records: 0 })
    }

    /// Append one raw ring-buffer record, exactly as the kernel handed it over.
    pub fn write_record(&mut self, record: &[u8]) -> Result<(), RecordingError> {
        let len = u32::try_from(record.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD_LEN)
            .ok_or(RecordingError::TooLarge(record.len()))?;
        let io = |source| RecordingError::Io { record: self.records, source };
        self.out.write_all(&len.to_le_bytes()).map_err(io)?;
        self.out.write_all(record).map_err(io)?;
        self.records += 1;
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flush and hand the output back.
    pub fn into_inner(mut self) -> Result<W, RecordingError> {
        self.out.flush().map_err(|source| RecordingError::Io { record: self.records, source })?;
        Ok(self.out)
    }
}

impl Writer<FileSink> {
    /// Create `path` (replacing it), gzip-compressed when `gzip`.
    pub fn create(path: &Path, header: &RecordingHeader, gzip: bool) -> Result<Self, RecordingError> {
        let file = File::create(path).map_err(|source| RecordingError::Open { path: path.to_owned(), source })?;
        let buffered = BufWriter::new(file);
        let sink = if gzip {
            FileSink::Gzip(GzEncoder::new(buffered, Compression::best()))
        } else {
            FileSink::Plain(buffered)
        };
        Writer::new(sink, header)
    }

    /// Write the gzip trailer, flush and sync: a recording is complete only
    /// once this returns `Ok`.
    pub fn finish(self) -> Result<u64, RecordingError> {
        let records = self.records;
        let io = |source| RecordingError::Io { record: records, source };
        let buffered = match self.into_inner()? {
            FileSink::Plain(w) => w,
            FileSink::Gzip(gz) => gz.finish().map_err(io)?,
        };
        let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(records)
    }
}

/// Reads a recording, compressed or not, one record at a time. As an
/// iterator it yields every good record, then at most one error, then ends.
pub struct Reader {
    input: Box<dyn BufRead>,
    header: RecordingHeader,
    records: u64,
    /// Bytes of the (uncompressed) stream consumed so far.
    offset: u64,
    done: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("header", &self.header).field("records", &self.records).finish()
    }
}

impl Reader {
    /// Open a recording file and check it was made with this build's ABI.
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let file = File::open(path).map_err(|source| RecordingError::Open { path: path.to_owned(), source })?;
        Reader::new(BufReader::new(file))
    }

    /// Read from any source (gzip detected by its magic); checks the ABI.
    pub fn new(input: impl BufRead + 'static) -> Result<Self, RecordingError> {
        let r = Reader::new_unchecked(input)?;
        r.header.check_abi()?;
        Ok(r)
    }

    /// Read the header without checking the ABI (to describe a foreign recording).
    pub fn new_unchecked(mut input: impl BufRead + 'static) -> Result<Self, RecordingError> {
        let peek = input.fill_buf().map_err(|source| RecordingError::Io { record: 0, source })?;
        let mut input: Box<dyn BufRead> = if peek.starts_with(&GZIP_MAGIC) {
            Box::new(BufReader::with_capacity(64 << 10, MultiGzDecoder::new(input)))
        } else {
            Box::new(input)
        };
        let header = RecordingHeader::read_from(&mut input)?;
        let offset = 20 + 4 * header.body_sizes.len() as u64 + 8;
        Ok(Reader { input, header, records: 0, offset, done: false })
    }

    pub fn header(&self) -> &RecordingHeader {
        &self.header
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Read the next record into `buf` (replacing its contents). `Ok(false)`
    /// at the clean end of the recording.
    pub fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<bool, RecordingError> {
        if self.done {
            return Ok(false);
        }
        let result = self.read_one(buf);
        if !matches!(result, Ok(true)) {
            self.done = true;
        }
        result
    }

    fn read_one(&mut self, buf: &mut Vec<u8>) -> Result<bool, RecordingError> {
        let (record, offset) = (self.records, self.offset);
        let mut len = [0u8; 4];
        match fill(&mut self.input, &mut len) {
            Ok(0) => return Ok(false),
            Ok(4) => {}
            Ok(_) => return Err(RecordingError::Truncated { record, offset }),
            Err(e) => return Err(stream_error(record, offset, e)),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_RECORD_LEN {
            return Err(RecordingError::Corrupt { record, offset, len });
        }
        buf.clear();
        buf.resize(len as usize, 0);
        match fill(&mut self.input, buf) {
            Ok(n) if n == buf.len() => {}
            Ok(_) => return Err(RecordingError::Truncated { record, offset }),
            Err(e) => return Err(stream_error(record, offset, e)),
        }
        self.records += 1;
        self.offset += 4 + u64::from(len);
        Ok(true)
    }
}

impl Iterator for Reader {
    type Item = Result<Vec<u8>, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        match self.read_into(&mut buf) {
            Ok(true) => Some(Ok(buf)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// A gzip stream cut short surfaces as an unexpected EOF from the decoder:
/// that is truncation too, not a generic I/O failure.
fn stream_error(record: u64, offset: u64, e: io::Error) -> RecordingError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        RecordingError::Truncated { record, offset }
    } else {
        RecordingError::Io { record, source: e }
    }
}

/// Read until `buf` is full or the input ends; how many bytes were read.
fn fill(r: &mut dyn BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Cursor;

    fn records() -> Vec<Vec<u8>> {
        (0..50u8).map(|i| vec![i; usize::from(i) * 7 + 1]).collect()
    }

    fn encode(gzip: bool) -> Vec<u8> {
        let header = RecordingHeader::current(1_700_000_000_000_000_000);
        let mut plain = Writer::new(Vec::new(), &header).unwrap();
        for r in records() {
            plain.write_record(&r).unwrap();
        }
        let bytes = plain.into_inner().unwrap();
        if !gzip {
            return bytes;
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap()
    }

    fn read_all(bytes: Vec<u8>) -> (Vec<Vec<u8>>, Option<RecordingError>) {
        let reader = match Reader::new(Cursor::new(bytes)) {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut good = Vec::new();
        let mut err = None;
        for item in reader {
            match item {
                Ok(r) => good.push(r),
                Err(e) => {
                    assert!(err.is_none(), "a second error after {e}");
                    err = Some(e);
                }
            }
        }
        (good, err)
    }

    #[test]
    fn round_trips_plain_and_gzip() {
        for gzip in [false, true] {
            let (got, err) = read_all(encode(gzip));
            assert!(err.is_none(), "{err:?}");
            assert_eq!(got, records());
        }
        let r = Reader::new(Cursor::new(encode(true))).unwrap();
        assert_eq!(r.header().boot_offset_ns, 1_700_000_000_000_000_000);
    }

    #[test]
    fn file_round_trip() {
        let dir = std::env::temp_dir().join(format!("saker-rec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.sakerrec.gz");
        let mut w = Writer::create(&path, &RecordingHeader::current(5), true).unwrap();
        for r in records() {
            w.write_record(&r).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 50);
        let got: Vec<_> = Reader::open(&path).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, records());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncation_keeps_the_records_before_it() {
        let full = encode(false);
        // Cut in the middle of the last record's bytes, then of its length.
        for cut in [full.len() - 3, full.len() - (49 * 7 + 1) - 2] {
            let (got, err) = read_all(full[..cut].to_vec());
            assert_eq!(got, records()[..49].to_vec());
            assert!(matches!(err, Some(RecordingError::Truncated { record: 49, .. })), "{err:?}");
        }
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_clean_end() {
        let gz = encode(true);
        let (got, err) = read_all(gz[..gz.len() - 5].to_vec());
        assert!(err.is_some(), "a gzip stream without its trailer must not end cleanly");
        assert!(got.len() <= 50);
        assert_eq!(got, records()[..got.len()].to_vec());
    }

    #[test]
    fn corrupt_length_is_refused_without_allocating() {
        let mut bytes = encode(false);
        let first = 20 + 4 * RecordingHeader::current(0).body_sizes.len() + 8;
        bytes[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (got, err) = read_all(bytes);
        assert!(got.is_empty());
        assert!(matches!(err, Some(RecordingError::Corrupt { record: 0, len: u32::MAX, .. })), "{err:?}");
    }

    #[test]
    fn foreign_abi_is_refused_clearly() {
        let mut header = RecordingHeader::current(0);
        header.body_sizes[0].1 += 8;
        let bytes = Writer::new(Vec::new(), &header).unwrap().into_inner().unwrap();
        let err = Reader::new(Cursor::new(bytes.clone())).unwrap_err();
        assert!(matches!(err, RecordingError::AbiMismatch { .. }));
        assert!(err.to_string().contains("another event ABI"), "{err}");
        // It can still be described.
        assert_eq!(Reader::new_unchecked(Cursor::new(bytes)).unwrap().header().body_sizes, header.body_sizes);

        header = RecordingHeader::current(0);
        header.header_size = 96;
        let bytes = Writer::new(Vec::new(), &header).unwrap().into_inner().unwrap();
        assert!(matches!(Reader::new(Cursor::new(bytes)), Err(RecordingError::AbiMismatch { .. })));
    }

    #[test]
    fn bad_headers() {
        assert!(matches!(Reader::new(Cursor::new(b"NOTSAKER\x01\0\0\0".to_vec())), Err(RecordingError::BadMagic)));
        assert!(matches!(
            Reader::new(Cursor::new(b"SAKERREC\x09\0\0\0".to_vec())),
            Err(RecordingError::UnsupportedVersion { found: 9 })
        ));
        assert!(matches!(Reader::new(Cursor::new(b"SAKER".to_vec())), Err(RecordingError::BadHeader(_))));
        assert!(matches!(Reader::new(Cursor::new(Vec::new())), Err(RecordingError::BadHeader(_))));
        let mut huge = b"SAKERREC\x01\0\0\0\x68\0\0\0".to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Reader::new(Cursor::new(huge)), Err(RecordingError::BadHeader(_))));
    }

    #[test]
    fn every_kind_has_a_body_size() {
        for k in kind::ALL {
            assert!(body_size(*k).is_some(), "kind {k}");
        }
        assert_eq!(RecordingHeader::current(0).body_sizes.len(), kind::ALL.len());
    }
}
