//! BM25 top-k over posting lists, as Weaviate's default engine ranks: every searched property
//! is scored on its own (a document counts for a property only if it holds at least
//! `min_match` of the query's terms there), a document's score is the sum over its properties.
//!
//! Two algorithms give the same answer: [`exhaustive`] scores every posting (the reference),
//! [`top_k`] runs WAND — documents whose summed upper bounds cannot beat the k-th best score
//! are skipped without being scored — whenever the query allows it (`min_match ≤ 1`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use crate::bm25::{Bm25Params, idf, term_score};
use crate::postings::Posting;

/// The postings of one query term in one property, sorted by doc id.
#[derive(Debug, Clone, PartialEq)]
pub struct TermList {
    /// Index of the query term (for explanations).
    pub term: usize,
    /// The term's idf (duplicate-term multiplier included).
    pub idf: f64,
    /// Postings in doc-id order.
    pub postings: Vec<Posting>,
}

/// The lists of one searched property.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyLists {
    /// The property's boost (`title^2`).
    pub boost: f64,
    /// One list per query term that occurs in the property.
    pub terms: Vec<TermList>,
    /// Query terms of the property's tokenization (for `And`: all must match).
    pub query_terms: usize,
}

/// A BM25 search over posting lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The searched properties.
    pub properties: Vec<PropertyLists>,
    /// The average property length (Weaviate: the mean of the searched properties' means).
    pub avg_len: f64,
    /// `k1`, `b`.
    pub params: Bm25Params,
    /// Terms a document must hold in a property for the property to count (`Or`:
    /// `minimum_should_match`, 0 and 1 alike; `And`: the property's query terms).
    pub min_match: MinMatch,
    /// Results wanted.
    pub k: usize,
}

/// How many query terms a property must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinMatch {
    /// At least this many (`Or` with `minimum_should_match`).
    AtLeast(usize),
    /// Every query term of the property's tokenization (`And`).
    All,
}

impl MinMatch {
    fn of(self, p: &PropertyLists) -> usize {
        match self {
            MinMatch::AtLeast(n) => n.max(1),
            MinMatch::All => p.query_terms.max(1),
        }
    }
}

/// One term found in one property of a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Index into [`Search::properties`].
    pub property: usize,
    /// The query term index.
    pub term: usize,
    /// Its frequency there.
    pub tf: u32,
    /// The property's length.
    pub len: u32,
    /// What it added to the score.
    pub score: f64,
}

/// A ranked document.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Internal doc id.
    pub doc: u64,
    /// BM25 score.
    pub score: f64,
    /// What made the score, by property then term.
    pub matches: Vec<Match>,
}

/// Weaviate's idf of a query term from its document frequency in each searched property: `n`
/// is the mean df over the properties that hold the term (integer division), `N` the object
/// count; a term given `dup` times counts `dup` times. 0 when no property holds it.
pub fn term_idf(dfs: &[u64], objects: u64, dup: usize) -> f64 {
    let holding: Vec<u64> = dfs.iter().copied().filter(|&d| d > 0).collect();
    let Some(n) = holding
        .iter()
        .sum::<u64>()
        .checked_div(holding.len() as u64)
    else {
        return 0.0;
    };
    idf(n as f64, objects as f64) * dup as f64
}

/// Weaviate's average length: the mean of the searched properties' means (each rounded to
/// f32 as Weaviate's tracker returns it; `None` = a NaN mean, left out); 40 when that is 0 or
/// undefined.
pub fn average_length(means: &[Option<f64>]) -> f64 {
    let valid: Vec<f64> = means
        .iter()
        .flatten()
        .map(|&m| f64::from(m as f32))
        .collect();
    let avg = valid.iter().sum::<f64>() / valid.len() as f64;
    if avg.is_nan() || avg == 0.0 {
        40.0
    } else {
        avg
    }
}

/// Score order: higher first, then lower doc id.
fn better(a: &Scored, b: &Scored) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then(a.doc.cmp(&b.doc))
}

/// Sums matches (sorted by property, then list order) property by property, so both
/// algorithms add the same floats in the same order; drops properties below `min_match`.
fn total(search: &Search, mut matches: Vec<(usize, usize, Match)>) -> Option<(f64, Vec<Match>)> {
    matches.sort_by_key(|(p, i, _)| (*p, *i));
    let mut score = 0.0;
    let mut kept = Vec::new();
    let mut start = 0;
    while start < matches.len() {
        let p = matches[start].0;
        let end = start + matches[start..].iter().take_while(|m| m.0 == p).count();
        if end - start >= search.min_match.of(&search.properties[p]) {
            let partial: f64 = matches[start..end].iter().map(|(_, _, m)| m.score).sum();
            score += partial;
            kept.extend(matches[start..end].iter().map(|(_, _, m)| *m));
        }
        start = end;
    }
    (!kept.is_empty()).then_some((score, kept))
}

fn contribution(search: &Search, p: usize, list: &TermList, posting: &Posting) -> Match {
    let prop = &search.properties[p];
    Match {
        property: p,
        term: list.term,
        tf: posting.tf,
        len: posting.len,
        score: term_score(
            f64::from(posting.tf),
            f64::from(posting.len),
            search.avg_len,
            list.idf,
            prop.boost,
            search.params,
        ),
    }
}

/// Scores every posting; the reference [`top_k`] is tested against.
pub fn exhaustive(search: &Search, allow: &dyn Fn(u64) -> bool) -> Vec<Scored> {
    let mut per_doc: BTreeMap<u64, Vec<(usize, usize, Match)>> = BTreeMap::new();
    for (p, prop) in search.properties.iter().enumerate() {
        for (i, list) in prop.terms.iter().enumerate() {
            for posting in list.postings.iter().filter(|x| allow(x.doc)) {
                per_doc.entry(posting.doc).or_default().push((
                    p,
                    i,
                    contribution(search, p, list, posting),
                ));
            }
        }
    }
    let mut out: Vec<Scored> = per_doc
        .into_iter()
        .filter_map(|(doc, m)| total(search, m).map(|(score, matches)| (doc, score, matches)))
        .map(|(doc, score, matches)| Scored {
            doc,
            score,
            matches,
        })
        .collect();
    out.sort_by(better);
    out.truncate(search.k);
    out
}

/// The heap keeps the k best; its top is the worst of them.
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        better(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        better(&self.0, &other.0)
    }
}

struct Cursor<'a> {
    property: usize,
    index: usize,
    list: &'a TermList,
    pos: usize,
    upper: f64,
}

impl Cursor<'_> {
    fn doc(&self) -> Option<u64> {
        self.list.postings.get(self.pos).map(|p| p.doc)
    }

    /// Moves to the first posting with doc ≥ `target`, skipping the ones before unscored.
    fn seek(&mut self, target: u64) {
        let rest = &self.list.postings[self.pos..];
        self.pos += rest.partition_point(|p| p.doc < target);
    }
}

/// The top `k` documents, by WAND when `min_match ≤ 1` and every bound is non-negative,
/// else by [`exhaustive`]. Equal to [`exhaustive`] (tests).
pub fn top_k(search: &Search, allow: &dyn Fn(u64) -> bool) -> Vec<Scored> {
    let single = search
        .properties
        .iter()
        .all(|p| search.min_match.of(p) <= 1);
    let mut cursors: Vec<Cursor<'_>> = Vec::new();
    for (p, prop) in search.properties.iter().enumerate() {
        for (i, list) in prop.terms.iter().enumerate() {
            // tf / (tf + k1 * …) < 1, so idf * boost bounds every contribution of the list.
            cursors.push(Cursor {
                property: p,
                index: i,
                list,
                pos: 0,
                upper: list.idf * prop.boost,
            });
        }
    }
    if !single || search.k == 0 || cursors.iter().any(|c| c.upper.is_nan() || c.upper < 0.0) {
        return exhaustive(search, allow);
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(search.k + 1);
    loop {
        cursors.retain(|c| c.doc().is_some());
        cursors.sort_by_key(|c| c.doc());
        let threshold = if heap.len() < search.k {
            f64::NEG_INFINITY
        } else {
            heap.peek().map_or(f64::NEG_INFINITY, |w| w.0.score)
        };
        // The pivot: the first cursor where the bounds so far could beat the threshold.
        let mut bound = 0.0;
        let mut pivot = None;
        for (i, c) in cursors.iter().enumerate() {
            bound += c.upper;
            if bound + bound.abs() * 1e-9 > threshold {
                pivot = Some(i);
                break;
            }
        }
        let Some(pivot) = pivot else { break };
        let Some(pivot_doc) = cursors[pivot].doc() else {
            break;
        };
        if cursors[0].doc() != Some(pivot_doc) {
            for c in cursors.iter_mut().take(pivot) {
                c.seek(pivot_doc);
            }
            continue;
        }
        let mut matches = Vec::new();
        for c in cursors
            .iter_mut()
            .take_while(|c| c.doc() == Some(pivot_doc))
        {
            let posting = c.list.postings[c.pos];
            matches.push((
                c.property,
                c.index,
                contribution(search, c.property, c.list, &posting),
            ));
            c.pos += 1;
        }
        if !allow(pivot_doc) {
            continue;
        }
        let Some((score, matches)) = total(search, matches) else {
            continue;
        };
        let candidate = Scored {
            doc: pivot_doc,
            score,
            matches,
        };
        if heap.len() < search.k {
            heap.push(Worst(candidate));
        } else if heap
            .peek()
            .is_some_and(|w| better(&candidate, &w.0) == Ordering::Less)
        {
            heap.pop();
            heap.push(Worst(candidate));
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
    out.sort_by(better);
    out
}

#[cfg(test)]
mod tests;
