//! Where an event writer's lines go. Live, behind the writer thread's bounded queue, so a
//! slow or stuck sink never holds up the drain loop (what it cannot take is dropped and
//! counted). Offline, straight to the file: nothing waits on the input, and every line is
//! written, in order, however fast the input is read.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
};

use super::queue::QueuedSink;

/// An event writer's sink (see the module doc).
pub enum EventSink {
    Queued(QueuedSink),
    Direct(BufWriter<File>),
    /// Events are counted and rate-limited, but written nowhere.
    Discard,
}

impl Write for EventSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            EventSink::Queued(q) => q.write(buf),
            EventSink::Direct(f) => f.write(buf),
            EventSink::Discard => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            EventSink::Queued(q) => q.flush(),
            EventSink::Direct(f) => f.flush(),
            EventSink::Discard => Ok(()),
        }
    }
}
