//! The HTTP side: console + REST API + `/healthz` + `/metrics` on one port,
//! plain on loopback, TLS (the server certificate) off it.

use crate::app::App;
use crate::config::ServerConfig;
use crate::tls::{TlsMaterial, rustls_server_config};
use crate::{ServerError, api, console};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The process-wide metrics recorder (one per process, however many servers
/// a test starts).
fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

pub fn router(app: Arc<App>) -> Router {
    let _ = metrics_handle();
    Router::new()
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .route("/metrics", get(|| async { metrics_handle().map(|h| h.render()).unwrap_or_default() }))
        .merge(console::router())
        .merge(api::router())
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .with_state(app)
}

/// Bind and serve until `stop` turns true. Returns the bound address.
pub async fn serve(
    app: Arc<App>,
    config: &ServerConfig,
    tls: &TlsMaterial,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ServerError> {
    let listener =
        TcpListener::bind(config.listen).await.map_err(|source| ServerError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.listen, source })?;
    let router = router(app);
    let task = if config.http_tls() {
        let acceptor = tokio_rustls::TlsAcceptor::from(rustls_server_config(tls)?);
        tokio::spawn(serve_tls(listener, acceptor, router, stop))
    } else {
        let mut stop = stop;
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        })
    };
    Ok((addr, task))
}

/// Accept TLS connections; each handshake runs in its own task so a slow
/// client cannot hold up the others.
async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let svc = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await {
                tracing::debug!(%peer, error = %e, "connection");
            }
        });
    }
}
