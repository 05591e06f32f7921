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
    if std::mem::size_of_val::<[T]>(&b) >= HUGE_FROM {
        weft_io::mem::advise_huge(&b);
    }
    b
}

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
