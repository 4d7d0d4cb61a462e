//! `BPF_MAP_LOOKUP_BATCH` for hash maps: reads keys and values a few thousand at a time,
//! where aya 0.14's iterators make two syscalls per entry. With a full default flow table
//! (262,144 flows) that is the difference between about 0.5 s and a few milliseconds of
//! syscalls every second.

use std::{
    io,
    os::fd::{AsFd, AsRawFd},
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

/// Entries read per syscall.
const CHUNK: usize = 4096;

/// Reads every entry of the hash map `map` into `keys` and `values` (cleared first).
///
/// Entries added or removed while the walk runs may or may not be seen, as with any
/// walk of a live map; every entry present throughout is seen exactly once.
pub fn read_all<K: Copy + bytemuck::Zeroable, V: Copy + bytemuck::Zeroable>(
    map: &MapData,
    keys: &mut Vec<K>,
    values: &mut Vec<V>,
) -> io::Result<()> {
    keys.clear();
    values.clear();
    let fd = map.fd().as_fd().as_raw_fd();
    // Hash maps walk bucket by bucket; the batch token is a u32 bucket index.
    let (mut token_in, mut token_out) = (0u32, 0u32);
    let mut first = true;
    let mut chunk = CHUNK;
    loop {
        let at = keys.len();
        keys.resize(at + chunk, K::zeroed());
        values.resize(at + chunk, V::zeroed());
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &token_in as *const u32 as u64
            },
            out_batch: &mut token_out as *mut u32 as u64,
            keys: keys[at..].as_mut_ptr() as u64,
            values: values[at..].as_mut_ptr() as u64,
            count: chunk as u32,
            map_fd: fd as u32,
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
        let filled = if err.is_none()
            || err.as_ref().and_then(io::Error::raw_os_error) == Some(libc::ENOENT)
        {
            attr.count as usize
        } else {
            0
        };
        keys.truncate(at + filled);
        values.truncate(at + filled);
        match err {
            None => {}
            // The walk reached the end; `filled` holds its last entries.
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            // One bucket holds more entries than `chunk`: retry it with more room.
            Some(e) if e.raw_os_error() == Some(libc::ENOSPC) && chunk < 1 << 20 => {
                chunk *= 2;
                continue;
            }
            Some(e) => return Err(e),
        }
        first = false;
        token_in = token_out;
    }
}
