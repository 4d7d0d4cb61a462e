//! One metrics server connection: HTTP/1 with a bounded request head, an idle timeout
//! on the socket, no request bodies, and an end on eviction or shutdown.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::connections::Slot;
use super::http::{HttpMetrics, Timeout};
use super::limits::ServerLimits;

/// When a byte last moved on a connection, in milliseconds since it was accepted.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// When the last byte moved.
    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A TCP stream that notes in [`Activity`] every read or write that moved a byte.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        res
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What a connection needs besides its socket.
pub(super) struct Setup {
    pub router: Router,
    pub limits: ServerLimits,
    pub metrics: HttpMetrics,
    /// Becomes `true` (or is dropped) when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// Why a connection ended, as far as the server is concerned.
enum End {
    /// The client closed it, a response said `Connection: close`, or an I/O error.
    Done,
    /// The connection table closed it for a newer one (counted when it was admitted).
    Evicted,
    /// A timeout closed it.
    TimedOut(Timeout),
}

/// Serves one accepted connection until it ends; dropping the future closes the socket.
pub(super) async fn serve(
    stream: TcpStream,
    slot: Slot,
    mut evicted: oneshot::Receiver<()>,
    mut setup: Setup,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        stream,
        activity: activity.clone(),
    });
    let slot = Arc::new(slot);
    let service = {
        let (slot, router) = (slot.clone(), setup.router.clone());
        service_fn(move |req| {
            let in_request = slot.request();
            let router = router.clone();
            async move {
                let response = respond(router, req).await;
                drop(in_request);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let limits = setup.limits;
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes)
        .max_header_size(limits.max_head_bytes)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let idle = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(idle);
    let mut draining = false;
    let end = loop {
        tokio::select! {
            res = conn.as_mut() => break match res {
                Err(err) if err.is_timeout() => End::TimedOut(Timeout::Header),
                _ => End::Done,
            },
            _ = &mut evicted => break End::Evicted,
            () = &mut idle => {
                let now = Instant::now();
                let quiet_until = activity.last() + limits.idle_timeout;
                if quiet_until > now {
                    idle.as_mut().reset(quiet_until);
                } else if slot.in_request() {
                    // The handler is working, not the client idling: look again later.
                    idle.as_mut().reset(now + limits.idle_timeout);
                } else {
                    break End::TimedOut(Timeout::Idle);
                }
            }
            // Idle keep-alive connections close now, requests in flight finish; the
            // server drops whatever is left after its grace period.
            _ = setup.shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    };
    match end {
        End::TimedOut(t) => setup.metrics.timed_out(t),
        End::Done | End::Evicted => {}
    }
}

/// Answers one request: bodies are refused, everything else goes to the routes.
async fn respond(router: Router, req: Request<Incoming>) -> Response {
    if declares_body(req.headers()) {
        // No route reads a body; closing the connection spares reading it.
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            "no request body is accepted\n",
        )
            .into_response();
    }
    match router.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Whether a request announces a body: any transfer coding, or a non-zero length.
fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_declared_by_a_length_above_zero_or_a_transfer_coding() {
        let with = |name: header::HeaderName, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            declares_body(&h)
        };
        assert!(!declares_body(&HeaderMap::new()));
        assert!(!with(header::CONTENT_LENGTH, "0"));
        assert!(with(header::CONTENT_LENGTH, "1"));
        assert!(with(header::TRANSFER_ENCODING, "chunked"));
    }
}
