//! Draining the ring buffer: tokio `AsyncFd` wakes the task when the kernel has written
//! records, and each wake-up hands records to the caller in batches, decoded in place.

use std::io;

use aya::maps::{MapData, RingBuf};
use packetguard_common::{FlowRecord, FlowStart, PacketSample, RecordKind};
use tokio::io::unix::AsyncFd;

/// One decoded ring buffer entry, borrowed from the ring (no copy).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Flow(&'a FlowRecord),
    Sample(&'a PacketSample),
    FlowStart(&'a FlowStart),
}

/// An entry whose kind or size is not one the agent knows: a mismatch between the agent and
/// the loaded object, which cannot happen with the embedded object but is checked anyway.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed ring buffer entry: kind {kind}, {len} bytes")]
pub struct DecodeError {
    pub kind: u32,
    pub len: usize,
}

fn cast<T: bytemuck::Pod>(bytes: &[u8], kind: u32) -> Result<&T, DecodeError> {
    bytemuck::try_from_bytes(bytes).map_err(|_| DecodeError {
        kind,
        len: bytes.len(),
    })
}

/// Decodes one entry. Ring buffer entries are 8-byte aligned, so this is a cast, not a copy.
pub fn decode(bytes: &[u8]) -> Result<Event<'_>, DecodeError> {
    let kind = bytes
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(DecodeError {
            kind: 0,
            len: bytes.len(),
        })?;
    match RecordKind::from_u32(kind) {
        Some(RecordKind::Flow) => cast(bytes, kind).map(Event::Flow),
        Some(RecordKind::Sample) => cast(bytes, kind).map(Event::Sample),
        Some(RecordKind::FlowStart) => cast(bytes, kind).map(Event::FlowStart),
        None => Err(DecodeError {
            kind,
            len: bytes.len(),
        }),
    }
}

/// Counts kept by the drain loop, for the summary and self-metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct DrainStats {
    pub flows: u64,
    pub samples: u64,
    pub flow_starts: u64,
    pub malformed: u64,
    pub batches: u64,
}

/// The ring buffer reader.
pub struct Drain {
    fd: AsyncFd<RingBuf<MapData>>,
    pub stats: DrainStats,
}

impl Drain {
    /// Registers the ring buffer with the tokio reactor.
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its map fd for as long as it lives, and the AsyncFd
        // owns the ring buffer, so the fd stays open and unchanged while registered.
        let fd = unsafe { AsyncFd::register(ring) }.map_err(|e| e.into_parts().1)?;
        Ok(Self {
            fd,
            stats: DrainStats::default(),
        })
    }

    /// Waits until the kernel has written something, then hands up to `max` entries to
    /// `f`. Returns how many were handed over; the first error `f` returns stops the
    /// batch and is returned (the entries after it stay in the ring).
    pub async fn next_batch<E: From<io::Error>>(
        &mut self,
        max: usize,
        mut f: impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        loop {
            let mut guard = self.fd.readable_mut().await?;
            let n = drain_into(guard.get_inner_mut(), &mut self.stats, max, &mut f)?;
            if n < max {
                // The ring is empty now. tokio only clears readiness that predates this
                // guard, so a record committed meanwhile still wakes the next call.
                guard.clear_ready();
            }
            if n > 0 {
                self.stats.batches += 1;
                return Ok(n);
            }
        }
    }

    /// Hands every entry already in the buffer to `f` without waiting (used at shutdown,
    /// after detaching, and by the benchmark); stops at the first error `f` returns.
    pub fn drain_now<E>(
        &mut self,
        mut f: impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        drain_into(self.fd.get_mut(), &mut self.stats, usize::MAX, &mut f)
    }
}

/// Moves up to `max` entries from `ring` to `f`, stopping at the first error it returns.
fn drain_into<E>(
    ring: &mut RingBuf<MapData>,
    stats: &mut DrainStats,
    max: usize,
    f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
) -> Result<usize, E> {
    let mut n = 0;
    while n < max {
        let Some(item) = ring.next() else { break };
        match decode(&item) {
            Ok(ev) => {
                match ev {
                    Event::Flow(_) => stats.flows += 1,
                    Event::Sample(_) => stats.samples += 1,
                    Event::FlowStart(_) => stats.flow_starts += 1,
                }
                n += 1;
                f(ev)?;
            }
            Err(_) => {
                stats.malformed += 1;
                n += 1;
            }
        }
    }
    Ok(n)
}
