//! The graph walk: candidate heaps, visited marks, layer search and neighbour selection.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::store::Rows;
use roaring::RoaringBitmap;

use crate::hnsw::Hnsw;
use crate::nodes::NodeState;

/// A node (slot) and its distance to the query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) d: f32,
    pub(crate) id: u32,
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.d.total_cmp(&o.d).then(self.id.cmp(&o.id))
    }
}

/// Which nodes a walk may return (it traverses all of them).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Accept<'a> {
    /// Every node (no node was ever deleted).
    All,
    /// Live nodes only.
    Live,
    /// Live nodes and nodes being inserted (construction searches once deletes happened).
    NotDeleted,
    /// Live nodes whose caller's id is in the allow-list.
    Allowed(&'a RoaringBitmap),
}

/// Rows fetched ahead of the distance computations of a walk.
const PREFETCH_AHEAD: usize = 2;

/// Epoch-tagged visited marks, indexed by slot.
struct Visited {
    tags: Vec<u16>,
    epoch: u16,
}

impl Visited {
    fn reset(&mut self, bound: usize) {
        if self.tags.len() < bound {
            self.tags.resize(bound, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `id`; true if it was not yet marked.
    #[inline(always)]
    fn insert(&mut self, id: u32) -> bool {
        let i = id as usize;
        if i >= self.tags.len() {
            self.tags.resize((i + 1).next_power_of_two(), 0);
        }
        let fresh = self.tags[i] != self.epoch;
        self.tags[i] = self.epoch;
        fresh
    }
}

/// Per-thread scratch space, reused across searches.
pub(crate) struct Ctx {
    visited: Visited,
    cands: BinaryHeap<Reverse<Cand>>,
    pub(crate) results: BinaryHeap<Cand>,
    pub(crate) buf: Vec<u32>,
    fresh: Vec<u32>,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            visited: Visited {
                tags: Vec::new(),
                epoch: 0,
            },
            cands: BinaryHeap::new(),
            results: BinaryHeap::new(),
            buf: Vec::new(),
            fresh: Vec::new(),
        }
    }

    /// The results of the last layer search, closest first (the heap is emptied).
    pub(crate) fn take_sorted(&mut self) -> Vec<Cand> {
        std::mem::take(&mut self.results).into_sorted_vec()
    }
}

thread_local! {
    static CTX: RefCell<Ctx> = RefCell::new(Ctx::new());
}

/// Runs `f` with this thread's scratch space (a fresh one if it is already in use).
pub(crate) fn with_ctx<R>(f: impl FnOnce(&mut Ctx) -> R) -> R {
    CTX.with(|c| match c.try_borrow_mut() {
        Ok(mut ctx) => f(&mut ctx),
        Err(_) => f(&mut Ctx::new()),
    })
}

impl Hnsw {
    #[inline(always)]
    pub(crate) fn accepts(&self, accept: Accept<'_>, id: u32) -> bool {
        match accept {
            Accept::All => true,
            Accept::Live => self.nodes.state(id) == NodeState::Live,
            Accept::NotDeleted => {
                matches!(self.nodes.state(id), NodeState::Live | NodeState::Inserting)
            }
            Accept::Allowed(allow) => {
                self.nodes.state(id) == NodeState::Live && allow.contains(self.nodes.ext(id))
            }
        }
    }

    /// Distance from `q` to slot `id`'s vector; None for a slot without one (free, being
    /// written, or retired by cleanup).
    #[inline(always)]
    pub(crate) fn dist_to(&self, r: &Rows<'_>, q: &[f32], id: u32) -> Option<f32> {
        r.get(id).map(|v| (r.dist)(q, v))
    }

    /// Distance between the stored row `base` and slot `id`'s row; None as [`Hnsw::dist_to`].
    #[inline(always)]
    pub(crate) fn dist_between(&self, r: &Rows<'_>, base: &[f32], id: u32) -> Option<f32> {
        r.get(id).map(|v| r.dist_stored(base, v))
    }

    /// Greedy descent on one level: moves to the closest neighbour until none is closer.
    pub(crate) fn greedy(
        &self,
        r: &Rows<'_>,
        q: &[f32],
        mut cur: Cand,
        level: usize,
        buf: &mut Vec<u32>,
    ) -> Cand {
        loop {
            let mut changed = false;
            self.nodes.read(cur.id, level, buf);
            for &n in buf.iter() {
                if let Some(d) = self.dist_to(r, q, n)
                    && d < cur.d
                {
                    cur = Cand { d, id: n };
                    changed = true;
                }
            }
            if !changed {
                return cur;
            }
        }
    }

    /// Best-first search of one level from `ep`, keeping the `ef` closest accepted nodes in
    /// `ctx.results` (a max-heap).
    #[expect(
        clippy::too_many_arguments,
        reason = "the reader joins the hot path's arguments"
    )]
    pub(crate) fn search_layer(
        &self,
        r: &Rows<'_>,
        q: &[f32],
        ep: Cand,
        ef: usize,
        level: usize,
        accept: Accept<'_>,
        ctx: &mut Ctx,
    ) {
        let Ctx {
            visited,
            cands,
            results,
            buf,
            fresh,
        } = ctx;
        visited.reset(self.id_bound());
        cands.clear();
        results.clear();
        visited.insert(ep.id);
        cands.push(Reverse(ep));
        if self.accepts(accept, ep.id) {
            results.push(ep);
        }
        let mut worst = results.peek().map_or(f32::INFINITY, |c| c.d);
        while let Some(Reverse(c)) = cands.pop() {
            if c.d > worst && results.len() >= ef {
                break;
            }
            self.nodes.read(c.id, level, buf);
            fresh.clear();
            for &n in buf.iter() {
                if visited.insert(n) {
                    fresh.push(n);
                }
            }
            // A few rows ahead, not all at once: every prefetch of a missing line holds one
            // of the core's ~12 line-fill buffers, and once they are full the next prefetch
            // stalls the loop (measured: a third of the walk with all 32 rows prefetched).
            for &n in fresh.iter().take(PREFETCH_AHEAD) {
                r.prefetch(n);
            }
            for (j, &n) in fresh.iter().enumerate() {
                if let Some(&ahead) = fresh.get(j + PREFETCH_AHEAD) {
                    r.prefetch(ahead);
                }
                let Some(d) = self.dist_to(r, q, n) else {
                    continue;
                };
                if results.len() < ef || d < worst {
                    cands.push(Reverse(Cand { d, id: n }));
                    if self.accepts(accept, n) {
                        results.push(Cand { d, id: n });
                        if results.len() > ef {
                            results.pop();
                        }
                        worst = results.peek().map_or(f32::INFINITY, |c| c.d);
                    }
                }
            }
            // The list expanded next.
            if let Some(Reverse(next)) = cands.peek() {
                self.nodes.prefetch(next.id, level);
            }
        }
    }

    /// hnswlib's neighbour-selection heuristic: walk `sorted` (closest first) and keep a
    /// candidate only if it is closer to the base than to every candidate already kept.
    pub(crate) fn select_neighbors(
        &self,
        r: &Rows<'_>,
        sorted: &[Cand],
        m: usize,
        out: &mut Vec<Cand>,
    ) {
        out.clear();
        if sorted.len() <= m {
            out.extend_from_slice(sorted);
            return;
        }
        for &c in sorted {
            if out.len() >= m {
                break;
            }
            let Some(cv) = r.get(c.id) else {
                continue;
            };
            // A candidate identical to the base (distance 0) that is also identical to a kept
            // neighbour adds no route: drop it. Without this, clusters of duplicate vectors
            // keep every duplicate, fill every list and make each insert shrink dozens of
            // full lists (seen as inserts slowing down with the number of duplicates).
            let good = out.iter().all(|s| {
                self.dist_between(r, cv, s.id)
                    .is_none_or(|d| d > c.d || (d >= c.d && c.d > 0.0))
            });
            if good {
                out.push(c);
            }
        }
    }
}
