//! The kernel's `BPF_MAP_LOOKUP_AND_DELETE_BATCH` (Linux 5.6+) on hash maps, which aya 0.14 does
//! not wrap: each call reads and deletes up to a buffer of entries atomically per bucket, so no
//! packet is lost between reading an entry and deleting it.
// The bpf() system call takes raw pointers; aya's plain-data values are read from bytes.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};

use aya::Pod;

const BPF_MAP_LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;
const FIRST_CHUNK: usize = 1024;

/// `union bpf_attr`'s `batch` member.
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

/// Whether an error means the kernel (or map type) has no batch operations.
pub(crate) fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOTSUP) | Some(libc::ENOSYS) | Some(524) // ENOTSUPP
    )
}

/// `elem_flags` for values with a `bpf_spin_lock`: copied under the lock, never half updated.
pub(crate) const BPF_F_LOCK: u64 = 4;

/// Reads and deletes every entry of the hash map behind `fd`, keys of type `K`, values `V` (the
/// map's key and value sizes must be theirs), with `elem_flags` (0 or [`BPF_F_LOCK`]). On an
/// error, the entries already read (and so deleted) come back with it: they must not be lost.
pub(crate) fn lookup_and_delete<K: Pod + Default, V: Pod + Default>(
    fd: impl AsFd,
    elem_flags: u64,
) -> (Vec<(K, V)>, Option<io::Error>) {
    let fd = fd.as_fd().as_raw_fd();
    let mut out = Vec::new();
    let mut chunk = FIRST_CHUNK;
    let mut keys = vec![K::default(); chunk];
    let mut values = vec![V::default(); chunk];
    // The batch position is a bucket number for hash maps; keep room for a key either way.
    let mut token_in = [0u64; 8];
    let mut token_out = [0u64; 8];
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first { 0 } else { token_in.as_ptr() as u64 },
            out_batch: token_out.as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: chunk as u32,
            map_fd: fd as u32,
            elem_flags,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` is a valid `bpf_attr` batch member; `keys` and `values` hold `count`
        // elements of the map's key and value sizes (K and V are the map's types, checked by the
        // caller's map definition), and the tokens are larger than the kernel's 4-byte bucket
        // position. The kernel writes at most `count` entries and the new count into `attr`.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_AND_DELETE_BATCH,
                &mut attr as *mut BatchAttr,
                size_of::<BatchAttr>(),
            )
        };
        let err = (ret < 0).then(io::Error::last_os_error);
        let n = (attr.count as usize).min(chunk);
        out.extend(keys[..n].iter().copied().zip(values[..n].iter().copied()));
        match err {
            None => {}
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => return (out, None),
            // A bucket holds more entries than the buffer: grow it and ask again.
            Some(e) if e.raw_os_error() == Some(libc::ENOSPC) && n == 0 => {
                chunk *= 2;
                keys.resize(chunk, K::default());
                values.resize(chunk, V::default());
                continue;
            }
            Some(e) => return (out, Some(e)),
        }
        token_in = token_out;
        first = false;
    }
}

/// A plain-data value copied from exactly `size_of::<T>()` bytes.
pub(crate) fn from_bytes<T: Pod + Default>(bytes: &[u8]) -> T {
    let mut v = T::default();
    let n = bytes.len().min(size_of::<T>());
    // SAFETY: `T: Pod` is plain data for which every bit pattern is valid; at most
    // `size_of::<T>()` bytes are copied into it, from a slice of at least `n` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut v as *mut T).cast::<u8>(), n);
    }
    v
}
