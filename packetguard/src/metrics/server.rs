//! The HTTP side of the metrics: `/metrics`, `/healthz` and a small index page.
//!
//! Binding is a separate step from serving so that `packetguard run` can fail on a busy
//! port with a clear message before it attaches anything to the interface.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use super::{Metrics, MetricsError};

/// Where the agent listens unless told otherwise: loopback only, so metrics are not
/// exposed to the network by accident. Port 9617 is the one the shipped Prometheus
/// configuration (`deploy/prometheus/prometheus.yml`) scrapes.
pub const DEFAULT_METRICS_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9617);

/// Content type of the text exposition format served on `/metrics`.
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const INDEX: &str = "<!doctype html>\n<html><head><title>PacketGuard</title></head>\n\
<body><h1>PacketGuard</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

/// Binds the metrics address; a port in use is reported as [`MetricsError::AddrInUse`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => MetricsError::AddrInUse { addr },
            _ => MetricsError::Bind { addr, source },
        })
}

/// The routes, for embedding in another server or for tests.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

/// Serves until `shutdown` completes, then finishes in-flight requests and returns.
pub async fn serve<F>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: F,
) -> Result<(), MetricsError>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| MetricsError::Serve { source })
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], text).into_response(),
        Err(err) => {
            tracing::error!(cause = %err, "cannot render metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response()
        }
    }
}
