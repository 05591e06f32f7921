//! weft-vector: the vector math under weft's indexes.
//!
//! * [`Metric`] names Weaviate's five distances and hands out the fastest kernel this CPU runs
//!   ([`Metric::distance_fn`]): AVX-512 or AVX2+FMA picked at run time on x86-64, the scalar
//!   reference ([`scalar`]) elsewhere. The SIMD kernels are property-tested against the scalar
//!   ones.
//! * [`VectorArena`] stores fixed-dimension vectors contiguously by dense `u32` id, written once
//!   and read lock-free by concurrent searches; [`SlotArena`] makes the slots reusable behind a
//!   grace period (reads through a [`SlotReader`]).
//!
//! * [`Quantizer`] compresses vectors into rows of the same arenas (Weaviate's `sq`, `rq` with
//!   8 or 1 bits, `bq` and `pq`) with kernels over the codes ([`kernels_u8`]).
//!
//! Distances follow Weaviate: smaller is closer.
//!
//! | metric | distance |
//! |---|---|
//! | `cosine` | 1 − a·b on vectors normalised on insert ([`normalize`]) |
//! | `dot` | −a·b |
//! | `l2-squared` | Σ(aᵢ−bᵢ)² |
//! | `manhattan` | Σ\|aᵢ−bᵢ\| |
//! | `hamming` | number of i with aᵢ ≠ bᵢ |
//!
//! ```
//! use weft_vector::Metric;
//! let d = Metric::L2Squared.distance_fn();
//! assert_eq!(d(&[1.0, 2.0], &[3.0, 2.0]), 4.0);
//! ```
//!
//! * [`zeroed_slice`] allocates the large arrays of an index (vectors here, links in
//!   weft-hnsw) on transparent huge pages where Linux offers them.
//!
//! `unsafe` here is limited to `std::arch` intrinsics (SIMD loads, prefetch), the arena's
//! write-once slots and the huge-page advice; each block states why it is sound.

mod arena;
pub mod kernels_u8;
mod mem;
mod metric;
mod pq;
mod quant;
mod rq1;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use arena::{ArenaError, SlotArena, SlotReader, VectorArena};
pub use mem::zeroed_slice;
pub use metric::{
    DistanceFn, Metric, ParseMetricError, SimdLevel, normalize, prefetch, simd_level,
};
pub use pq::auto_segments as pq_auto_segments;
pub use quant::{QuantError, QuantKind, Quantizer, RQ_SEED};
