//! The `[server]` section of the agent's configuration file: where the
//! Saker server is, how the agent proves who it is, where it spools.
//!
//! Raw (serde, unknown fields rejected) → validated [`UplinkConfig`]: the
//! token and the pinned certificate are read here, so a mistake is a
//! start-up error with the path in it, not a retry loop later.

use super::spool::SpoolConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The server's gRPC port when the URL names none.
pub const DEFAULT_PORT: u16 = 8651;

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// `https://HOST:PORT` (port 8651 when absent). Plain `http://` only to a
    /// loopback address (`127.0.0.1`, `[::1]`, `localhost`): it would carry
    /// the token in the clear.
    pub url: String,
    /// The agent token (`sk_agent_…`, from `saker server enroll`). Prefer
    /// `token_file`: a config file is often world-readable.
    #[serde(default)]
    pub token: Option<String>,
    /// A file holding the agent token (surrounding whitespace ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The server's certificate (PEM). The agent trusts exactly this
    /// certificate and no other — no CA, no host name check — so a
    /// self-signed server certificate works at any address. Required with
    /// `https://`.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// The agent's state: its id (`agent-id`), and the spool by default.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Findings wait here until the server has them (default
    /// `<data_dir>/spool`).
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// The spool's size limit in bytes (default 256 MiB). When full, the
    /// oldest telemetry goes first, then low-severity findings, then medium,
    /// then the oldest of any; each drop is counted in `agent.loss`.
    #[serde(default)]
    pub spool_max_bytes: Option<u64>,
    /// Seconds between heartbeats (default 10).
    #[serde(default)]
    pub heartbeat_secs: Option<u64>,
    /// Send every event to the server as well as findings (default false).
    #[serde(default)]
    pub send_telemetry: bool,
    /// Host mode on an ECS container instance: the ECS container agent's
    /// introspection API, which names the instance's ECS cluster for
    /// heartbeats (coverage per cluster, excluded clusters). Default
    /// `http://127.0.0.1:51678/v1/metadata`; `http://<ip>[:port]/path` (an
    /// address, not a host name); `""` turns it off. Nothing listening there
    /// means "not an ECS container instance" (asked again every 5 minutes).
    #[serde(default)]
    pub ecs_agent_introspection_url: Option<String>,
}

/// The default agent state directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/saker/agent";

/// Where the server is.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub tls: bool,
    /// A name or an address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl ServerUrl {
    /// Parse `https://host[:port]` or `http://loopback[:port]`.
    pub fn parse(url: &str) -> Result<ServerUrl, String> {
        let uri: tonic::transport::Uri =
            url.parse().map_err(|e| format!("url {url:?} is not a URL ({e}); expected https://HOST:PORT"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("url {url:?}: the scheme must be https:// (or http:// to a loopback address)")),
        };
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty()) {
            return Err(format!("url {url:?}: no path expected, only https://HOST:PORT"));
        }
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(format!("url {url:?} names no host"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let url = ServerUrl { tls, port: uri.port_u16().unwrap_or(DEFAULT_PORT), host };
        if !url.tls && !url.is_loopback() {
            return Err(format!(
                "url {:?}: plain http:// is only allowed to a loopback address (it would send the token in the \
                 clear); use https:// with ca_cert",
                url.to_string()
            ));
        }
        Ok(url)
    }

    /// `localhost`, or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost") || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// `host:port` (IPv6 in brackets), as a socket address string.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", if self.tls { "https" } else { "http" }, self.authority())
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The agent token; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token as given (checked: printable ASCII, as an HTTP header needs).
    pub fn new(token: &str) -> Result<Token, String> {
        let t = token.trim();
        if t.is_empty() {
            return Err("the token is empty".into());
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token contains characters a token cannot have".into());
        }
        if !t.starts_with("sk_agent_") {
            return Err("this is not an agent token (expected sk_agent_…; an API token cannot ingest)".into());
        }
        Ok(Token(t.to_owned()))
    }

    /// The token itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Everything the uplink needs, validated.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    pub url: ServerUrl,
    pub token: Token,
    /// The certificates the server may present (exact match, DER). Empty
    /// only with plain http to loopback.
    pub pinned: Vec<CertificateDer<'static>>,
    pub data_dir: PathBuf,
    pub spool: SpoolConfig,
    pub heartbeat: Duration,
    pub send_telemetry: bool,
    /// The agent shares its process with the server (`saker up`): its
    /// heartbeats say mode `embedded`, and their CPU and memory figures are
    /// the whole process's, so the server does not judge them as the agent's.
    pub embedded: bool,
    /// Reconnect delays: doubling from `initial` up to `max`, with jitter.
    /// A refused token waits `max` straight away.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A connection with batches in flight and no acknowledgement for this
    /// long is considered dead.
    pub ack_timeout: Duration,
    /// On stop: how long to keep sending what is spooled, and the last
    /// heartbeat.
    pub shutdown_grace: Duration,
    /// Host mode: where to ask the ECS container agent for this instance's
    /// cluster (`None`: do not ask).
    pub ecs_agent_introspection_url: Option<String>,
}

impl UplinkConfig {
    /// A configuration from values (the CLI, `saker up`, tests): `cert_pem`
    /// is the pinned server certificate, required for https.
    pub fn new(url: &str, token: &str, cert_pem: Option<&[u8]>, data_dir: impl Into<PathBuf>) -> Result<Self, String> {
        let url = ServerUrl::parse(url)?;
        let token = Token::new(token).map_err(|e| format!("token: {e}"))?;
        let pinned = match cert_pem {
            Some(pem) => parse_pem(pem).map_err(|e| format!("ca_cert: {e}"))?,
            None => Vec::new(),
        };
        if url.tls && pinned.is_empty() {
            return Err(format!("{url} needs the server's certificate to pin (ca_cert)"));
        }
        let data_dir = data_dir.into();
        Ok(UplinkConfig {
            url,
            token,
            pinned,
            spool: SpoolConfig::new(data_dir.join("spool")),
            data_dir,
            heartbeat: Duration::from_secs(10),
            send_telemetry: false,
            embedded: false,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            ack_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            ecs_agent_introspection_url: Some(super::heartbeat::DEFAULT_ECS_AGENT_INTROSPECTION_URL.to_owned()),
        })
    }

    /// Validate a `[server]` section; relative paths are taken from the
    /// working directory.
    pub fn from_section(s: &ServerSection) -> Result<Self, String> {
        let token = match (&s.token, &s.token_file) {
            (Some(t), None) => t.clone(),
            (None, Some(path)) => read_text(path, "token_file")?,
            (Some(_), Some(_)) => return Err("server: give token or token_file, not both".into()),
            (None, None) => return Err("server: token_file (or token) is required".into()),
        };
        let pem = s.ca_cert.as_ref().map(|p| read_text(p, "ca_cert")).transpose()?;
        let data_dir = s.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let mut cfg = UplinkConfig::new(&s.url, &token, pem.as_deref().map(str::as_bytes), data_dir)
            .map_err(|e| format!("server.{e}"))?;
        if let Some(dir) = &s.spool_dir {
            cfg.spool.dir = dir.clone();
        }
        if let Some(max) = s.spool_max_bytes {
            if max < 1 << 20 {
                return Err(format!("server.spool_max_bytes {max} is below the minimum of 1 MiB"));
            }
            cfg.spool.max_bytes = max;
        }
        if let Some(secs) = s.heartbeat_secs {
            if !(1..=3600).contains(&secs) {
                return Err(format!("server.heartbeat_secs {secs} must be between 1 and 3600"));
            }
            cfg.heartbeat = Duration::from_secs(secs);
        }
        cfg.send_telemetry = s.send_telemetry;
        match s.ecs_agent_introspection_url.as_deref().map(str::trim) {
            None => {}
            Some("") => cfg.ecs_agent_introspection_url = None,
            Some(url) => {
                // A typo is a start-up error, not a question that never
                // gets an answer.
                saker_workload::http::Url::parse(url)
                    .map_err(|e| format!("server.ecs_agent_introspection_url: {e}"))?;
                cfg.ecs_agent_introspection_url = Some(url.to_owned());
            }
        }
        Ok(cfg)
    }
}

fn read_text(path: &Path, field: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("server.{field} {}: {e}", path.display()))
}

/// Every certificate in a PEM text.
fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) found".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "sk_agent_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";

    #[test]
    fn urls() {
        let u = ServerUrl::parse("https://saker.example:9000").unwrap();
        assert!(u.tls && u.host == "saker.example" && u.port == 9000);
        assert_eq!(ServerUrl::parse("https://10.0.0.1").unwrap().port, DEFAULT_PORT);
        let u = ServerUrl::parse("http://[::1]:8651").unwrap();
        assert_eq!((u.host.as_str(), u.authority().as_str()), ("::1", "[::1]:8651"));
        assert!(ServerUrl::parse("http://127.0.0.1:8651/").is_ok());
        assert!(ServerUrl::parse("http://localhost:8651").is_ok());
        let e = ServerUrl::parse("http://10.1.2.3:8651").unwrap_err();
        assert!(e.contains("only allowed to a loopback address"), "{e}");
        let e = ServerUrl::parse("http://saker.example:8651").unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(ServerUrl::parse("ftp://x").unwrap_err().contains("scheme"));
        assert!(ServerUrl::parse("https://x:1/api").unwrap_err().contains("no path"));
        assert!(ServerUrl::parse("not a url").is_err());
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let t = Token::new(&format!("  {TOKEN}\n")).unwrap();
        assert_eq!(t.expose(), TOKEN);
        assert!(!format!("{t:?}").contains("sk_agent"));
        assert!(Token::new("sk_api_0123456789abcdef_x").unwrap_err().contains("not an agent token"));
        assert!(Token::new("").is_err());
        assert!(Token::new("sk_agent_a\u{7f}b").is_err());
    }

    #[test]
    fn sections_validate_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("token");
        std::fs::write(&tf, format!("{TOKEN}\n")).unwrap();
        let s = ServerSection {
            url: "http://127.0.0.1:1".into(),
            token_file: Some(tf.clone()),
            data_dir: Some(dir.path().into()),
            spool_max_bytes: Some(2 << 20),
            heartbeat_secs: Some(3),
            ..ServerSection::default()
        };
        let c = UplinkConfig::from_section(&s).unwrap();
        assert_eq!(c.spool.dir, dir.path().join("spool"));
        assert_eq!((c.spool.max_bytes, c.heartbeat.as_secs()), (2 << 20, 3));
        assert_eq!(c.ecs_agent_introspection_url.as_deref(), Some("http://127.0.0.1:51678/v1/metadata"));
        let with_url = |url: &str| ServerSection {
            url: "http://127.0.0.1:1".into(),
            token: Some(TOKEN.into()),
            ecs_agent_introspection_url: Some(url.into()),
            ..ServerSection::default()
        };
        let c = UplinkConfig::from_section(&with_url("http://169.254.1.1:51678/v1/metadata")).unwrap();
        assert_eq!(c.ecs_agent_introspection_url.as_deref(), Some("http://169.254.1.1:51678/v1/metadata"));
        assert_eq!(UplinkConfig::from_section(&with_url("")).unwrap().ecs_agent_introspection_url, None, "off");
        let e = UplinkConfig::from_section(&with_url("http://localhost:51678/v1/metadata")).unwrap_err();
        assert!(e.contains("server.ecs_agent_introspection_url") && e.contains("unsupported URL"), "{e}");
        let err = |s: ServerSection| UplinkConfig::from_section(&s).unwrap_err();
        let e = err(ServerSection { url: "https://h:1".into(), token: Some(TOKEN.into()), ..ServerSection::default() });
        assert!(e.contains("certificate to pin"), "{e}");
        let e = err(ServerSection {
            url: "https://h:1".into(),
            token: Some(TOKEN.into()),
            ca_cert: Some(dir.path().join("absent.pem")),
            ..ServerSection::default()
        });
        assert!(e.contains("server.ca_cert") && e.contains("absent.pem"), "{e}");
        let e = err(ServerSection {
            url: "https://h:1".into(),
            token: Some(TOKEN.into()),
            ca_cert: Some(tf.clone()),
            ..ServerSection::default()
        });
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = err(ServerSection { url: "http://127.0.0.1".into(), ..ServerSection::default() });
        assert!(e.contains("token_file"), "{e}");
        let e = err(ServerSection {
            url: "http://127.0.0.1".into(),
            token: Some(TOKEN.into()),
            token_file: Some(tf),
            ..ServerSection::default()
        });
        assert!(e.contains("not both"), "{e}");
        let e = err(ServerSection {
            url: "http://192.0.2.7:8651".into(),
            token: Some(TOKEN.into()),
            ..ServerSection::default()
        });
        assert!(e.contains("loopback"), "{e}");
    }
}
