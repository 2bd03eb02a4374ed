//! The connection to the server: TCP, then TLS that trusts exactly the
//! pinned certificate(s), then HTTP/2 for tonic.
//!
//! Pinning instead of a CA: the server's certificate is usually
//! self-signed (`saker up`, `saker server`), and agents reach it by
//! whatever address works, so neither a CA chain nor a host name check
//! would hold. The handshake still proves the server holds the pinned
//! certificate's key (signature checks are rustls's usual ones).
//!
//! Plain HTTP is only ever used towards loopback: the configuration refuses
//! anything else, and the connector checks the resolved addresses again.

use super::config::{ServerUrl, UplinkConfig};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// Accepts a server certificate only if it is byte for byte one of the
/// pinned ones.
#[derive(Debug)]
struct Pinned {
    certs: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls client configuration trusting only `pinned`, speaking h2.
pub fn pinned_client_config(pinned: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned { certs: pinned.to_vec(), algorithms: provider.signature_verification_algorithms });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// Why a connection could not be made.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// Connect to the server: a tonic channel over our own TCP (+ TLS).
pub async fn connect(cfg: &UplinkConfig) -> Result<Channel, ConnectError> {
    // tonic only sees plain HTTP/2 URIs: the TLS is ours (tonic's own would
    // insist on a CA), so the scheme here is always http.
    let endpoint = Endpoint::from_shared(format!("http://{}", cfg.url.authority()))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let url = cfg.url.clone();
    if url.tls {
        let tls = tokio_rustls::TlsConnector::from(pinned_client_config(&cfg.pinned)?);
        let name = ServerName::try_from(url.host.clone())?;
        let connector = tower::service_fn(move |_: Uri| {
            let (tls, name, url) = (tls.clone(), name.clone(), url.clone());
            async move {
                let tcp = tcp(&url).await?;
                let stream = tls.connect(name, tcp).await?;
                Ok::<_, ConnectError>(TokioIo::new(stream))
            }
        });
        Ok(endpoint.connect_with_connector(connector).await?)
    } else {
        let connector = tower::service_fn(move |_: Uri| {
            let url = url.clone();
            async move { Ok::<_, ConnectError>(TokioIo::new(tcp(&url).await?)) }
        });
        Ok(endpoint.connect_with_connector(connector).await?)
    }
}

async fn tcp(url: &ServerUrl) -> Result<tokio::net::TcpStream, ConnectError> {
    let addrs: Vec<_> = tokio::net::lookup_host(url.authority()).await?.collect();
    if !url.tls && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(format!("{url} resolves to a non-loopback address; plain http is refused").into());
    }
    let mut last: Option<std::io::Error> = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => format!("{} resolves to no address", url.host).into(),
    })
}
