//! STIX 2.1 bundles (and TAXII 2.1 envelopes, which carry the same `objects`
//! array): the `indicator` objects whose STIX pattern is a plain list of
//! values Saker can match on its own.
//!
//! Accepted comparisons, joined only by `OR` (inside one `[...]` or between
//! several), with parentheses allowed for grouping:
//!
//! - `ipv4-addr:value = '…'`, `ipv6-addr:value = '…'` (an address or a CIDR)
//! - `domain-name:value = '…'` (that exact name)
//! - `file:hashes.'SHA-256' = '…'` (also `SHA256`, and `"SHA-256"` quoting)
//!
//! Anything else — `AND`, other object paths, operators other than `=`,
//! observation operators and qualifiers (`FOLLOWEDBY`, `WITHIN`, ...), other
//! pattern languages — would need an evaluator over whole observations, which
//! Saker's per-event lookups are not: such an indicator is skipped whole and
//! counted, with the reason, rather than approximated. Revoked and expired
//! (`valid_until` in the past) indicators are skipped too. An indicator's
//! `name` becomes the threat name of its entries.

use super::format_error;
use crate::intel::DomainMatch;
use crate::intel::IntelError;
use crate::intel::entry::{Indicator, ListBuilder, parse_domain, parse_network_of, parse_sha256, quoted};
use serde_json::Value;

pub(super) fn parse(b: &mut ListBuilder, text: &str) -> Result<(), IntelError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format_error(b, format!("malformed JSON: {e}")))?;
    let Some(top) = doc.as_object() else {
        return Err(format_error(b, "not a STIX bundle: the JSON is not an object"));
    };
    match top.get("type").and_then(Value::as_str) {
        Some("bundle") => {}
        // A TAXII envelope has no type, only the objects.
        None if top.contains_key("objects") => {}
        Some(other) => return Err(format_error(b, format!("not a STIX bundle: its type is {}", quoted(other)))),
        None => return Err(format_error(b, r#"not a STIX bundle: no "type": "bundle""#)),
    }
    let objects = match top.get("objects") {
        None => return Ok(()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(format_error(b, r#"not a STIX bundle: "objects" is not an array"#)),
    };
    let now = chrono::Utc::now();
    for (n, object) in objects.iter().enumerate() {
        if object.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let place = match object.get("id").and_then(Value::as_str) {
            // Ids are untrusted text too: printed as they are only when they
            // look like STIX ids.
            Some(id) if id.len() <= 100 && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') => id.to_owned(),
            _ => format!("objects[{n}]"),
        };
        if object.get("revoked").and_then(Value::as_bool) == Some(true) {
            b.skip(place, "indicator is revoked");
            continue;
        }
        if let Some(until) = object.get("valid_until").and_then(Value::as_str)
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(until)
            && t < now
        {
            b.skip(place, format_args!("indicator expired (valid_until {})", quoted(until)));
            continue;
        }
        match object.get("pattern_type").and_then(Value::as_str) {
            None | Some("stix") => {}
            Some(other) => {
                b.skip(place, format_args!("pattern type {} is not supported (only stix)", quoted(other)));
                continue;
            }
        }
        let Some(pattern) = object.get("pattern").and_then(Value::as_str) else {
            b.skip(place, "indicator has no pattern");
            continue;
        };
        let name = object.get("name").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        match parse_pattern(pattern) {
            Ok(entries) => {
                for e in entries {
                    b.add(e, name);
                }
            }
            Err(why) => b.skip(place, format_args!("{why}, in pattern {}", quoted(pattern))),
        }
    }
    Ok(())
}

/// The entries a pattern names, or why it is not one Saker takes.
fn parse_pattern(pattern: &str) -> Result<Vec<Indicator>, String> {
    let mut c = Cursor { s: pattern, pos: 0 };
    let mut out = Vec::new();
    let mut depth = 0usize;
    loop {
        depth += c.open_parens();
        if !c.eat('[') {
            return Err(c.unexpected("'['"));
        }
        comparisons(&mut c, &mut out)?;
        depth = c.close_parens(depth)?;
        if c.at_end() {
            break;
        }
        joiner(&mut c, "observations")?;
    }
    if depth != 0 {
        return Err("unbalanced parentheses".to_owned());
    }
    Ok(out)
}

/// The comparisons of one `[...]`, through its `]`.
fn comparisons(c: &mut Cursor<'_>, out: &mut Vec<Indicator>) -> Result<(), String> {
    let mut depth = 0usize;
    loop {
        depth += c.open_parens();
        let path = c.path();
        if path.eq_ignore_ascii_case("EXISTS") || path.eq_ignore_ascii_case("NOT") {
            return Err(format!("operator {path} is not supported (only =)"));
        }
        let kind = object_path(path)?;
        c.ws();
        let op = c.operator();
        if op != "=" {
            return Err(if op.is_empty() {
                c.unexpected("'='")
            } else {
                format!("operator {op} is not supported (only =)")
            });
        }
        c.ws();
        let value = c.string()?;
        out.push(comparison(kind, &value)?);
        depth = c.close_parens(depth)?;
        if c.eat(']') {
            return if depth == 0 { Ok(()) } else { Err("unbalanced parentheses".to_owned()) };
        }
        if c.at_end() {
            return Err("missing ']'".to_owned());
        }
        joiner(c, "comparisons")?;
    }
}

/// Between two comparisons or observations: only `OR` will do.
fn joiner(c: &mut Cursor<'_>, between: &str) -> Result<(), String> {
    let word = c.word();
    match word.to_ascii_uppercase().as_str() {
        "OR" => Ok(()),
        "AND" => Err(format!("AND between {between} is not supported (only OR)")),
        "FOLLOWEDBY" => Err("observation operator FOLLOWEDBY is not supported".to_owned()),
        "WITHIN" | "REPEATS" | "START" | "STOP" => Err(format!("qualifier {word} is not supported")),
        "" => Err(c.unexpected("OR")),
        _ => Err(format!("unexpected {}", quoted(word))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Ipv4,
    Ipv6,
    Domain,
    Sha256,
}

fn object_path(path: &str) -> Result<PathKind, String> {
    let lower = path.to_ascii_lowercase();
    let kind = match lower.as_str() {
        "ipv4-addr:value" => Some(PathKind::Ipv4),
        "ipv6-addr:value" => Some(PathKind::Ipv6),
        "domain-name:value" => Some(PathKind::Domain),
        _ => lower.strip_prefix("file:hashes.").and_then(|h| {
            let h = h.strip_prefix('\'').and_then(|h| h.strip_suffix('\'')).unwrap_or(h);
            let h = h.strip_prefix('"').and_then(|h| h.strip_suffix('"')).unwrap_or(h);
            matches!(h, "sha-256" | "sha256").then_some(PathKind::Sha256)
        }),
    };
    kind.ok_or_else(|| {
        if path.is_empty() {
            "missing object path".to_owned()
        } else {
            format!(
                "object path {} is not supported (only ipv4-addr:value, ipv6-addr:value, domain-name:value, \
                 file:hashes.'SHA-256')",
                quoted(path)
            )
        }
    })
}

fn comparison(kind: PathKind, value: &str) -> Result<Indicator, String> {
    match kind {
        PathKind::Ipv4 | PathKind::Ipv6 => {
            parse_network_of(value, kind == PathKind::Ipv6).map(|(ip, len)| Indicator::Network(ip, len))
        }
        // A STIX domain-name is one name; `*.` and leading dots are not STIX.
        PathKind::Domain => match parse_domain(value) {
            Ok((d, DomainMatch::Exact)) => Ok(Indicator::Domain(d, DomainMatch::Exact)),
            Ok(_) => Err(format!("{} is not a domain name", quoted(value))),
            Err(why) => Err(format!("{} is not a domain name: it has {why}", quoted(value))),
        },
        PathKind::Sha256 => {
            parse_sha256(value).map(Indicator::Sha256).ok_or_else(|| format!("{} is not a SHA-256", quoted(value)))
        }
    }
}

/// A position in a pattern.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn at_end(&mut self) -> bool {
        self.ws();
        self.pos >= self.s.len()
    }

    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn open_parens(&mut self) -> usize {
        let mut n = 0;
        while self.eat('(') {
            n += 1;
        }
        n
    }

    fn close_parens(&mut self, mut depth: usize) -> Result<usize, String> {
        while self.eat(')') {
            depth = depth.checked_sub(1).ok_or("unbalanced parentheses")?;
        }
        Ok(depth)
    }

    fn unexpected(&mut self, wanted: &str) -> String {
        self.ws();
        match self.rest().chars().next() {
            None => format!("expected {wanted}, found the end"),
            Some(_) => format!("expected {wanted} at {}", quoted(self.rest())),
        }
    }

    /// A run of letters (a keyword).
    fn word(&mut self) -> &'a str {
        self.ws();
        let rest = self.rest();
        let len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// An object path: up to whitespace, an operator or a bracket, with
    /// quoted steps (`hashes.'SHA-256'`) and list indexes (`[*]`) kept whole.
    fn path(&mut self) -> &'a str {
        self.ws();
        let rest = self.rest();
        let bytes = rest.as_bytes();
        // Every stop is at an ASCII byte, so `i` always ends on a char boundary.
        let mut i = 0;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'\'' | b'"' => i = rest[i + 1..].find(char::from(c)).map_or(rest.len(), |j| i + j + 2),
                b'[' => i = rest[i..].find(']').map_or(rest.len(), |j| i + j + 1),
                b'=' | b'!' | b'<' | b'>' | b']' | b'(' | b')' => break,
                c if c.is_ascii_whitespace() => break,
                _ => i += 1,
            }
        }
        self.pos += i;
        &rest[..i]
    }

    /// A comparison operator: symbols, or a keyword such as `MATCHES`.
    fn operator(&mut self) -> &'a str {
        self.ws();
        let rest = self.rest();
        let len = match rest.chars().next() {
            Some(c) if c.is_ascii_alphabetic() => rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len()),
            _ => rest.find(|c: char| !matches!(c, '=' | '!' | '<' | '>')).unwrap_or(rest.len()),
        };
        self.pos += len;
        &rest[..len]
    }

    /// A quoted string literal, `\'` and `\\` unescaped.
    fn string(&mut self) -> Result<String, String> {
        if !self.eat('\'') {
            return Err(self.unexpected("a quoted string"));
        }
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => out.push(e),
                    _ => return Err("bad escape in a string".to_owned()),
                },
                c => out.push(c),
            }
        }
        Err("unterminated string".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const H: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

    fn entries(p: &str) -> Vec<Indicator> {
        parse_pattern(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn net(s: &str, len: u8) -> Indicator {
        Indicator::Network(s.parse::<IpAddr>().unwrap(), len)
    }

    #[test]
    fn simple_patterns() {
        assert_eq!(entries("[ipv4-addr:value = '192.0.2.1']"), [net("192.0.2.1", 32)]);
        assert_eq!(entries("[ipv4-addr:value='198.51.100.0/24']"), [net("198.51.100.0", 24)]);
        assert_eq!(entries(" [ ipv6-addr:value = '2001:db8::/32' ] "), [net("2001:db8::", 32)]);
        assert_eq!(
            entries("[domain-name:value = 'Evil.Example']"),
            [Indicator::Domain("evil.example".into(), DomainMatch::Exact)]
        );
        for path in ["file:hashes.'SHA-256'", "file:hashes.SHA256", "file:hashes.\"SHA-256\"", "file:hashes.'sha256'"] {
            assert_eq!(entries(&format!("[{path} = '{H}']")), [Indicator::Sha256(H.into())], "{path}");
        }
    }

    #[test]
    fn or_joined_patterns() {
        let p =
            format!("[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.2'] OR [file:hashes.SHA256 = '{H}']");
        assert_eq!(entries(&p), [net("192.0.2.1", 32), net("192.0.2.2", 32), Indicator::Sha256(H.into())]);
        let p = "([domain-name:value = 'a.example'] OR ([domain-name:value = 'b.example']))";
        assert_eq!(entries(p).len(), 2);
        assert_eq!(entries("[(ipv4-addr:value = '192.0.2.1' or ipv4-addr:value = '192.0.2.2')]").len(), 2);
    }

    #[test]
    fn unsupported_patterns_say_why() {
        let why = |p: &str| parse_pattern(p).unwrap_err();
        assert_eq!(
            why("[ipv4-addr:value = '192.0.2.1' AND ipv4-addr:value = '192.0.2.2']"),
            "AND between comparisons is not supported (only OR)"
        );
        assert_eq!(
            why("[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'a.example']"),
            "AND between observations is not supported (only OR)"
        );
        assert!(
            why("[email-message:subject MATCHES '^x']")
                .starts_with(r#"object path "email-message:subject" is not supported"#)
        );
        assert!(
            why(r"[email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\.exe$']")
                .starts_with(r#"object path "email-message:body_multipart[*].body_raw_ref.name" is not supported"#)
        );
        assert_eq!(why("[ipv4-addr:value MATCHES '^192']"), "operator MATCHES is not supported (only =)");
        assert_eq!(why("[ipv4-addr:value != '192.0.2.1']"), "operator != is not supported (only =)");
        assert_eq!(why("[ipv4-addr:value IN ('192.0.2.1')]"), "operator IN is not supported (only =)");
        assert_eq!(
            why("[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']").split(" is not").next(),
            Some(r#"object path "file:hashes.MD5""#)
        );
        assert_eq!(
            why("[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [ipv4-addr:value = '192.0.2.2']"),
            "observation operator FOLLOWEDBY is not supported"
        );
        assert_eq!(why("[ipv4-addr:value = '192.0.2.1'] WITHIN 5 SECONDS"), "qualifier WITHIN is not supported");
        assert_eq!(why("[ipv4-addr:value = '2001:db8::1']"), r#""2001:db8::1" is not an IPv4 address or network"#);
        assert_eq!(why("[ipv4-addr:value = 42]"), "expected a quoted string at \"42]\"");
        assert_eq!(why("[ipv4-addr:value = '192.0.2.1'"), "missing ']'");
        assert_eq!(why("[ipv4-addr:value = '192.0.2.1"), "unterminated string");
        assert_eq!(why("([ipv4-addr:value = '192.0.2.1']"), "unbalanced parentheses");
        assert_eq!(why("[domain-name:value = '*.a.example']"), r#""*.a.example" is not a domain name"#);
        assert_eq!(why(""), "expected '[', found the end");
    }

    #[test]
    fn string_escapes() {
        let mut c = Cursor { s: r"'a\'b\\c' rest", pos: 0 };
        assert_eq!(c.string().unwrap(), r"a'b\c");
        assert_eq!(c.rest(), " rest");
    }
}
