//! The quantizers against exact distances, their byte form, their bounds.

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
        let trained = Quantizer::train_rq1(m, 128, RQ_SEED, vs.iter().map(Vec::as_slice)).unwrap();
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
        Quantizer::rq4(Metric::Cosine, 70, 45).unwrap(),
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

fn pq_of(metric: Metric, d: usize, m: usize, ks: usize, data: &[Vec<f32>]) -> Quantizer {
    let sample: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
    Quantizer::train_pq(metric, d, m, ks, &sample, 2).unwrap()
}

fn pq_params(q: &Quantizer) -> &crate::pq::Pq {
    match &q.params {
        Params::Pq(p) => p,
        _ => unreachable!("not pq"),
    }
}

fn decoded(q: &Quantizer, row: &[f32]) -> Vec<f32> {
    pq_params(q).decode(bytemuck::cast_slice(row))
}

#[test]
fn pq_table_distance_is_the_distance_to_the_decoded_vector() {
    // 30 dimensions in 7 segments (not a divisor: widths 4 and 5), and Weaviate's automatic
    // choice; fewer centroids than 256 take the checked path of the kernel.
    for (d, m, ks) in [(30, 7, 256), (48, 0, 256), (16, 16, 13)] {
        let data = vecs(600, d, 91);
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2Squared] {
            let mut data = data.clone();
            if metric == Metric::Cosine {
                data.iter_mut().for_each(|v| crate::normalize(v));
            }
            let q = pq_of(metric, d, m, ks, &data);
            let segs = if m == 0 { d / 2 } else { m };
            assert_eq!(q.row_words(), segs.div_ceil(4), "{d} {m}");
            let dist = q.distance_fn();
            // Cosine: half the squared distance, which equals the cosine distance for unit
            // vectors (decoded vectors are not exactly unit).
            let half_l2 = |a: &[f32], b: &[f32]| crate::scalar::l2_squared(a, b) / 2.0;
            let exact: &dyn Fn(&[f32], &[f32]) -> f32 = if metric == Metric::Cosine {
                &half_l2
            } else {
                &metric.distance_fn()
            };
            for a in data.iter().take(20) {
                let query = q.encode_query(a);
                for b in data.iter().skip(100).take(20) {
                    let rb = row(&q, b);
                    let xb = decoded(&q, &rb);
                    let want = exact(a, &xb);
                    let got = dist(&query, &rb);
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{metric} {d}/{m}: {got} vs {want}"
                    );
                    // Two stored rows: the distance between both decoded vectors.
                    let ra = row(&q, a);
                    let want = exact(&decoded(&q, &ra), &xb);
                    let got = q.code_distance(&ra, &rb).unwrap();
                    assert!((got - want).abs() < 1e-4, "{metric} pair: {got} vs {want}");
                    // A stored row turned into a query row agrees with the pair distance.
                    let qa = q.query_of_row(&ra).unwrap();
                    assert!((dist(&qa, &rb) - got).abs() < 1e-4);
                }
            }
            // Vectors of another length are padded or cut, never read out of bounds.
            assert_eq!(
                q.encode_query(&data[0][..d - 1]).len(),
                q.encode_query(&data[0]).len()
            );
            let mut long = data[0].clone();
            long.push(1.0);
            assert_eq!(row(&q, &long), row(&q, &data[0]));
            // Rows of the wrong shape are infinitely far, never out of bounds.
            let ra = row(&q, &data[0]);
            assert_eq!(dist(&ra, &ra), f32::INFINITY);
            assert_eq!(dist(&q.encode_query(&data[0]), &[]), f32::INFINITY);
        }
    }
}

#[test]
fn pq_codes_pick_the_nearest_centroid_and_training_beats_random_codebooks() {
    let (d, m) = (32, 8);
    let data = vecs(2000, d, 93);
    let q = pq_of(Metric::L2Squared, d, m, 64, &data);
    let p = pq_params(&q);
    let err = |p: &crate::pq::Pq| -> f64 {
        data.iter()
            .map(|v| {
                let mut codes = vec![0u8; p.m];
                p.encode(v, &mut codes);
                f64::from(crate::scalar::l2_squared(v, &p.decode(&codes)))
            })
            .sum::<f64>()
    };
    // Every code is the nearest of its segment's centroids.
    for v in data.iter().take(50) {
        let mut codes = vec![0u8; m];
        p.encode(v, &mut codes);
        let x = p.decode(&codes);
        for c in 0..64u8 {
            for s in 0..m {
                let mut other = codes.clone();
                other[s] = c;
                let y = p.decode(&other);
                let (lo, hi) = (s * d / m, (s + 1) * d / m);
                let e0 = crate::scalar::l2_squared(&v[lo..hi], &x[lo..hi]);
                let e1 = crate::scalar::l2_squared(&v[lo..hi], &y[lo..hi]);
                assert!(e0 <= e1 + 1e-6);
            }
        }
    }
    // k-means does better than its own starting points (64 sample vectors).
    let start: Vec<f32> = {
        let mut book = vec![0.0; 64 * d];
        for s in 0..m {
            let (lo, hi) = (s * d / m, (s + 1) * d / m);
            for j in 0..64 {
                for t in 0..hi - lo {
                    book[64 * lo + t * 64 + j] = data[j * 31][lo + t];
                }
            }
        }
        book
    };
    let random = crate::pq::Pq::from_parts(d, m, 64, start).unwrap();
    assert!(
        err(p) < 0.8 * err(&random),
        "{} vs {}",
        err(p),
        err(&random)
    );
}

#[test]
fn pq_bytes_round_trip_and_bad_shapes_are_refused() {
    let data = vecs(300, 24, 95);
    let q = pq_of(Metric::Dot, 24, 5, 200, &data);
    let b = q.to_bytes();
    assert_eq!(b.len(), 6 + 6 + 4 * 200 * 24);
    assert_eq!(Quantizer::from_bytes(&b).unwrap(), q);
    for cut in [6, 11, b.len() - 1] {
        assert!(Quantizer::from_bytes(&b[..cut]).is_err(), "{cut}");
    }
    // More segments than dimensions, or centroids out of 1..=256.
    let mut bad = b.clone();
    bad[6..10].copy_from_slice(&25u32.to_le_bytes());
    assert!(Quantizer::from_bytes(&bad).is_err());
    let sample: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
    assert!(Quantizer::train_pq(Metric::Dot, 24, 25, 256, &sample, 1).is_err());
    assert!(Quantizer::train_pq(Metric::Dot, 24, 4, 257, &sample, 1).is_err());
    assert!(Quantizer::train_pq(Metric::Dot, 24, 4, 0, &sample, 1).is_err());
    assert!(Quantizer::train_pq(Metric::Dot, 24, 4, 256, &[], 1).is_err());
    assert!(Quantizer::train_pq(Metric::Manhattan, 24, 4, 256, &sample, 1).is_err());
    // Fewer vectors than centroids still train (repeated starting points).
    let q = Quantizer::train_pq(Metric::L2Squared, 24, 4, 256, &sample[..10], 1).unwrap();
    let r = row(&q, sample[3]);
    assert!(q.distance_fn()(&q.encode_query(sample[3]), &r) < 1e-6);
}

#[test]
fn pq_automatic_segments_follow_weaviate() {
    for (d, m) in [
        (2048, 256),
        (1536, 256),
        (768, 128),
        (384, 96),
        (256, 64),
        (128, 64),
        (50, 25),
        (7, 7),
    ] {
        assert_eq!(crate::pq::auto_segments(d), m, "{d}");
    }
}

proptest! {
    #[test]
    fn table_kernels_agree(
        codes in proptest::collection::vec(any::<u8>(), 0..70),
        seed in any::<u64>(),
        extra in 0usize..300,
    ) {
        let mut r = SplitMix(seed);
        let tables: Vec<f32> = (0..codes.len() * 256 + extra)
            .map(|_| (r.next() >> 40) as f32 / (1u64 << 20) as f32 - 8.0)
            .collect();
        let reference: f64 = codes
            .iter()
            .enumerate()
            .map(|(i, &c)| f64::from(tables[256 * i + usize::from(c)]))
            .sum();
        let scalar = crate::kernels_u8::table_sum_scalar(&tables, &codes);
        let fast = crate::kernels_u8::table_sum_fast(&tables, &codes);
        prop_assert!((f64::from(scalar) - reference).abs() < 1e-3, "{} vs {}", scalar, reference);
        prop_assert!((f64::from(fast) - reference).abs() < 1e-3, "{} vs {}", fast, reference);
        // Codes beyond the tables are ignored, never read out of bounds.
        let short = &tables[..tables.len().saturating_sub(256 + extra)];
        let n = short.len() / 256;
        let want = crate::kernels_u8::table_sum_scalar(short, &codes[..n]);
        prop_assert!((crate::kernels_u8::table_sum_fast(short, &codes) - want).abs() < 1e-3);
    }
}

/// rq with 4 bits: stored rows keep 4 bits per rotated coordinate, queries 8. Both the
/// asymmetric estimate (query row first) and two stored rows follow the exact distance;
/// 16 levels are coarser than rq-8's 256, so the tolerance is wider, and the query's 8 bits
/// make the asymmetric estimate the closer one on average.
#[test]
fn rq4_estimates_follow_the_exact_distances() {
    for m in [Metric::Cosine, Metric::Dot, Metric::L2Squared] {
        for d in [96, 130] {
            let mut vs = vecs(24, d, 5);
            if m == Metric::Cosine {
                vs.iter_mut().for_each(|v| crate::normalize(v));
            }
            let q = Quantizer::rq4(m, d, RQ_SEED).unwrap();
            let out = d.div_ceil(64) * 64;
            assert_eq!(q.row_words(), 4 + out / 8);
            assert_eq!(q.encode_query(&vs[0]).len(), 4 + out / 4);
            let exact = m.scalar_fn();
            let dist = q.distance_fn();
            let scale = if m == Metric::Cosine {
                1.0
            } else {
                d as f32 / 3.0
            };
            let (mut err_q, mut err_s) = (0.0f32, 0.0f32);
            for a in &vs {
                let qa = q.encode_query(a);
                let ra = row(&q, a);
                for b in &vs {
                    let rb = row(&q, b);
                    let e = exact(a, b);
                    let (gq, gs) = (dist(&qa, &rb), dist(&ra, &rb));
                    assert!((e - gq).abs() <= 0.08 * scale, "{m} {d}: {e} vs query {gq}");
                    assert!(
                        (e - gs).abs() <= 0.15 * scale,
                        "{m} {d}: {e} vs stored {gs}"
                    );
                    // Argument order does not matter for a query row and a stored row.
                    assert!((dist(&rb, &qa) - gq).abs() <= 1e-3 * scale.max(1.0));
                    err_q += (e - gq).abs();
                    err_s += (e - gs).abs();
                }
            }
            assert!(
                err_q < err_s,
                "{m} {d}: query error {err_q} vs stored {err_s}"
            );
        }
    }
    // Rows of other shapes are infinitely far.
    let q = Quantizer::rq4(Metric::Dot, 64, 1).unwrap();
    assert_eq!(
        q.distance_fn()(&[0.0; 4], &row(&q, &[0.5; 64])),
        f32::INFINITY
    );
}

#[test]
fn rq4_interval_clamps_outliers_when_that_is_closer() {
    // One large coordinate: the full range wastes 15 levels on it; a shrunk one is closer.
    let mut y = vec![0.0f32; 64];
    for (i, x) in y.iter_mut().enumerate() {
        *x = ((i % 7) as f32 - 3.0) * 0.1;
    }
    y[5] = 3.0;
    let (lo, step, t) = rq4_interval(&y);
    assert!(
        15.0 * step + lo < 3.0,
        "the outlier is clamped: {lo} {step}"
    );
    assert!(t > 0.0);
    // A flat vector has no interval; NaN does not propagate.
    assert_eq!(rq4_interval(&[0.25; 8]), (0.25, 0.0, 1.0));
    assert_eq!(rq4_interval(&[f32::NAN; 8]).1, 0.0);
}

proptest! {
    #[test]
    fn nibble_kernels_agree_with_unpacked_dots(
        packed in proptest::collection::vec(any::<u8>(), 0..300),
        seed in any::<u64>(),
    ) {
        let mut r = SplitMix(seed);
        let half = packed.len();
        let q: Vec<u8> = (0..2 * half).map(|_| r.next() as u8).collect();
        let other: Vec<u8> = (0..half).map(|_| r.next() as u8).collect();
        let unpack = |p: &[u8]| -> Vec<u8> {
            p.iter().map(|b| b & 15).chain(p.iter().map(|b| b >> 4)).collect()
        };
        let n = unpack(&packed);
        let want = crate::kernels_u8::dot_scalar(&q, &n);
        prop_assert_eq!(crate::kernels_u8::dot_u8_nibbles::<false>(&q, &packed), want);
        prop_assert_eq!(crate::kernels_u8::dot_u8_nibbles::<true>(&q, &packed), want);
        let want = crate::kernels_u8::dot_scalar(&unpack(&other), &n);
        prop_assert_eq!(crate::kernels_u8::dot_nibbles::<false>(&other, &packed), want);
        prop_assert_eq!(crate::kernels_u8::dot_nibbles::<true>(&other, &packed), want);
    }
}
