//! Where flow entries live: the production LRU map, and the candidate layouts the benchmark
//! compares it with.
//!
//! [`crate::flow::account`] reaches its map only through [`FlowMap`], so every candidate
//! runs the same feature code and differs only in the map type and its key:
//!
//! - [`Lru`]: the production map, `FLOWS` (LRU hash, 40-byte key). When full, the kernel
//!   evicts the least recently used flow.
//! - [`BenchLru`]: the same layout in a map of its own, sized like the other candidates.
//! - [`BenchLruPerCpu`]: the same with per-CPU LRU lists (`BPF_F_NO_COMMON_LRU`): a CPU
//!   takes free entries and evicts from its own list, without the shared list's lock, but
//!   each CPU's flows compete for its share of the entries only.
//! - [`BenchHash`]: a preallocated plain hash map (40-byte key). Nothing is evicted in the
//!   kernel: the agent's idle expiry removes flows, and a packet whose flow finds the map
//!   full goes out alone as a record ([`FlowMap::FALLBACK`]).
//! - [`BenchLruSplit`] and [`BenchHashSplit`]: the same two map types with IPv4 flows under
//!   a 16-byte key in a map of their own, beside an IPv6 map with the 40-byte key; a
//!   shorter key is less to hash and compare on every lookup.
//!
//! The candidates' maps hold one entry in the object (their programs are never attached);
//! the benchmark sizes them at load, so an agent pays no memory for them.

use aya_ebpf::{
    bindings::{BPF_F_NO_COMMON_LRU, BPF_NOEXIST},
    macros::map,
    maps::{HashMap, LruHashMap},
};
use packetguard_common::{FlowEntry, FlowKey};

use crate::{parse::Packet, FLOWS};

/// A flow map as [`crate::flow::account`] uses it.
pub trait FlowMap {
    /// True when a refused insert means the map is full and the packet should leave as a
    /// record of its own (a map that never evicts); false when the map makes room itself
    /// and a refused insert is only counted.
    const FALLBACK: bool;
    /// The entry of the packet's flow, if the map has it.
    fn get(pkt: &Packet) -> Option<*mut FlowEntry>;
    /// Inserts `entry` for the packet's flow unless one exists (`BPF_NOEXIST`).
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32>;
}

/// Flags of every insert: keep an entry another CPU created a moment ago.
const NOEXIST: u64 = BPF_NOEXIST as u64;

/// The production flow map.
pub struct Lru;

impl FlowMap for Lru {
    const FALLBACK: bool = false;
    #[inline(always)]
    fn get(pkt: &Packet) -> Option<*mut FlowEntry> {
        FLOWS.get_ptr_mut(&pkt.key)
    }
    #[inline(always)]
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32> {
        FLOWS.insert(&pkt.key, entry, NOEXIST)
    }
}

/// An IPv4 flow key: the two addresses (one word each), the ports and the protocol, in the
/// canonical order of [`FlowKey`]. 16 bytes against 40.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FlowKey4 {
    pub addr_a: u32,
    pub addr_b: u32,
    pub port_a: u16,
    pub port_b: u16,
    pub protocol: u32,
}

const _: () = assert!(core::mem::size_of::<FlowKey4>() == 16);

/// The 16-byte key of an IPv4 flow key.
#[inline(always)]
fn key4(k: &FlowKey) -> FlowKey4 {
    FlowKey4 {
        addr_a: k.addr_a[0],
        addr_b: k.addr_b[0],
        port_a: k.port_a,
        port_b: k.port_b,
        protocol: k.protocol as u32,
    }
}

/// Entries of each candidate map in the object; the benchmark sizes them at load.
const BENCH_ENTRIES: u32 = 1;

#[map]
static BENCH_LRU: LruHashMap<FlowKey, FlowEntry> = LruHashMap::with_max_entries(BENCH_ENTRIES, 0);
#[map]
static BENCH_LRU_PERCPU: LruHashMap<FlowKey, FlowEntry> =
    LruHashMap::with_max_entries(BENCH_ENTRIES, BPF_F_NO_COMMON_LRU);
#[map]
static BENCH_HASH: HashMap<FlowKey, FlowEntry> = HashMap::with_max_entries(BENCH_ENTRIES, 0);
#[map]
static BENCH_LRU4: LruHashMap<FlowKey4, FlowEntry> = LruHashMap::with_max_entries(BENCH_ENTRIES, 0);
#[map]
static BENCH_LRU6: LruHashMap<FlowKey, FlowEntry> = LruHashMap::with_max_entries(BENCH_ENTRIES, 0);
#[map]
static BENCH_HASH4: HashMap<FlowKey4, FlowEntry> = HashMap::with_max_entries(BENCH_ENTRIES, 0);
#[map]
static BENCH_HASH6: HashMap<FlowKey, FlowEntry> = HashMap::with_max_entries(BENCH_ENTRIES, 0);

/// [`Lru`]'s layout in a candidate-sized map.
pub struct BenchLru;

impl FlowMap for BenchLru {
    const FALLBACK: bool = false;
    #[inline(always)]
    fn get(pkt: &Packet) -> Option<*mut FlowEntry> {
        BENCH_LRU.get_ptr_mut(&pkt.key)
    }
    #[inline(always)]
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32> {
        BENCH_LRU.insert(&pkt.key, entry, NOEXIST)
    }
}

/// [`BenchLru`] with per-CPU LRU lists.
pub struct BenchLruPerCpu;

impl FlowMap for BenchLruPerCpu {
    const FALLBACK: bool = false;
    #[inline(always)]
    fn get(pkt: &Packet) -> Option<*mut FlowEntry> {
        BENCH_LRU_PERCPU.get_ptr_mut(&pkt.key)
    }
    #[inline(always)]
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32> {
        BENCH_LRU_PERCPU.insert(&pkt.key, entry, NOEXIST)
    }
}

/// A preallocated plain hash map: no eviction in the kernel.
pub struct BenchHash;

impl FlowMap for BenchHash {
    const FALLBACK: bool = true;
    #[inline(always)]
    fn get(pkt: &Packet) -> Option<*mut FlowEntry> {
        BENCH_HASH.get_ptr_mut(&pkt.key)
    }
    #[inline(always)]
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32> {
        BENCH_HASH.insert(&pkt.key, entry, NOEXIST)
    }
}

/// LRU maps, IPv4 flows under the 16-byte key.
pub struct BenchLruSplit;

impl FlowMap for BenchLruSplit {
    const FALLBACK: bool = false;
    #[inline(always)]
    fn get(pkt: &Packet) -> Option<*mut FlowEntry> {
        if pkt.key.ip_version == 4 {
            BENCH_LRU4.get_ptr_mut(&key4(&pkt.key))
        } else {
            BENCH_LRU6.get_ptr_mut(&pkt.key)
        }
    }
    #[inline(always)]
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32> {
        if pkt.key.ip_version == 4 {
            BENCH_LRU4.insert(&key4(&pkt.key), entry, NOEXIST)
        } else {
            BENCH_LRU6.insert(&pkt.key, entry, NOEXIST)
        }
    }
}

/// Plain hash maps, IPv4 flows under the 16-byte key.
pub struct BenchHashSplit;

impl FlowMap for BenchHashSplit {
    const FALLBACK: bool = true;
    #[inline(always)]
    fn get(pkt: &Packet) -> Option<*mut FlowEntry> {
        if pkt.key.ip_version == 4 {
            BENCH_HASH4.get_ptr_mut(&key4(&pkt.key))
        } else {
            BENCH_HASH6.get_ptr_mut(&pkt.key)
        }
    }
    #[inline(always)]
    fn insert(pkt: &Packet, entry: &FlowEntry) -> Result<(), i32> {
        if pkt.key.ip_version == 4 {
            BENCH_HASH4.insert(&key4(&pkt.key), entry, NOEXIST)
        } else {
            BENCH_HASH6.insert(&pkt.key, entry, NOEXIST)
        }
    }
}
