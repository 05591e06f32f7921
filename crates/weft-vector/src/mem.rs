//! Large zeroed arrays for an index's hot data (vectors, level-0 links).
//!
//! A graph walk reads vectors and lists at random across the whole index, so with 4 KiB pages
//! nearly every hop misses the TLB once the index outgrows a few MiB, and filling a fresh
//! index (a snapshot load) takes one page fault per 4 KiB. On Linux the arrays made here ask
//! the kernel for transparent huge pages (`madvise(MADV_HUGEPAGE)`, honoured when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`): 2 MiB per fault
//! and per TLB entry. Pages are still committed only as they are written.

/// Arrays smaller than this stay on normal pages (they are in the cache's reach anyway, and a
/// huge page would commit up to 2 MiB for a few nodes).
const HUGE_FROM: usize = 8 << 20;

/// A zeroed `Box<[T]>` of `n` elements, straight from the allocator (no page is touched
/// here), backed by huge pages where the OS offers them (see the module docs).
pub fn zeroed_slice<T: bytemuck::Zeroable>(n: usize) -> Box<[T]> {
    let b = bytemuck::zeroed_slice_box::<T>(n);
    advise_huge(b.as_ptr().cast::<u8>(), std::mem::size_of_val::<[T]>(&b));
    b
}

#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "madvise on memory this module just allocated")]
fn advise_huge(ptr: *const u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < HUGE_FROM {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) / HUGE * HUGE;
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside the live allocation of `len` bytes at `ptr` (rounded
    // inwards to huge-page boundaries). MADV_HUGEPAGE only changes how the kernel backs these
    // pages; their contents (zero) and validity are unchanged, and no reference into them
    // exists yet that the call could invalidate.
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
fn advise_huge(_ptr: *const u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn arrays_are_zeroed_and_writable_at_every_size() {
        for n in [0usize, 1, 1000, (super::HUGE_FROM / 4) + 12_345] {
            let a: Box<[AtomicU32]> = super::zeroed_slice(n);
            assert_eq!(a.len(), n);
            assert!(
                a.iter()
                    .step_by(997)
                    .all(|c| c.load(Ordering::Relaxed) == 0)
            );
            if let Some(last) = a.last() {
                last.store(7, Ordering::Relaxed);
                assert_eq!(last.load(Ordering::Relaxed), 7);
            }
            let f: Box<[f32]> = super::zeroed_slice(n);
            assert!(f.iter().all(|&x| x == 0.0));
        }
    }
}
