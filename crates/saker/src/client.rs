//! The CLI's client of a Saker server's REST API (`saker findings list`,
//! `saker coverage`, `saker lists`): where the server is, the token, and
//! the server's certificate when it is self-signed.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct ClientOpts {
    /// The server's console/API URL.
    #[arg(long, env = "SAKER_SERVER", default_value = "http://127.0.0.1:8650")]
    pub server: String,
    /// An API token (`sk_api_…`; `saker up` prints one).
    #[arg(long, env = "SAKER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Trust this certificate (PEM) for an https server — a self-signed
    /// server's `tls/server.crt`.
    #[arg(long, env = "SAKER_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
}

pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(o: &ClientOpts) -> Result<Client> {
        let Some(token) = o.token.clone() else {
            bail!("no token: pass --token or set SAKER_TOKEN (saker up prints one)");
        };
        let mut b = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(30));
        if let Some(p) = &o.ca_cert {
            let pem = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", p.display()))?;
            b = b.add_root_certificate(cert);
        }
        Ok(Client { http: b.build()?, base: o.server.trim_end_matches('/').to_owned(), token })
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<Value> {
        let resp = req.bearer_auth(&self.token).send().with_context(|| format!("contacting {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("no error message");
            bail!("server answered {status}: {}", printable(msg));
        }
        Ok(body)
    }
}

/// Text from a finding made safe for a terminal: control characters
/// (escape sequences an attacker planted in a path or argv) shown escaped.
pub fn printable(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::printable("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\\nc");
    }
}
