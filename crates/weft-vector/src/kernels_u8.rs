//! The kernels under compressed distances, picked at run time: the u8 dot product (a scalar
//! reference; AVX-512 VNNI, AVX-512BW and AVX2 kernels) and the Hamming distance of bit codes
//! (`popcnt`).

/// Σ aᵢ·bᵢ over the common prefix, plain loop (the definition the SIMD kernels are tested
/// against). Exact for any length a u32 holds: 255² · 66 051 < 2³².
pub fn dot_scalar(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u32::from(x) * u32::from(y))
        .sum()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return Level::Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Level::Avx2;
            }
        }
        Level::Scalar
    })
}

/// Whether [`dot_fast`] has a SIMD kernel on this CPU.
pub fn fast_available() -> bool {
    level() != Level::Scalar
}

/// [`dot_scalar`] with the best kernel of this CPU.
#[inline]
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls target-feature kernels after detection")
)]
pub fn dot_fast(a: &[u8], b: &[u8]) -> u32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    match level() {
        Level::Scalar => dot_scalar(a, b),
        // SAFETY: `level()` returned these only after detecting the features they enable.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::dot_avx2(a, b) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::dot_avx512(a, b) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Vnni => unsafe { x86::dot_vnni(a, b) },
    }
}

/// Every kernel this CPU runs, by name (for tests comparing them with [`dot_scalar`]).
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls target-feature kernels after detection")
)]
pub fn each_kernel(a: &[u8], b: &[u8]) -> Vec<(&'static str, u32)> {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut out = vec![("scalar", dot_scalar(a, b))];
    #[cfg(target_arch = "x86_64")]
    {
        let l = level();
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: detected AVX2.
            out.push(("avx2", unsafe { x86::dot_avx2(a, b) }));
        }
        if matches!(l, Level::Avx512 | Level::Vnni) {
            // SAFETY: detected AVX-512BW.
            out.push(("avx512", unsafe { x86::dot_avx512(a, b) }));
        }
        if l == Level::Vnni {
            // SAFETY: detected AVX-512BW and VNNI.
            out.push(("vnni", unsafe { x86::dot_vnni(a, b) }));
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[expect(unsafe_code, reason = "SIMD intrinsics")]
mod x86 {
    use core::arch::x86_64::*;

    /// `a.len() == b.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot_avx2(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len() / 16 * 16;
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i < n {
            // SAFETY: i + 16 ≤ n ≤ len of both slices; unaligned loads.
            let (x, y) = unsafe {
                (
                    _mm_loadu_si128(a.as_ptr().add(i).cast()),
                    _mm_loadu_si128(b.as_ptr().add(i).cast()),
                )
            };
            let p = _mm256_madd_epi16(_mm256_cvtepu8_epi16(x), _mm256_cvtepu8_epi16(y));
            acc = _mm256_add_epi32(acc, p);
            i += 16;
        }
        let mut lanes = [0u32; 8];
        // SAFETY: `lanes` is 32 bytes; unaligned store.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
        lanes.iter().sum::<u32>() + super::dot_scalar(&a[n..], &b[n..])
    }

    /// `a.len() == b.len()`.
    #[target_feature(enable = "avx512bw")]
    pub(super) unsafe fn dot_avx512(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len() / 32 * 32;
        let mut acc = _mm512_setzero_si512();
        let mut i = 0;
        while i < n {
            // SAFETY: i + 32 ≤ n ≤ len of both slices; unaligned loads.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i).cast()),
                    _mm256_loadu_si256(b.as_ptr().add(i).cast()),
                )
            };
            let p = _mm512_madd_epi16(_mm512_cvtepu8_epi16(x), _mm512_cvtepu8_epi16(y));
            acc = _mm512_add_epi32(acc, p);
            i += 32;
        }
        (_mm512_reduce_add_epi32(acc) as u32) + super::dot_scalar(&a[n..], &b[n..])
    }

    /// `a.len() == b.len()`. `vpdpbusd` multiplies unsigned by signed bytes, so `b` is
    /// shifted to signed (b − 128, an xor) and 128·Σa added back (Σa by `vpsadbw`):
    /// Σ a·b = Σ a·(b − 128) + 128·Σ a. 64 bytes per step, the tail by masked loads.
    #[target_feature(enable = "avx512bw,avx512vnni")]
    pub(super) unsafe fn dot_vnni(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len();
        let flip = _mm512_set1_epi8(-128);
        let zero = _mm512_setzero_si512();
        let mut acc = _mm512_setzero_si512();
        let mut sums = _mm512_setzero_si512();
        let mut i = 0;
        while i < n {
            let left = n - i;
            let mask: __mmask64 = if left >= 64 { !0 } else { (1u64 << left) - 1 };
            // SAFETY: the mask limits the loads to the bytes i..n inside both slices; masked
            // lanes are not read (zeroed).
            let (x, y) = unsafe {
                (
                    _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(i).cast()),
                    _mm512_maskz_loadu_epi8(mask, b.as_ptr().add(i).cast()),
                )
            };
            // Masked-off lanes of y become −128 after the flip, but x is 0 there.
            acc = _mm512_dpbusd_epi32(acc, x, _mm512_xor_si512(y, flip));
            sums = _mm512_add_epi64(sums, _mm512_sad_epu8(x, zero));
            i += 64;
        }
        let dot = _mm512_reduce_add_epi32(acc) as i64;
        let sum = _mm512_reduce_add_epi64(sums);
        (dot + 128 * sum) as u32
    }

    /// Σ over the nibbles of `b` (plane layout, `n` bytes: low nibbles pair with `a[..n]`,
    /// high ones with `a[off..off + n]`) times the bytes of `a`, or, with `NIB`, times the
    /// nibbles of `a` (also packed, `off` = 0, low with low and high with high). Nibbles are
    /// 0..15, so they serve as `vpdpbusd`'s signed operand as they are. The caller checks
    /// `n ≤ b.len()`, `off + n ≤ a.len()` (and `n ≤ a.len()`).
    #[target_feature(enable = "avx512bw,avx512vnni")]
    pub(super) unsafe fn nibbles_vnni<const NIB: bool>(
        a: &[u8],
        off: usize,
        b: &[u8],
        n: usize,
    ) -> u32 {
        let low = _mm512_set1_epi8(0x0f);
        let mut acc = _mm512_setzero_si512();
        let mut i = 0;
        while i < n {
            let left = n - i;
            let mask: __mmask64 = if left >= 64 { !0 } else { (1u64 << left) - 1 };
            // SAFETY: the mask limits every load to bytes below n (b, a's low half) or below
            // off + n (a's high half), inside the slices by the caller's checks.
            let (x, ql, qh) = unsafe {
                (
                    _mm512_maskz_loadu_epi8(mask, b.as_ptr().add(i).cast()),
                    _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(i).cast()),
                    if NIB {
                        _mm512_setzero_si512()
                    } else {
                        _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(off + i).cast())
                    },
                )
            };
            let lo = _mm512_and_si512(x, low);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(x), low);
            let (al, ah) = if NIB {
                (
                    _mm512_and_si512(ql, low),
                    _mm512_and_si512(_mm512_srli_epi16::<4>(ql), low),
                )
            } else {
                (ql, qh)
            };
            acc = _mm512_dpbusd_epi32(acc, al, lo);
            acc = _mm512_dpbusd_epi32(acc, ah, hi);
            i += 64;
        }
        _mm512_reduce_add_epi32(acc) as u32
    }
}

/// [`dot_u8_nibbles`] / [`dot_nibbles`] in AVX-512 VNNI where the CPU has it (None otherwise).
#[inline]
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls target-feature kernels after detection")
)]
fn nibbles_fast(a: &[u8], b: &[u8], both_packed: bool) -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Vnni {
        return Some(if both_packed {
            let n = a.len().min(b.len());
            // SAFETY: VNNI and AVX-512BW detected; n ≤ both lengths, off = 0.
            unsafe { x86::nibbles_vnni::<true>(a, 0, b, n) }
        } else {
            let n = b.len().min(a.len() / 2);
            // SAFETY: as above; n ≤ b.len() and n + n ≤ a.len().
            unsafe { x86::nibbles_vnni::<false>(a, n, b, n) }
        });
    }
    let _ = (a, b, both_packed);
    None
}

/// Number of differing bits over the common prefix of two bit codes (scalar reference; the
/// baseline x86-64 target has no `popcnt`, so this is the bit-trick count).
#[inline]
pub fn hamming_scalar(a: &[u32], b: &[u32]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Whether [`hamming_fast`] uses the `popcnt` instruction here.
pub fn popcnt_available() -> bool {
    static POPCNT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *POPCNT.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("popcnt")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// [`hamming_scalar`] with `popcnt` when this CPU has it.
#[inline]
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls a target-feature kernel after detection")
)]
pub fn hamming_fast(a: &[u32], b: &[u32]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if popcnt_available() {
        // SAFETY: `popcnt_available` detected the feature the kernel enables.
        return unsafe { hamming_popcnt(a, b) };
    }
    hamming_scalar(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u32], b: &[u32]) -> u32 {
    hamming_scalar(a, b)
}

/// Σ_j 2^j · popcount(bits ∧ planes_j) for `nplanes` planes of `bits.len()` words each laid
/// end to end in `planes` (scalar reference; missing plane words count as zero).
#[inline]
pub fn planes_dot_scalar(bits: &[u32], planes: &[u32], nplanes: usize) -> u32 {
    let n = bits.len();
    (0..nplanes)
        .map(|j| {
            let plane = planes.get(j * n..(j + 1) * n).unwrap_or(&[]);
            let c: u32 = bits
                .iter()
                .zip(plane)
                .map(|(a, b)| (a & b).count_ones())
                .sum();
            c << j
        })
        .sum()
}

/// [`planes_dot_scalar`] with `popcnt` when this CPU has it.
#[inline]
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls a target-feature kernel after detection")
)]
pub fn planes_dot_fast(bits: &[u32], planes: &[u32], nplanes: usize) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if popcnt_available() {
        // SAFETY: `popcnt_available` detected the feature the kernel enables.
        return unsafe { planes_dot_popcnt(bits, planes, nplanes) };
    }
    planes_dot_scalar(bits, planes, nplanes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn planes_dot_popcnt(bits: &[u32], planes: &[u32], nplanes: usize) -> u32 {
    let n = bits.len();
    if planes.len() < n * nplanes || !n.is_multiple_of(2) {
        return planes_dot_scalar(bits, planes, nplanes);
    }
    // Two words at a time: one 64-bit popcount per pair.
    let pair = |w: &[u32]| u64::from(w[0]) | (u64::from(w[1]) << 32);
    let mut total = 0u32;
    for j in 0..nplanes {
        let plane = &planes[j * n..(j + 1) * n];
        let c: u32 = bits
            .chunks_exact(2)
            .zip(plane.chunks_exact(2))
            .map(|(a, b)| (pair(a) & pair(b)).count_ones())
            .sum();
        total += c << j;
    }
    total
}

/// Σᵢ `tables[256·i + codes[i]]` over full 256-entry tables (pq's query-to-code distance):
/// the plain loop, with four accumulators. Codes beyond `tables.len() / 256` are ignored.
pub fn table_sum_scalar(tables: &[f32], codes: &[u8]) -> f32 {
    let codes = &codes[..codes.len().min(tables.len() / 256)];
    let mut acc = [0.0f32; 4];
    let mut blocks = tables.chunks_exact(1024).zip(codes.chunks_exact(4));
    for (t, c) in &mut blocks {
        acc[0] += t[usize::from(c[0])];
        acc[1] += t[256 + usize::from(c[1])];
        acc[2] += t[512 + usize::from(c[2])];
        acc[3] += t[768 + usize::from(c[3])];
    }
    let done = codes.len() / 4 * 4;
    for (i, &c) in codes.iter().enumerate().skip(done) {
        acc[0] += tables[256 * i + usize::from(c)];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// [`table_sum_scalar`] with AVX-512 gathers (16 codes per instruction) where the CPU has
/// them. Codes beyond `tables.len() / 256` are ignored.
#[inline]
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls target-feature kernels after detection")
)]
pub fn table_sum_fast(tables: &[f32], codes: &[u8]) -> f32 {
    let codes = &codes[..codes.len().min(tables.len() / 256)];
    #[cfg(target_arch = "x86_64")]
    if matches!(level(), Level::Avx512 | Level::Vnni) {
        // SAFETY: `level()` detected AVX-512BW (implies AVX-512F); the kernel reads
        // `tables[256·i + c]` for i < codes.len() ≤ tables.len() / 256 and c ≤ 255 only.
        return unsafe { gather::table_sum_avx512(tables, codes) };
    }
    table_sum_scalar(tables, codes)
}

/// Builds `out[j] = Σ_t (q[t] − col_t[j])²` (or `−Σ_t q[t]·col_t[j]` with `dot`) over the
/// coordinate-major codebook `book` of `ks` centroids (pq's query tables), vectorised for
/// the widest unit this CPU has.
#[inline]
#[cfg_attr(
    target_arch = "x86_64",
    expect(unsafe_code, reason = "calls target-feature kernels after detection")
)]
pub fn centroid_table(q: &[f32], book: &[f32], ks: usize, dot: bool, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if matches!(level(), Level::Avx512 | Level::Vnni) {
        // SAFETY: AVX-512BW detected (implies F); the body is safe code compiled for it.
        return unsafe { gather::centroid_table_avx512(q, book, ks, dot, out) };
    }
    centroid_table_body(q, book, ks, dot, out);
}

#[inline(always)]
fn centroid_table_body(q: &[f32], book: &[f32], ks: usize, dot: bool, out: &mut [f32]) {
    let out = &mut out[..ks];
    out.fill(0.0);
    for (t, &x) in q.iter().enumerate() {
        let Some(col) = book.get(t * ks..(t + 1) * ks) else {
            return;
        };
        if dot {
            for (o, &c) in out.iter_mut().zip(col) {
                *o -= x * c;
            }
        } else {
            for (o, &c) in out.iter_mut().zip(col) {
                let d = x - c;
                *o += d * d;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[expect(unsafe_code, reason = "SIMD intrinsics")]
mod gather {
    use core::arch::x86_64::*;

    /// `codes.len() * 256 <= tables.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn table_sum_avx512(tables: &[f32], codes: &[u8]) -> f32 {
        let lanes = _mm512_setr_epi32(
            0, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 3584,
            3840,
        );
        let mut acc = _mm512_setzero_ps();
        let base = tables.as_ptr();
        let mut i = 0;
        while i < codes.len() {
            let n = (codes.len() - i).min(16);
            let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
            let mut block = [0u8; 16];
            block[..n].copy_from_slice(&codes[i..i + n]);
            // SAFETY: `block` is 16 bytes; unaligned load.
            let c = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
            let idx = _mm512_add_epi32(
                _mm512_add_epi32(_mm512_cvtepu8_epi32(c), lanes),
                _mm512_set1_epi32((i * 256) as i32),
            );
            // SAFETY: an active lane k reads tables[256·(i + k) + c] with i + k < codes.len()
            // and c ≤ 255, inside `tables` by the precondition; inactive lanes read nothing.
            let v = unsafe {
                _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, base.cast())
            };
            acc = _mm512_add_ps(acc, v);
            i += 16;
        }
        _mm512_reduce_add_ps(acc)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn centroid_table_avx512(
        q: &[f32],
        book: &[f32],
        ks: usize,
        dot: bool,
        out: &mut [f32],
    ) {
        super::centroid_table_body(q, book, ks, dot, out);
    }
}

/// Σᵢ qᵢ·nᵢ where `n` are the 4-bit codes of `packed` in plane layout (byte j holds code j in
/// its low nibble and code j + D/2 in its high nibble, D = 2·packed.len()) and `q` holds D
/// bytes; with `FAST`, the SIMD u8 dot product over unpacked blocks.
#[inline]
pub fn dot_u8_nibbles<const FAST: bool>(q: &[u8], packed: &[u8]) -> u32 {
    if FAST && let Some(s) = nibbles_fast(q, packed, false) {
        return s;
    }
    let half = packed.len().min(q.len() / 2);
    let (q_lo, q_hi) = (&q[..half], &q[half..2 * half]);
    let mut sum = 0u32;
    let (mut lo, mut hi) = ([0u8; 128], [0u8; 128]);
    for (k, block) in packed[..half].chunks(128).enumerate() {
        let n = block.len();
        for ((l, h), &b) in lo.iter_mut().zip(hi.iter_mut()).zip(block) {
            *l = b & 15;
            *h = b >> 4;
        }
        let at = k * 128;
        sum += dot::<FAST>(&q_lo[at..at + n], &lo[..n]) + dot::<FAST>(&q_hi[at..at + n], &hi[..n]);
    }
    sum
}

/// Σᵢ aᵢ·bᵢ over the 4-bit codes of two packed rows (plane layout, see [`dot_u8_nibbles`]).
#[inline]
pub fn dot_nibbles<const FAST: bool>(a: &[u8], b: &[u8]) -> u32 {
    if FAST && let Some(s) = nibbles_fast(a, b, true) {
        return s;
    }
    let n = a.len().min(b.len());
    let mut sum = 0u32;
    let (mut al, mut ah, mut bl, mut bh) = ([0u8; 128], [0u8; 128], [0u8; 128], [0u8; 128]);
    for (x, y) in a[..n].chunks(128).zip(b[..n].chunks(128)) {
        let m = x.len();
        for i in 0..m {
            (al[i], ah[i]) = (x[i] & 15, x[i] >> 4);
            (bl[i], bh[i]) = (y[i] & 15, y[i] >> 4);
        }
        sum += dot::<FAST>(&al[..m], &bl[..m]) + dot::<FAST>(&ah[..m], &bh[..m]);
    }
    sum
}

/// [`dot_fast`] or [`dot_scalar`], chosen at compile time.
#[inline(always)]
pub(crate) fn dot<const FAST: bool>(a: &[u8], b: &[u8]) -> u32 {
    if FAST {
        dot_fast(a, b)
    } else {
        dot_scalar(a, b)
    }
}
