//! SIMD kernels against the scalar reference, for every metric and every instruction set the
//! machine has, on random lengths (covering the unrolled loop, the 8/16-lane loop and the tail).

use proptest::prelude::*;
use weft_vector::{Metric, SimdLevel, normalize, scalar, simd_level};

fn levels() -> Vec<SimdLevel> {
    [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512]
        .into_iter()
        .filter(|l| *l <= simd_level())
        .collect()
}

fn pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0usize..300).prop_flat_map(|n| {
        (
            prop::collection::vec(-100.0f32..100.0, n),
            prop::collection::vec(-100.0f32..100.0, n),
        )
    })
}

/// Pairs with many exactly equal components, so hamming sees both cases.
fn hamming_pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0usize..300).prop_flat_map(|n| {
        (
            prop::collection::vec(0u8..3, n),
            prop::collection::vec(0u8..3, n),
        )
            .prop_map(|(a, b)| {
                (
                    a.into_iter().map(f32::from).collect(),
                    b.into_iter().map(f32::from).collect(),
                )
            })
    })
}

fn close(a: f32, b: f32, scale: f32) -> bool {
    (a - b).abs() <= 1e-4 * (1.0 + scale)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn simd_matches_scalar((a, b) in pair()) {
        // Scale of the summed terms bounds the rounding difference of reordered sums.
        let scale: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs() + (x - y) * (x - y)).sum();
        for metric in [Metric::Dot, Metric::L2Squared, Metric::Manhattan, Metric::Hamming] {
            let want = (metric.scalar_fn())(&a, &b);
            for level in levels() {
                let got = (metric.kernel(level))(&a, &b);
                prop_assert!(close(got, want, scale), "{metric} {level:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn hamming_counts_exactly((a, b) in hamming_pair()) {
        let want = a.iter().zip(&b).filter(|(x, y)| x != y).count() as f32;
        for level in levels() {
            prop_assert_eq!((Metric::Hamming.kernel(level))(&a, &b), want);
        }
    }

    #[test]
    fn cosine_on_normalized((mut a, mut b) in pair()) {
        let want = scalar::cosine_unnormalized(&a, &b);
        normalize(&mut a);
        normalize(&mut b);
        if a.iter().any(|x| *x != 0.0) && b.iter().any(|x| *x != 0.0) {
            for level in levels() {
                let got = (Metric::Cosine.kernel(level))(&a, &b);
                prop_assert!((got - want).abs() < 1e-4, "{level:?}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn definitions() {
    let (a, b) = ([1.0, -2.0, 3.0], [2.0, 2.0, 3.0]);
    for level in levels() {
        assert_eq!((Metric::Dot.kernel(level))(&a, &b), -(2.0 - 4.0 + 9.0));
        assert_eq!((Metric::L2Squared.kernel(level))(&a, &b), 1.0 + 16.0);
        assert_eq!((Metric::Manhattan.kernel(level))(&a, &b), 1.0 + 4.0);
        assert_eq!((Metric::Hamming.kernel(level))(&a, &b), 2.0);
        assert_eq!(
            (Metric::Hamming.kernel(level))(&[f32::NAN], &[f32::NAN]),
            1.0
        );
        assert_eq!((Metric::Hamming.kernel(level))(&[-0.0], &[0.0]), 0.0);
    }
    let mut v = [3.0, 4.0];
    normalize(&mut v);
    assert!((Metric::Cosine.distance(&v, &v)).abs() < 1e-6);
    assert_eq!("l2-squared".parse::<Metric>(), Ok(Metric::L2Squared));
    assert!("euclid".parse::<Metric>().is_err());
}
