//! The two algorithms against a brute-force model computed straight from the documents.

use proptest::prelude::*;

use super::*;
use crate::postings::{Analyzed, LengthStats};

/// A corpus: each document has `P` properties, each a list of tokens (possibly absent).
type Doc = Vec<Option<Vec<String>>>;

fn word() -> impl Strategy<Value = String> {
    // A small vocabulary so that terms repeat across documents.
    prop::sample::select(vec!["a", "b", "c", "d", "e", "f", "g", "h"]).prop_map(String::from)
}

fn doc(props: usize) -> impl Strategy<Value = Doc> {
    prop::collection::vec(
        prop::option::weighted(0.85, prop::collection::vec(word(), 0..12)),
        props..=props,
    )
}

/// The searched properties' posting lists, built as weft-db stores them.
fn build(
    docs: &[Doc],
    terms: &[(String, usize)],
    boosts: &[f64],
    min_match: MinMatch,
    k: usize,
) -> Search {
    let n = docs.len() as u64;
    let mut stats = vec![LengthStats::default(); boosts.len()];
    let mut lists: Vec<Vec<Vec<Posting>>> = vec![vec![Vec::new(); terms.len()]; boosts.len()];
    for (d, doc) in docs.iter().enumerate() {
        for (p, tokens) in doc.iter().enumerate() {
            let Some(tokens) = tokens else { continue };
            let a = Analyzed::from_tokens(tokens.iter().cloned());
            stats[p].track(a.tracked_length(), true);
            for (t, (term, _)) in terms.iter().enumerate() {
                if let Some(&tf) = a.terms.get(term) {
                    lists[p][t].push(Posting {
                        doc: d as u64,
                        tf,
                        len: a.tokens,
                    });
                }
            }
        }
    }
    let idfs: Vec<f64> = terms
        .iter()
        .enumerate()
        .map(|(t, (_, dup))| {
            let dfs: Vec<u64> = lists.iter().map(|l| l[t].len() as u64).collect();
            term_idf(&dfs, n, *dup)
        })
        .collect();
    let means: Vec<Option<f64>> = stats.iter().map(|s| s.mean().or(Some(0.0))).collect();
    Search {
        properties: lists
            .into_iter()
            .zip(boosts)
            .map(|(per_term, &boost)| PropertyLists {
                boost,
                query_terms: terms.len(),
                terms: per_term
                    .into_iter()
                    .enumerate()
                    .filter(|(_, l)| !l.is_empty())
                    .map(|(t, postings)| TermList {
                        term: t,
                        idf: idfs[t],
                        postings,
                    })
                    .collect(),
            })
            .collect(),
        avg_len: average_length(&means),
        params: Bm25Params::default(),
        min_match,
        k,
    }
}

/// The model: every document scored from its tokens with the formulas written out.
fn model(
    docs: &[Doc],
    terms: &[(String, usize)],
    boosts: &[f64],
    min_match: MinMatch,
    allow: &dyn Fn(u64) -> bool,
) -> Vec<(u64, f64)> {
    let n = docs.len() as f64;
    let (k1, b) = (1.2, 0.75);
    // Average length: mean over properties of (distinct tokens per doc) means.
    let mut means = Vec::new();
    for p in 0..boosts.len() {
        let lens: Vec<f64> = docs
            .iter()
            .filter_map(|d| d[p].as_ref())
            .map(|t| {
                let mut u = t.clone();
                u.sort();
                u.dedup();
                u.len() as f64
            })
            .collect();
        let m = if lens.is_empty() {
            0.0
        } else {
            lens.iter().sum::<f64>() / lens.len() as f64
        };
        means.push(f64::from(m as f32));
    }
    let mut avg = means.iter().sum::<f64>() / means.len() as f64;
    if avg == 0.0 || avg.is_nan() {
        avg = 40.0;
    }
    let idf: Vec<f64> = terms
        .iter()
        .map(|(term, dup)| {
            let dfs: Vec<usize> = (0..boosts.len())
                .map(|p| {
                    docs.iter()
                        .filter(|d| d[p].as_ref().is_some_and(|t| t.contains(term)))
                        .count()
                })
                .filter(|&c| c > 0)
                .collect();
            if dfs.is_empty() {
                return 0.0;
            }
            let df = (dfs.iter().sum::<usize>() / dfs.len()) as f64;
            let total = n.max(df);
            (1.0 + (total - df + 0.5) / (df + 0.5)).ln() * *dup as f64
        })
        .collect();
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        if !allow(d as u64) {
            continue;
        }
        let mut score = 0.0;
        let mut any = false;
        for (p, tokens) in doc.iter().enumerate() {
            let Some(tokens) = tokens else { continue };
            let len = tokens.len() as f64;
            let mut matched = 0;
            let mut partial = 0.0;
            for (t, (term, _)) in terms.iter().enumerate() {
                let f = tokens.iter().filter(|x| *x == term).count() as f64;
                if f > 0.0 {
                    matched += 1;
                    let tf = f / (f + k1 * (1.0 - b + b * len / avg));
                    partial += tf * idf[t] * boosts[p];
                }
            }
            let need = match min_match {
                MinMatch::AtLeast(m) => m.max(1),
                MinMatch::All => terms.len().max(1),
            };
            if matched >= need {
                score += partial;
                any = true;
            }
        }
        if any {
            out.push((d as u64, score));
        }
    }
    out.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
    out
}

fn query() -> impl Strategy<Value = Vec<(String, usize)>> {
    prop::collection::btree_map(word(), 1usize..3, 1..4).prop_map(|m| m.into_iter().collect())
}

fn min_match() -> impl Strategy<Value = MinMatch> {
    prop_oneof![
        4 => Just(MinMatch::AtLeast(0)),
        1 => (1usize..4).prop_map(MinMatch::AtLeast),
        1 => Just(MinMatch::All),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn exhaustive_scores_equal_the_model(
        docs in prop::collection::vec(doc(2), 1..40),
        terms in query(),
        boosts in prop::sample::select(vec![vec![1.0, 1.0], vec![2.0, 1.0], vec![1.0, 0.5]]),
        mm in min_match(),
        parity in any::<bool>(),
    ) {
        let allow = |d: u64| !parity || d.is_multiple_of(2);
        let search = build(&docs, &terms, &boosts, mm, usize::MAX);
        let got = exhaustive(&search, &allow);
        let want = model(&docs, &terms, &boosts, mm, &allow);
        prop_assert_eq!(got.len(), want.len());
        for (g, (_, score)) in got.iter().zip(&want) {
            prop_assert!((g.score - score).abs() <= 1e-5 * score.abs().max(1.0),
                "doc {} scored {} vs model {} ({:?})", g.doc, g.score, score, want);
        }
        // Same ranking where the model's scores are not (nearly) tied.
        for (i, (g, (doc, _))) in got.iter().zip(&want).enumerate() {
            let tied = want.iter().enumerate().any(|(j, w)| j != i && (w.1 - want[i].1).abs() < 1e-9);
            if !tied {
                prop_assert_eq!(g.doc, *doc);
            }
        }
    }

    #[test]
    fn wand_top_k_equals_exhaustive_top_k(
        docs in prop::collection::vec(doc(2), 1..80),
        terms in query(),
        boosts in prop::sample::select(vec![vec![1.0, 1.0], vec![3.0, 1.0], vec![1.0, 0.0]]),
        mm in min_match(),
        k in 1usize..12,
        parity in any::<bool>(),
    ) {
        let allow = |d: u64| !parity || !d.is_multiple_of(3);
        let search = build(&docs, &terms, &boosts, mm, k);
        prop_assert_eq!(top_k(&search, &allow), exhaustive(&search, &allow));
    }
}

#[test]
fn wand_skips_postings_that_cannot_reach_the_top() {
    // One rare term in few documents, one common term everywhere: with k = 1 the common
    // term's bound alone cannot beat the rare document, so most of its postings are skipped.
    let mut docs: Vec<Doc> = (0..1000)
        .map(|_| vec![Some(vec!["common".to_string()])])
        .collect();
    docs[500] = vec![Some(vec!["rare".to_string(), "common".to_string()])];
    let terms = vec![("rare".to_string(), 1), ("common".to_string(), 1)];
    let search = build(&docs, &terms, &[1.0], MinMatch::AtLeast(0), 1);
    let scored = std::cell::Cell::new(0usize);
    let allow = |_: u64| {
        scored.set(scored.get() + 1);
        true
    };
    let top = top_k(&search, &allow);
    assert_eq!(top.first().map(|s| s.doc), Some(500));
    assert!(
        scored.get() < 600,
        "WAND scored {} of 1000 documents",
        scored.get()
    );
    assert_eq!(top, exhaustive(&search, &|_| true));
}

#[test]
fn averages_and_idf_follow_weaviate() {
    // n is the integer mean of the non-zero dfs.
    assert_eq!(term_idf(&[3, 0, 4], 10, 1), crate::bm25::idf(3.0, 10.0));
    assert_eq!(term_idf(&[0, 0], 10, 1), 0.0);
    assert_eq!(term_idf(&[2], 10, 2), 2.0 * crate::bm25::idf(2.0, 10.0));
    assert_eq!(average_length(&[Some(4.0), Some(0.0)]), 2.0);
    assert_eq!(average_length(&[None, Some(6.0)]), 6.0);
    assert_eq!(average_length(&[Some(0.0)]), 40.0);
    assert_eq!(average_length(&[]), 40.0);
}
