//! The Tor Project's exit lists, in both published shapes:
//!
//! - `exit-addresses` (TorDNSEL): records of `ExitNode <fingerprint>`,
//!   `Published <date time>`, `LastStatus <date time>` and one or more
//!   `ExitAddress <ip> <date time>` lines. Only the addresses matter here; a
//!   relay's fingerprint is not what a connection shows. Archived copies
//!   start with `@type tordnsel 1.0` and `Downloaded <date time>`.
//! - the bulk exit list: one address per line (plain text, also accepted here
//!   so that `--format tor-exit` works for either download).

use crate::intel::entry::{Indicator, ListBuilder, canonical_network, quoted};
use std::net::IpAddr;

pub(super) fn parse(b: &mut ListBuilder, text: &str) {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match keyword {
            "ExitNode" | "Published" | "LastStatus" | "Downloaded" => {}
            "ExitAddress" => {
                let addr = rest.split_whitespace().next().unwrap_or("");
                match addr.parse::<IpAddr>() {
                    Ok(ip) => add(b, ip),
                    Err(_) => b.skip_line(i + 1, format_args!("ExitAddress {} is not an IP address", quoted(addr))),
                }
            }
            // A bulk-list line, or something else.
            _ => match keyword.parse::<IpAddr>() {
                Ok(ip) if rest.is_empty() => add(b, ip),
                _ => b.skip_line(i + 1, format_args!("{} is not an exit-list record or an IP address", quoted(line))),
            },
        }
    }
}

fn add(b: &mut ListBuilder, ip: IpAddr) {
    let (ip, len) = canonical_network(ip, if ip.is_ipv4() { 32 } else { 128 });
    b.add(Indicator::Network(ip, len), None);
}

#[cfg(test)]
mod tests {
    use crate::intel::{Format, ThreatCategory, parse_list};

    #[test]
    fn exit_addresses_records() {
        let text = "ExitNode 0123456789ABCDEF0123456789ABCDEF01234567\n\
                    Published 2024-03-11 13:07:19\n\
                    LastStatus 2024-03-12 08:00:00\n\
                    ExitAddress 192.0.2.10 2024-03-12 08:10:51\n\
                    ExitAddress 2001:db8::10 2024-03-12 08:10:51\n\
                    ExitNode 89ABCDEF0123456789ABCDEF0123456789ABCDEF\n\
                    Published 2024-03-11 13:07:19\n\
                    LastStatus 2024-03-12 08:00:00\n\
                    ExitAddress 192.0.2.10 2024-03-12 09:00:00\n\
                    ExitAddress 192.0.2.300 2024-03-12 09:00:00\n\
                    Contact someone\n";
        let l = parse_list("tor", ThreatCategory::TorRelay, text, Format::TorExit).unwrap();
        // The shared address counts once.
        assert_eq!((l.stats.ips, l.stats.skipped), (2, 2));
        assert_eq!(
            l.stats.messages,
            [
                r#"line 10: ExitAddress "192.0.2.300" is not an IP address"#,
                r#"line 11: "Contact someone" is not an exit-list record or an IP address"#
            ]
        );
    }

    #[test]
    fn bulk_list_through_the_tor_format() {
        let l = parse_list("tor", ThreatCategory::TorRelay, "192.0.2.1\n192.0.2.2\n\n2001:db8::1\n", Format::TorExit)
            .unwrap();
        assert_eq!((l.stats.ips, l.stats.skipped), (3, 0));
    }
}
