//! Which lists to load: [`ListSpec`], parsed from the command line's
//! `--threat-list NAME=CATEGORY:PATH` (or built from configuration), and
//! [`load_list`], which reads one. This is the only file of `intel/` that
//! touches the file system; it runs at start-up and on reload, never per event.

use super::formats::{Format, parse_list};
use super::{IntelError, ThreatCategory, ThreatList};
use std::path::PathBuf;

/// One list to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    /// Reported as the finding's threat list name.
    pub name: String,
    pub category: ThreatCategory,
    pub path: PathBuf,
    pub format: Format,
}

impl ListSpec {
    /// Parse `NAME=CATEGORY:PATH` (format detected from the content). The
    /// path is everything after the first `:` following the `=`, so it may
    /// itself contain `:` or `=`.
    pub fn parse(spec: &str) -> Result<ListSpec, IntelError> {
        let err = |message: String| IntelError::Spec { spec: spec.to_owned(), message };
        let Some((name, rest)) = spec.split_once('=') else {
            return Err(err("expected NAME=CATEGORY:PATH, e.g. feodo=c2:/etc/saker/feodo.csv".to_owned()));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(err("the list name before '=' is empty".to_owned()));
        }
        // Names end up in findings and logs: printable text only.
        if name.chars().any(char::is_control) {
            return Err(err("the list name contains control characters".to_owned()));
        }
        let Some((category, path)) = rest.split_once(':') else {
            return Err(err(format!(
                "expected CATEGORY:PATH after '='; categories: {}",
                ThreatCategory::known_names()
            )));
        };
        let category = category.trim();
        if category.is_empty() {
            return Err(err(format!(
                "the category before ':' is empty; categories: {}",
                ThreatCategory::known_names()
            )));
        }
        let Ok(category) = category.parse::<ThreatCategory>() else {
            return Err(err(format!("unknown category {category:?}; categories: {}", ThreatCategory::known_names())));
        };
        if path.trim().is_empty() {
            return Err(err("the path after ':' is empty".to_owned()));
        }
        Ok(ListSpec { name: name.to_owned(), category, path: PathBuf::from(path), format: Format::Auto })
    }

    /// A trusted list at `path`, named after its file. Trusted entries are
    /// never reported whatever category a list says, so the category here is
    /// only a placeholder.
    pub fn trusted(path: impl Into<PathBuf>) -> ListSpec {
        let path = path.into();
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        ListSpec { name, category: ThreatCategory::SuspiciousDomain, path, format: Format::Auto }
    }

    /// The same spec with an explicit format instead of detection.
    pub fn with_format(mut self, format: Format) -> ListSpec {
        self.format = format;
        self
    }
}

/// Read and parse the list `spec` names. A file that cannot be read is
/// [`IntelError::Read`] with its path; bytes that are not UTF-8 are replaced
/// (they can only spoil the entry they are in, which then fails validation).
pub fn load_list(spec: &ListSpec) -> Result<ThreatList, IntelError> {
    let bytes = std::fs::read(&spec.path).map_err(|source| IntelError::Read { path: spec.path.clone(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let list = parse_list(&spec.name, spec.category, &text, spec.format)?;
    tracing::debug!(
        list = %spec.name,
        path = %spec.path.display(),
        ips = list.stats.ips,
        domains = list.stats.domains,
        hashes = list.stats.hashes,
        skipped = list.stats.skipped,
        "threat list parsed"
    );
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(spec: &str) -> String {
        ListSpec::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn parses_name_category_path() {
        let s = ListSpec::parse("feodo=c2:/etc/saker/feodo:2024=x.csv").unwrap();
        assert_eq!(s.name, "feodo");
        assert_eq!(s.category, ThreatCategory::CommandAndControl);
        assert_eq!(s.path, PathBuf::from("/etc/saker/feodo:2024=x.csv"));
        assert_eq!(s.format, Format::Auto);
        let s = ListSpec::parse(" tor exits = tor-relay:relative/path.txt").unwrap();
        assert_eq!((s.name.as_str(), s.category), ("tor exits", ThreatCategory::TorRelay));
        assert_eq!(s.with_format(Format::TorExit).format, Format::TorExit);
    }

    #[test]
    fn each_malformed_shape_says_what_is_wrong() {
        assert!(err("feodo").contains("expected NAME=CATEGORY:PATH"));
        assert!(err("=c2:/x").contains("list name before '=' is empty"));
        assert!(err("a\u{7}b=c2:/x").contains("control characters"));
        assert!(err("feodo=/x").contains("expected CATEGORY:PATH after '='"));
        assert!(err("feodo=:/x").contains("category before ':' is empty"));
        assert!(err("feodo=c2:").contains("path after ':' is empty"));
        let e = err("feodo=c3:/x");
        assert!(
            e.starts_with(r#"invalid threat list "feodo=c3:/x": unknown category "c3"; categories: c2, crypto, "#),
            "{e}"
        );
        assert!(e.ends_with("suspicious-domain"), "{e}");
    }

    #[test]
    fn trusted_lists_are_named_after_their_file() {
        let s = ListSpec::trusted("/etc/saker/trusted-ips.txt");
        assert_eq!(s.name, "trusted-ips.txt");
        assert_eq!(ListSpec::trusted("/").name, "/");
    }

    #[test]
    fn missing_file_is_a_read_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.txt");
        let e = load_list(&ListSpec::trusted(&path)).unwrap_err();
        assert!(matches!(&e, IntelError::Read { path: p, .. } if *p == path), "{e:?}");
        assert!(e.to_string().contains("absent.txt"));
    }
}
