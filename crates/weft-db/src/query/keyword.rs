//! Keyword (BM25) search of one class: the query tokenized per property as the property is
//! indexed (stopwords removed for `word`), idf and average lengths as Weaviate's default
//! engine computes them, the posting lists of the searchable index ranked by
//! [`weft_inverted::search::top_k`] (WAND), the filter as an allow-list.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;
use weft_inverted::bm25::{Bm25Params, count_terms, parse_boost};
use weft_inverted::search::{
    MinMatch, PropertyLists, Scored, Search, TermList, average_length, term_idf, top_k,
};
use weft_inverted::stopwords::Stopwords;

use crate::collection::Collection;
use crate::error::{DbError, UserError};
use crate::object::StoredObject;
use crate::object::index_keys::{is_searchable, tokenize};
use crate::schema::validation::lowercase_first;
use crate::schema::{ClassDef, Tokenization};

/// How the query's terms combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeywordOperator {
    /// Any term (at least `minimum_match` of them per property; 0 and 1 alike).
    Or {
        /// `minimum_or_tokens_match`
        minimum_match: usize,
    },
    /// Every term of the query, within one property.
    And,
    /// The default: `Or` with no minimum.
    #[default]
    Default,
}

/// A BM25 query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeywordQuery {
    /// The query text.
    pub query: String,
    /// Properties searched, each optionally boosted (`title^2`); empty = every searchable one.
    pub properties: Vec<String>,
    /// `Or` / `And`.
    pub operator: KeywordOperator,
}

/// One keyword hit: the object, its BM25 score and the explanation Weaviate gives.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordHit {
    /// The object.
    pub object: StoredObject,
    /// BM25 score.
    pub score: f32,
    /// `explainScore`.
    pub explain: String,
}

fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

/// The searched properties with their boosts, validated against the class.
fn searched(class: &ClassDef, wanted: &[String]) -> Result<Vec<(String, f64)>, DbError> {
    if wanted.is_empty() {
        let all: Vec<(String, f64)> = class
            .properties
            .iter()
            .filter(|p| is_searchable(p))
            .map(|p| (p.name.clone(), 1.0))
            .collect();
        if all.is_empty() {
            return Err(invalid(
                "No properties provided, and no indexed properties found in class".into(),
            ));
        }
        return Ok(all);
    }
    let mut out: Vec<(String, f64)> = Vec::new();
    for spec in wanted {
        let (name, boost) = parse_boost(spec);
        let name = lowercase_first(name);
        if !class.property(&name).is_some_and(is_searchable) {
            // Weaviate's one message for a missing, non-text or non-searchable property.
            return Err(invalid(format!(
                "Searching by property '{spec}' requires inverted index. Is `indexSearchable` option of property '{spec}' enabled? Set it to `true` or leave empty"
            )));
        }
        // A property named twice keeps its last boost.
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = boost,
            None => out.push((name, boost)),
        }
    }
    Ok(out)
}

/// A ranked keyword hit before its object is loaded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ranked {
    /// Internal doc id.
    pub doc: u64,
    /// The object's id.
    pub id: uuid::Uuid,
    /// BM25 score.
    pub score: f32,
    /// `explainScore`.
    pub explain: String,
}

/// Ranks a BM25 query: the best `k` hits within `allowed` (all objects when `None`), score
/// descending, ties by id; objects are not loaded.
pub(crate) fn rank(
    coll: &Collection,
    class: &ClassDef,
    q: &KeywordQuery,
    allowed: Option<&RoaringTreemap>,
    k: usize,
) -> Result<Vec<Ranked>, DbError> {
    if q.query.is_empty() {
        return Err(invalid("keyword search (bm25) must have query set".into()));
    }
    let props = searched(class, &q.properties)?;
    let cfg = &class.inverted_index.stopwords;
    let stopwords = Stopwords::new(cfg.preset.as_str(), &cfg.additions, &cfg.removals)
        .map_err(|e| invalid(e.to_string()))?;
    // Query terms per tokenization (a term's idf is shared by the properties tokenized alike).
    let mut by_tokenization: BTreeMap<&'static str, Vec<(String, usize)>> = BTreeMap::new();
    let mut prop_tok = Vec::new();
    for (name, _) in &props {
        let t = class
            .property(name)
            .and_then(|p| p.tokenization)
            .unwrap_or(Tokenization::Word);
        by_tokenization.entry(t.as_str()).or_insert_with(|| {
            let mut tokens = tokenize(t, &q.query);
            if t == Tokenization::Word {
                tokens = stopwords.filter_query(tokens);
            }
            count_terms(&tokens)
        });
        prop_tok.push(t.as_str());
    }
    // Posting lists of every (property, term).
    let mut lists: Vec<Vec<Vec<weft_inverted::postings::Posting>>> = Vec::new();
    for ((name, _), tok) in props.iter().zip(&prop_tok) {
        let terms = by_tokenization.get(tok).map_or(&[][..], Vec::as_slice);
        let mut per_term = Vec::with_capacity(terms.len());
        for (term, _) in terms {
            per_term.push(coll.postings(name, term)?);
        }
        lists.push(per_term);
    }
    let objects = coll.object_count();
    let mut idfs: BTreeMap<(&str, usize), f64> = BTreeMap::new();
    for (tok, terms) in &by_tokenization {
        for (t, (_, dup)) in terms.iter().enumerate() {
            let dfs: Vec<u64> = prop_tok
                .iter()
                .zip(&lists)
                .filter(|(pt, _)| *pt == tok)
                .map(|(_, l)| l.get(t).map_or(0, |p| p.len() as u64))
                .collect();
            idfs.insert((tok, t), term_idf(&dfs, objects, *dup));
        }
    }
    let means: Vec<Option<f64>> = props
        .iter()
        .map(|(name, _)| {
            let s = coll.length_stats(name);
            Some(if s.count == 0 {
                0.0
            } else {
                s.sum as f64 / s.count as f64
            })
        })
        .collect();
    let bm25 = &class.inverted_index.bm25;
    let search = Search {
        properties: props
            .iter()
            .zip(&prop_tok)
            .zip(lists)
            .map(|(((_, boost), tok), per_term)| PropertyLists {
                boost: *boost,
                query_terms: by_tokenization.get(tok).map_or(0, Vec::len),
                terms: per_term
                    .into_iter()
                    .enumerate()
                    .filter(|(_, p)| !p.is_empty())
                    .map(|(t, postings)| TermList {
                        term: t,
                        idf: idfs.get(&(*tok, t)).copied().unwrap_or(0.0),
                        postings,
                    })
                    .collect(),
            })
            .collect(),
        avg_len: average_length(&means),
        params: Bm25Params {
            k1: bm25.k1,
            b: bm25.b,
        },
        min_match: match q.operator {
            KeywordOperator::And => MinMatch::All,
            KeywordOperator::Or { minimum_match } => MinMatch::AtLeast(minimum_match),
            KeywordOperator::Default => MinMatch::AtLeast(0),
        },
        k,
    };
    let allow = |doc: u64| allowed.is_none_or(|a| a.contains(doc));
    let mut hits = Vec::new();
    for scored in top_k(&search, &allow) {
        let Some(id) = coll.uuid_of(scored.doc)? else {
            continue;
        };
        hits.push(Ranked {
            doc: scored.doc,
            id,
            score: scored.score as f32,
            explain: explain(&scored, &props, &prop_tok, &by_tokenization),
        });
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.id.to_string().cmp(&b.id.to_string()))
    });
    Ok(hits)
}

/// Runs a BM25 query and loads the hits' objects.
pub(crate) fn search(
    coll: &Collection,
    class: &ClassDef,
    q: &KeywordQuery,
    allowed: Option<&RoaringTreemap>,
    k: usize,
    with_vectors: bool,
) -> Result<Vec<KeywordHit>, DbError> {
    let mut out = Vec::new();
    for r in rank(coll, class, q, allowed, k)? {
        if let Some(object) = coll.by_doc_id(r.doc, with_vectors)? {
            out.push(KeywordHit {
                object,
                score: r.score,
                explain: r.explain,
            });
        }
    }
    Ok(out)
}

/// Weaviate's explanation: `, BM25F_<term>_frequency:<f × boost>, BM25F_<term>_propLength:<len>`
/// per matched term (a term found in several properties: the last one, as Weaviate's keys
/// collide).
fn explain(
    scored: &Scored,
    props: &[(String, f64)],
    prop_tok: &[&str],
    terms: &BTreeMap<&'static str, Vec<(String, usize)>>,
) -> String {
    let mut per_term: BTreeMap<&str, (f32, u32)> = BTreeMap::new();
    for m in &scored.matches {
        let term = prop_tok
            .get(m.property)
            .and_then(|tok| terms.get(tok))
            .and_then(|t| t.get(m.term))
            .map_or("", |(t, _)| t.as_str());
        let boost = props.get(m.property).map_or(1.0, |p| p.1);
        per_term.insert(term, ((f64::from(m.tf) * boost) as f32, m.len));
    }
    let mut out = String::new();
    for (term, (f, len)) in per_term {
        out.push_str(&format!(
            ", BM25F_{term}_frequency:{f}, BM25F_{term}_propLength:{len}"
        ));
    }
    out
}

#[cfg(test)]
mod tests;
