//! The five distance metrics and run-time kernel selection.

use std::fmt;
use std::str::FromStr;

use crate::scalar;

/// A distance kernel: smaller is closer. Both slices must have the same length.
pub type DistanceFn = fn(&[f32], &[f32]) -> f32;

/// Weaviate's distance metrics, by their schema names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `cosine`: 1 − a·b; vectors must be normalised (the indexes do that on insert and query).
    Cosine,
    /// `dot`: −a·b.
    Dot,
    /// `l2-squared`: Σ(aᵢ−bᵢ)².
    L2Squared,
    /// `manhattan`: Σ|aᵢ−bᵢ|.
    Manhattan,
    /// `hamming`: the number of differing components.
    Hamming,
}

/// The instruction set the kernels use on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Plain loops (whatever the compiler vectorises for the baseline target).
    Scalar,
    /// AVX2 with FMA, 8 lanes.
    Avx2,
    /// AVX-512F, 16 lanes.
    Avx512,
}

/// The best instruction set available, detected once per call (the detection is cached by std).
pub fn simd_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Scalar
}

impl Metric {
    /// All metrics, in a fixed order.
    pub const ALL: [Metric; 5] = [
        Metric::Cosine,
        Metric::Dot,
        Metric::L2Squared,
        Metric::Manhattan,
        Metric::Hamming,
    ];

    /// The schema name (`vectorIndexConfig.distance`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2Squared => "l2-squared",
            Metric::Manhattan => "manhattan",
            Metric::Hamming => "hamming",
        }
    }

    /// Whether vectors are normalised to unit length before they are stored or searched.
    pub fn normalizes(self) -> bool {
        matches!(self, Metric::Cosine)
    }

    /// The fastest kernel for this CPU.
    pub fn distance_fn(self) -> DistanceFn {
        self.kernel(simd_level())
    }

    /// The kernel for `level`, falling back to the best available one below it.
    pub fn kernel(self, level: SimdLevel) -> DistanceFn {
        let level = level.min(simd_level());
        match level {
            SimdLevel::Scalar => self.scalar_fn(),
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => simd::avx2(self),
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => simd::avx512(self),
            #[cfg(not(target_arch = "x86_64"))]
            SimdLevel::Avx2 | SimdLevel::Avx512 => self.scalar_fn(),
        }
    }

    /// The scalar reference kernel.
    pub fn scalar_fn(self) -> DistanceFn {
        match self {
            Metric::Cosine => scalar::cosine,
            Metric::Dot => scalar::dot,
            Metric::L2Squared => scalar::l2_squared,
            Metric::Manhattan => scalar::manhattan,
            Metric::Hamming => scalar::hamming,
        }
    }

    /// The metric's byte in weft's file formats (snapshots, quantizer parameters).
    pub fn code(self) -> u8 {
        match self {
            Metric::Cosine => 0,
            Metric::Dot => 1,
            Metric::L2Squared => 2,
            Metric::Manhattan => 3,
            Metric::Hamming => 4,
        }
    }

    /// The metric of a [`Metric::code`] byte.
    pub fn from_code(c: u8) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.code() == c)
    }

    /// One distance with the fastest kernel (prefer holding on to [`Metric::distance_fn`]).
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        (self.distance_fn())(a, b)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metric name that is not one of Weaviate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMetricError(pub String);

impl fmt::Display for ParseMetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown distance metric {:?} (expected cosine, dot, l2-squared, manhattan or hamming)",
            self.0
        )
    }
}

impl std::error::Error for ParseMetricError {}

impl FromStr for Metric {
    type Err = ParseMetricError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| ParseMetricError(s.to_owned()))
    }
}

/// Scales `v` to unit length in place; a zero vector stays zero.
pub fn normalize(v: &mut [f32]) {
    let norm = scalar::dot_product(v, v).sqrt();
    if norm > 0.0 {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Hints the CPU to load the cache line holding `r` (a no-op off x86-64).
#[inline(always)]
pub fn prefetch<T: ?Sized>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    crate::x86::prefetch_ptr((r as *const T).cast::<u8>());
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

#[cfg(target_arch = "x86_64")]
#[expect(
    unsafe_code,
    reason = "calls target-feature kernels after run-time detection"
)]
mod simd {
    //! Safe entry points to the x86 kernels. They are private and only handed out by
    //! [`super::Metric::kernel`] after `simd_level()` confirmed the features.
    use super::Metric;
    use crate::DistanceFn;
    use crate::x86;

    macro_rules! entry {
        ($name:ident, $kernel:path, $post:expr) => {
            fn $name(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: this function is only returned by `avx2`/`avx512` below, which
                // `Metric::kernel` calls only after detecting the CPU features it needs.
                let v = unsafe { $kernel(a, b) };
                $post(v)
            }
        };
    }

    entry!(cos2, x86::dot_avx2, |d: f32| 1.0 - d);
    entry!(dot2, x86::dot_avx2, |d: f32| -d);
    entry!(l22, x86::l2_avx2, |d: f32| d);
    entry!(man2, x86::manhattan_avx2, |d: f32| d);
    entry!(ham2, x86::hamming_avx2, |d: f32| d);
    entry!(cos5, x86::dot_avx512, |d: f32| 1.0 - d);
    entry!(dot5, x86::dot_avx512, |d: f32| -d);
    entry!(l25, x86::l2_avx512, |d: f32| d);
    entry!(man5, x86::manhattan_avx512, |d: f32| d);
    entry!(ham5, x86::hamming_avx512, |d: f32| d);

    pub(super) fn avx2(m: Metric) -> DistanceFn {
        match m {
            Metric::Cosine => cos2,
            Metric::Dot => dot2,
            Metric::L2Squared => l22,
            Metric::Manhattan => man2,
            Metric::Hamming => ham2,
        }
    }

    pub(super) fn avx512(m: Metric) -> DistanceFn {
        match m {
            Metric::Cosine => cos5,
            Metric::Dot => dot5,
            Metric::L2Squared => l25,
            Metric::Manhattan => man5,
            Metric::Hamming => ham5,
        }
    }
}
