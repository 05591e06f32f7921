//! Vector compression: Weaviate's `sq` (8-bit scalar, one global range), `rq` with 8 bits
//! (a random rotation, then 8-bit scalar codes with a range per vector) and `bq` (one sign bit
//! per dimension, Hamming distance: a guide for the walk, always rescored).
//!
//! A compressed vector is a **row** of 4-byte words, so the same arenas and the same kernel
//! signature ([`DistanceFn`]) serve f32 vectors and codes: a few header words (f32 values)
//! followed by the code bytes packed into words (read through `bytemuck`, zero padding).
//! Queries are encoded the same way and compared code to code (symmetric, as Weaviate), so
//! one u8 dot product per distance does all the work:
//!
//! | kind | row | ⟨x, y⟩ estimate |
//! |---|---|---|
//! | `sq` | `[s, βₓ, ‖x̂‖², c₀…c_d]`, s = (range/255)², βₓ = d·min²/2 + min·range/255·Σc | βₓ + β_y + s·Σcₓc_y |
//! | `rq8` | `[l, step, step·Σc, ‖x‖², c₀…c_D]` over the rotated vector (D = ⌈d/64⌉·64) | D·lₓl_y + lₓS_y + l_ySₓ + stepₓstep_y·Σcₓc_y |
//!
//! and the metric's distance follows: cosine 1 − ⟨x, y⟩ (vectors normalised first), dot
//! −⟨x, y⟩, l2-squared ‖x‖² + ‖y‖² − 2⟨x, y⟩. Manhattan and hamming have no compressed form.
//!
//! The rotation is 3 rounds of (random ±1 signs, a random permutation, a Walsh–Hadamard
//! transform on each block of 64 scaled by 1/8), all drawn from splitmix64 over the stored seed:
//! orthogonal, so inner products and norms are kept, while a vector's energy is spread over
//! every coordinate, which is what makes one range per vector precise. The generator is part of
//! the on-disk format (`docs/format/vector-index-snapshot.md`), fixed by a golden test.

use std::fmt;

use crate::metric::{DistanceFn, Metric};

/// Seed of the rotation of new `rq` indexes (Weaviate's constant).
pub const RQ_SEED: u64 = 0x535a_b510_5169_b1df;
const RQ_ROUNDS: usize = 3;
const BLOCK: usize = 64;

/// Why a quantizer cannot be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantError {
    /// The metric has no compressed form.
    Metric(Metric),
    /// The serialised parameters are damaged.
    Malformed(&'static str),
    /// Compression takes 1 to 65 536 dimensions.
    Dimension(usize),
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::Metric(m) => write!(f, "distance {m} cannot be used with compression"),
            QuantError::Malformed(what) => write!(f, "malformed quantizer parameters: {what}"),
            QuantError::Dimension(d) => {
                write!(f, "compression takes 1 to {MAX_DIM} dimensions, not {d}")
            }
        }
    }
}

impl std::error::Error for QuantError {}

/// Which compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    /// Weaviate's `sq`.
    Sq,
    /// Weaviate's `rq` with `bits: 8`.
    Rq8,
    /// Weaviate's `rq` with `bits: 1` (RaBitQ sign codes, see `rq1.rs`).
    Rq1,
    /// Weaviate's `bq`: one sign bit per dimension, compared by Hamming distance whatever the
    /// metric (so it needs rescoring).
    Bq,
}

impl QuantKind {
    /// The schema name.
    pub fn name(self) -> &'static str {
        match self {
            QuantKind::Sq => "sq",
            QuantKind::Rq8 => "rq-8",
            QuantKind::Rq1 => "rq-1",
            QuantKind::Bq => "bq",
        }
    }
}

/// A trained (sq) or seeded (rq) quantizer for vectors of one dimension and metric.
#[derive(Clone, PartialEq)]
pub struct Quantizer {
    metric: Metric,
    dim: usize,
    params: Params,
}

#[derive(Clone, PartialEq)]
enum Params {
    Sq {
        min: f32,
        range: f32,
    },
    Rq8 {
        seed: u64,
        rotation: Rotation,
    },
    Rq1 {
        seed: u64,
        rotation: Rotation,
        /// The centre `c` (empty: the origin) and ‖c‖²/2.
        center: Vec<f32>,
        half_c2: f32,
    },
    Bq,
}

impl fmt::Debug for Quantizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Quantizer");
        d.field("kind", &self.kind())
            .field("metric", &self.metric)
            .field("dim", &self.dim);
        match &self.params {
            Params::Sq { min, range } => d.field("min", min).field("range", range),
            Params::Rq8 { seed, .. } => d.field("seed", seed),
            Params::Rq1 { seed, center, .. } => {
                d.field("seed", seed).field("centred", &!center.is_empty())
            }
            Params::Bq => &mut d,
        };
        d.finish()
    }
}

/// Largest dimension a quantizer takes (the u8 kernels' sums stay exact below it).
pub const MAX_DIM: usize = 65_536;

fn check_dim(dim: usize) -> Result<(), QuantError> {
    if (1..=MAX_DIM).contains(&dim) {
        Ok(())
    } else {
        Err(QuantError::Dimension(dim))
    }
}

fn check_metric(metric: Metric) -> Result<(), QuantError> {
    match metric {
        Metric::Cosine | Metric::Dot | Metric::L2Squared => Ok(()),
        m => Err(QuantError::Metric(m)),
    }
}

impl Quantizer {
    /// An `sq` quantizer whose range is the smallest and largest component of `sample`
    /// (vectors in stored form: normalised for cosine). An empty sample gives the range 0..1.
    pub fn train_sq<'a>(
        metric: Metric,
        dim: usize,
        sample: impl IntoIterator<Item = &'a [f32]>,
    ) -> Result<Quantizer, QuantError> {
        check_metric(metric)?;
        check_dim(dim)?;
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for v in sample {
            for &x in v.iter().filter(|x| x.is_finite()) {
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        Ok(Quantizer {
            metric,
            dim,
            params: Params::Sq {
                min: lo,
                range: hi - lo,
            },
        })
    }

    /// An `rq` 8-bit quantizer with the rotation drawn from `seed` (no training).
    pub fn rq8(metric: Metric, dim: usize, seed: u64) -> Result<Quantizer, QuantError> {
        check_metric(metric)?;
        check_dim(dim)?;
        Ok(Quantizer {
            metric,
            dim,
            params: Params::Rq8 {
                seed,
                rotation: Rotation::new(dim, seed),
            },
        })
    }

    /// An `rq` 1-bit quantizer with the rotation drawn from `seed`, codes centred on the
    /// origin (no training); codes have at least 256 bits.
    pub fn rq1(metric: Metric, dim: usize, seed: u64) -> Result<Quantizer, QuantError> {
        Quantizer::rq1_centered(metric, dim, seed, Vec::new())
    }

    /// An `rq` 1-bit quantizer whose codes are centred on the mean of `sample` (vectors in
    /// stored form); an empty sample centres on the origin.
    pub fn train_rq1<'a>(
        metric: Metric,
        dim: usize,
        seed: u64,
        sample: impl IntoIterator<Item = &'a [f32]>,
    ) -> Result<Quantizer, QuantError> {
        let mut sum = vec![0.0f64; dim];
        let mut n = 0usize;
        for v in sample {
            if v.len() == dim && v.iter().all(|x| x.is_finite()) {
                sum.iter_mut().zip(v).for_each(|(s, &x)| *s += f64::from(x));
                n += 1;
            }
        }
        let center = if n == 0 {
            Vec::new()
        } else {
            sum.iter().map(|s| (s / n as f64) as f32).collect()
        };
        Quantizer::rq1_centered(metric, dim, seed, center)
    }

    fn rq1_centered(
        metric: Metric,
        dim: usize,
        seed: u64,
        center: Vec<f32>,
    ) -> Result<Quantizer, QuantError> {
        check_metric(metric)?;
        check_dim(dim)?;
        if !center.is_empty() && center.len() != dim {
            return Err(QuantError::Malformed("rq centre of another dimension"));
        }
        let out = dim.div_ceil(BLOCK).max(1) * BLOCK;
        let half_c2 = crate::scalar::dot_product(&center, &center) / 2.0;
        Ok(Quantizer {
            metric,
            dim,
            params: Params::Rq1 {
                seed,
                rotation: Rotation::with_out_dim(dim, out.max(crate::rq1::MIN_BITS), seed),
                center,
                half_c2,
            },
        })
    }

    /// For rq-1: `v` minus the centre, rotated, and ⟨v, c⟩ − ‖c‖²/2.
    fn rq1_input(&self, v: &[f32]) -> Option<(Vec<f32>, f32)> {
        let Params::Rq1 {
            rotation,
            center,
            half_c2,
            ..
        } = &self.params
        else {
            return None;
        };
        if center.is_empty() {
            return Some((rotation.apply(v), 0.0));
        }
        let centred: Vec<f32> = v.iter().zip(center).map(|(x, c)| x - c).collect();
        let offset = crate::scalar::dot_product(v, center) - half_c2;
        Some((rotation.apply(&centred), offset))
    }

    /// A `bq` quantizer (no training; any metric: its distances only guide the walk).
    pub fn bq(metric: Metric, dim: usize) -> Result<Quantizer, QuantError> {
        check_dim(dim)?;
        Ok(Quantizer {
            metric,
            dim,
            params: Params::Bq,
        })
    }

    /// Which compression this is.
    pub fn kind(&self) -> QuantKind {
        match self.params {
            Params::Sq { .. } => QuantKind::Sq,
            Params::Rq8 { .. } => QuantKind::Rq8,
            Params::Rq1 { .. } => QuantKind::Rq1,
            Params::Bq => QuantKind::Bq,
        }
    }

    /// The metric distances are computed for.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The dimension of the vectors it encodes.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn code_len(&self) -> usize {
        match &self.params {
            Params::Sq { .. } => self.dim.div_ceil(4) * 4,
            Params::Rq8 { rotation, .. } => rotation.out_dim,
            Params::Rq1 { rotation, .. } => rotation.out_dim / 8,
            Params::Bq => self.dim.div_ceil(32) * 4,
        }
    }

    fn header_words(&self) -> usize {
        match self.params {
            Params::Sq { .. } => 3,
            Params::Rq8 { .. } => 4,
            Params::Rq1 { .. } => crate::rq1::HEADER,
            Params::Bq => 0,
        }
    }

    /// Words per encoded row.
    pub fn row_words(&self) -> usize {
        self.header_words() + self.code_len() / 4
    }

    /// Encodes `v` (stored form: normalised for cosine; `dim` components) into `row`
    /// ([`Quantizer::row_words`] words).
    pub fn encode(&self, v: &[f32], row: &mut [f32]) {
        if let Some((y, offset)) = self.rq1_input(v) {
            crate::rq1::encode(&y, offset, row);
            return;
        }
        let h = self.header_words();
        let (head, body) = row.split_at_mut(h);
        let codes: &mut [u8] = bytemuck::cast_slice_mut(body);
        codes.fill(0);
        match &self.params {
            Params::Sq { min, range } => {
                let scale = if *range > 0.0 { 255.0 / range } else { 0.0 };
                let mut sum = 0u64;
                for (c, &x) in codes.iter_mut().zip(v) {
                    *c = quantize((x - min) * scale);
                    sum += u64::from(*c);
                }
                let step = range / 255.0;
                let mut n = 0.0f64;
                for &c in codes.iter().take(self.dim) {
                    let x = f64::from(*min) + f64::from(step) * f64::from(c);
                    n += x * x;
                }
                head[0] = step * step;
                head[1] = self.dim as f32 * min * min / 2.0 + min * step * sum as f32;
                head[2] = n as f32;
            }
            Params::Rq8 { rotation, .. } => {
                let y = rotation.apply(v);
                let (lo, hi) = y
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
                        (l.min(x), h.max(x))
                    });
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 0.0) };
                let step = (hi - lo) / 255.0;
                let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
                let mut sum = 0u64;
                for (c, &x) in codes.iter_mut().zip(&y) {
                    *c = quantize((x - lo) * inv);
                    sum += u64::from(*c);
                }
                head[0] = lo;
                head[1] = step;
                head[2] = step * sum as f32;
                head[3] = crate::scalar::dot_product(v, v);
            }
            Params::Rq1 { .. } => {}
            Params::Bq => {
                for (i, &x) in v.iter().enumerate().take(self.dim) {
                    if x < 0.0 {
                        codes[i / 8] |= 1 << (i % 8);
                    }
                }
            }
        }
    }

    /// `v` encoded as a new row (see [`Quantizer::encode`]).
    pub fn encode_row(&self, v: &[f32]) -> Vec<f32> {
        let mut row = vec![0.0; self.row_words()];
        self.encode(v, &mut row);
        row
    }

    /// `v` (stored form) encoded as a search query: the same as [`Quantizer::encode_row`]
    /// except for `rq` with 1 bit, whose queries keep 4 bits per coordinate (a longer row the
    /// kernel tells apart by its length). Compare it with stored rows only, as the first
    /// argument of [`Quantizer::distance_fn`]'s kernel.
    pub fn encode_query(&self, v: &[f32]) -> Vec<f32> {
        match (&self.params, self.rq1_input(v)) {
            (Params::Rq1 { rotation, .. }, Some((y, offset))) => {
                let mut row = vec![0.0; crate::rq1::query_words(rotation.out_dim)];
                crate::rq1::encode_query(&y, offset, &mut row);
                row
            }
            _ => self.encode_row(v),
        }
    }

    /// The kernel comparing two rows (a query encoded with [`Quantizer::encode`] and a stored
    /// row, or two stored rows), with the fastest u8 dot product of this CPU.
    pub fn distance_fn(&self) -> DistanceFn {
        let fast = crate::kernels_u8::fast_available();
        macro_rules! pick {
            ($f:ident) => {
                match (self.metric, fast) {
                    (Metric::Cosine, true) => $f::<COS, true>,
                    (Metric::Cosine, false) => $f::<COS, false>,
                    (Metric::Dot, true) => $f::<DOT, true>,
                    (Metric::Dot, false) => $f::<DOT, false>,
                    (_, true) => $f::<L2, true>,
                    (_, false) => $f::<L2, false>,
                }
            };
        }
        match self.params {
            Params::Sq { .. } => pick!(sq_distance),
            Params::Rq8 { .. } => pick!(rq_distance),
            Params::Rq1 { .. } => pick!(rq1_distance),
            Params::Bq => {
                if crate::kernels_u8::popcnt_available() {
                    bq_distance::<true>
                } else {
                    bq_distance::<false>
                }
            }
        }
    }

    /// The parameters as bytes (see the snapshot format).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        b.push(match self.kind() {
            QuantKind::Sq => 1,
            QuantKind::Rq8 => 2,
            QuantKind::Bq => 3,
            QuantKind::Rq1 => 4,
        });
        b.push(self.metric.code());
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        match &self.params {
            Params::Sq { min, range } => {
                b.extend_from_slice(&min.to_le_bytes());
                b.extend_from_slice(&range.to_le_bytes());
            }
            Params::Rq8 { seed, .. } => {
                b.extend_from_slice(&seed.to_le_bytes());
                b.push(RQ_ROUNDS as u8);
            }
            Params::Rq1 { seed, center, .. } => {
                b.extend_from_slice(&seed.to_le_bytes());
                b.push(RQ_ROUNDS as u8);
                b.push(u8::from(!center.is_empty()));
                center
                    .iter()
                    .for_each(|c| b.extend_from_slice(&c.to_le_bytes()));
            }
            Params::Bq => {}
        }
        b
    }

    /// Parses [`Quantizer::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Quantizer, QuantError> {
        let bad = QuantError::Malformed;
        let (&kind, rest) = b.split_first().ok_or(bad("empty"))?;
        let (&metric, rest) = rest.split_first().ok_or(bad("no metric"))?;
        let metric = Metric::from_code(metric).ok_or(bad("unknown metric"))?;
        let dim = u32::from_le_bytes(
            rest.get(..4)
                .and_then(|d| d.try_into().ok())
                .ok_or(bad("no dimension"))?,
        ) as usize;
        if check_dim(dim).is_err() {
            return Err(bad("dimension out of range"));
        }
        let rest = &rest[4..];
        let f32_at = |i: usize| -> Result<f32, QuantError> {
            rest.get(i..i + 4)
                .and_then(|d| d.try_into().ok())
                .map(f32::from_le_bytes)
                .ok_or(bad("truncated"))
        };
        match kind {
            1 => {
                if rest.len() != 8 {
                    return Err(bad("sq parameters are 8 bytes"));
                }
                check_metric(metric)?;
                let (min, range) = (f32_at(0)?, f32_at(4)?);
                if !min.is_finite() || !range.is_finite() || range < 0.0 {
                    return Err(bad("sq range not finite"));
                }
                Ok(Quantizer {
                    metric,
                    dim,
                    params: Params::Sq { min, range },
                })
            }
            2 => {
                if rest.len() != 9 || usize::from(rest[8]) != RQ_ROUNDS {
                    return Err(bad("rq parameters are a seed and 3 rounds"));
                }
                let seed = u64::from_le_bytes(rest[..8].try_into().map_err(|_| bad("seed"))?);
                Quantizer::rq8(metric, dim, seed)
            }
            4 => {
                if rest.len() < 10 || usize::from(rest[8]) != RQ_ROUNDS {
                    return Err(bad(
                        "rq-1 parameters are a seed, 3 rounds and a centre flag",
                    ));
                }
                let seed = u64::from_le_bytes(rest[..8].try_into().map_err(|_| bad("seed"))?);
                let center: Vec<f32> = match (rest[9], &rest[10..]) {
                    (0, []) => Vec::new(),
                    (1, c) if c.len() == 4 * dim => c
                        .chunks_exact(4)
                        .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                        .collect(),
                    _ => return Err(bad("rq-1 centre")),
                };
                if center.iter().any(|c| !c.is_finite()) {
                    return Err(bad("rq-1 centre not finite"));
                }
                Quantizer::rq1_centered(metric, dim, seed, center)
            }
            3 if rest.is_empty() => Quantizer::bq(metric, dim),
            3 => Err(bad("bq has no parameters")),
            _ => Err(bad("unknown quantizer kind")),
        }
    }
}

#[inline(always)]
fn quantize(x: f32) -> u8 {
    // `as` saturates (and maps NaN to 0).
    (x + 0.5) as u8
}

const COS: u8 = 0;
const DOT: u8 = 1;
const L2: u8 = 2;

#[inline(always)]
fn split(row: &[f32], h: usize) -> (&[f32], &[u8]) {
    let (head, body) = row.split_at(h.min(row.len()));
    (head, bytemuck::cast_slice(body))
}

#[inline(always)]
fn dot_u8<const FAST: bool>(a: &[u8], b: &[u8]) -> u32 {
    if FAST {
        crate::kernels_u8::dot_fast(a, b)
    } else {
        crate::kernels_u8::dot_scalar(a, b)
    }
}

#[inline(always)]
fn finish<const M: u8>(dot: f32, na: f32, nb: f32) -> f32 {
    match M {
        COS => 1.0 - dot,
        DOT => -dot,
        _ => (na + nb - 2.0 * dot).max(0.0),
    }
}

fn sq_distance<const M: u8, const FAST: bool>(a: &[f32], b: &[f32]) -> f32 {
    let (ha, ca) = split(a, 3);
    let (hb, cb) = split(b, 3);
    if ha.len() < 3 || hb.len() < 3 {
        return f32::INFINITY;
    }
    let dot = ha[1] + hb[1] + ha[0] * dot_u8::<FAST>(ca, cb) as f32;
    finish::<M>(dot, ha[2], hb[2])
}

fn rq_distance<const M: u8, const FAST: bool>(a: &[f32], b: &[f32]) -> f32 {
    let (ha, ca) = split(a, 4);
    let (hb, cb) = split(b, 4);
    if ha.len() < 4 || hb.len() < 4 {
        return f32::INFINITY;
    }
    let d = ca.len() as f32;
    let dot = d * ha[0] * hb[0]
        + ha[0] * hb[2]
        + hb[0] * ha[2]
        + ha[1] * hb[1] * dot_u8::<FAST>(ca, cb) as f32;
    finish::<M>(dot, ha[3], hb[3])
}

fn rq1_distance<const M: u8, const FAST: bool>(a: &[f32], b: &[f32]) -> f32 {
    match crate::rq1::estimate::<FAST>(a, b) {
        // ‖x − y‖² is the same centred or not.
        Some(e) if M == L2 => finish::<M>(e.centred, e.na, e.nb),
        Some(e) => finish::<M>(e.centred + e.offset, e.na, e.nb),
        None => f32::INFINITY,
    }
}

fn bq_distance<const FAST: bool>(a: &[f32], b: &[f32]) -> f32 {
    let (a, b): (&[u32], &[u32]) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
    let n = if FAST {
        crate::kernels_u8::hamming_fast(a, b)
    } else {
        crate::kernels_u8::hamming_scalar(a, b)
    };
    n as f32
}

/// splitmix64 (part of the format: it draws the rotation).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n ≥ 1) by Lemire's multiply-shift (bias < n / 2⁶⁴, irrelevant here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The orthogonal rotation of `rq`: see the module docs.
#[derive(Clone, PartialEq)]
struct Rotation {
    dim: usize,
    out_dim: usize,
    /// Per round: signs (±1) and the permutation (`y[i] = x[perm[i]]`).
    rounds: Vec<(Vec<f32>, Vec<u32>)>,
}

impl Rotation {
    fn new(dim: usize, seed: u64) -> Rotation {
        Rotation::with_out_dim(dim, dim.div_ceil(BLOCK).max(1) * BLOCK, seed)
    }

    /// A rotation into `out_dim` (a multiple of 64, at least `dim`) coordinates.
    fn with_out_dim(dim: usize, out_dim: usize, seed: u64) -> Rotation {
        let mut rng = SplitMix(seed);
        let rounds = (0..RQ_ROUNDS)
            .map(|_| {
                let signs = (0..out_dim)
                    .map(|_| if rng.next() & 1 == 1 { -1.0 } else { 1.0 })
                    .collect();
                let mut perm: Vec<u32> = (0..out_dim as u32).collect();
                for i in (1..out_dim).rev() {
                    perm.swap(i, rng.below(i + 1));
                }
                (signs, perm)
            })
            .collect();
        Rotation {
            dim,
            out_dim,
            rounds,
        }
    }

    fn apply(&self, v: &[f32]) -> Vec<f32> {
        let mut x = vec![0.0f32; self.out_dim];
        let n = v.len().min(self.dim);
        x[..n].copy_from_slice(&v[..n]);
        let mut y = vec![0.0f32; self.out_dim];
        for (signs, perm) in &self.rounds {
            for (xi, s) in x.iter_mut().zip(signs) {
                *xi *= s;
            }
            for (yi, &p) in y.iter_mut().zip(perm) {
                *yi = x[p as usize];
            }
            for block in y.chunks_exact_mut(BLOCK) {
                fwht(block);
            }
            std::mem::swap(&mut x, &mut y);
        }
        x
    }
}

/// In-place Walsh–Hadamard transform of a power-of-two block, scaled to stay orthogonal.
fn fwht(x: &mut [f32]) {
    let n = x.len();
    let mut h = 1;
    while h < n {
        for i in (0..n).step_by(2 * h) {
            for j in i..i + h {
                let (a, b) = (x[j], x[j + h]);
                x[j] = a + b;
                x[j + h] = a - b;
            }
        }
        h *= 2;
    }
    let s = 1.0 / (n as f32).sqrt();
    x.iter_mut().for_each(|v| *v *= s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vecs(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut r = SplitMix(seed);
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| (r.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
                    .collect()
            })
            .collect()
    }

    fn row(q: &Quantizer, v: &[f32]) -> Vec<f32> {
        let mut r = vec![0.0; q.row_words()];
        q.encode(v, &mut r);
        r
    }

    #[test]
    fn rotation_keeps_norms_and_inner_products() {
        for d in [1, 5, 64, 100, 384] {
            let rot = Rotation::new(d, RQ_SEED);
            let vs = vecs(4, d, 7);
            for a in &vs {
                let ra = rot.apply(a);
                let n0 = crate::scalar::dot_product(a, a);
                let n1 = crate::scalar::dot_product(&ra, &ra);
                assert!((n0 - n1).abs() < 1e-4 * n0.max(1.0), "{d}: {n0} vs {n1}");
                for b in &vs {
                    let rb = rot.apply(b);
                    let d0 = crate::scalar::dot_product(a, b);
                    let d1 = crate::scalar::dot_product(&ra, &rb);
                    assert!((d0 - d1).abs() < 1e-4 * n0.max(1.0));
                }
            }
        }
    }

    /// The rotation is part of the format: a different stream would make old codes wrong.
    #[test]
    fn rotation_stream_is_fixed() {
        let rot = Rotation::new(3, RQ_SEED);
        let y = rot.apply(&[1.0, 0.0, 0.0]);
        let digest: f64 = y
            .iter()
            .enumerate()
            .map(|(i, &v)| f64::from(v) * (i as f64 + 1.0))
            .sum();
        let signs: Vec<i32> = rot.rounds[0].0[..8].iter().map(|&s| s as i32).collect();
        let perm = &rot.rounds[0].1[..4];
        assert_eq!(
            (signs, perm.to_vec(), format!("{digest:.4}")),
            (
                vec![1, 1, 1, 1, -1, 1, 1, -1],
                vec![31, 60, 25, 45],
                "-28.7500".to_string()
            )
        );
    }

    fn check_estimates(q: &Quantizer, vs: &[Vec<f32>], tol: f32) {
        let exact = q.metric().scalar_fn();
        let dist = q.distance_fn();
        let rows: Vec<Vec<f32>> = vs.iter().map(|v| row(q, v)).collect();
        for (a, ra) in vs.iter().zip(&rows) {
            for (b, rb) in vs.iter().zip(&rows) {
                let e = exact(a, b);
                let got = dist(ra, rb);
                assert!(
                    (e - got).abs() <= tol,
                    "{:?}: exact {e}, compressed {got}",
                    q.kind()
                );
            }
        }
    }

    #[test]
    fn estimates_follow_the_exact_distances() {
        for m in [Metric::Cosine, Metric::Dot, Metric::L2Squared] {
            let mut vs = vecs(20, 96, 3);
            if m == Metric::Cosine {
                vs.iter_mut().for_each(|v| crate::normalize(v));
            }
            let sq = Quantizer::train_sq(m, 96, vs.iter().map(Vec::as_slice)).unwrap();
            let rq = Quantizer::rq8(m, 96, RQ_SEED).unwrap();
            // Components in −1..1 (range 2): an sq step is 2/255.
            let tol = if m == Metric::Cosine { 0.02 } else { 0.5 };
            check_estimates(&sq, &vs, tol);
            check_estimates(&rq, &vs, tol);
        }
    }

    /// rq with 1 bit: the asymmetric estimate (query rows) and the symmetric one (two stored
    /// rows) both follow the exact distance within RaBitQ's error at 256 bits (≈ 1/√D of the
    /// norms), and on average much closer.
    #[test]
    fn rq1_estimates_follow_the_exact_distances() {
        for m in [Metric::Cosine, Metric::Dot, Metric::L2Squared] {
            let mut vs = vecs(30, 100, 11);
            if m == Metric::Cosine {
                vs.iter_mut().for_each(|v| crate::normalize(v));
            }
            let q = Quantizer::rq1(m, 100, RQ_SEED).unwrap();
            assert_eq!(q.row_words(), 5 + 256 / 32);
            let exact = m.scalar_fn();
            let dist = q.distance_fn();
            let rows: Vec<Vec<f32>> = vs.iter().map(|v| row(&q, v)).collect();
            // Norms² are ≈ 33 here (100 components uniform in −1..1) and 1 for cosine.
            let scale = if m == Metric::Cosine { 1.0 } else { 33.0 };
            let (mut asym_err, mut sym_err, mut n) = (0.0f32, 0.0f32, 0.0f32);
            for (a, ra) in vs.iter().zip(&rows) {
                let qa = q.encode_query(a);
                assert_eq!(qa.len(), 5 + 4 * 256 / 32);
                for (b, rb) in vs.iter().zip(&rows) {
                    let e = exact(a, b);
                    let asym = dist(&qa, rb);
                    let sym = dist(ra, rb);
                    for (what, got) in [("query", asym), ("stored", sym)] {
                        assert!(
                            (e - got).abs() <= 0.5 * scale,
                            "{m:?} {what}: exact {e}, estimate {got}"
                        );
                    }
                    asym_err += (e - asym).abs();
                    sym_err += (e - sym).abs();
                    n += 1.0;
                }
            }
            assert!(
                asym_err / n <= 0.1 * scale,
                "{m:?}: mean error {}",
                asym_err / n
            );
            assert!(
                sym_err / n <= 0.15 * scale,
                "{m:?}: mean error {}",
                sym_err / n
            );
        }
    }

    /// The asymmetric estimate ranks like the exact distance: the true nearest neighbour of
    /// each query is the best of 200 by the estimate.
    #[test]
    fn rq1_ranks_the_nearest_neighbour_high() {
        let mut vs = vecs(200, 128, 21);
        vs.iter_mut().for_each(|v| crate::normalize(v));
        let q = Quantizer::rq1(Metric::Cosine, 128, RQ_SEED).unwrap();
        let dist = q.distance_fn();
        let rows: Vec<Vec<f32>> = vs.iter().map(|v| row(&q, v)).collect();
        let exact = Metric::Cosine.scalar_fn();
        // Each query is a stored vector plus noise of about its own size (cosine ≈ 0.7 to it,
        // ≈ 0 ± 0.1 to the others).
        let noise = vecs(20, 128, 99);
        let mut queries: Vec<Vec<f32>> = noise
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut n = n.clone();
                crate::normalize(&mut n);
                vs[i * 7].iter().zip(&n).map(|(a, b)| a + b).collect()
            })
            .collect();
        queries.iter_mut().for_each(|v| crate::normalize(v));
        for query in &queries {
            let best = (0..vs.len())
                .min_by(|&i, &j| exact(query, &vs[i]).total_cmp(&exact(query, &vs[j])))
                .unwrap();
            let qr = q.encode_query(query);
            let mut by_code: Vec<usize> = (0..vs.len()).collect();
            by_code.sort_by(|&i, &j| dist(&qr, &rows[i]).total_cmp(&dist(&qr, &rows[j])));
            assert_eq!(by_code[0], best, "by code: {:?}", &by_code[..10]);
        }
    }

    /// Far from the origin (a shared offset of 5 per component) sign codes of the raw vectors
    /// say little; centred on the sample's mean they follow the distances again.
    #[test]
    fn rq1_centred_codes_follow_offset_data() {
        for m in [Metric::Dot, Metric::L2Squared] {
            let vs: Vec<Vec<f32>> = vecs(40, 128, 17)
                .into_iter()
                .map(|v| v.into_iter().map(|x| x + 5.0).collect())
                .collect();
            let trained =
                Quantizer::train_rq1(m, 128, RQ_SEED, vs.iter().map(Vec::as_slice)).unwrap();
            let origin = Quantizer::rq1(m, 128, RQ_SEED).unwrap();
            let exact = m.scalar_fn();
            let err = |q: &Quantizer| {
                let dist = q.distance_fn();
                let rows: Vec<Vec<f32>> = vs.iter().map(|v| row(q, v)).collect();
                let mut e = 0.0f32;
                for a in &vs {
                    let qa = q.encode_query(a);
                    for (b, rb) in vs.iter().zip(&rows) {
                        e += (exact(a, b) - dist(&qa, rb)).abs();
                    }
                }
                e / (vs.len() * vs.len()) as f32
            };
            let (t, o) = (err(&trained), err(&origin));
            // ‖x − y‖² ≈ 85 here, ⟨x, y⟩ ≈ 3 200.
            assert!(t < 12.0 && t * 4.0 < o, "{m:?}: centred {t}, origin {o}");
            let back = Quantizer::from_bytes(&trained.to_bytes()).unwrap();
            assert_eq!(back, trained);
            assert_eq!(back.encode_query(&vs[0]), trained.encode_query(&vs[0]));
        }
    }

    #[test]
    fn rq1_rows_of_other_sizes_are_infinitely_far() {
        let q = Quantizer::rq1(Metric::L2Squared, 8, RQ_SEED).unwrap();
        let r = row(&q, &[1.0; 8]);
        let dist = q.distance_fn();
        assert!(dist(&r[..5], &r).is_infinite());
        assert!(dist(&[], &r).is_infinite());
        assert!(dist(&r, &r).is_finite());
    }

    #[test]
    fn bq_counts_differing_signs() {
        let vs = vecs(12, 70, 5);
        let q = Quantizer::bq(Metric::L2Squared, 70).unwrap();
        assert_eq!(q.row_words(), 3);
        let dist = q.distance_fn();
        for a in &vs {
            for b in &vs {
                let want = a
                    .iter()
                    .zip(b)
                    .filter(|(x, y)| (**x < 0.0) != (**y < 0.0))
                    .count();
                assert_eq!(dist(&row(&q, a), &row(&q, b)), want as f32);
            }
        }
        assert_eq!(Quantizer::from_bytes(&q.to_bytes()).unwrap(), q);
    }

    #[test]
    fn dimensions_are_bounded() {
        assert_eq!(
            Quantizer::rq8(Metric::Dot, MAX_DIM + 1, 1),
            Err(QuantError::Dimension(MAX_DIM + 1))
        );
        assert!(Quantizer::bq(Metric::Dot, 0).is_err());
        assert!(Quantizer::bq(Metric::Dot, MAX_DIM).is_ok());
    }

    #[test]
    fn other_metrics_are_refused() {
        for m in [Metric::Manhattan, Metric::Hamming] {
            assert_eq!(Quantizer::rq8(m, 4, 1), Err(QuantError::Metric(m)));
            assert!(Quantizer::train_sq(m, 4, []).is_err());
        }
    }

    #[test]
    fn bytes_round_trip_and_damage_is_refused() {
        let vs = vecs(5, 10, 9);
        for q in [
            Quantizer::train_sq(Metric::Dot, 10, vs.iter().map(Vec::as_slice)).unwrap(),
            Quantizer::rq8(Metric::L2Squared, 10, 42).unwrap(),
            Quantizer::rq1(Metric::Cosine, 300, 43).unwrap(),
            Quantizer::train_rq1(Metric::Dot, 10, 44, vs.iter().map(Vec::as_slice)).unwrap(),
            Quantizer::bq(Metric::Manhattan, 10).unwrap(),
        ] {
            let b = q.to_bytes();
            assert_eq!(Quantizer::from_bytes(&b).unwrap(), q);
            for cut in 0..b.len() {
                assert!(Quantizer::from_bytes(&b[..cut]).is_err());
            }
            let mut bad = b.clone();
            bad[0] = 9;
            assert!(Quantizer::from_bytes(&bad).is_err());
            if q.kind() == QuantKind::Sq {
                let mut nan = b.clone();
                nan[10..14].copy_from_slice(&f32::NAN.to_le_bytes());
                assert!(Quantizer::from_bytes(&nan).is_err(), "a NaN range");
            }
        }
    }

    proptest! {
        #[test]
        fn fast_kernel_matches_the_scalar_one(
            a in proptest::collection::vec(any::<u8>(), 0..600),
            seed in any::<u64>(),
        ) {
            let mut r = SplitMix(seed);
            let b: Vec<u8> = a.iter().map(|_| r.next() as u8).collect();
            let want = crate::kernels_u8::dot_scalar(&a, &b);
            prop_assert_eq!(crate::kernels_u8::dot_fast(&a, &b), want);
            for (name, got) in crate::kernels_u8::each_kernel(&a, &b) {
                prop_assert_eq!(got, want, "{}", name);
            }
        }

        #[test]
        fn plane_kernels_agree_with_a_bit_model(
            words in 0usize..12,
            seed in any::<u64>(),
        ) {
            let words = words * 2;
            let mut r = SplitMix(seed);
            let bits: Vec<u32> = (0..words).map(|_| r.next() as u32).collect();
            let planes: Vec<u32> = (0..4 * words).map(|_| r.next() as u32).collect();
            let mut want = 0u32;
            for i in 0..words * 32 {
                if bits[i / 32] >> (i % 32) & 1 == 1 {
                    for j in 0..4 {
                        want += (planes[j * words + i / 32] >> (i % 32) & 1) << j;
                    }
                }
            }
            prop_assert_eq!(crate::kernels_u8::planes_dot_scalar(&bits, &planes, 4), want);
            prop_assert_eq!(crate::kernels_u8::planes_dot_fast(&bits, &planes, 4), want);
        }

        #[test]
        fn hamming_kernels_agree(a in proptest::collection::vec(any::<u32>(), 0..40), seed in any::<u64>()) {
            let mut r = SplitMix(seed);
            let b: Vec<u32> = a.iter().map(|_| r.next() as u32).collect();
            prop_assert_eq!(
                crate::kernels_u8::hamming_fast(&a, &b),
                crate::kernels_u8::hamming_scalar(&a, &b)
            );
        }

        #[test]
        fn sq_codes_are_within_half_a_step(v in proptest::collection::vec(-10.0f32..10.0, 1..40)) {
            let q = Quantizer::train_sq(Metric::L2Squared, v.len(), [v.as_slice()]).unwrap();
            let r = row(&q, &v);
            let Params::Sq { min, range } = q.params else { unreachable!() };
            let codes: &[u8] = bytemuck::cast_slice(&r[3..]);
            for (x, &c) in v.iter().zip(codes) {
                let back = min + range / 255.0 * f32::from(c);
                prop_assert!((back - x).abs() <= range / 255.0 / 2.0 + 1e-4);
            }
        }

        #[test]
        fn rq_self_distance_is_about_zero(v in proptest::collection::vec(-1.0f32..1.0, 1..200)) {
            let q = Quantizer::rq8(Metric::L2Squared, v.len(), RQ_SEED).unwrap();
            let r = row(&q, &v);
            let n = crate::scalar::dot_product(&v, &v);
            prop_assert!((q.distance_fn())(&r, &r) <= 0.02 * n.max(1e-3) + 1e-3);
        }
    }
}
