//! One decode table keyed on the kind: ring-buffer bytes → [`Record`].
//!
//! Records are untrusted input (a kernel bug or a future ABI must not crash
//! the agent): every length is checked and a bad record is an error, never a
//! panic.

use crate::raw::{self, Header, Plain, kind};
use thiserror::Error;

/// Why a ring-buffer record could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than the {need}-byte {what}")]
    Short { what: &'static str, len: usize, need: usize },
    #[error("record header says {declared} bytes but {len} arrived")]
    SizeMismatch { declared: usize, len: usize },
    #[error("unknown event kind {0}")]
    UnknownKind(u16),
    #[error("kind {kind}: strings overrun the record ({need} bytes needed, {have} left)")]
    StringOverrun { kind: u16, need: usize, have: usize },
}

/// A decoded record: the common header and the kind's body with its strings.
#[derive(Debug, Clone)]
pub struct Record {
    pub header: Header,
    pub body: Body,
}

/// Bytes of a string field; paths and argv are bytes on Linux, not UTF-8.
pub type Bytes = Vec<u8>;

#[derive(Debug, Clone)]
pub enum Body {
    Exec {
        raw: raw::Exec,
        filename: Bytes,
        exe: Bytes,
        interp: Bytes,
        argv: Bytes,
        cwd: Bytes,
        ld_preload: Bytes,
        ld_library_path: Bytes,
        /// `ECS_CONTAINER_METADATA_URI_V4` from the new environment.
        ecs_metadata_uri: Bytes,
    },
    Exit(raw::Exit),
    Fork(raw::Fork),
    Cred(raw::Cred),
    /// `kind` tells write/rename/unlink/link/symlink/chmod apart.
    File {
        raw: raw::File,
        path: Bytes,
        path2: Bytes,
    },
    Net {
        raw: raw::Net,
        unix_path: Bytes,
    },
    Dns {
        raw: raw::Dns,
        payload: Bytes,
    },
    Ptrace(raw::Ptrace),
    MemWrite {
        raw: raw::MemWrite,
        path: Bytes,
    },
    Module {
        raw: raw::Module,
        path: Bytes,
        args: Bytes,
    },
    Mount {
        raw: raw::Mount,
        source: Bytes,
        target: Bytes,
        fstype: Bytes,
    },
    Userfaultfd(raw::Userfaultfd),
    Memfd {
        raw: raw::Memfd,
        name: Bytes,
    },
    BpfLoad(raw::BpfLoad),
    Library {
        raw: raw::Library,
        path: Bytes,
    },
    /// Internal: a cgroup2 directory was created.
    CgroupMkdir {
        raw: raw::Cgroup,
        path: Bytes,
    },
}

/// Walks the string area after a body.
struct Strings<'a> {
    rest: &'a [u8],
    kind: u16,
}

impl Strings<'_> {
    fn take(&mut self, len: u16) -> Result<Bytes, DecodeError> {
        let len = usize::from(len);
        if len > self.rest.len() {
            return Err(DecodeError::StringOverrun { kind: self.kind, need: len, have: self.rest.len() });
        }
        let (s, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(s.to_vec())
    }
}

fn body<'a, T: Plain>(bytes: &'a [u8], what: &'static str) -> Result<(T, &'a [u8]), DecodeError> {
    let need = std::mem::size_of::<T>();
    let value = raw::read::<T>(bytes).ok_or(DecodeError::Short { what, len: bytes.len(), need })?;
    Ok((value, &bytes[need..]))
}

/// Decode one ring-buffer record.
pub fn decode(record: &[u8]) -> Result<Record, DecodeError> {
    let (header, rest) = body::<Header>(record, "header")?;
    let declared = usize::from(header.size);
    if declared > record.len() || declared < std::mem::size_of::<Header>() {
        return Err(DecodeError::SizeMismatch { declared, len: record.len() });
    }
    let rest = &rest[..declared - std::mem::size_of::<Header>()];
    let k = header.kind;
    let body = match k {
        kind::PROCESS_EXEC => {
            let (x, rest) = body::<raw::Exec>(rest, "exec body")?;
            let mut s = Strings { rest, kind: k };
            Body::Exec {
                raw: x,
                filename: s.take(x.filename_len)?,
                exe: s.take(x.exe_len)?,
                interp: s.take(x.interp_len)?,
                argv: s.take(x.argv_len)?,
                cwd: s.take(x.cwd_len)?,
                ld_preload: s.take(x.ld_preload_len)?,
                ld_library_path: s.take(x.ld_library_path_len)?,
                ecs_metadata_uri: s.take(x.ecs_metadata_uri_len)?,
            }
        }
        kind::PROCESS_EXIT => Body::Exit(body(rest, "exit body")?.0),
        kind::PROCESS_FORK => Body::Fork(body(rest, "fork body")?.0),
        kind::PROCESS_CRED => Body::Cred(body(rest, "cred body")?.0),
        kind::FILE_WRITE
        | kind::FILE_RENAME
        | kind::FILE_UNLINK
        | kind::FILE_LINK
        | kind::FILE_SYMLINK
        | kind::FILE_CHMOD => {
            let (x, rest) = body::<raw::File>(rest, "file body")?;
            let mut s = Strings { rest, kind: k };
            Body::File { raw: x, path: s.take(x.path_len)?, path2: s.take(x.path2_len)? }
        }
        kind::NET_CONNECT | kind::NET_ACCEPT | kind::NET_LISTEN => {
            let (x, rest) = body::<raw::Net>(rest, "net body")?;
            let mut s = Strings { rest, kind: k };
            Body::Net { raw: x, unix_path: s.take(x.unix_path_len)? }
        }
        kind::DNS => {
            let (x, rest) = body::<raw::Dns>(rest, "dns body")?;
            let mut s = Strings { rest, kind: k };
            Body::Dns { raw: x, payload: s.take(x.payload_len)? }
        }
        kind::PTRACE => Body::Ptrace(body(rest, "ptrace body")?.0),
        kind::MEM_WRITE => {
            let (x, rest) = body::<raw::MemWrite>(rest, "mem.write body")?;
            let mut s = Strings { rest, kind: k };
            Body::MemWrite { raw: x, path: s.take(x.path_len)? }
        }
        kind::MODULE_LOAD => {
            let (x, rest) = body::<raw::Module>(rest, "module body")?;
            let mut s = Strings { rest, kind: k };
            Body::Module { raw: x, path: s.take(x.path_len)?, args: s.take(x.args_len)? }
        }
        kind::MOUNT => {
            let (x, rest) = body::<raw::Mount>(rest, "mount body")?;
            let mut s = Strings { rest, kind: k };
            Body::Mount {
                raw: x,
                source: s.take(x.source_len)?,
                target: s.take(x.target_len)?,
                fstype: s.take(x.fstype_len)?,
            }
        }
        kind::USERFAULTFD => Body::Userfaultfd(body(rest, "userfaultfd body")?.0),
        kind::MEMFD_CREATE => {
            let (x, rest) = body::<raw::Memfd>(rest, "memfd body")?;
            let mut s = Strings { rest, kind: k };
            Body::Memfd { raw: x, name: s.take(x.name_len)? }
        }
        kind::BPF_LOAD => Body::BpfLoad(body(rest, "bpf body")?.0),
        kind::LIBRARY_LOAD => {
            let (x, rest) = body::<raw::Library>(rest, "library body")?;
            let mut s = Strings { rest, kind: k };
            Body::Library { raw: x, path: s.take(x.path_len)? }
        }
        kind::CGROUP_MKDIR => {
            let (x, rest) = body::<raw::Cgroup>(rest, "cgroup body")?;
            let mut s = Strings { rest, kind: k };
            Body::CgroupMkdir { raw: x, path: s.take(x.path_len)? }
        }
        other => return Err(DecodeError::UnknownKind(other)),
    };
    Ok(Record { header, body })
}

/// A fixed-size C string field (comm, prog_name) up to its first NUL.
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    lossy_text(&bytes[..end])
}

/// Bytes from the kernel as text: invalid UTF-8 sequences become U+FFFD.
/// Checks with `str::from_utf8` first, which is several times faster than
/// `from_utf8_lossy`'s chunk scan on the valid text nearly every path is.
pub fn lossy_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::bytes_of;

    fn record(kind: u16, body: &[u8], strings: &[u8]) -> Vec<u8> {
        let size = std::mem::size_of::<Header>() + body.len() + strings.len();
        let header = Header { kind, size: size as u16, pid: 42, ..Default::default() };
        let mut out = bytes_of(&header).to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn decodes_exec_strings_in_order() {
        let x = raw::Exec { filename_len: 4, exe_len: 8, argv_len: 7, cwd_len: 1, ..Default::default() };
        let bytes = record(kind::PROCESS_EXEC, &exec_bytes(&x), b"/a/b/usr/binls\0-la\0/");
        let r = decode(&bytes).unwrap();
        assert_eq!(r.header.pid, 42);
        match r.body {
            Body::Exec { filename, exe, argv, cwd, interp, .. } => {
                assert_eq!(filename, b"/a/b");
                assert_eq!(exe, b"/usr/bin");
                assert_eq!(argv, b"ls\0-la\0");
                assert_eq!(cwd, b"/");
                assert!(interp.is_empty());
            }
            other => panic!("wrong body {other:?}"),
        }
    }

    fn exec_bytes(x: &raw::Exec) -> Vec<u8> {
        // Exec is Plain but not exported through bytes_of's bound in tests
        // without this helper.
        bytes_of(x).to_vec()
    }

    #[test]
    fn rejects_truncated_and_overrunning_records() {
        assert!(matches!(decode(&[0u8; 10]), Err(DecodeError::Short { .. })));
        let x = raw::File { path_len: 100, ..Default::default() };
        let bytes = record(kind::FILE_WRITE, bytes_of(&x), b"/etc/passwd");
        assert!(matches!(decode(&bytes), Err(DecodeError::StringOverrun { .. })));
        let mut bytes = record(kind::PROCESS_EXIT, bytes_of(&raw::Exit::default()), b"");
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(decode(&bytes), Err(DecodeError::SizeMismatch { .. })));
        let bytes = record(63, b"", b"");
        assert_eq!(decode(&bytes).unwrap_err(), DecodeError::UnknownKind(63));
    }

    #[test]
    fn c_str_stops_at_nul() {
        assert_eq!(c_str(b"bash\0\0\0garbage"), "bash");
        assert_eq!(c_str(b"nonul"), "nonul");
    }

    #[test]
    fn lossy_text_replaces_only_invalid_bytes() {
        assert_eq!(lossy_text("/tmp/é".as_bytes()), "/tmp/é");
        assert_eq!(lossy_text(b"/tmp/\xff\xfex"), "/tmp/\u{fffd}\u{fffd}x");
    }
}
