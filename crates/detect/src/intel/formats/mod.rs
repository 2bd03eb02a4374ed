//! The list formats Saker reads, and [`parse_list`], which picks one (or is
//! told which) and turns text into a [`ThreatList`]:
//!
//! - `plain.rs` — one entry per line with `#` comments: addresses, CIDRs,
//!   domain patterns, SHA-256 hashes (also the Tor bulk exit list).
//! - `csv.rs` — CSV whose header names the indicator column: abuse.ch Feodo
//!   Tracker's blocklist, AlienVault OTX's `type,indicator,description`.
//! - `tor.rs` — the Tor exit list (`ExitNode` / `ExitAddress` records).
//! - `stix.rs` — STIX 2.1 bundles of indicators with simple patterns.
//!
//! Parsing is pure (text in, list out) so each format is tested from strings;
//! reading files is `spec.rs`'s job.

mod csv;
mod plain;
mod stix;
mod tor;

use super::entry::ListBuilder;
use super::{IntelError, ThreatCategory, ThreatList};
use std::fmt;
use std::str::FromStr;

/// A list's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Decide from the content ([`Format::detect`]).
    #[default]
    Auto,
    Plain,
    Csv,
    TorExit,
    Stix,
}

impl Format {
    /// Every format with its configuration name.
    pub const ALL: &'static [(Format, &'static str)] = &[
        (Format::Auto, "auto"),
        (Format::Plain, "plain"),
        (Format::Csv, "csv"),
        (Format::TorExit, "tor-exit"),
        (Format::Stix, "stix"),
    ];

    pub fn as_str(self) -> &'static str {
        Format::ALL.iter().find(|(f, _)| *f == self).map(|(_, n)| *n).unwrap_or("auto")
    }

    /// The format `text` is in, judged from its first meaningful lines: a JSON
    /// object is a STIX bundle; an `ExitNode ` record makes a Tor exit list;
    /// a first data line with a quote or a comma is CSV (no plain entry
    /// contains either); anything else is plain. Never returns `Auto`.
    pub fn detect(text: &str) -> Format {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim_start().starts_with('{') {
            return Format::Stix;
        }
        // Skip comments, and the `@type` / `Downloaded` preamble of archived
        // exit lists.
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
            .take(10)
            .peekable();
        let first = lines.peek().copied().unwrap_or("");
        if lines.any(|l| l.starts_with("ExitNode ")) {
            return Format::TorExit;
        }
        if first.contains(',') || first.starts_with('"') {
            return Format::Csv;
        }
        Format::Plain
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = IntelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL.iter().find(|(_, n)| *n == s).map(|(f, _)| *f).ok_or_else(|| {
            let known: Vec<&str> = Format::ALL.iter().map(|(_, n)| *n).collect();
            IntelError::UnknownFormat { name: s.to_owned(), known: known.join(", ") }
        })
    }
}

/// Parse `text` as a list called `name` whose entries are evidence of
/// `category`. Malformed entries are skipped and reported in the list's
/// [`LoadStats`](super::LoadStats); only a file that cannot be a list of the
/// format at all (malformed JSON, a CSV without an indicator column) is an
/// error.
pub fn parse_list(name: &str, category: ThreatCategory, text: &str, format: Format) -> Result<ThreatList, IntelError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = if format == Format::Auto { Format::detect(text) } else { format };
    let mut b = ListBuilder::new(name, category);
    match format {
        Format::Auto | Format::Plain => plain::parse(&mut b, text),
        Format::Csv => csv::parse(&mut b, text)?,
        Format::TorExit => tor::parse(&mut b, text),
        Format::Stix => stix::parse(&mut b, text)?,
    }
    Ok(b.finish())
}

/// A format error for the list being built.
fn format_error(b: &ListBuilder, message: impl Into<String>) -> IntelError {
    IntelError::Format { list: b.name().to_owned(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert_eq!(Format::detect("  {\"type\": \"bundle\"}"), Format::Stix);
        assert_eq!(Format::detect("\u{feff}{}"), Format::Stix);
        assert_eq!(Format::detect("ExitNode AB\nPublished x\nExitAddress 192.0.2.1 x"), Format::TorExit);
        assert_eq!(Format::detect("@type tordnsel 1.0\nDownloaded x\nExitNode AB\n"), Format::TorExit);
        assert_eq!(Format::detect("# c\n#\n\"first_seen_utc\",\"dst_ip\"\n"), Format::Csv);
        assert_eq!(Format::detect("type,indicator,description\nIPv4,192.0.2.1,x\n"), Format::Csv);
        assert_eq!(Format::detect("# list\n192.0.2.1\nexample.com\n"), Format::Plain);
        assert_eq!(Format::detect(""), Format::Plain);
    }

    #[test]
    fn format_names_round_trip() {
        for (f, n) in Format::ALL {
            assert_eq!(n.parse::<Format>().unwrap(), *f);
            assert_eq!(f.to_string(), *n);
        }
        let e = "yaml".parse::<Format>().unwrap_err().to_string();
        assert_eq!(e, r#"unknown threat list format "yaml"; known: auto, plain, csv, tor-exit, stix"#);
    }

    #[test]
    fn auto_dispatches_and_strips_a_bom() {
        let l = parse_list("t", ThreatCategory::Crypto, "\u{feff}192.0.2.1\n", Format::Auto).unwrap();
        assert_eq!((l.stats.ips, l.stats.skipped), (1, 0));
        let l =
            parse_list("t", ThreatCategory::TorRelay, "ExitNode A\nExitAddress 192.0.2.9 x y\n", Format::Auto).unwrap();
        assert_eq!(l.stats.ips, 1);
    }
}
