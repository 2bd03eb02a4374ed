//! The `[exports]` configuration: the documented sample (in src/config.rs's
//! module docs) parses, validates and builds; mistakes are clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use saker_export::config::{Destination, JsonFormat, Transport};
use saker_export::{Exporter, ExportsConfig, SystemClock, UpdateInterval};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    exports: ExportsConfig,
}

fn parse(toml_text: &str) -> Result<ExportsConfig, String> {
    toml::from_str::<File>(toml_text).map(|f| f.exports).map_err(|e| e.to_string())
}

/// The ```toml block of src/config.rs's module docs.
fn documented_sample() -> String {
    let src = include_str!("../src/config.rs");
    src.lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| *l != "```toml")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_sample_parses_validates_and_builds() {
    let cfg = parse(&documented_sample()).unwrap();
    assert_eq!(cfg.update_interval, UpdateInterval::FifteenMinutes);
    assert_eq!(cfg.destinations.len(), 3);
    match &cfg.destinations[1] {
        Destination::Files(f) => assert_eq!((f.format, f.prefix.as_str()), (JsonFormat::Ocsf, "saker")),
        other => panic!("{other:?}"),
    }
    match &cfg.destinations[2] {
        Destination::Syslog(s) => assert_eq!(s.transport, Transport::Tcp),
        other => panic!("{other:?}"),
    }
    cfg.validate().unwrap();
    let data = tempfile::tempdir().unwrap();
    Exporter::from_config(&cfg, &support::ctx(), data.path(), Arc::new(SystemClock)).unwrap();
    // A relative files root lands in the data directory.
    assert!(data.path().join("exports/saker").is_dir());
}

#[test]
fn defaults_and_intervals() {
    let cfg = parse("[exports]\n").unwrap();
    assert_eq!(cfg, ExportsConfig::default());
    for (text, want) in [("ONE_HOUR", UpdateInterval::OneHour), ("SIX_HOURS", UpdateInterval::SixHours)] {
        assert_eq!(parse(&format!("[exports]\nupdate_interval = \"{text}\"\n")).unwrap().update_interval, want);
    }
}

#[test]
fn mistakes_are_errors() {
    let webhook = |extra: &str| {
        format!(
            "[exports]\n[[exports.destinations]]\nkind = \"webhook\"\nname = \"w\"\nurl = \"http://127.0.0.1:9/h\"\nsecret = \"0123456789abcdef\"\n{extra}"
        )
    };
    // Rejected while parsing.
    for (what, text) in [
        ("unknown field", webhook("colour = \"red\"\n")),
        ("unknown kind", "[exports]\n[[exports.destinations]]\nkind = \"s3\"\nname = \"x\"\n".to_owned()),
        ("unknown interval", "[exports]\nupdate_interval = \"DAILY\"\n".to_owned()),
        ("webhook format other than eventbridge", webhook("format = \"asff\"\n")),
        (
            "files format unknown",
            "[exports]\n[[exports.destinations]]\nkind = \"files\"\nname = \"f\"\nroot = \"/x\"\nformat = \"csv\"\n"
                .to_owned(),
        ),
    ] {
        assert!(parse(&text).is_err(), "{what} parsed");
    }
    // Rejected by validate().
    let files = |name: &str, prefix: &str| {
        format!(
            "[[exports.destinations]]\nkind = \"files\"\nname = \"{name}\"\nroot = \"/tmp/x\"\nprefix = \"{prefix}\"\n"
        )
    };
    for (what, text, needle) in [
        ("duplicate names", format!("{}{}", webhook(""), files("w", "saker")), "two destinations"),
        ("prefix escaping the root", format!("[exports]\n{}", files("f", "../etc")), "prefix"),
        ("absolute prefix", format!("[exports]\n{}", files("f", "/etc")), "prefix"),
        ("ftp url", webhook("").replace("http://", "ftp://"), "http"),
        ("short secret", webhook("").replace("0123456789abcdef", "short"), "secret"),
        ("name with a space", webhook("").replace("name = \"w\"", "name = \"w x\""), "name"),
        (
            "syslog address without port",
            "[exports]\n[[exports.destinations]]\nkind = \"syslog\"\nname = \"s\"\naddress = \"localhost\"\n"
                .to_owned(),
            "host:port",
        ),
    ] {
        let cfg = parse(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        let err = cfg.validate().expect_err(what).to_string();
        assert!(err.contains(needle), "{what}: {err}");
    }
}

#[test]
fn secrets_do_not_show() {
    let cfg = parse(&documented_sample()).unwrap();
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("change-me"), "{shown}");
    assert!(shown.contains("<redacted>"));
}
