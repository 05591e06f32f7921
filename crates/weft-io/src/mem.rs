//! Large buffers on transparent huge pages.
//!
//! Filling fresh memory costs one page fault per 4 KiB page, and walking a large array at
//! random misses the TLB on nearly every step. On Linux the memory given to [`advise_huge`]
//! is backed by 2 MiB pages where the kernel offers them (`madvise(MADV_HUGEPAGE)`, honoured
//! when `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`): one fault
//! and one TLB entry per 2 MiB. Pages are still committed only as they are written.

/// Asks for huge pages under the 2 MiB-aligned part of `s` (nothing if it holds none);
/// contents and validity are unchanged, a refusal leaves normal pages.
pub fn advise_huge<T>(s: &[T]) {
    advise(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s));
}

/// `n` zeroed bytes straight from the allocator (no pass over them), on huge pages where
/// they span some (see the module docs): for buffers that are filled once and kept.
pub fn zeroed_bytes(n: usize) -> Vec<u8> {
    let v = vec![0u8; n];
    advise_huge(&v);
    v
}

#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "madvise on memory the caller holds a reference to"
)]
fn advise(ptr: *const u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) / HUGE * HUGE;
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside the live allocation of `len` bytes at `ptr` (rounded
    // inwards to huge-page boundaries), which the caller's reference keeps alive for the
    // call. MADV_HUGEPAGE only changes how the kernel backs these pages: their contents and
    // validity are unchanged, so no reference into them is invalidated.
    // Refused (THP compiled out or disabled): normal pages, as without the call.
    let _ = unsafe {
        rustix::mm::madvise(
            start as *mut std::ffi::c_void,
            end - start,
            rustix::mm::Advice::LinuxHugepage,
        )
    };
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *const u8, _len: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_zeroed_and_writable_at_every_size() {
        for n in [0usize, 1, 4095, (5 << 20) + 12_345] {
            let mut v = super::zeroed_bytes(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&b| b == 0));
            if let Some(last) = v.last_mut() {
                *last = 7;
                assert_eq!(v[n - 1], 7);
            }
        }
    }
}
