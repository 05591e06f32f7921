//! Where an index keeps its vectors: f32 rows, or compressed rows of a [`Quantizer`].
//!
//! A [`Store`] is one [`SlotArena`] of rows plus the kernel comparing two rows. An index
//! holds its current store behind an `Arc` and every operation works on the store it took at
//! its start ([`Rows`]), so [`crate::Hnsw::compress`] can build the compressed store beside
//! the f32 one while searches and inserts go on, then switch: inserts that started before
//! the switch also write their vector into the new store (`next`), and the f32 store is freed
//! when the last operation holding it ends. The graph is untouched.

use std::sync::{Arc, OnceLock};

use weft_vector::{ArenaError, DistanceFn, Metric, Quantizer, SlotArena, SlotReader, normalize};

use crate::IndexError;

/// Vectors (or their codes) by slot.
pub(crate) struct Store {
    pub(crate) arena: SlotArena,
    pub(crate) dist: DistanceFn,
    pub(crate) quant: Option<Quantizer>,
    /// The store a running compression fills: set before it copies, so an insert that sees
    /// it writes there too and one that does not had written its vector before the copy.
    pub(crate) next: OnceLock<Arc<Store>>,
}

impl Store {
    /// f32 rows of `dim` components.
    pub(crate) fn plain(dim: usize, metric: Metric) -> Store {
        Store {
            arena: SlotArena::new(dim),
            dist: metric.distance_fn(),
            quant: None,
            next: OnceLock::new(),
        }
    }

    /// Rows of `q`'s codes.
    pub(crate) fn compressed(q: Quantizer) -> Store {
        Store {
            arena: SlotArena::new(q.row_words()),
            dist: q.distance_fn(),
            quant: Some(q),
            next: OnceLock::new(),
        }
    }

    /// Read access for one operation.
    pub(crate) fn read(&self) -> Rows<'_> {
        Rows {
            r: self.arena.read(),
            dist: self.dist,
            pair: self
                .quant
                .as_ref()
                .filter(|q| q.kind() == weft_vector::QuantKind::Pq),
        }
    }

    /// `v` (stored form: normalised for cosine) as this store's query row (compare it with
    /// stored rows, as the kernel's first argument): borrowed for f32 rows.
    pub(crate) fn row<'v>(&self, v: &'v [f32]) -> std::borrow::Cow<'v, [f32]> {
        match &self.quant {
            None => std::borrow::Cow::Borrowed(v),
            Some(q) => std::borrow::Cow::Owned(q.encode_query(v)),
        }
    }

    /// Stores `v` (normalising it first when `norm`) in the empty slot `slot`, and in the
    /// store a running compression fills.
    pub(crate) fn put(&self, slot: u32, v: &[f32], norm: bool, ext: u32) -> Result<(), IndexError> {
        let mut owned;
        let v = if norm {
            owned = v.to_vec();
            normalize(&mut owned);
            owned.as_slice()
        } else {
            v
        };
        self.put_stored(slot, v).map_err(|e| arena_error(e, ext))?;
        if let Some(next) = self.next.get() {
            // Occupied: the compression copied it already.
            match next.put_stored(slot, v) {
                Ok(()) | Err(ArenaError::Occupied(_)) => {}
                Err(e) => return Err(arena_error(e, ext)),
            }
        }
        Ok(())
    }

    /// Stores `v` (stored form) in `slot`, encoding it for a compressed store.
    pub(crate) fn put_stored(&self, slot: u32, v: &[f32]) -> Result<(), ArenaError> {
        match &self.quant {
            None => self.arena.insert(slot, v),
            Some(q) => {
                if v.len() != q.dim() {
                    return Err(ArenaError::Dimension {
                        expected: q.dim(),
                        got: v.len(),
                    });
                }
                self.arena.write_with(slot, |dst| q.encode(v, dst))
            }
        }
    }
}

pub(crate) fn arena_error(e: ArenaError, ext: u32) -> IndexError {
    match e {
        ArenaError::Dimension { expected, got } => IndexError::Dimension { expected, got },
        ArenaError::Occupied(_) => IndexError::Exists(ext),
    }
}

/// The rows of one store for one operation, with its kernel.
pub(crate) struct Rows<'a> {
    r: SlotReader<'a>,
    pub(crate) dist: DistanceFn,
    /// The quantizer whose kernel compares only query rows with stored rows (`pq`): stored
    /// rows are compared through it, and turned into query rows to search from.
    pair: Option<&'a Quantizer>,
}

impl Rows<'_> {
    /// The row in `slot`, if one is stored and not retired.
    #[inline(always)]
    pub(crate) fn get(&self, slot: u32) -> Option<&[f32]> {
        self.r.get(slot)
    }

    /// Distance between two stored rows.
    #[inline(always)]
    pub(crate) fn dist_stored(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.pair.and_then(|q| q.code_distance(a, b)) {
            Some(d) => d,
            None => (self.dist)(a, b),
        }
    }

    /// The row of `slot` in the form the kernel takes as its query (first argument): the
    /// stored row itself, except for `pq`, whose queries are look-up tables.
    pub(crate) fn query_of(&self, slot: u32) -> Option<std::borrow::Cow<'_, [f32]>> {
        let row = self.r.get(slot)?;
        Some(match self.pair.and_then(|q| q.query_of_row(row)) {
            Some(q) => std::borrow::Cow::Owned(q),
            None => std::borrow::Cow::Borrowed(row),
        })
    }

    /// Hints the CPU to fetch the start of `slot`'s row.
    #[inline(always)]
    pub(crate) fn prefetch(&self, slot: u32) {
        self.r.prefetch(slot);
    }
}

/// Replaces the code distances of `hits` (closest first) by exact ones from the f32 vectors
/// `rescore.source` returns, sorted again; hits without a vector are dropped. `exact_q` is the
/// query in stored form (normalised for cosine); source vectors are normalised the same way.
pub(crate) fn rescore_hits(
    metric: Metric,
    dim: usize,
    exact_q: &[f32],
    hits: Vec<crate::Neighbor>,
    rescore: &crate::Rescore<'_>,
) -> Result<Vec<crate::Neighbor>, IndexError> {
    let ids: Vec<u32> = hits.iter().map(|h| h.id).collect();
    let vectors = (rescore.source)(&ids)?;
    if vectors.len() != ids.len() {
        return Err(IndexError::Source(format!(
            "{} vectors for {} candidates",
            vectors.len(),
            ids.len()
        )));
    }
    let dist = metric.distance_fn();
    // Cosine against a stored vector that is not normalised: 1 − ⟨q, v⟩ / ‖v‖ from two fast
    // dot products, as normalising a copy first costs a pass that writes.
    let neg_dot = Metric::Dot.distance_fn();
    let cosine = |v: &[f32]| {
        let n = -neg_dot(v, v);
        if n > 0.0 {
            1.0 + neg_dot(exact_q, v) / n.sqrt()
        } else {
            1.0
        }
    };
    let norm = metric.normalizes();
    let mut out = Vec::with_capacity(ids.len());
    for (id, v) in ids.into_iter().zip(vectors) {
        // No vector: the object was deleted or updated since the walk saw it.
        let Some(v) = v else { continue };
        if v.len() != dim {
            return Err(IndexError::Source(format!(
                "the stored vector of {id} has {} dimensions, the index {dim}",
                v.len()
            )));
        }
        out.push(crate::Neighbor {
            id,
            distance: if norm { cosine(&v) } else { dist(exact_q, &v) },
        });
    }
    out.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    Ok(out)
}
