//! `BPF_MAP_LOOKUP_BATCH` for hash maps, per-CPU ones included: walks keys and values a few
//! thousand at a time, where aya 0.14's iterators make two syscalls per entry. With a full
//! default flow table (262,144 flows) that is the difference between about 0.5 s and a few
//! milliseconds of syscalls every second.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, RawFd},
};

use aya::maps::MapData;

/// `bpf_cmd` values (include/uapi/linux/bpf.h).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// The descriptor of `map`, for [`for_each_chunk`].
pub fn map_fd(map: &MapData) -> RawFd {
    map.fd().as_fd().as_raw_fd()
}

/// Entries read per syscall.
const CHUNK: usize = 4096;

/// Walks every entry of the hash map whose descriptor is `map_fd` (from [`map_fd`], kept
/// open by its owner for the call) a chunk at a time: `visit` gets each chunk's
/// keys and values, `per_key` values a key. That is 1 for a plain hash map, and the number
/// of possible CPUs for a per-CPU one, whose values the kernel writes one per CPU back to
/// back (each padded to 8 bytes: `V` must be a multiple of 8 bytes there). `keys` and
/// `values` are the reused buffers (about 4096 entries), so memory does not grow with the
/// map. `visit` may delete entries it was given: the walk resumes from the next bucket.
///
/// Entries added or removed while the walk runs may or may not be seen, as with any walk
/// of a live map; every entry present throughout is seen exactly once.
pub fn for_each_chunk<K, V, E>(
    map_fd: RawFd,
    per_key: usize,
    keys: &mut Vec<K>,
    values: &mut Vec<V>,
    mut visit: impl FnMut(&[K], &[V]) -> Result<(), E>,
) -> Result<(), E>
where
    K: Copy + bytemuck::Zeroable,
    V: Copy + bytemuck::Zeroable,
    E: From<io::Error>,
{
    // Hash maps walk bucket by bucket; the batch token is a u32 bucket index.
    let (mut token_in, mut token_out) = (0u32, 0u32);
    let mut first = true;
    let mut chunk = CHUNK.max(keys.len());
    loop {
        keys.resize(chunk, K::zeroed());
        values.resize(chunk * per_key, V::zeroed());
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &token_in as *const u32 as u64
            },
            out_batch: &mut token_out as *mut u32 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: chunk as u32,
            map_fd: map_fd as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` points at buffers of `chunk` keys and values that outlive the
        // call, and at the two tokens; the kernel writes at most `count` entries.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>() as u32,
            )
        };
        let err = (ret < 0).then(io::Error::last_os_error);
        match err.as_ref().and_then(io::Error::raw_os_error) {
            // A chunk, and more to come; or the walk's end with its last entries.
            None | Some(libc::ENOENT) => {
                let n = attr.count as usize;
                visit(&keys[..n], &values[..n * per_key])?;
                if err.is_some() {
                    return Ok(());
                }
            }
            // One bucket holds more entries than `chunk`: retry it with more room.
            Some(libc::ENOSPC) if chunk < 1 << 20 => {
                chunk *= 2;
                continue;
            }
            _ => return Err(err.expect("an error").into()),
        }
        first = false;
        token_in = token_out;
    }
}
