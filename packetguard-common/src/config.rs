//! Load-time settings: global variables in the XDP object that the agent sets with
//! `EbpfLoader::set_global` before loading, and the names of the maps it sizes.

/// `u64`: a flow that has been reporting this long emits a record and starts a new interval.
pub const ACTIVE_TIMEOUT_NS: &str = "ACTIVE_TIMEOUT_NS";
/// `u32`: emit one [`crate::PacketSample`] every this many packets per CPU; 0 disables.
pub const SAMPLE_EVERY: &str = "SAMPLE_EVERY";
/// `u32`: 1 to emit a [`crate::FlowStart`] for every new flow.
pub const EMIT_FLOW_STARTS: &str = "EMIT_FLOW_STARTS";

/// The flow map (LRU hash, `FlowKey` -> `FlowEntry`).
pub const MAP_FLOWS: &str = "FLOWS";
/// The destination map (per-CPU LRU hash, `HostKey` -> `HostStats`): what each address
/// received. Named `HOSTS` for compatibility with the host (per-destination) detector.
pub const MAP_HOSTS: &str = "HOSTS";
/// The source map (per-CPU LRU hash, `HostKey` -> `HostStats`): what each address sent.
pub const MAP_SOURCES: &str = "SOURCES";
/// The ring buffer carrying records, samples and flow starts.
pub const MAP_EVENTS: &str = "EVENTS";
/// The per-CPU counters.
pub const MAP_COUNTERS: &str = "COUNTERS";
/// Per-CPU sampling countdown.
pub const MAP_SAMPLER: &str = "SAMPLER";

/// Name of the XDP program (ingress) in the object.
pub const PROGRAM_XDP: &str = "packetguard";
/// Name of the TC classifier (egress) in the object.
pub const PROGRAM_TC_EGRESS: &str = "packetguard_egress";

/// Default number of flow map entries.
pub const DEFAULT_FLOW_ENTRIES: u32 = 262_144;
/// Default ring buffer size in bytes (a power of two, a multiple of the page size).
pub const DEFAULT_RINGBUF_BYTES: u32 = 16 << 20;
/// Default active timeout.
pub const DEFAULT_ACTIVE_TIMEOUT_NS: u64 = 60_000_000_000;
/// Default number of host map entries (destination addresses tracked at once).
pub const DEFAULT_HOST_ENTRIES: u32 = 16_384;
/// Default number of source map entries (source addresses tracked at once).
pub const DEFAULT_SOURCE_ENTRIES: u32 = 16_384;
