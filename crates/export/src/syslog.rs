//! RFC 5424 syslog messages, and their framing on the wire.
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME saker - MSGID [saker@32473 id="…" type="…" …] BOM{finding JSON}
//! ```
//!
//! - PRI = facility × 8 + severity (RFC 5424 §6.2.1); the severity follows
//!   the finding's (8+ Critical, 7–7.9 Error, Medium Warning, Low Notice).
//! - TIMESTAMP: the finding's `updatedAt`, UTC, microseconds (the RFC allows
//!   at most six fraction digits).
//! - HOSTNAME, APP-NAME, PROCID, MSGID: printable US-ASCII (33–126) only, at
//!   most 255/48/128/32 characters; MSGID is the finding type, cut to 32
//!   (the full type is in the structured data).
//! - STRUCTURED-DATA: one element, SD-ID `saker@32473` (32473 is the
//!   enterprise number RFC 5612 reserves for documentation and examples);
//!   `"`, `\` and `]` in values are escaped with `\` (§6.3.3).
//! - MSG: the UTF-8 byte order mark, then the finding's JSON (§6.4).
//!
//! Framing: over UDP one message per datagram (RFC 5426); over TCP each
//! message is preceded by its length in octets and a space (RFC 6587 §3.4.1,
//! octet counting), so a message may contain newlines.

use crate::context::{ExportContext, ExportItem};
use crate::error::ExportError;
use crate::facts::rfc3339_us;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

pub const APP_NAME: &str = "saker";
pub const SD_ID: &str = "saker@32473";
const BOM: &str = "\u{feff}";
/// The largest UDP payload over IPv4 (65,535 − 8 UDP − 20 IP header bytes).
pub const UDP_MAX: usize = 65_507;

/// Syslog facilities (RFC 5424 §6.2.1). Security findings default to
/// `authpriv` (10, "security/authorization messages").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Daemon,
    Auth,
    #[default]
    Authpriv,
    Audit,
    Alert,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Audit => 13,
            Facility::Alert => 14,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// RFC 5424 severity for a GuardDuty severity: 2 Critical, 3 Error,
/// 4 Warning, 5 Notice.
pub fn severity_code(severity: f64) -> u8 {
    if severity >= 8.0 {
        2
    } else if severity >= 7.0 {
        3
    } else if severity >= 4.0 {
        4
    } else {
        5
    }
}

/// One finding as an RFC 5424 message (without transport framing).
pub fn message(item: &ExportItem, ctx: &ExportContext, facility: Facility) -> Result<String, ExportError> {
    let f = &item.finding;
    let pri = u16::from(facility.code()) * 8 + u16::from(severity_code(f.severity));
    let host = crate::facts::hostname(f).unwrap_or(ctx.hostname());
    let mut out = format!(
        "<{pri}>1 {} {} {APP_NAME} - {} [{SD_ID}",
        rfc3339_us(f.updated_at),
        header_field(host, 255),
        header_field(f.finding_type.name(), 32),
    );
    let params = [
        ("id", f.id.clone()),
        ("type", f.finding_type.name().to_owned()),
        ("severity", format!("{:.1}", f.severity)),
        ("severityLabel", f.severity_label.as_str().to_owned()),
        ("count", f.service.count.to_string()),
        ("account", ctx.account_of(f).to_owned()),
        ("region", ctx.region_of(f).to_owned()),
        ("archived", item.archived().to_string()),
    ];
    for (name, value) in params {
        // Writing to a String cannot fail.
        let _ = write!(out, " {name}=\"{}\"", escape_param(&value));
    }
    out.push_str("] ");
    out.push_str(BOM);
    out.push_str(&serde_json::to_string(f)?);
    Ok(out)
}

/// A header field: printable US-ASCII only (anything else becomes `_`), at
/// most `max` characters, `-` (NILVALUE) when empty.
fn header_field(s: &str, max: usize) -> String {
    let clean: String = s.chars().take(max).map(|c| if ('!'..='~').contains(&c) { c } else { '_' }).collect();
    if clean.is_empty() { "-".to_owned() } else { clean }
}

/// PARAM-VALUE escaping: `"`, `\` and `]` get a backslash (RFC 5424 §6.3.3).
pub fn escape_param(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 6587 octet-counting frame: `MSG-LEN SP SYSLOG-MSG`.
pub fn octet_counted(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_header_fields() {
        assert_eq!(escape_param(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(header_field("", 32), "-");
        assert_eq!(header_field("host name\u{e9}", 255), "host_name_");
        assert_eq!(header_field(&"x".repeat(40), 32).len(), 32);
        assert_eq!(octet_counted("abc"), b"3 abc");
        assert_eq!(octet_counted("é"), "2 é".as_bytes());
    }
}
