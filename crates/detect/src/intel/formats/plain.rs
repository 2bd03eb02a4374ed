//! Plain-text lists: one entry per line — an IPv4/IPv6 address, a CIDR, a
//! domain (`example.com` exact, `*.example.com` subdomains only,
//! `.example.com` the name and its subdomains) or a SHA-256 in hex. `#` starts
//! a comment, on its own line or after an entry; blank lines are ignored.
//! This is also the format of the Tor bulk exit list and of most
//! one-indicator-per-line feeds.

use crate::intel::entry::{ListBuilder, parse_indicator};

pub(super) fn parse(b: &mut ListBuilder, text: &str) {
    for (i, line) in text.lines().enumerate() {
        // No entry kind contains '#', so everything after one is a comment.
        let entry = line.split_once('#').map_or(line, |(e, _)| e).trim();
        if entry.is_empty() {
            continue;
        }
        match parse_indicator(entry) {
            Ok(ind) => b.add(ind, None),
            Err(why) => b.skip_line(i + 1, why),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::intel::{DomainMatch, Format, ThreatCategory, parse_list};

    #[test]
    fn entries_comments_and_skips() {
        let text = "# a comment\n\
                    192.0.2.1\n\
                    \n\
                    198.51.100.0/24   # trailing comment\n\
                    2001:db8::/32\n\
                    *.Example.com\n\
                    .example.net.\n\
                    example.org\n\
                    999.1.1.1\n\
                    275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\r\n\
                    192.0.2.1\n\
                    just words\n";
        let l = parse_list("p", ThreatCategory::CommandAndControl, text, Format::Plain).unwrap();
        assert_eq!((l.stats.ips, l.stats.domains, l.stats.hashes, l.stats.skipped), (3, 3, 1, 2));
        assert_eq!(
            l.domains,
            [
                ("example.com".to_owned(), DomainMatch::Wildcard),
                ("example.net".to_owned(), DomainMatch::Suffix),
                ("example.org".to_owned(), DomainMatch::Exact)
            ]
        );
        assert_eq!(
            l.stats.messages,
            [
                r#"line 9: "999.1.1.1" is not an IP address, CIDR, domain or SHA-256"#,
                r#"line 12: "just words" is not an IP address, CIDR, domain or SHA-256"#
            ]
        );
    }
}
