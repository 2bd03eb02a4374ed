//! The spool's on-disk record format, and the scan that finds records in a
//! segment file even after damage.
//!
//! A segment is a sequence of records, each (integers little-endian):
//!
//! ```text
//! offset  size  field
//! 0       4     magic  F5 53 4B 52  ("\xF5SKR")
//! 4       4     len    bytes of payload that follow the header
//! 8       4     crc    CRC-32 (IEEE) of the len field's 4 bytes + the payload
//! 12      len   payload:
//!                 u64  seq        the spool's sequence number, increasing
//!                 u8   kind       1 finding, 2 telemetry event
//!                 u8   class      0 telemetry, 1 low, 2 medium, 3 high
//!                 u8   run_len    length of the run id that follows
//!                 ...  run id     UTF-8: the agent run that produced the record
//!                 ...  body       the finding or event as JSON
//! ```
//!
//! The CRC covers the length, so a bit flip anywhere in a record is caught.
//! After a bad or torn record the scan looks for the next magic: `0xF5`
//! never occurs in UTF-8, so a magic cannot hide inside a JSON body, and a
//! false match (inside a header's integers) fails its CRC. One damaged
//! record costs that record, never the ones after it.

/// Every record starts with this.
pub(crate) const MAGIC: [u8; 4] = [0xF5, b'S', b'K', b'R'];
/// magic + len + crc.
pub(crate) const HEADER: usize = 12;
/// seq + kind + class + run_len.
const FIXED: usize = 11;
/// Larger is corruption (or a finding no server would take).
pub(crate) const MAX_PAYLOAD: usize = 4 << 20;

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Finding,
    Telemetry,
}

/// Eviction priority when the spool is full: lower classes go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Telemetry = 0,
    Low = 1,
    Medium = 2,
    /// High and critical findings.
    High = 3,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Telemetry, Class::Low, Class::Medium, Class::High];

    /// A finding's class from its numeric severity (GuardDuty's bands: low
    /// below 4, medium below 7, high from 7).
    pub fn of_severity(severity: f64) -> Class {
        if severity >= 7.0 {
            Class::High
        } else if severity >= 4.0 {
            Class::Medium
        } else {
            Class::Low
        }
    }

    fn from_u8(b: u8) -> Option<Class> {
        Class::ALL.get(usize::from(b)).copied()
    }
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub kind: RecordKind,
    pub class: Class,
    pub run_id: String,
    pub body: Vec<u8>,
}

/// The bytes of a record, header included. `None` when the run id or the
/// body is too long for the format.
pub(crate) fn encode(seq: u64, kind: RecordKind, class: Class, run_id: &str, body: &[u8]) -> Option<Vec<u8>> {
    let run_len = u8::try_from(run_id.len()).ok()?;
    let payload_len = FIXED + run_id.len() + body.len();
    if payload_len > MAX_PAYLOAD {
        return None;
    }
    let len = u32::try_from(payload_len).ok()?;
    let mut out = Vec::with_capacity(HEADER + payload_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, below
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(match kind {
        RecordKind::Finding => 1,
        RecordKind::Telemetry => 2,
    });
    out.push(class as u8);
    out.push(run_len);
    out.extend_from_slice(run_id.as_bytes());
    out.extend_from_slice(body);
    let crc = checksum(&out[4..8], &out[HEADER..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    Some(out)
}

fn checksum(len: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(payload);
    h.finalize()
}

/// Why bytes are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The record runs past the end of the data: a write cut short.
    Truncated,
    /// Wrong magic, impossible length, CRC mismatch or a bad field.
    Corrupt,
}

/// Decode the record at the start of `buf` (which may hold more after it).
/// Returns the record and its total length.
pub(crate) fn decode(buf: &[u8]) -> Result<(Record, usize), Damage> {
    if buf.len() < HEADER {
        return Err(if MAGIC.starts_with(&buf[..buf.len().min(4)]) { Damage::Truncated } else { Damage::Corrupt });
    }
    if buf[..4] != MAGIC {
        return Err(Damage::Corrupt);
    }
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if !(FIXED..=MAX_PAYLOAD).contains(&len) {
        return Err(Damage::Corrupt);
    }
    let Some(payload) = buf.get(HEADER..HEADER + len) else { return Err(Damage::Truncated) };
    let crc = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if checksum(&buf[4..8], payload) != crc {
        return Err(Damage::Corrupt);
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&payload[..8]);
    let kind = match payload[8] {
        1 => RecordKind::Finding,
        2 => RecordKind::Telemetry,
        _ => return Err(Damage::Corrupt),
    };
    let class = Class::from_u8(payload[9]).ok_or(Damage::Corrupt)?;
    let run_end = FIXED + usize::from(payload[10]);
    let run_id = payload.get(FIXED..run_end).ok_or(Damage::Corrupt)?;
    let run_id = std::str::from_utf8(run_id).map_err(|_| Damage::Corrupt)?.to_owned();
    let record = Record { seq: u64::from_le_bytes(seq), kind, class, run_id, body: payload[run_end..].to_vec() };
    Ok((record, HEADER + len))
}

/// Where a record was found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub seq: u64,
    pub class: Class,
    pub offset: u64,
    pub len: u32,
}

/// What [`scan`] found in a segment.
#[derive(Debug, Default)]
pub(crate) struct ScanResult {
    pub records: Vec<Found>,
    /// Damaged stretches skipped (each one or more lost records).
    pub corrupt: u64,
    /// The segment ends inside a record (a crash mid-write).
    pub truncated_tail: bool,
}

/// Every intact record of a segment, in file order; damaged stretches are
/// skipped by looking for the next magic.
pub(crate) fn scan(data: &[u8]) -> ScanResult {
    let mut out = ScanResult::default();
    let mut at = 0usize;
    while at < data.len() {
        match decode(&data[at..]) {
            Ok((rec, len)) => {
                // `len` is at most HEADER + MAX_PAYLOAD: fits in u32.
                let len32 = u32::try_from(len).unwrap_or(u32::MAX);
                out.records.push(Found { seq: rec.seq, class: rec.class, offset: at as u64, len: len32 });
                at += len;
            }
            Err(damage) => {
                match next_magic(data, at + 1) {
                    Some(next) => {
                        out.corrupt += 1;
                        at = next;
                    }
                    None => {
                        // Nothing intact after this point: a torn tail, or
                        // garbage to the end.
                        if damage == Damage::Truncated {
                            out.truncated_tail = true;
                        }
                        out.corrupt += 1;
                        break;
                    }
                }
            }
        }
    }
    out
}

fn next_magic(data: &[u8], from: usize) -> Option<usize> {
    let rest = data.get(from..)?;
    rest.windows(MAGIC.len()).position(|w| w == MAGIC).map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode(42, RecordKind::Finding, Class::Medium, "run-1", b"{\"a\":1}").unwrap();
        let (rec, len) = decode(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(
            rec,
            Record {
                seq: 42,
                kind: RecordKind::Finding,
                class: Class::Medium,
                run_id: "run-1".into(),
                body: b"{\"a\":1}".to_vec()
            }
        );
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let bytes = encode(7, RecordKind::Telemetry, Class::Telemetry, "r", b"{}").unwrap();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode(&b).is_err(), "flip of bit {i} not detected");
        }
    }

    #[test]
    fn scan_skips_damage_and_keeps_what_follows() {
        let a = encode(1, RecordKind::Finding, Class::Low, "r", b"{\"x\":1}").unwrap();
        let b = encode(2, RecordKind::Finding, Class::Low, "r", b"{\"x\":2}").unwrap();
        let c = encode(3, RecordKind::Finding, Class::Low, "r", b"{\"x\":3}").unwrap();
        let mut data = [a.clone(), b.clone(), c.clone()].concat();
        data[a.len() + HEADER + 3] ^= 0xFF; // inside b's payload
        data.extend_from_slice(&c[..c.len() / 2]); // a torn record at the end
        let s = scan(&data);
        assert_eq!(s.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(s.corrupt, 2);
        assert!(s.truncated_tail);
        let garbage = [b"garbage \xF5SK".as_slice(), &a].concat();
        let s = scan(&garbage);
        assert_eq!(s.records.len(), 1);
        assert_eq!(s.records[0].offset, 11);
        assert_eq!(s.corrupt, 1);
    }
}
