//! Reading the kernel's per-destination totals (the host map) into the host windows.

use aya::maps::{MapData, PerCpuHashMap};
use packetguard_common::{config, HostKey, HostStats};

use super::DataPathError;
use crate::detect::window::HostWindows;

/// The host map as the agent holds it.
pub type HostMap = PerCpuHashMap<MapData, HostKey, HostStats>;

/// Sums every host's per-CPU totals and hands them to `windows`. Returns the hosts read.
///
/// One lookup per host (aya 0.14 has no batch lookup for per-CPU hashes); the map holds at
/// most `host_entries` keys, so a reading is bounded. A key the LRU evicts while we walk
/// the map is skipped by the iterator.
pub fn read_into(map: &HostMap, windows: &mut HostWindows) -> Result<usize, DataPathError> {
    let mut n = 0;
    for item in map.iter() {
        let (key, per_cpu) = item.map_err(|e| DataPathError::Map {
            map: config::MAP_HOSTS,
            cause: e.to_string(),
        })?;
        let total = per_cpu
            .iter()
            .fold(HostStats::default(), |acc, s| acc.plus(s));
        windows.reading(key, total);
        n += 1;
    }
    Ok(n)
}
