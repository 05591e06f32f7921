//! Consistency check of the stored data: objects, their vectors, the filterable index, the
//! searchable (BM25) index with its length statistics and the counters must agree. Used by `weft verify` and by the crash tests.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::Db;
use crate::error::DbError;
use weft_inverted::postings::{LengthStats, Posting};

use crate::object::index_keys::{
    bucket_name, index_entries, is_indexed, is_searchable, searchable_entries,
};

/// What [`Db::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Classes checked.
    pub classes: usize,
    /// Objects read.
    pub objects: u64,
    /// Index entries (bucket, key, doc id) checked.
    pub index_entries: u64,
    /// Every disagreement found, human-readable.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether everything agrees.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Db {
    /// Reads every object of every class and checks it against the index and counters.
    pub fn verify(&self) -> Result<VerifyReport, DbError> {
        let mut report = VerifyReport::default();
        for class in self.classes() {
            report.classes += 1;
            // A multi-tenant class: every tenant's shard, active or not.
            let tenants: Vec<Option<String>> = if class.multi_tenancy.enabled {
                self.catalog
                    .tenants(&class.name)?
                    .into_keys()
                    .map(Some)
                    .collect()
            } else {
                vec![None]
            };
            for tenant in tenants {
                let (label, checked) = match &tenant {
                    None => (
                        class.name.clone(),
                        self.collection(&class.name).and_then(|coll| {
                            self.verify_shard(&class, &coll, &class.name, &mut report)
                        }),
                    ),
                    Some(t) => {
                        let label = format!("{} tenant {t}", class.name);
                        let checked = self.with_tenant_shard(&class, t, |coll| {
                            self.verify_shard(&class, coll, &label, &mut report)
                        });
                        (label, checked)
                    }
                };
                if let Err(err) = checked {
                    report
                        .problems
                        .push(format!("class {label}: {}", crate::error::chain(&err)));
                }
            }
        }
        Ok(report)
    }

    /// Checks one shard's objects against its indexes and counters.
    fn verify_shard(
        &self,
        class: &crate::schema::ClassDef,
        coll: &crate::collection::Collection,
        label: &str,
        report: &mut VerifyReport,
    ) -> Result<(), DbError> {
        let objects = coll.list(None, 0, u64::MAX, true)?;
        let mut problem = |p: String| report.problems.push(format!("class {label}: {p}"));
        if objects.len() as u64 != coll.object_count() {
            problem(format!(
                "object_count is {} but {} objects are stored",
                coll.object_count(),
                objects.len()
            ));
        }
        let mut doc_ids = HashSet::new();
        let mut expected: BTreeMap<(String, Vec<u8>), BTreeSet<u64>> = BTreeMap::new();
        for obj in &objects {
            if !doc_ids.insert(obj.doc_id) {
                problem(format!(
                    "doc id {} is used twice (object {})",
                    obj.doc_id, obj.id
                ));
            }
            for entry in index_entries(class, &obj.properties) {
                expected.entry(entry).or_default().insert(obj.doc_id);
            }
        }
        let mut actual: BTreeMap<(String, Vec<u8>), BTreeSet<u64>> = BTreeMap::new();
        for prop in class
            .properties
            .iter()
            .filter(|p| p.index_filterable && is_indexed(&p.data_type))
        {
            for (key, ids) in coll.index_scan(&prop.name)? {
                actual.insert((bucket_name(&prop.name), key), ids.iter().collect());
            }
        }
        report.index_entries += expected.values().map(|s| s.len() as u64).sum::<u64>();
        for (key, ids) in &expected {
            if actual.get(key) != Some(ids) {
                problem(format!(
                    "index {} key {:02x?}: objects say {:?}, index says {:?}",
                    key.0,
                    key.1,
                    ids,
                    actual.get(key)
                ));
            }
        }
        for (key, ids) in &actual {
            if !expected.contains_key(key) {
                problem(format!(
                    "index {} key {:02x?} lists {:?} but no object has it",
                    key.0, key.1, ids
                ));
            }
        }
        // Searchable index: exactly the postings the objects imply, and the statistics.
        let mut want: BTreeMap<(String, Vec<u8>), Vec<Posting>> = BTreeMap::new();
        let mut want_lengths: BTreeMap<String, LengthStats> = BTreeMap::new();
        for obj in &objects {
            for (prop, analyzed) in searchable_entries(class, &obj.properties) {
                want_lengths
                    .entry(prop.clone())
                    .or_default()
                    .track(analyzed.tracked_length(), true);
                for (term, tf) in &analyzed.terms {
                    want.entry((prop.clone(), term.clone().into_bytes()))
                        .or_default()
                        .push(Posting {
                            doc: obj.doc_id,
                            tf: *tf,
                            len: analyzed.tokens,
                        });
                }
            }
        }
        for list in want.values_mut() {
            list.sort_by_key(|p| p.doc);
        }
        let mut have: BTreeMap<(String, Vec<u8>), Vec<Posting>> = BTreeMap::new();
        for prop in class.properties.iter().filter(|p| is_searchable(p)) {
            for (term, list) in coll.searchable_scan(&prop.name)? {
                have.insert((prop.name.clone(), term), list);
            }
        }
        report.index_entries += want.values().map(|l| l.len() as u64).sum::<u64>();
        for (key, list) in &want {
            if have.get(key) != Some(list) {
                problem(format!(
                    "searchable index {} term {:?}: objects say {:?}, index says {:?}",
                    key.0,
                    String::from_utf8_lossy(&key.1),
                    list,
                    have.get(key)
                ));
            }
        }
        for (key, list) in &have {
            if !want.contains_key(key) {
                problem(format!(
                    "searchable index {} term {:?} lists {:?} but no object has it",
                    key.0,
                    String::from_utf8_lossy(&key.1),
                    list
                ));
            }
        }
        let stored = coll.all_length_stats();
        for prop in class.properties.iter().filter(|p| is_searchable(p)) {
            let want = want_lengths.get(&prop.name).copied().unwrap_or_default();
            let got = stored.get(&prop.name).copied().unwrap_or_default();
            if want != got {
                problem(format!(
                    "length statistics of {}: objects say {want:?}, stored {got:?}",
                    prop.name
                ));
            }
        }
        // Vectors: every stored vector belongs to a live object, and every object's
        // vectors are stored under its current doc id.
        let live: BTreeMap<u64, &crate::object::StoredObject> =
            objects.iter().map(|o| (o.doc_id, o)).collect();
        for (doc_id, name) in coll.vector_keys()? {
            match live.get(&doc_id) {
                Some(obj) if obj.vectors.contains_key(&name) => {}
                Some(obj) => problem(format!(
                    "vector {name:?} of doc id {doc_id} is not loaded with object {}",
                    obj.id
                )),
                None => problem(format!(
                    "vector {name:?} of doc id {doc_id} belongs to no object"
                )),
            }
        }
        report.objects += objects.len() as u64;
        Ok(())
    }
}
