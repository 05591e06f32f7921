//! `pq`: product quantization (Jégou, Douze & Schmid 2011), Weaviate's k-means encoder.
//!
//! The `d` coordinates are split into `m` segments (segment `i` covers `⌊i·d/m⌋ ..
//! ⌊(i+1)·d/m⌋`, so any `m ≤ d` works, not only divisors); each segment has its own codebook
//! of `ks ≤ 256` centroids trained by k-means on a sample, and a vector is stored as the `m`
//! indexes of its nearest centroids, one byte each.
//!
//! Rows (4-byte words):
//! * stored: the `m` code bytes packed four to a word (zero-padded): `⌈m/4⌉` words, no header;
//! * query: `[offset, m, ks, LUT]`, where `m` and `ks` are u32 bit patterns and the look-up
//!   table holds, per segment and centroid, the segment's part of the distance from the query:
//!   `‖q_i − c‖²` for l2-squared, `−⟨q_i, c⟩` for dot, `‖q_i − c‖²/2` for cosine (for unit
//!   vectors 1 − ⟨q, x⟩ = ‖q − x‖²/2, and the squared form ranks far better: its error
//!   `‖e‖² + 2⟨x − q, e⟩` for a code error `e` shrinks as `x` nears `q`, while `⟨q, e⟩` does
//!   not); `offset` is 0 (kept for other kernels). A distance is `offset + Σ_i LUT[i][code_i]`:
//!   one load per segment.
//!
//! A query row is longer than any stored row (`3 + m·ks > ⌈m/4⌉`): the kernel tells them
//! apart by length. Two stored rows cannot be compared without the codebooks, so the graph
//! compares them through [`Pq::code_distance`] (the distance between the two decoded vectors,
//! `d` multiply-adds) and turns a stored row it searches from into a query row first
//! ([`Pq::query_of_codes`]).
//!
//! Codebooks are kept segment by segment, coordinate-major (`centroids[ks·start_i + t·ks + j]`
//! is coordinate `t` of centroid `j` of segment `i`), so that the table of a query and the
//! assignment step of k-means run over the 256 centroids of a coordinate in one vector loop.

use crate::metric::Metric;

/// Most centroids per segment (codes are one byte).
pub(crate) const MAX_CENTROIDS: usize = 256;
/// Query-row header words.
const HEADER: usize = 3;
/// k-means rounds at most (Weaviate's), stopping earlier once assignments settle.
const ROUNDS: usize = 10;
/// Sample points k-means uses at most per training (more change the codebook little).
pub(crate) const KMEANS_POINTS: usize = 65_536;

/// Weaviate's automatic number of segments (`segments: 0`) for `d` dimensions.
pub fn auto_segments(d: usize) -> usize {
    if d >= 2048 && d.is_multiple_of(8) {
        d / 8
    } else if d >= 768 && d.is_multiple_of(6) {
        d / 6
    } else if d >= 256 && d.is_multiple_of(4) {
        d / 4
    } else if d.is_multiple_of(2) {
        d / 2
    } else {
        d
    }
}

/// Trained codebooks.
#[derive(Clone, PartialEq)]
pub(crate) struct Pq {
    pub(crate) dim: usize,
    pub(crate) m: usize,
    pub(crate) ks: usize,
    /// Segment starts, `m + 1` entries (the last is `dim`).
    bounds: Vec<usize>,
    pub(crate) centroids: Vec<f32>,
}

fn bounds(dim: usize, m: usize) -> Vec<usize> {
    (0..=m).map(|i| i * dim / m).collect()
}

impl Pq {
    /// Checks the shape; `centroids` must hold `ks·dim` values.
    pub(crate) fn from_parts(
        dim: usize,
        m: usize,
        ks: usize,
        centroids: Vec<f32>,
    ) -> Result<Pq, &'static str> {
        if m == 0 || m > dim {
            return Err("pq segments must be 1 to the dimension");
        }
        if ks == 0 || ks > MAX_CENTROIDS {
            return Err("pq centroids must be 1 to 256");
        }
        if centroids.len() != ks * dim {
            return Err("pq codebook of another size");
        }
        if centroids.iter().any(|c| !c.is_finite()) {
            return Err("pq codebook not finite");
        }
        Ok(Pq {
            dim,
            m,
            ks,
            bounds: bounds(dim, m),
            centroids,
        })
    }

    /// Trains `m` codebooks of `ks` centroids on `sample` (vectors of `dim` components in
    /// stored form; others are skipped), on up to `threads` threads.
    pub(crate) fn train(
        dim: usize,
        m: usize,
        ks: usize,
        sample: &[&[f32]],
        threads: usize,
    ) -> Result<Pq, &'static str> {
        let points: Vec<&[f32]> = sample
            .iter()
            .copied()
            .filter(|v| v.len() == dim && v.iter().all(|x| x.is_finite()))
            .collect();
        if points.is_empty() {
            return Err("pq needs vectors to train on");
        }
        // An evenly spread subset when the sample is larger than k-means needs.
        let stride = points.len().div_ceil(KMEANS_POINTS).max(1);
        let points: Vec<&[f32]> = points.into_iter().step_by(stride).collect();
        let mut pq = Pq::from_parts(dim, m, ks, vec![0.0; ks * dim])?;
        let segs: Vec<(usize, usize)> = (0..m).map(|i| (pq.bounds[i], pq.bounds[i + 1])).collect();
        let threads = threads.clamp(1, m);
        let per = m.div_ceil(threads);
        let mut books: Vec<Vec<f32>> = vec![Vec::new(); m];
        std::thread::scope(|s| {
            for (chunk, out) in segs.chunks(per).zip(books.chunks_mut(per)) {
                let points = &points;
                s.spawn(move || {
                    for (&(lo, hi), book) in chunk.iter().zip(out.iter_mut()) {
                        *book = kmeans(points, lo, hi, ks, 0x5051_u64 ^ lo as u64);
                    }
                });
            }
        });
        for (i, book) in books.into_iter().enumerate() {
            let start = ks * pq.bounds[i];
            pq.centroids[start..start + book.len()].copy_from_slice(&book);
        }
        Ok(pq)
    }

    /// Bytes of a stored code (before padding to words).
    pub(crate) fn code_len(&self) -> usize {
        self.m
    }

    /// Segment `i`'s codebook (coordinate-major) and its width.
    #[inline(always)]
    fn book(&self, i: usize) -> (&[f32], usize) {
        let (lo, hi) = (self.bounds[i], self.bounds[i + 1]);
        (&self.centroids[self.ks * lo..self.ks * hi], hi - lo)
    }

    /// `v` with exactly `dim` components (missing ones 0), borrowed when it has them.
    fn fit<'v>(&self, v: &'v [f32]) -> std::borrow::Cow<'v, [f32]> {
        if v.len() == self.dim {
            return std::borrow::Cow::Borrowed(v);
        }
        let mut owned = v[..v.len().min(self.dim)].to_vec();
        owned.resize(self.dim, 0.0);
        std::borrow::Cow::Owned(owned)
    }

    /// The code of `v` (`dim` components) into `codes` (`m` bytes).
    pub(crate) fn encode(&self, v: &[f32], codes: &mut [u8]) {
        let v = &*self.fit(v);
        let mut dist = vec![0.0f32; self.ks];
        for (i, c) in codes.iter_mut().enumerate().take(self.m) {
            let (book, w) = self.book(i);
            let lo = self.bounds[i];
            sq_dists(&v[lo..lo + w], book, self.ks, &mut dist);
            *c = argmin(&dist) as u8;
        }
    }

    /// The query row of `v` (stored form) for `metric` (see the module docs).
    pub(crate) fn query_row(&self, metric: Metric, v: &[f32]) -> Vec<f32> {
        let v = &*self.fit(v);
        let mut row = vec![0.0f32; HEADER + self.m * self.ks];
        row[1] = f32::from_bits(self.m as u32);
        row[2] = f32::from_bits(self.ks as u32);
        for (i, lut) in row[HEADER..].chunks_exact_mut(self.ks).enumerate() {
            let (book, w) = self.book(i);
            let lo = self.bounds[i];
            let q = &v[lo..lo + w];
            crate::kernels_u8::centroid_table(q, book, self.ks, metric == Metric::Dot, lut);
            if metric == Metric::Cosine {
                lut.iter_mut().for_each(|x| *x *= 0.5);
            }
        }
        row
    }

    /// The vector a code stands for (`dim` components).
    pub(crate) fn decode(&self, codes: &[u8]) -> Vec<f32> {
        let mut out = vec![0.0f32; self.dim];
        for (i, &c) in codes.iter().enumerate().take(self.m) {
            let (book, w) = self.book(i);
            let j = usize::from(c).min(self.ks - 1);
            let lo = self.bounds[i];
            for t in 0..w {
                out[lo + t] = book[t * self.ks + j];
            }
        }
        out
    }

    /// The query row of the vector a stored code stands for.
    pub(crate) fn query_of_codes(&self, metric: Metric, codes: &[u8]) -> Vec<f32> {
        self.query_row(metric, &self.decode(codes))
    }

    /// The distance between the vectors two codes stand for.
    pub(crate) fn code_distance(&self, metric: Metric, a: &[u8], b: &[u8]) -> f32 {
        let mut acc = 0.0f32;
        let last = self.ks - 1;
        for i in 0..self.m.min(a.len()).min(b.len()) {
            let (book, w) = self.book(i);
            let (ja, jb) = (usize::from(a[i]).min(last), usize::from(b[i]).min(last));
            for t in 0..w {
                let (x, y) = (book[t * self.ks + ja], book[t * self.ks + jb]);
                acc += if metric == Metric::Dot {
                    x * y
                } else {
                    (x - y) * (x - y)
                };
            }
        }
        match metric {
            Metric::Dot => -acc,
            Metric::Cosine => acc / 2.0,
            _ => acc,
        }
    }
}

/// `out[j] = ‖q − centroid j‖²` over one coordinate-major codebook of `ks` centroids.
#[inline]
fn sq_dists(q: &[f32], book: &[f32], ks: usize, out: &mut [f32]) {
    crate::kernels_u8::centroid_table(q, book, ks, false, out);
}

fn argmin(d: &[f32]) -> usize {
    let mut best = 0;
    for (j, &x) in d.iter().enumerate() {
        if x < d[best] {
            best = j;
        }
    }
    best
}

/// Lloyd's k-means on coordinates `lo..hi` of `points`: `ks` centroids, coordinate-major.
/// Starts from distinct random points (repeated when there are fewer points than centroids);
/// an emptied cluster takes the point farthest from its centroid.
fn kmeans(points: &[&[f32]], lo: usize, hi: usize, ks: usize, seed: u64) -> Vec<f32> {
    let w = hi - lo;
    let n = points.len();
    // Deterministic: training must not depend on the process.
    let mut rng = crate::quant::SplitMix(seed);
    let mut book = vec![0.0f32; ks * w];
    let mut order: Vec<usize> = (0..n).collect();
    for j in 0..ks {
        let p = if j < n {
            let k = j + rng.below(n - j);
            order.swap(j, k);
            order[j]
        } else {
            order[j % n]
        };
        for t in 0..w {
            book[t * ks + j] = points[p][lo + t];
        }
    }
    let mut assign = vec![u8::MAX as u16 + 1; n];
    let mut err = vec![0.0f32; n];
    let mut dist = vec![0.0f32; ks];
    let mut sums = vec![0.0f64; ks * w];
    let mut counts = vec![0usize; ks];
    for _ in 0..ROUNDS {
        let mut moved = 0usize;
        for (p, v) in points.iter().enumerate() {
            sq_dists(&v[lo..hi], &book, ks, &mut dist);
            let j = argmin(&dist);
            err[p] = dist[j];
            if assign[p] != j as u16 {
                assign[p] = j as u16;
                moved += 1;
            }
        }
        sums.fill(0.0);
        counts.fill(0);
        for (p, v) in points.iter().enumerate() {
            let j = usize::from(assign[p]);
            counts[j] += 1;
            for t in 0..w {
                sums[t * ks + j] += f64::from(v[lo + t]);
            }
        }
        for j in 0..ks {
            if counts[j] == 0 {
                // Re-seed an empty cluster on the worst-served point.
                let Some(p) = (0..n).max_by(|&a, &b| err[a].total_cmp(&err[b])) else {
                    continue;
                };
                err[p] = 0.0;
                for t in 0..w {
                    book[t * ks + j] = points[p][lo + t];
                }
                continue;
            }
            for t in 0..w {
                book[t * ks + j] = (sums[t * ks + j] / counts[j] as f64) as f32;
            }
        }
        // Weaviate stops once less than 1 % of the points change cluster.
        if moved * 100 < n {
            break;
        }
    }
    book
}

/// `offset + Σ_i LUT[i][code_i]` for a query row `a` and a stored row `b` (see the module
/// docs); infinity for rows of another shape.
#[inline]
pub(crate) fn distance(a: &[f32], b: &[f32]) -> f32 {
    if a.len() < HEADER {
        return f32::INFINITY;
    }
    let m = a[1].to_bits() as usize;
    let ks = a[2].to_bits() as usize;
    let lut = &a[HEADER..];
    let codes: &[u8] = bytemuck::cast_slice(b);
    if lut.len() != m.saturating_mul(ks) || codes.len() < m {
        return f32::INFINITY;
    }
    let codes = &codes[..m];
    if ks == MAX_CENTROIDS {
        return a[0] + crate::kernels_u8::table_sum_fast(lut, codes);
    }
    let mut acc = [0.0f32; 4];
    for (i, (t, &c)) in lut.chunks_exact(ks).zip(codes).enumerate() {
        acc[i & 3] += t.get(usize::from(c)).copied().unwrap_or(f32::INFINITY);
    }
    a[0] + ((acc[0] + acc[1]) + (acc[2] + acc[3]))
}
