//! The HTTP side of the metrics: `/metrics`, `/healthz` and a small index page.
//!
//! Binding is a separate step from serving so that `packetguard run` can fail on a busy
//! port with a clear message before it attaches anything to the interface.
//!
//! The server accepts connections itself rather than through `axum::serve`, because it
//! bounds what clients can hold ([`ServerLimits`]): how many connections, how long each
//! may stay silent or take over a request head, how large a head may be, and how long
//! shutdown waits for them. Each connection is one task ([`super::connection`]); the
//! table that enforces the limit is [`super::connections`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connection::{self, Setup};
use super::connections::{Admission, Connections};
use super::limits::ServerLimits;
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

/// Connections the kernel completes and queues for `accept` before it drops new ones
/// (capped by `net.core.somaxconn`). The usual 128 overflows when a burst of connections
/// arrives between two turns of the accept loop, and a dropped handshake costs the client
/// a one-second retransmission, a scraper included.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds the metrics address; a port in use is reported as [`MetricsError::AddrInUse`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    let err = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AddrInUse => MetricsError::AddrInUse { addr },
        _ => MetricsError::Bind { addr, source },
    };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(err)?;
    // As std and tokio do: a restarted agent can bind while old connections linger.
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)
}

/// The routes, for embedding in another server or for tests: `/metrics`, `/healthz` and a
/// small index page at `/`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    router_with_ui(metrics, None)
}

/// The routes with the live page and its API ([`crate::ui`]) at `/` and `/api/...` when
/// `ui` is given, else with the small index page: `/metrics` and `/healthz` either way.
pub fn router_with_ui(metrics: Arc<Metrics>, ui: Option<crate::ui::SharedState>) -> Router {
    let base = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(scrape))
        .with_state(metrics);
    match ui {
        Some(state) => base.merge(crate::ui::api::routes(state)),
        None => base.merge(Router::new().route("/", get(|| async { Html(INDEX) }))),
    }
}

/// Serves with [`ServerLimits::default`] until `shutdown` completes; see [`serve_with`].
pub async fn serve<F>(listener: TcpListener, metrics: Arc<Metrics>, shutdown: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, metrics, ServerLimits::default(), shutdown).await
}

/// Serves until `shutdown` completes. Then it stops accepting, lets requests in flight
/// finish for at most `limits.shutdown_grace`, drops every connection still open and
/// returns: open connections never hold up the caller.
///
/// Errors of one connection end that connection only; a failing `accept` (for example
/// out of file descriptors) is logged and retried after a short pause.
pub async fn serve_with<F>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: ServerLimits,
    shutdown: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let routes = router(metrics.clone());
    serve_routes(listener, metrics, routes, limits, shutdown).await
}

/// [`serve_with`] serving `router` (for example [`router_with_ui`]) under the same limits,
/// counting its connections in `metrics`.
pub async fn serve_routes<F>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    router: Router,
    limits: ServerLimits,
    shutdown: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let http = metrics.http().clone();
    http.limit.set(limits.max_connections as i64);
    let table = Connections::new(limits.max_connections, http.open.clone());
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(err) => {
                        if !is_connection_error(&err) {
                            tracing::warn!(cause = %err, "metrics server cannot accept; retrying shortly");
                            tokio::time::sleep(ACCEPT_RETRY).await;
                        }
                        continue;
                    }
                };
                http.accepted.inc();
                match table.admit(std::time::Instant::now()) {
                    // Dropping the stream closes it at once.
                    Admission::Full => http.rejected.inc(),
                    Admission::Admitted { slot, close, evicted } => {
                        if evicted {
                            http.rejected.inc();
                        }
                        // Responses are one write each; do not hold them back.
                        let _ = stream.set_nodelay(true);
                        let setup = Setup {
                            router: router.clone(),
                            limits,
                            metrics: http.clone(),
                            shutdown: stopping.clone(),
                        };
                        tasks.spawn(connection::serve(stream, slot, close, setup));
                    }
                }
            }
            // Reap finished connections so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // New connection attempts are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            connections = tasks.len(),
            grace = ?limits.shutdown_grace,
            "metrics server: dropping connections still open after the grace period"
        );
        tasks.shutdown().await;
    }
}

/// Pause after an `accept` failure that is not the client's doing (no file descriptors,
/// no memory), so the loop does not spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Errors of one incoming connection (reset or aborted before it was accepted): the next
/// `accept` can go ahead at once.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
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
