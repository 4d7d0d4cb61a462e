//! What ends a long-running command: a duration, SIGINT or SIGTERM.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

/// Why the command stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Duration,
    Interrupt,
    Terminate,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duration => "duration reached",
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }
}

/// Resolves when the first stop condition happens. Signal handlers are installed when this
/// is called, so call it before attaching anything.
pub fn stop_signal(
    duration: Option<Duration>,
) -> std::io::Result<impl std::future::Future<Output = StopReason>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        let timer = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = timer => StopReason::Duration,
            _ = int.recv() => StopReason::Interrupt,
            _ = term.recv() => StopReason::Terminate,
        }
    })
}
