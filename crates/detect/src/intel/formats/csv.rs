//! CSV feeds whose header names the indicator column. Two shapes in the wild
//! are the reason for this loader:
//!
//! - abuse.ch Feodo Tracker's blocklist: `#` comment lines, then
//!   `"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"`
//!   and one quoted row per C2 server; the `malware` column names the family.
//! - AlienVault OTX exports: `type,indicator,description`, where `type` says
//!   what the indicator is (`IPv4`, `IPv6`, `CIDR`, `domain`, `hostname`,
//!   `FileHash-SHA256`; other types — `FileHash-MD5`, `URL`, ... — are skipped
//!   and counted).
//!
//! The indicator comes from the first column named `dst_ip`, `ip`,
//! `ip_address` or `indicator` (case-insensitive); the first three must hold
//! addresses or networks, `indicator` may hold any entry kind unless a `type`
//! column says which. Some feeds (abuse.ch's URLhaus style) put the header in
//! the last comment line instead; that is accepted too.
//!
//! Fields follow RFC 4180: quoted fields may contain commas, doubled quotes
//! and line breaks; unquoted fields are trimmed. A record that cannot be read
//! (an unterminated quote) costs its first line only: reading resumes on the
//! next line, so one stray quote cannot swallow the rest of a feed.

use super::format_error;
use crate::intel::IntelError;
use crate::intel::entry::{
    Indicator, ListBuilder, parse_domain, parse_indicator, parse_network, parse_network_of, parse_sha256, quoted,
};

/// Header names of the indicator column, in order of preference, and whether
/// the column holds only addresses.
const INDICATOR_COLUMNS: &[(&str, bool)] =
    &[("dst_ip", true), ("ip", true), ("ip_address", true), ("indicator", false)];

pub(super) fn parse(b: &mut ListBuilder, text: &str) -> Result<(), IntelError> {
    let mut columns: Option<Columns> = None;
    let mut last_comment: Option<&str> = None;
    for row in Reader::new(text) {
        match row {
            Row::Comment(text) => {
                if columns.is_none() {
                    last_comment = Some(text);
                }
            }
            Row::Bad { line, why } => b.skip_line(line, why),
            Row::Record { line, fields } => match &columns {
                Some(c) => c.row(b, line, &fields),
                None => {
                    if let Some(c) = Columns::from_header(&fields) {
                        columns = Some(c);
                        continue;
                    }
                    // The header may be the last comment (`# id,dateadded,url,...`).
                    let from_comment = last_comment
                        .map(|t| t.trim_start_matches('#'))
                        .and_then(|t| Reader::new(t).find_map(Row::into_fields))
                        .and_then(|f| Columns::from_header(&f));
                    let Some(c) = from_comment else {
                        let names: Vec<&str> = INDICATOR_COLUMNS.iter().map(|(n, _)| *n).collect();
                        return Err(format_error(
                            b,
                            format!(
                                "CSV header (line {line}) has no indicator column ({}); it has {}",
                                names.join(", "),
                                quoted(&fields.join(","))
                            ),
                        ));
                    };
                    c.row(b, line, &fields);
                    columns = Some(c);
                }
            },
        }
    }
    Ok(())
}

/// Where the interesting fields are.
#[derive(Debug)]
struct Columns {
    indicator: usize,
    indicator_name: String,
    /// The column holds addresses only (`dst_ip`, `ip`, `ip_address`).
    addresses_only: bool,
    kind: Option<usize>,
    malware: Option<usize>,
}

impl Columns {
    fn from_header(fields: &[String]) -> Option<Columns> {
        let find = |name: &str| fields.iter().position(|f| f.trim().eq_ignore_ascii_case(name));
        let (indicator, &(name, addresses_only)) = INDICATOR_COLUMNS.iter().find_map(|c| find(c.0).map(|i| (i, c)))?;
        Some(Columns {
            indicator,
            indicator_name: name.to_owned(),
            addresses_only,
            kind: if addresses_only { None } else { find("type") },
            malware: find("malware"),
        })
    }

    fn row(&self, b: &mut ListBuilder, line: usize, fields: &[String]) {
        let value = fields.get(self.indicator).map(|v| v.trim()).unwrap_or("");
        if value.is_empty() {
            b.skip_line(line, format_args!("no value in column {}", self.indicator_name));
            return;
        }
        let threat_name = self.malware.and_then(|i| fields.get(i)).map(|m| m.trim()).filter(|m| !m.is_empty());
        let parsed = match self.kind.and_then(|i| fields.get(i)) {
            Some(kind) => typed(kind.trim(), value),
            None if self.addresses_only => parse_network(value).map(|(ip, len)| Indicator::Network(ip, len)),
            None => parse_indicator(value),
        };
        match parsed {
            Ok(ind) => b.add(ind, threat_name),
            Err(why) => b.skip_line(line, why),
        }
    }
}

/// An OTX-style typed indicator. `domain` and `hostname` both match the name
/// exactly, as a STIX `domain-name` does: widening a registered domain to all
/// its subdomains would turn one bad entry for a shared domain into a flood;
/// `.example.com` in a plain list says so when that is meant.
fn typed(kind: &str, value: &str) -> Result<Indicator, String> {
    let family = |v6: bool| parse_network_of(value, v6).map(|(ip, len)| Indicator::Network(ip, len));
    match kind.to_ascii_lowercase().as_str() {
        "ipv4" => family(false),
        "ipv6" => family(true),
        "cidr" => parse_network(value).map(|(ip, len)| Indicator::Network(ip, len)),
        "domain" | "hostname" => parse_domain(value)
            .map(|(d, how)| Indicator::Domain(d, how))
            .map_err(|why| format!("{} is not a domain name: it has {why}", quoted(value))),
        "filehash-sha256" => {
            parse_sha256(value).map(Indicator::Sha256).ok_or_else(|| format!("{} is not a SHA-256", quoted(value)))
        }
        _ => Err(format!("indicator type {} is not supported", quoted(kind))),
    }
}

/// What the reader found at one place in the text.
#[derive(Debug, PartialEq, Eq)]
enum Row<'a> {
    /// A line starting with `#`, whole.
    Comment(&'a str),
    Record {
        line: usize,
        fields: Vec<String>,
    },
    Bad {
        line: usize,
        why: &'static str,
    },
}

impl Row<'_> {
    fn into_fields(self) -> Option<Vec<String>> {
        match self {
            Row::Record { fields, .. } => Some(fields),
            _ => None,
        }
    }
}

/// RFC 4180 records, with `#` comment lines and blank lines between them.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// The line `pos` is on, 1-based.
    line: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader { text, pos: 0, line: 1 }
    }

    /// The end of the line starting at `from` (the index of its `\n`, or the
    /// text's length).
    fn line_end(&self, from: usize) -> usize {
        self.text[from..].find('\n').map_or(self.text.len(), |i| from + i)
    }

    /// Skip past the line starting at `from`.
    fn next_line(&mut self, from: usize, line: usize) {
        self.pos = (self.line_end(from) + 1).min(self.text.len());
        self.line = line + 1;
    }

    fn record(&mut self) -> Row<'a> {
        let (start, line) = (self.pos, self.line);
        let text = self.text;
        let bytes = text.as_bytes();
        let mut fields = Vec::new();
        let mut i = start;
        loop {
            // Spaces before an opening quote are not part of the field.
            let mut q = i;
            while matches!(bytes.get(q), Some(b' ' | b'\t')) {
                q += 1;
            }
            if bytes.get(q) == Some(&b'"') {
                i = q;
                let mut value = String::new();
                let mut from = i + 1;
                loop {
                    let Some(q) = text[from..].find('"').map(|q| from + q) else {
                        self.next_line(start, line);
                        return Row::Bad { line, why: "unterminated quoted field" };
                    };
                    value.push_str(&text[from..q]);
                    if bytes.get(q + 1) == Some(&b'"') {
                        value.push('"');
                        from = q + 2;
                    } else {
                        i = q + 1;
                        break;
                    }
                }
                fields.push(value);
                while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\r')) {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'\n') | None => break,
                    Some(_) => {
                        self.next_line(start, line);
                        return Row::Bad { line, why: "unexpected text after a closing quote" };
                    }
                }
            } else {
                let end = text[i..].find([',', '\n']).map_or(text.len(), |e| i + e);
                fields.push(text[i..end].trim().to_owned());
                i = end;
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    _ => break,
                }
            }
        }
        // `i` is at the record's `\n` or the end of the text.
        self.line = line + text[start..i].matches('\n').count() + 1;
        self.pos = (i + 1).min(text.len());
        Row::Record { line, fields }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Row<'a>;

    fn next(&mut self) -> Option<Row<'a>> {
        while self.pos < self.text.len() {
            let (start, line) = (self.pos, self.line);
            let end = self.line_end(start);
            let physical = &self.text[start..end];
            let trimmed = physical.trim();
            if trimmed.is_empty() {
                self.next_line(start, line);
                continue;
            }
            if trimmed.starts_with('#') {
                self.next_line(start, line);
                return Some(Row::Comment(trimmed));
            }
            return Some(self.record());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::{DomainMatch, Format, ThreatCategory, parse_list};

    fn rows(text: &str) -> Vec<Row<'_>> {
        Reader::new(text).collect()
    }

    fn rec(line: usize, fields: &[&str]) -> Row<'static> {
        Row::Record { line, fields: fields.iter().map(|f| f.to_string()).collect() }
    }

    #[test]
    fn reader_handles_quotes_comments_and_line_breaks() {
        let text = "# c\n\na, b ,c\r\n\"x,1\",\"say \"\"hi\"\"\",\n\"multi\nline\",z\nlast";
        assert_eq!(
            rows(text),
            [
                Row::Comment("# c"),
                rec(3, &["a", "b", "c"]),
                rec(4, &["x,1", "say \"hi\"", ""]),
                rec(5, &["multi\nline", "z"]),
                rec(7, &["last"]),
            ]
        );
    }

    #[test]
    fn reader_recovers_from_bad_quotes() {
        // The first quote closes three lines down, before `a`; the last
        // never closes.
        let text = "\"open,1\nnext,2\n\"a\"b,3\nlast, \"4\"\n\"tail,5\n";
        assert_eq!(
            rows(text),
            [
                Row::Bad { line: 1, why: "unexpected text after a closing quote" },
                rec(2, &["next", "2"]),
                Row::Bad { line: 3, why: "unexpected text after a closing quote" },
                rec(4, &["last", "4"]),
                Row::Bad { line: 5, why: "unterminated quoted field" },
            ]
        );
    }

    #[test]
    fn feodo_style() {
        let text = "#####\n# Feodo-like\n#\n\
            \"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\
            \"2024-01-01 00:00:00\",\"192.0.2.1\",\"443\",\"online\",\"2024-01-02\",\"Emotet\"\n\
            \"2024-01-01 00:00:00\",\"192.0.2.1\",\"8080\",\"online\",\"2024-01-02\",\"Emotet\"\n\
            \"2024-01-01 00:00:00\",\"198.51.100.2\",\"443\",\"offline\",\"2024-01-02\",\"\"\n\
            \"2024-01-01 00:00:00\",\"example.com\",\"443\",\"offline\",\"2024-01-02\",\"QakBot\"\n\
            # END 4 entries";
        let l = parse_list("feodo", ThreatCategory::CommandAndControl, text, Format::Auto).unwrap();
        assert_eq!((l.stats.ips, l.stats.skipped), (2, 1));
        assert_eq!(l.threat_names.network("192.0.2.1".parse().unwrap(), 32), Some("Emotet"));
        assert_eq!(l.threat_names.network("198.51.100.2".parse().unwrap(), 32), None);
        assert_eq!(l.stats.messages, [r#"line 8: "example.com" is not an IP address or CIDR"#]);
    }

    #[test]
    fn otx_style() {
        let h = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        let text = format!(
            "type,indicator,description\n\
             IPv4,192.0.2.5,\"C2, seen twice\"\n\
             IPv6,2001:db8::5,\n\
             CIDR,198.51.100.0/24,\n\
             domain,Evil.Example,\"a \"\"quoted\"\" word\"\n\
             hostname,c2.evil.example,\n\
             FileHash-SHA256,{h},\n\
             FileHash-MD5,44d88612fea8a8f36de82e1278abb02f,\n\
             URL,http://evil.example/x,\n\
             IPv4,2001:db8::6,\n\
             domain,not_a_domain,\n"
        );
        let l = parse_list("otx", ThreatCategory::MaliciousDomain, &text, Format::Auto).unwrap();
        assert_eq!((l.stats.ips, l.stats.domains, l.stats.hashes, l.stats.skipped), (3, 2, 1, 4));
        assert_eq!(l.domains[0], ("evil.example".to_owned(), DomainMatch::Exact));
        assert_eq!(
            l.stats.messages,
            [
                r#"line 8: indicator type "FileHash-MD5" is not supported"#,
                r#"line 9: indicator type "URL" is not supported"#,
                r#"line 10: "2001:db8::6" is not an IPv4 address or network"#,
                r#"line 11: "not_a_domain" is not a domain name: it has a single label (no dot)"#,
            ]
        );
    }

    #[test]
    fn header_in_a_comment_and_untyped_indicators() {
        let text = "# id,indicator,note\n1,192.0.2.9,x\n2,evil.example,y\n3,,z\n";
        let l = parse_list("c", ThreatCategory::Phishing, text, Format::Csv).unwrap();
        assert_eq!((l.stats.ips, l.stats.domains, l.stats.skipped), (1, 1, 1));
        assert_eq!(l.stats.messages, ["line 4: no value in column indicator"]);
    }

    #[test]
    fn no_indicator_column_is_an_error() {
        let e = parse_list("c", ThreatCategory::Phishing, "a,b\n1,2\n", Format::Csv).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"threat list c: CSV header (line 1) has no indicator column (dst_ip, ip, ip_address, indicator); it has "a,b""#
        );
        // An empty CSV is an empty list, not an error.
        assert!(parse_list("c", ThreatCategory::Phishing, "# nothing yet\n", Format::Csv).unwrap().is_empty());
    }
}
