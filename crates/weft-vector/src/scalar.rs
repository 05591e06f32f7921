//! Scalar reference kernels: plain loops, the definition the SIMD kernels are tested against.
//!
//! Each takes two slices of equal length (only the common prefix is read if they differ).

/// a·b.
pub fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Dot distance: −a·b.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    -dot_product(a, b)
}

/// Cosine distance of normalised vectors: 1 − a·b.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot_product(a, b)
}

/// Cosine distance of arbitrary vectors: 1 − a·b / (|a||b|); 1 when either is zero.
pub fn cosine_unnormalized(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (dot_product(a, a).sqrt(), dot_product(b, b).sqrt());
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    1.0 - dot_product(a, b) / (na * nb)
}

/// Σ(aᵢ−bᵢ)².
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x - y;
            d * d
        })
        .sum()
}

/// Σ|aᵢ−bᵢ|.
pub fn manhattan(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// Number of components that differ (NaN differs from everything, −0 equals +0).
pub fn hamming(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as f32
}
