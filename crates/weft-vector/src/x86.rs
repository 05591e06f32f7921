//! x86-64 kernels: AVX2+FMA (8 lanes, 4 accumulators) and AVX-512F (16 lanes, 4 accumulators,
//! masked tail). Only reachable through [`crate::Metric::distance_fn`], which checks the CPU
//! features first.

use core::arch::x86_64::{
    __m256, __m512, _CMP_NEQ_UQ, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps,
    _mm_shuffle_ps, _mm256_add_ps, _mm256_and_ps, _mm256_andnot_ps, _mm256_castps256_ps128,
    _mm256_cmp_ps, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_sub_ps, _mm512_abs_ps, _mm512_add_ps, _mm512_cmp_ps_mask,
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_add_ps, _mm512_maskz_loadu_ps,
    _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_sub_ps,
};

/// Horizontal sum of 8 lanes.
#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

macro_rules! avx2_kernel {
    ($name:ident, |$x:ident, $y:ident, $acc:ident| $step:expr, |$sa:ident, $sb:ident| $tail:expr) => {
        #[target_feature(enable = "avx2,fma")]
        #[expect(unsafe_code, reason = "SIMD loads through raw pointers")]
        pub(crate) unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc: [__m256; 4] = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i + 32 <= n {
                for (k, slot) in acc.iter_mut().enumerate() {
                    // SAFETY: i + 8k + 8 <= i + 32 <= n, so the 8 lanes lie inside both slices.
                    let ($x, $y) = unsafe {
                        (
                            _mm256_loadu_ps(pa.add(i + 8 * k)),
                            _mm256_loadu_ps(pb.add(i + 8 * k)),
                        )
                    };
                    let $acc = *slot;
                    *slot = $step;
                }
                i += 32;
            }
            while i + 8 <= n {
                // SAFETY: i + 8 <= n, so the 8 lanes lie inside both slices.
                let ($x, $y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
                let $acc = acc[0];
                acc[0] = $step;
                i += 8;
            }
            let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let mut s = hsum256(sum);
            for (&$sa, &$sb) in a[i..n].iter().zip(&b[i..n]) {
                s += $tail;
            }
            s
        }
    };
}

avx2_kernel!(dot_avx2, |x, y, acc| _mm256_fmadd_ps(x, y, acc), |a, b| a
    * b);
avx2_kernel!(
    l2_avx2,
    |x, y, acc| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    },
    |a, b| (a - b) * (a - b)
);
avx2_kernel!(
    manhattan_avx2,
    |x, y, acc| _mm256_add_ps(
        acc,
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, y))
    ),
    |a, b| (a - b).abs()
);
avx2_kernel!(
    hamming_avx2,
    |x, y, acc| _mm256_add_ps(
        acc,
        _mm256_and_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(x, y), _mm256_set1_ps(1.0))
    ),
    |a, b| if a != b { 1.0 } else { 0.0 }
);

macro_rules! avx512_kernel {
    ($name:ident, |$x:ident, $y:ident, $acc:ident| $step:expr) => {
        #[target_feature(enable = "avx512f")]
        #[expect(unsafe_code, reason = "SIMD loads through raw pointers")]
        pub(crate) unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc: [__m512; 4] = [_mm512_setzero_ps(); 4];
            let mut i = 0;
            while i + 64 <= n {
                for (k, slot) in acc.iter_mut().enumerate() {
                    // SAFETY: i + 16k + 16 <= i + 64 <= n: the 16 lanes lie inside both slices.
                    let ($x, $y) = unsafe {
                        (
                            _mm512_loadu_ps(pa.add(i + 16 * k)),
                            _mm512_loadu_ps(pb.add(i + 16 * k)),
                        )
                    };
                    let $acc = *slot;
                    *slot = $step;
                }
                i += 64;
            }
            while i + 16 <= n {
                // SAFETY: i + 16 <= n: the 16 lanes lie inside both slices.
                let ($x, $y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
                let $acc = acc[1];
                acc[1] = $step;
                i += 16;
            }
            if i < n {
                let mask: u16 = (1u16 << (n - i)) - 1;
                // SAFETY: masked loads touch only the n - i lanes below n; masked-off lanes are
                // zero in both inputs, which adds nothing to any of the four distances.
                let ($x, $y) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(mask, pa.add(i)),
                        _mm512_maskz_loadu_ps(mask, pb.add(i)),
                    )
                };
                let $acc = acc[2];
                acc[2] = $step;
            }
            let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            _mm512_reduce_add_ps(sum)
        }
    };
}

avx512_kernel!(dot_avx512, |x, y, acc| _mm512_fmadd_ps(x, y, acc));
avx512_kernel!(l2_avx512, |x, y, acc| {
    let d = _mm512_sub_ps(x, y);
    _mm512_fmadd_ps(d, d, acc)
});
avx512_kernel!(manhattan_avx512, |x, y, acc| _mm512_add_ps(
    acc,
    _mm512_abs_ps(_mm512_sub_ps(x, y))
));
avx512_kernel!(hamming_avx512, |x, y, acc| _mm512_mask_add_ps(
    acc,
    _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(x, y),
    acc,
    _mm512_set1_ps(1.0)
));

/// Prefetches the cache line holding `p` into all cache levels.
#[inline(always)]
#[expect(unsafe_code, reason = "prefetch intrinsic")]
pub(crate) fn prefetch_ptr(p: *const u8) {
    use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint: it never faults and never changes memory, whatever `p` is.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
}
