//! The server's certificate: generated once (self-signed, for this host's
//! names and loopback addresses) and kept in the data directory, so agents
//! can pin it across restarts. An operator may replace the two files with a
//! certificate from their own CA.

use crate::ServerError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// PEM certificate and key, and where they are.
#[derive(Clone)]
pub struct TlsMaterial {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
}

/// Load `<dir>/server.crt` + `server.key`, generating them first if absent.
pub fn ensure_certificate(dir: &Path) -> Result<TlsMaterial, ServerError> {
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    if !cert_path.exists() || !key_path.exists() {
        generate(dir, &cert_path, &key_path)?;
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| ServerError::Io {
            what: "reading TLS material",
            path: p.to_owned(),
            source,
        })
    };
    Ok(TlsMaterial { cert_pem: read(&cert_path)?, key_pem: read(&key_path)?, cert_path })
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), ServerError> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| ServerError::Io { what, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() && h != "localhost" {
            names.push(h.to_owned());
        }
    }
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| ServerError::Certificate(e.to_string()))?;
    write_private(key_path, ck.signing_key.serialize_pem().as_bytes()).map_err(io("writing", key_path))?;
    std::fs::write(cert_path, ck.cert.pem()).map_err(io("writing", cert_path))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed server certificate");
    Ok(())
}

/// Write a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// A rustls server configuration for this material (HTTP/1.1 and h2).
pub fn rustls_server_config(m: &TlsMaterial) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes()).map_err(|e| ServerError::Tls(format!("key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
