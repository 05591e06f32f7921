//! The inverted indexes of a collection's shard: changes of a batch grouped per key
//! ([`IndexDelta`]), building indexes over existing objects at open (data written before an
//! index existed), and reading the searchable index's posting lists and length statistics.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use weft_inverted::postings::{self, Analyzed, LengthStats, Posting};
use weft_lsm::WriteBatch;

use super::{
    BUILD_BATCH, Collection, FILTERABLE_BUILT, META, OBJECTS, PROPLEN, SEARCHABLE_BUILT,
    TermPostings,
};
use crate::error::DbError;
use crate::object::index_keys::{
    bucket_name, reference_keys, searchable_bucket, searchable_entries,
};
use crate::schema::ClassDef;

/// Index buckets declared for the first time by this process: their properties' indexes may
/// need building ([`Collection::build_indexes`]).
#[derive(Debug, Default)]
pub(crate) struct Fresh {
    /// Searchable properties.
    pub searchable: Vec<String>,
    /// Filterable reference properties.
    pub references: Vec<String>,
}

impl Collection {
    /// Makes the indexes of `fresh` properties complete: for each without its marker
    /// (`searchable/<name>`, `filterable/<name>` for references) the entries of every object
    /// (`scan`; at open, for data written before the index existed) in batches of
    /// [`BUILD_BATCH`] objects, then the length statistics and the markers in one last record.
    /// A crash midway rebuilds at the next open (entries are rewritten with the same values;
    /// the statistics are recomputed). A searchable property added to a live class is held by
    /// no object yet, so without `scan` only its marker is written; a reference property is
    /// scanned even then, because every object holds its count ("0 references").
    pub(super) fn build_indexes(
        &self,
        class: &ClassDef,
        fresh: &Fresh,
        scan: bool,
    ) -> Result<(), DbError> {
        if fresh.searchable.is_empty() && fresh.references.is_empty() {
            return Ok(());
        }
        let shard = self.shard();
        let mut counters = self.writer.lock();
        let absent = |prefix: &str, names: &[String]| -> Result<Vec<String>, DbError> {
            let mut out = Vec::new();
            for name in names {
                let marker = format!("{prefix}{name}");
                if shard
                    .get(META, marker.as_bytes())
                    .map_err(|e| self.storage(e))?
                    .is_none()
                {
                    out.push(name.clone());
                }
            }
            Ok(out)
        };
        let searchable = absent(SEARCHABLE_BUILT, &fresh.searchable)?;
        let references = absent(FILTERABLE_BUILT, &fresh.references)?;
        if searchable.is_empty() && references.is_empty() {
            return Ok(());
        }
        // Without a scan (a property added to a live class), a concurrent writer may already
        // have written objects holding it before this marker: keep what it counted.
        let mut stats: BTreeMap<String, LengthStats> = searchable
            .iter()
            .map(|n| {
                let kept = if scan {
                    LengthStats::default()
                } else {
                    counters.lengths.get(n).copied().unwrap_or_default()
                };
                (n.clone(), kept)
            })
            .collect();
        let scan_searchable = scan && !searchable.is_empty();
        if (scan_searchable || !references.is_empty()) && counters.object_count > 0 {
            let mut sub = class.clone();
            sub.properties
                .retain(|p| scan_searchable && searchable.contains(&p.name));
            tracing::info!(
                action = "index_build",
                class = %self.class,
                shard = %self.shard_name,
                searchable = ?searchable,
                references = ?references,
                objects = counters.object_count,
                "building indexes of existing objects"
            );
            let rows = shard
                .range(OBJECTS, Bound::Unbounded, Bound::Unbounded)
                .map_err(|e| self.storage(e))?;
            let mut batch = WriteBatch::new();
            let mut delta = IndexDelta::default();
            let (mut in_batch, mut done) = (0usize, 0u64);
            let none = BTreeSet::new();
            for row in rows {
                let (key, value) = row.map_err(|e| self.storage(e))?;
                let weft_lsm::Value::Bytes(bytes) = value else {
                    continue;
                };
                let obj = self.decode_row(&key, &bytes)?;
                let entries = searchable_entries(&sub, &obj.properties);
                delta.postings(obj.doc_id, &entries, true);
                for (name, a) in &entries {
                    if let Some(s) = stats.get_mut(name) {
                        s.track(a.tracked_length(), true);
                    }
                }
                let keys: BTreeSet<(String, Vec<u8>)> = references
                    .iter()
                    .flat_map(|name| {
                        reference_keys(obj.properties.get(name))
                            .into_iter()
                            .map(|k| (bucket_name(name), k))
                    })
                    .collect();
                delta.filterable(obj.doc_id, &none, &keys);
                in_batch += 1;
                done += 1;
                if in_batch == BUILD_BATCH {
                    std::mem::take(&mut delta).stage(&mut batch);
                    if !batch.is_empty() {
                        shard.write(&batch).map_err(|e| self.storage(e))?;
                    }
                    batch = WriteBatch::new();
                    in_batch = 0;
                    if done % (BUILD_BATCH as u64 * 64) == 0 {
                        tracing::info!(
                            action = "index_build_progress",
                            class = %self.class,
                            shard = %self.shard_name,
                            done,
                            objects = counters.object_count,
                            "building indexes of existing objects"
                        );
                    }
                }
            }
            delta.stage(&mut batch);
            if !batch.is_empty() {
                shard.write(&batch).map_err(|e| self.storage(e))?;
            }
        }
        let mut batch = WriteBatch::new();
        for (name, s) in &stats {
            batch.put(META, format!("{PROPLEN}{name}").as_bytes(), &s.encode());
            batch.put(META, format!("{SEARCHABLE_BUILT}{name}").as_bytes(), &[1]);
        }
        for name in &references {
            batch.put(META, format!("{FILTERABLE_BUILT}{name}").as_bytes(), &[1]);
        }
        shard.write(&batch).map_err(|e| self.storage(e))?;
        counters.lengths.extend(stats);
        self.publish(&counters);
        Ok(())
    }

    /// The postings of `term` in the searchable index of `property`, in doc-id order.
    pub(crate) fn postings(&self, property: &str, term: &str) -> Result<Vec<Posting>, DbError> {
        let bucket = searchable_bucket(property);
        let mut out = Vec::new();
        let mut bad = None;
        self.shard()
            .map_for_each(
                &bucket,
                term.as_bytes(),
                &mut |k, v| match postings::decode(k, v) {
                    Some(p) => out.push(p),
                    None => bad = Some((k.len(), v.len())),
                },
            )
            .map_err(|e| self.storage(e))?;
        if let Some((k, v)) = bad {
            return Err(DbError::Corrupt {
                path: self.dir.join("lsm").join(&bucket),
                source: crate::error::Corruption::Inconsistent(format!(
                    "posting of term {term:?} has a {k}-byte key and a {v}-byte value, expected 8 and 8"
                )),
            });
        }
        Ok(out)
    }

    /// Length statistics of a searchable property.
    pub(crate) fn length_stats(&self, property: &str) -> LengthStats {
        self.published
            .read()
            .lengths
            .get(property)
            .copied()
            .unwrap_or_default()
    }

    /// Every term of a property's searchable index with its postings (`weft verify`).
    pub fn searchable_scan(&self, property: &str) -> Result<Vec<TermPostings>, DbError> {
        let bucket = searchable_bucket(property);
        let rows = self
            .shard()
            .scan(&bucket, Bound::Unbounded, Bound::Unbounded, usize::MAX)
            .map_err(|e| self.storage(e))?;
        let mut out = Vec::new();
        for (term, value) in rows {
            let weft_lsm::Value::Map(map) = value else {
                continue;
            };
            let mut list = Vec::with_capacity(map.len());
            for (k, v) in &map {
                list.push(postings::decode(k, v).ok_or_else(|| DbError::Corrupt {
                    path: self.dir.join("lsm").join(&bucket),
                    source: crate::error::Corruption::Inconsistent(format!(
                        "posting of term {:?} does not decode",
                        String::from_utf8_lossy(&term)
                    )),
                })?);
            }
            if !list.is_empty() {
                out.push((term, list));
            }
        }
        Ok(out)
    }

    /// Every searchable property's length statistics as kept in memory (`weft verify`).
    pub fn all_length_stats(&self) -> BTreeMap<String, LengthStats> {
        self.published.read().lengths.clone()
    }
}

/// Index changes of a batch grouped by bucket and key, so that a batch of many objects
/// writes one operation per distinct token instead of one per (token, object). Within a key,
/// additions are emitted before removals: a doc id is added once, when its object version is
/// written, and removed only later (every write takes a fresh doc id), so this order is the
/// order the writes happened in.
#[derive(Debug, Default)]
pub(super) struct IndexDelta {
    /// Filterable index: (bucket, key) → (added, removed) doc ids.
    filterable: BTreeMap<IndexKey, (Vec<u64>, Vec<u64>)>,
    /// Searchable index: (bucket, token) → (postings put, doc keys removed).
    searchable: BTreeMap<IndexKey, SearchableChange>,
}

/// A bucket and a key in it.
type IndexKey = (String, Vec<u8>);

/// Postings put (doc key, value) and doc keys removed under one token.
type SearchableChange = (Vec<(Vec<u8>, Vec<u8>)>, Vec<Vec<u8>>);

impl IndexDelta {
    /// The filterable keys of one document version: `old` removed, `new` added.
    pub(super) fn filterable(
        &mut self,
        doc_id: u64,
        old: &BTreeSet<(String, Vec<u8>)>,
        new: &BTreeSet<(String, Vec<u8>)>,
    ) {
        for key in old.difference(new) {
            self.filterable
                .entry(key.clone())
                .or_default()
                .1
                .push(doc_id);
        }
        for key in new.difference(old) {
            self.filterable
                .entry(key.clone())
                .or_default()
                .0
                .push(doc_id);
        }
    }

    /// Adds (`add`) or removes the postings of one document version.
    pub(super) fn postings(
        &mut self,
        doc_id: u64,
        entries: &BTreeMap<String, Analyzed>,
        add: bool,
    ) {
        let key = postings::doc_key(doc_id).to_vec();
        for (prop, analyzed) in entries {
            let bucket = searchable_bucket(prop);
            for (term, &tf) in &analyzed.terms {
                let change = self
                    .searchable
                    .entry((bucket.clone(), term.as_bytes().to_vec()))
                    .or_default();
                if add {
                    change.0.push((
                        key.clone(),
                        postings::encode_value(tf, analyzed.tokens).to_vec(),
                    ));
                } else {
                    change.1.push(key.clone());
                }
            }
        }
    }

    /// Moves the grouped changes into `batch`.
    pub(super) fn stage(self, batch: &mut WriteBatch) {
        for ((bucket, key), (added, removed)) in self.filterable {
            if !added.is_empty() {
                batch.roaring_add(&bucket, &key, &added);
            }
            if !removed.is_empty() {
                batch.roaring_remove(&bucket, &key, &removed);
            }
        }
        for ((bucket, key), (put, removed)) in self.searchable {
            if !put.is_empty() {
                batch.map_put_many(&bucket, &key, put);
            }
            if !removed.is_empty() {
                batch.map_remove_many(&bucket, &key, removed);
            }
        }
    }
}

pub(super) fn track_lengths(
    lengths: &mut BTreeMap<String, LengthStats>,
    entries: &BTreeMap<String, Analyzed>,
    add: bool,
) {
    for (prop, analyzed) in entries {
        lengths
            .entry(prop.clone())
            .or_default()
            .track(analyzed.tracked_length(), add);
    }
}
