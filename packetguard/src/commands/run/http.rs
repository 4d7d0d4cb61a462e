//! The metrics HTTP server on a thread and runtime of its own.
//!
//! The drain loop can be busy for a whole second under a flood (thousands of windows to
//! close and score, a flow table to walk); a server sharing its thread would answer
//! scrapes only between those steps, and Prometheus would see gaps exactly when the
//! numbers matter. On its own thread `/metrics` answers whatever the loop is doing, and a
//! slow client can only hold up that thread.

use std::{
    sync::{mpsc, Arc},
    time::Duration,
};

use anyhow::{Context, Result};
use tokio::{net::TcpListener, sync::oneshot};
use tracing::{error, warn};

use crate::metrics::{self, Metrics};

/// The running server thread.
pub struct HttpThread {
    stop: Option<oneshot::Sender<()>>,
    done: mpsc::Receiver<()>,
}

/// Starts serving `listener` (bound on the caller's runtime) on a new thread.
/// `ui` adds the live page and its API to the routes.
pub fn start(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ui: Option<crate::ui::SharedState>,
) -> Result<HttpThread> {
    let listener = listener
        .into_std()
        .context("handing the metrics socket to its thread")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (done_tx, done) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("packetguard-http".into())
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the metrics server's runtime")
                .and_then(|rt| {
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(listener)?;
                        let routes = metrics::router_with_ui(metrics.clone(), ui);
                        let limits = metrics::ServerLimits::default();
                        metrics::serve_routes(listener, metrics, routes, limits, async {
                            let _ = stopped.await;
                        })
                        .await;
                        anyhow::Ok(())
                    })
                });
            if let Err(e) = served {
                error!(cause = %format!("{e:#}"), "the metrics server stopped");
            }
            let _ = done_tx.send(());
        })
        .context("starting the metrics server thread")?;
    Ok(HttpThread {
        stop: Some(stop),
        done,
    })
}

impl HttpThread {
    /// Asks the server to stop and waits at most `wait` for it; connections still open
    /// after that do not hold up the agent's exit.
    pub fn stop(mut self, wait: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if self.done.recv_timeout(wait).is_err() {
            warn!("the metrics server did not stop within {wait:?}; exiting without it");
        }
    }
}
