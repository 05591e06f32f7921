//! Vector compression: Weaviate's `sq` (8-bit scalar, one global range), `rq` with 8 bits
//! (a random rotation, then 8-bit scalar codes with a range per vector), `bq` (one sign bit
//! per dimension, Hamming distance: a guide for the walk, always rescored), `rq` with 1 bit
//! (`rq1.rs`) and `pq` (k-means codebooks per segment, `pq.rs`).
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
    /// Weaviate's `rq` with `bits: 4` (the rotation of `rq-8`, 4-bit codes, 8-bit queries).
    Rq4,
    /// Weaviate's `rq` with `bits: 1` (RaBitQ sign codes, see `rq1.rs`).
    Rq1,
    /// Weaviate's `bq`: one sign bit per dimension, compared by Hamming distance whatever the
    /// metric (so it needs rescoring).
    Bq,
    /// Weaviate's `pq`: k-means codebooks per segment, one byte per segment (see `pq.rs`).
    Pq,
}

impl QuantKind {
    /// The schema name.
    pub fn name(self) -> &'static str {
        match self {
            QuantKind::Sq => "sq",
            QuantKind::Rq8 => "rq-8",
            QuantKind::Rq4 => "rq-4",
            QuantKind::Rq1 => "rq-1",
            QuantKind::Bq => "bq",
            QuantKind::Pq => "pq",
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
    Rq4 {
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
    Pq(Box<crate::pq::Pq>),
}

impl fmt::Debug for Quantizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Quantizer");
        d.field("kind", &self.kind())
            .field("metric", &self.metric)
            .field("dim", &self.dim);
        match &self.params {
            Params::Sq { min, range } => d.field("min", min).field("range", range),
            Params::Rq8 { seed, .. } | Params::Rq4 { seed, .. } => d.field("seed", seed),
            Params::Rq1 { seed, center, .. } => {
                d.field("seed", seed).field("centred", &!center.is_empty())
            }
            Params::Bq => &mut d,
            Params::Pq(p) => d.field("segments", &p.m).field("centroids", &p.ks),
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

    /// An `rq` 4-bit quantizer with the rotation drawn from `seed` (no training): stored
    /// vectors keep 4 bits per rotated coordinate, queries 8 (see [`Quantizer::encode_query`]).
    pub fn rq4(metric: Metric, dim: usize, seed: u64) -> Result<Quantizer, QuantError> {
        check_metric(metric)?;
        check_dim(dim)?;
        Ok(Quantizer {
            metric,
            dim,
            params: Params::Rq4 {
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

    /// A `pq` quantizer: `segments` codebooks (0: Weaviate's automatic choice for `dim`) of
    /// `centroids` (1..=256) trained by k-means on `sample` (vectors in stored form), on up
    /// to `threads` threads.
    pub fn train_pq(
        metric: Metric,
        dim: usize,
        segments: usize,
        centroids: usize,
        sample: &[&[f32]],
        threads: usize,
    ) -> Result<Quantizer, QuantError> {
        check_metric(metric)?;
        check_dim(dim)?;
        let m = if segments == 0 {
            crate::pq::auto_segments(dim)
        } else {
            segments
        };
        let pq = crate::pq::Pq::train(dim, m, centroids, sample, threads)
            .map_err(QuantError::Malformed)?;
        Ok(Quantizer {
            metric,
            dim,
            params: Params::Pq(Box::new(pq)),
        })
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
            Params::Rq4 { .. } => QuantKind::Rq4,
            Params::Rq1 { .. } => QuantKind::Rq1,
            Params::Bq => QuantKind::Bq,
            Params::Pq(_) => QuantKind::Pq,
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
            Params::Rq4 { rotation, .. } => rotation.out_dim / 2,
            Params::Rq1 { rotation, .. } => rotation.out_dim / 8,
            Params::Bq => self.dim.div_ceil(32) * 4,
            Params::Pq(p) => p.code_len().div_ceil(4) * 4,
        }
    }

    fn header_words(&self) -> usize {
        match self.params {
            Params::Sq { .. } => 3,
            Params::Rq8 { .. } | Params::Rq4 { .. } => 4,
            Params::Rq1 { .. } => crate::rq1::HEADER,
            Params::Bq | Params::Pq(_) => 0,
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
            Params::Rq8 { rotation, .. } => encode_rq8(&rotation.apply(v), v, head, codes),
            Params::Rq4 { rotation, .. } => {
                let y = rotation.apply(v);
                let (lo, step, t) = rq4_interval(&y);
                let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
                // Plane layout: byte j holds coordinate j (low nibble) and j + D/2 (high).
                let half = codes.len();
                let mut sum = 0u64;
                for (j, c) in codes.iter_mut().enumerate() {
                    let a = quantize((y[j] - lo) * inv).min(15);
                    let b = quantize((y[j + half] - lo) * inv).min(15);
                    sum += u64::from(a) + u64::from(b);
                    *c = a | (b << 4);
                }
                head[0] = lo * t;
                head[1] = step * t;
                head[2] = step * t * sum as f32;
                head[3] = crate::scalar::dot_product(v, v);
            }
            Params::Rq1 { .. } => {}
            Params::Pq(p) => p.encode(v, codes),
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
            (Params::Pq(p), _) => p.query_row(self.metric, v),
            // 8 bits per coordinate (the row of rq-8 over the same rotation): twice as long as
            // a stored 4-bit row, so the kernel tells them apart.
            (Params::Rq4 { rotation, .. }, _) => {
                let mut row = vec![0.0; 4 + rotation.out_dim / 4];
                let (head, body) = row.split_at_mut(4);
                encode_rq8(&rotation.apply(v), v, head, bytemuck::cast_slice_mut(body));
                row
            }
            _ => self.encode_row(v),
        }
    }

    /// For `pq`, whose kernel compares only a query row with a stored row: the distance
    /// between two stored rows (from the codebooks). None for the other kinds, whose kernel
    /// compares stored rows too.
    pub fn code_distance(&self, a: &[f32], b: &[f32]) -> Option<f32> {
        match &self.params {
            Params::Pq(p) => Some(p.code_distance(
                self.metric,
                bytemuck::cast_slice(a),
                bytemuck::cast_slice(b),
            )),
            _ => None,
        }
    }

    /// For `pq`: the query row of the vector a stored row stands for (to search from a stored
    /// vector). None for the other kinds, whose stored rows serve as queries.
    pub fn query_of_row(&self, row: &[f32]) -> Option<Vec<f32>> {
        match &self.params {
            Params::Pq(p) => Some(p.query_of_codes(self.metric, bytemuck::cast_slice(row))),
            _ => None,
        }
    }

    /// The kernel comparing two rows (a query encoded with [`Quantizer::encode_query`] and a
    /// stored row, or two stored rows except for `pq`, see [`Quantizer::code_distance`]),
    /// with the fastest u8 dot product of this CPU.
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
            Params::Rq4 { .. } => pick!(rq4_distance),
            Params::Rq1 { .. } => pick!(rq1_distance),
            Params::Pq(_) => crate::pq::distance,
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
            QuantKind::Rq4 => 6,
            QuantKind::Bq => 3,
            QuantKind::Rq1 => 4,
            QuantKind::Pq => 5,
        });
        b.push(self.metric.code());
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        match &self.params {
            Params::Sq { min, range } => {
                b.extend_from_slice(&min.to_le_bytes());
                b.extend_from_slice(&range.to_le_bytes());
            }
            Params::Rq8 { seed, .. } | Params::Rq4 { seed, .. } => {
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
            Params::Pq(p) => {
                b.extend_from_slice(&(p.m as u32).to_le_bytes());
                b.extend_from_slice(&(p.ks as u16).to_le_bytes());
                b.reserve(4 * p.centroids.len());
                p.centroids
                    .iter()
                    .for_each(|c| b.extend_from_slice(&c.to_le_bytes()));
            }
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
            6 => {
                if rest.len() != 9 || usize::from(rest[8]) != RQ_ROUNDS {
                    return Err(bad("rq-4 parameters are a seed and 3 rounds"));
                }
                let seed = u64::from_le_bytes(rest[..8].try_into().map_err(|_| bad("seed"))?);
                Quantizer::rq4(metric, dim, seed)
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
            5 => {
                check_metric(metric)?;
                if rest.len() < 6 {
                    return Err(bad("pq parameters are segments, centroids and codebooks"));
                }
                let m = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let ks = usize::from(u16::from_le_bytes([rest[4], rest[5]]));
                let body = &rest[6..];
                if body.len() != 4 * ks.saturating_mul(dim) {
                    return Err(bad("pq codebooks of another size"));
                }
                let centroids = body
                    .chunks_exact(4)
                    .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                    .collect();
                let pq = crate::pq::Pq::from_parts(dim, m, ks, centroids).map_err(bad)?;
                Ok(Quantizer {
                    metric,
                    dim,
                    params: Params::Pq(Box::new(pq)),
                })
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
    let dot = ha[1] + hb[1] + ha[0] * crate::kernels_u8::dot::<FAST>(ca, cb) as f32;
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
        + ha[1] * hb[1] * crate::kernels_u8::dot::<FAST>(ca, cb) as f32;
    finish::<M>(dot, ha[3], hb[3])
}

/// Query (8-bit) × stored (4-bit) rows, or two stored rows; the estimate of `rq_distance`
/// over the rotated dimension D (twice the packed bytes).
fn rq4_distance<const M: u8, const FAST: bool>(a: &[f32], b: &[f32]) -> f32 {
    let (ha, ca) = split(a, 4);
    let (hb, cb) = split(b, 4);
    if ha.len() < 4 || hb.len() < 4 {
        return f32::INFINITY;
    }
    let (sum, d) = if ca.len() == 2 * cb.len() {
        (crate::kernels_u8::dot_u8_nibbles::<FAST>(ca, cb), ca.len())
    } else if cb.len() == 2 * ca.len() {
        (crate::kernels_u8::dot_u8_nibbles::<FAST>(cb, ca), cb.len())
    } else if ca.len() == cb.len() {
        (crate::kernels_u8::dot_nibbles::<FAST>(ca, cb), 2 * ca.len())
    } else {
        return f32::INFINITY;
    };
    let dot = d as f32 * ha[0] * hb[0] + ha[0] * hb[2] + hb[0] * ha[2] + ha[1] * hb[1] * sum as f32;
    finish::<M>(dot, ha[3], hb[3])
}

/// The smallest and largest value of `y` (NaN skipped; (∞, −∞) when empty or all NaN).
fn min_max(y: &[f32]) -> (f32, f32) {
    y.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        })
}

/// The rq-8 header and codes of the rotated vector `y` (of `v`) into `head` and `codes`.
fn encode_rq8(y: &[f32], v: &[f32], head: &mut [f32], codes: &mut [u8]) {
    let (lo, hi) = min_max(y);
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 0.0) };
    let step = (hi - lo) / 255.0;
    let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
    let mut sum = 0u64;
    for (c, &x) in codes.iter_mut().zip(y) {
        *c = quantize((x - lo) * inv);
        sum += u64::from(*c);
    }
    head[0] = lo;
    head[1] = step;
    head[2] = step * sum as f32;
    head[3] = crate::scalar::dot_product(v, v);
}

/// Shrink factors tried for the 4-bit interval: with 16 levels, clamping a few extreme
/// coordinates buys finer steps for all others.
const RQ4_SHRINK: [f32; 5] = [1.0, 0.9, 0.8, 0.7, 0.6];

/// The 4-bit interval of the rotated vector `y`: `(lower, step, t)`. Each candidate interval
/// (min/max shrunk by a factor of [`RQ4_SHRINK`]) quantizes `y` to x̂; the winner maximises
/// ⟨y, x̂⟩²/‖x̂‖² (the smallest residual after the best rescaling of x̂), and `t` is that
/// least-squares factor ⟨y, x̂⟩/‖x̂‖²: codes are taken over (lower, step), the row stores
/// t·lower and t·step so that its reconstruction is the rescaled one.
fn rq4_interval(y: &[f32]) -> (f32, f32, f32) {
    let (lo, hi) = min_max(y);
    // min/max skip NaN: an all-NaN (or empty) vector leaves lo = ∞ > hi = −∞ and keeps
    // code 0 throughout, as a constant one.
    if lo >= hi {
        let lo = if lo.is_finite() { lo } else { 0.0 };
        return (lo, 0.0, 1.0);
    }
    let score = |lo: f32, step: f32| -> (f64, f64) {
        let inv = 1.0 / step;
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in y {
            let c = quantize((x - lo) * inv).min(15);
            let r = f64::from(lo) + f64::from(step) * f64::from(c);
            s1 += f64::from(x) * r;
            s2 += r * r;
        }
        (s1, s2)
    };
    let mut best = (f64::NEG_INFINITY, lo, (hi - lo) / 15.0, 1.0f64);
    for f in RQ4_SHRINK {
        let (l, h) = (f * lo, f * hi);
        let step = (h - l) / 15.0;
        if step.is_nan() || step <= 0.0 {
            continue;
        }
        let (s1, s2) = score(l, step);
        if s2 > 0.0 && s1 * s1 / s2 > best.0 {
            let t = if s1 > 0.0 { s1 / s2 } else { 1.0 };
            best = (s1 * s1 / s2, l, step, t);
        }
    }
    (best.1, best.2, best.3 as f32)
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
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n ≥ 1) by Lemire's multiply-shift (bias < n / 2⁶⁴, irrelevant here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
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
mod tests;
