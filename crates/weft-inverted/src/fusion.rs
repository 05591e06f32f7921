//! Hybrid fusion as Weaviate does it (`usecases/traverser/hybrid/hybrid_fusion.go`): result
//! sets (vector first, keyword second) with weights (`alpha`, `1 - alpha`) fused by
//! `rankedFusion` or `relativeScoreFusion` (the default).

/// One hit of one result set.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<Id> {
    /// The object.
    pub id: Id,
    /// The value the fusion normalises: BM25 score, or `1 - distance` for vectors.
    pub value: f64,
}

/// One fused hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<Id> {
    /// The object.
    pub id: Id,
    /// The fused score.
    pub score: f64,
    /// The value from the set processed last that held it (breaks score ties).
    pub secondary: f64,
    /// Which sets contributed (indexes into the input).
    pub sets: Vec<usize>,
}

fn add<Id: Clone + PartialEq>(
    out: &mut Vec<Fused<Id>>,
    id: &Id,
    score: f64,
    value: f64,
    set: usize,
) {
    match out.iter_mut().find(|f| f.id == *id) {
        Some(f) => {
            f.score += score;
            f.secondary = value;
            f.sets.push(set);
        }
        None => out.push(Fused {
            id: id.clone(),
            score,
            secondary: value,
            sets: vec![set],
        }),
    }
}

/// Weaviate's order: score descending; within 1e-7 the secondary value descending; then id
/// ascending.
fn sort<Id: Ord>(out: &mut [Fused<Id>]) {
    out.sort_by(|a, b| {
        let d = b.score - a.score;
        if d * d < 1e-14 {
            let d2 = b.secondary - a.secondary;
            if d2 * d2 < 1e-14 {
                return a.id.cmp(&b.id);
            }
            return b
                .secondary
                .partial_cmp(&a.secondary)
                .unwrap_or(std::cmp::Ordering::Equal);
        }
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Reciprocal rank fusion: rank `i` (0-based) of set `s` contributes `weight_s / (i + 60)`.
pub fn ranked<Id: Clone + PartialEq + Ord>(
    sets: &[Vec<Hit<Id>>],
    weights: &[f64],
) -> Vec<Fused<Id>> {
    let mut out = Vec::new();
    for (s, (hits, w)) in sets.iter().zip(weights).enumerate() {
        for (i, h) in hits.iter().enumerate() {
            add(&mut out, &h.id, w / (i as f64 + 60.0), h.value, s);
        }
    }
    sort(&mut out);
    out
}

/// Relative score fusion: each set's values are min-max normalised to [0, 1] and multiplied by
/// its weight; a set whose values are all equal gives every hit the full weight.
pub fn relative<Id: Clone + PartialEq + Ord>(
    sets: &[Vec<Hit<Id>>],
    weights: &[f64],
) -> Vec<Fused<Id>> {
    let mut out = Vec::new();
    for (s, (hits, w)) in sets.iter().zip(weights).enumerate() {
        let min = hits.iter().map(|h| h.value).fold(f64::INFINITY, f64::min);
        let max = hits
            .iter()
            .map(|h| h.value)
            .fold(f64::NEG_INFINITY, f64::max);
        for h in hits {
            let score = if max > min {
                w * (h.value - min) / (max - min)
            } else {
                *w
            };
            add(&mut out, &h.id, score, h.value, s);
        }
    }
    sort(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(v: &[(u32, f64)]) -> Vec<Hit<u32>> {
        v.iter()
            .map(|(id, value)| Hit {
                id: *id,
                value: *value,
            })
            .collect()
    }

    #[test]
    fn ranked_fusion_adds_weight_over_rank_plus_60() {
        let vector = hits(&[(1, 0.9), (2, 0.8)]);
        let keyword = hits(&[(2, 3.0), (3, 1.0)]);
        let f = ranked(&[vector, keyword], &[0.75, 0.25]);
        let score = |id| f.iter().find(|x| x.id == id).unwrap().score;
        assert!((score(1) - 0.75 / 60.0).abs() < 1e-12);
        assert!((score(2) - (0.75 / 61.0 + 0.25 / 60.0)).abs() < 1e-12);
        assert!((score(3) - 0.25 / 61.0).abs() < 1e-12);
        assert_eq!(f.iter().map(|x| x.id).collect::<Vec<_>>(), [2, 1, 3]);
        assert_eq!(f[0].sets, [0, 1]);
    }

    #[test]
    fn relative_fusion_normalises_each_set_and_handles_equal_and_empty_sets() {
        let vector = hits(&[(1, 0.9), (2, 0.5), (3, 0.1)]);
        let keyword = hits(&[(3, 8.0), (4, 2.0)]);
        let f = relative(&[vector.clone(), keyword], &[0.5, 0.5]);
        let score = |f: &Vec<Fused<u32>>, id| f.iter().find(|x| x.id == id).unwrap().score;
        assert!((score(&f, 1) - 0.5).abs() < 1e-12);
        assert!((score(&f, 2) - 0.25).abs() < 1e-12);
        assert!((score(&f, 3) - 0.5).abs() < 1e-12); // 0 from vectors + 0.5 from keywords
        assert!((score(&f, 4) - 0.0).abs() < 1e-12);
        // 1 and 3 tie at 0.5: 3's secondary is its keyword value (8.0, the set processed last).
        assert_eq!(f.iter().map(|x| x.id).collect::<Vec<_>>(), [3, 1, 2, 4]);
        // One hit (or all equal): the full weight.
        let single = relative(&[hits(&[(9, 0.3)])], &[0.7]);
        assert!((single[0].score - 0.7).abs() < 1e-12);
        // Empty sides.
        assert!(relative::<u32>(&[vec![], vec![]], &[0.5, 0.5]).is_empty());
        let only_vector = relative(&[vector, vec![]], &[1.0, 0.0]);
        assert_eq!(only_vector.len(), 3);
    }

    #[test]
    fn exact_ties_fall_back_to_the_id() {
        let f = ranked(&[hits(&[(5, 1.0)]), hits(&[(4, 1.0)])], &[0.5, 0.5]);
        assert_eq!(f.iter().map(|x| x.id).collect::<Vec<_>>(), [4, 5]);
    }
}
