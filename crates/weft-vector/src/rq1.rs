//! `rq` with 1 bit: RaBitQ's sign codes over the rotated vector, read with an asymmetric
//! estimator (Gao & Long, SIGMOD 2024, <https://arxiv.org/abs/2405.12497>).
//!
//! A stored vector `x` (rotated: `y = R·x`, `D` coordinates, at least [`MIN_BITS`]) keeps one
//! bit per coordinate, `s_i = sign(y_i)`, and the scale `step = ‖y‖² / ‖y‖₁` that makes
//! `step · ⟨s, q⟩` RaBitQ's estimate of `⟨x, q⟩`. A query keeps more: its rotated coordinates
//! in [`QUERY_BITS`]-bit codes `c_i` over its own range (`q_i ≈ lo + Δ·c_i`), stored as bit
//! planes, so that
//!
//! ```text
//! ⟨s, q⟩ = 2·Σ_{s_i=+1} q_i − Σ q_i = 2lo·pop(s) + 2Δ·Σ_j 2^j·pop(s ∧ plane_j) − Σ q_i
//! ```
//!
//! costs `QUERY_BITS` AND-and-popcount passes over `D` bits. Two stored vectors (the graph's
//! neighbour selection) are compared by the angle their sign codes give, `cos(π·h/D)` with
//! `h` their Hamming distance, scaled by both norms.
//!
//! Sign codes describe directions from the origin, so vectors far from it (a shared offset,
//! as in most real data sets) all get nearly the same code. A quantizer may therefore hold a
//! centre `c` (the mean of a sample): codes are of `x − c`, the estimate is of
//! `⟨x − c, q − c⟩`, and `⟨x, q⟩ = ⟨x − c, q − c⟩ + (⟨x, c⟩ − ‖c‖²/2) + (⟨q, c⟩ − ‖c‖²/2)` with
//! one offset word kept per row (0 without a centre).
//!
//! Rows (4-byte words): stored `[step, pop(s), ‖y‖, ‖y‖², offset, s as D/32 words]`; query
//! `[2lo, 2Δ, Σq_i, ‖q‖², offset, plane_0 … plane_{QUERY_BITS−1}, D/32 words each]`, where `y`
//! and `q` are the rotated, centred vectors. Words 3 and 4 mean the same in both, and the row
//! lengths tell the two apart.

/// Fewest rotated coordinates (bits) of a code: low-dimensional vectors are padded, as the
/// sign of a coordinate carries little of a short vector.
pub(crate) const MIN_BITS: usize = 256;
/// Bits per coordinate of an encoded query.
pub(crate) const QUERY_BITS: usize = 4;
/// Header words of both row kinds.
pub(crate) const HEADER: usize = 5;

/// Words of a query row over `d` rotated coordinates.
pub(crate) fn query_words(d: usize) -> usize {
    HEADER + QUERY_BITS * d / 32
}

/// Writes the stored row of the rotated, centred vector `y` into `row` (`HEADER + D/32`
/// words), with `offset` = ⟨x, c⟩ − ‖c‖²/2.
pub(crate) fn encode(y: &[f32], offset: f32, row: &mut [f32]) {
    let (head, body) = row.split_at_mut(HEADER);
    let bits: &mut [u32] = bytemuck::cast_slice_mut(body);
    bits.fill(0);
    let (mut l1, mut l2) = (0.0f64, 0.0f64);
    for (i, &x) in y.iter().enumerate().take(bits.len() * 32) {
        if x > 0.0 {
            bits[i / 32] |= 1 << (i % 32);
        }
        l1 += f64::from(x.abs());
        l2 += f64::from(x) * f64::from(x);
    }
    let pop: u32 = bits.iter().map(|w| w.count_ones()).sum();
    head[0] = if l1 > 0.0 { (l2 / l1) as f32 } else { 0.0 };
    head[1] = pop as f32;
    head[2] = l2.sqrt() as f32;
    head[3] = l2 as f32;
    head[4] = offset;
}

/// Writes the query row of the rotated, centred vector `y` into `row` ([`query_words`]
/// words), with `offset` as for [`encode`].
pub(crate) fn encode_query(y: &[f32], offset: f32, row: &mut [f32]) {
    let (head, body) = row.split_at_mut(HEADER);
    let planes: &mut [u32] = bytemuck::cast_slice_mut(body);
    planes.fill(0);
    let words = planes.len() / QUERY_BITS;
    let d = words * 32;
    let (lo, hi) = y
        .iter()
        .take(d)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 0.0) };
    let top = ((1u32 << QUERY_BITS) - 1) as f32;
    let delta = (hi - lo) / top;
    let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
    let (mut sum_c, mut l2) = (0u64, 0.0f64);
    for (i, &x) in y.iter().enumerate().take(d) {
        // `as` saturates and maps NaN to 0.
        let c = (((x - lo) * inv + 0.5) as u32).min(top as u32);
        sum_c += u64::from(c);
        for j in 0..QUERY_BITS {
            if (c >> j) & 1 == 1 {
                planes[j * words + i / 32] |= 1 << (i % 32);
            }
        }
        l2 += f64::from(x) * f64::from(x);
    }
    head[0] = 2.0 * lo;
    head[1] = 2.0 * delta;
    head[2] = (f64::from(lo) * d as f64 + f64::from(delta) * sum_c as f64) as f32;
    head[3] = l2 as f32;
    head[4] = offset;
}

/// For a row `a` (query or stored) against a stored row `b`: the estimate of the centred
/// ⟨x − c, y − c⟩, the sum of both offsets (add it for the uncentred ⟨x, y⟩) and both centred
/// squared norms; None when the rows do not fit together.
#[inline(always)]
pub(crate) fn estimate<const FAST: bool>(a: &[f32], b: &[f32]) -> Option<Estimate> {
    if a.len() < HEADER || b.len() < HEADER {
        return None;
    }
    let (ha, wa) = a.split_at(HEADER);
    let (hb, wb) = b.split_at(HEADER);
    let (wa, wb): (&[u32], &[u32]) = (bytemuck::cast_slice(wa), bytemuck::cast_slice(wb));
    let n = wb.len();
    let dot = if wa.len() == QUERY_BITS * n {
        let w = planes_dot::<FAST>(wb, wa) as f32;
        hb[0] * (ha[0] * hb[1] + ha[1] * w - ha[2])
    } else if wa.len() == n && n > 0 {
        let h = crate::kernels_u8::hamming_fast(wa, wb) as f32;
        let d = (32 * n) as f32;
        ha[2] * hb[2] * (std::f32::consts::PI * h / d).cos()
    } else {
        return None;
    };
    Some(Estimate {
        centred: dot,
        offset: ha[4] + hb[4],
        na: ha[3],
        nb: hb[3],
    })
}

/// What [`estimate`] returns.
pub(crate) struct Estimate {
    pub(crate) centred: f32,
    pub(crate) offset: f32,
    pub(crate) na: f32,
    pub(crate) nb: f32,
}

/// Σ_j 2^j · popcount(bits ∧ plane_j) over the planes of a query row.
#[inline(always)]
fn planes_dot<const FAST: bool>(bits: &[u32], planes: &[u32]) -> u32 {
    if FAST {
        crate::kernels_u8::planes_dot_fast(bits, planes, QUERY_BITS)
    } else {
        crate::kernels_u8::planes_dot_scalar(bits, planes, QUERY_BITS)
    }
}
