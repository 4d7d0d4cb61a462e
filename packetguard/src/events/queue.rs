//! Event output off the drain path: a [`QueuedSink`] hands each finished line to a writer
//! thread through a bounded queue, so a slow, full or unread sink (a disk that filled up,
//! a closed pipe, a stdout nobody reads) never stops the loop that drains the ring buffer.
//!
//! What cannot be written is dropped and counted, never waited for: a line that finds the
//! queue full is dropped as `queue_full`; a line the sink refuses is dropped as
//! `write_failed`. Either is logged at most once a minute, and writing resumes by itself
//! as soon as the sink takes lines again. Line buffers go back to the sink through a second
//! bounded queue and are reused, so steady-state writing does not allocate.

use std::{
    io::{self, Write},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use prometheus::IntCounter;
use tracing::warn;

/// Lines the queue holds at most; beyond it lines are dropped as `queue_full`.
pub const QUEUE_LINES: usize = 4096;
/// How long shutdown waits for the writer thread to write what is queued.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);
/// At most one log line per reason in this long.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The `packetguard_events_dropped_total` children, one per reason.
#[derive(Clone)]
pub struct DropCounters {
    pub queue_full: IntCounter,
    pub write_failed: IntCounter,
}

/// Logs a drop at most once a minute, saying how many were dropped since the last line.
struct Throttled {
    what: &'static str,
    last: Option<Instant>,
    since: u64,
}

impl Throttled {
    const fn new(what: &'static str) -> Self {
        Throttled {
            what,
            last: None,
            since: 0,
        }
    }

    fn dropped(&mut self, cause: &dyn std::fmt::Display) {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_none_or(|t| now - t >= LOG_EVERY) {
            warn!(
                dropped = self.since,
                cause = %cause,
                "anomaly events dropped ({}); detection goes on, writing resumes when the sink takes lines again",
                self.what
            );
            self.last = Some(now);
            self.since = 0;
        }
    }
}

/// A `Write` whose `flush` queues the line written since the last flush for the writer
/// thread. [`super::EventWriter`] writes each line whole and then flushes, so each queued
/// item is exactly one line. Never fails and never blocks.
pub struct QueuedSink {
    lines: Option<SyncSender<Vec<u8>>>,
    free: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    counters: DropCounters,
    full_log: Throttled,
    /// Lines queued, and lines the writer thread finished with (written or failed): at
    /// shutdown their difference is what a stuck sink never took.
    queued: u64,
    finished: Arc<AtomicU64>,
    done: Receiver<()>,
    writer: Option<JoinHandle<()>>,
}

impl QueuedSink {
    /// Starts the writer thread over `out`.
    pub fn spawn(out: Box<dyn Write + Send>, counters: DropCounters) -> io::Result<Self> {
        let (lines_tx, lines_rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE_LINES);
        let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE_LINES);
        let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
        let write_failed = counters.write_failed.clone();
        let finished = Arc::new(AtomicU64::new(0));
        let finished_by_writer = finished.clone();
        let writer = std::thread::Builder::new()
            .name("packetguard-events".into())
            .spawn(move || {
                write_lines(out, lines_rx, free_tx, write_failed, &finished_by_writer);
                let _ = done_tx.send(());
            })?;
        Ok(QueuedSink {
            lines: Some(lines_tx),
            free: free_rx,
            pending: Vec::with_capacity(512),
            counters,
            full_log: Throttled::new("the event queue is full"),
            queued: 0,
            finished,
            done: done_rx,
            writer: Some(writer),
        })
    }

    fn send_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let Some(lines) = &self.lines else {
            return;
        };
        let next = match self.free.try_recv() {
            Ok(mut buf) => {
                buf.clear();
                buf
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(512),
        };
        let line = std::mem::replace(&mut self.pending, next);
        match lines.try_send(line) {
            Ok(()) => self.queued += 1,
            Err(TrySendError::Full(mut line)) => {
                self.counters.queue_full.inc();
                self.full_log
                    .dropped(&format_args!("{QUEUE_LINES} lines waiting for the sink"));
                line.clear();
                self.pending = line;
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.write_failed.inc();
            }
        }
    }
}

impl Write for QueuedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending();
        Ok(())
    }
}

impl Drop for QueuedSink {
    /// Closes the queue and gives the writer thread [`SHUTDOWN_WAIT`] to write what it
    /// holds; a writer stuck on a sink nobody reads is left behind (the process is ending)
    /// and the lines it never took are counted as `write_failed`.
    fn drop(&mut self) {
        self.send_pending();
        self.lines = None;
        if self.done.recv_timeout(SHUTDOWN_WAIT).is_ok() {
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
        } else {
            let left = self
                .queued
                .saturating_sub(self.finished.load(Ordering::Acquire));
            self.counters.write_failed.inc_by(left);
            warn!(
                dropped = left,
                "the event sink took no line for 2 s at shutdown; the events still queued are dropped"
            );
        }
    }
}

/// The writer thread: writes each line whole and flushes it; a failure drops that line
/// (counted) and the next line is tried afresh.
fn write_lines(
    mut out: Box<dyn Write + Send>,
    lines: Receiver<Vec<u8>>,
    free: SyncSender<Vec<u8>>,
    write_failed: IntCounter,
    finished: &AtomicU64,
) {
    let mut log = Throttled::new("the event sink refused a write");
    for line in lines {
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            write_failed.inc();
            log.dropped(&e);
        }
        finished.fetch_add(1, Ordering::Release);
        let _ = free.try_send(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> DropCounters {
        DropCounters {
            queue_full: IntCounter::new("q", "q").unwrap(),
            write_failed: IntCounter::new("w", "w").unwrap(),
        }
    }

    /// A sink that refuses every write, like /dev/full.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A sink that blocks until the test lets it go, like a pipe nobody reads.
    struct Stuck(Receiver<()>);
    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(sink: &mut QueuedSink, i: usize) {
        writeln!(sink, "{{\"n\":{i}}}").unwrap();
        sink.flush().unwrap();
    }

    #[test]
    fn a_sink_that_refuses_writes_drops_and_counts_every_line() {
        let c = counters();
        let mut sink = QueuedSink::spawn(Box::new(Full), c.clone()).unwrap();
        for i in 0..100 {
            line(&mut sink, i);
        }
        drop(sink);
        assert_eq!((c.write_failed.get(), c.queue_full.get()), (100, 0));
    }

    #[test]
    fn a_sink_nobody_reads_fills_the_queue_and_the_rest_is_dropped_without_blocking() {
        let c = counters();
        let (release, gate) = mpsc::channel();
        let mut sink = QueuedSink::spawn(Box::new(Stuck(gate)), c.clone()).unwrap();
        let n = QUEUE_LINES + 500;
        for i in 0..n {
            line(&mut sink, i);
        }
        // The writer holds one line in its blocked write, the queue QUEUE_LINES more.
        let dropped = c.queue_full.get() as usize;
        assert!(
            (n - QUEUE_LINES - 1..=n - QUEUE_LINES).contains(&dropped),
            "{dropped} dropped"
        );
        // Once the sink takes lines again, writing resumes.
        drop(release);
        std::thread::sleep(Duration::from_millis(50));
        line(&mut sink, n);
        drop(sink);
        assert_eq!(c.queue_full.get() as usize, dropped, "nothing more dropped");
        assert_eq!(c.write_failed.get(), 0);
    }

    #[test]
    fn lines_a_stuck_sink_never_took_are_counted_at_shutdown() {
        let c = counters();
        let (_release, gate) = mpsc::channel();
        let mut sink = QueuedSink::spawn(Box::new(Stuck(gate)), c.clone()).unwrap();
        for i in 0..10 {
            line(&mut sink, i);
        }
        std::thread::sleep(Duration::from_millis(50));
        drop(sink); // waits SHUTDOWN_WAIT, then gives up on the stuck writer
        assert_eq!(
            c.write_failed.get(),
            10,
            "one in the blocked write, nine queued"
        );
        assert_eq!(c.queue_full.get(), 0);
    }

    #[test]
    fn every_line_reaches_a_working_sink_in_order() {
        let c = counters();
        let path = std::env::temp_dir().join(format!("pg-queue-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut sink = QueuedSink::spawn(Box::new(file), c.clone()).unwrap();
        for i in 0..1000 {
            line(&mut sink, i);
        }
        drop(sink);
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let expected: String = (0..1000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!((c.queue_full.get(), c.write_failed.get()), (0, 0));
    }
}
