//! Evaluating a filter to the set of matching doc ids, through the filterable index where it
//! holds the target (`property_<name>` roaring sets keyed by order-preserving encodings, see
//! `object::index_keys`), by reading the objects where it does not (ids, timestamps,
//! lengths, null state, geo). Agrees with [`Filter::matches`] on every object (tests).

use std::cell::OnceCell;
use std::ops::Bound;

use roaring::RoaringTreemap;
use uuid::Uuid;

use super::filter::{
    Filter, FilterValue, Operator, Resolved, Scalar, like, like_pattern, resolve_target,
    tokenization, value_scalars,
};
use crate::collection::Collection;
use crate::error::DbError;
use crate::object::StoredObject;
use crate::object::index_keys::{REF_COUNT_TAG, float_key, int_key, ref_count_key};
use crate::schema::{ClassDef, Primitive, PropertyDef};

/// Evaluates filters of one class against its collection. The full object scan some
/// conditions need is read once per resolver.
pub(crate) struct Resolver<'a> {
    coll: &'a Collection,
    class: &'a ClassDef,
    scan: OnceCell<Vec<StoredObject>>,
}

fn key_of(kind: Primitive, s: &Scalar) -> Option<Vec<u8>> {
    Some(match (kind, s) {
        (Primitive::Text, Scalar::Text(t)) => t.as_bytes().to_vec(),
        (Primitive::Uuid, Scalar::Text(t)) => Uuid::parse_str(t).ok()?.as_bytes().to_vec(),
        (Primitive::Int | Primitive::Date, Scalar::Int(i)) => int_key(*i),
        (Primitive::Number, Scalar::Number(n)) => float_key(*n),
        (Primitive::Boolean, Scalar::Bool(b)) => vec![u8::from(*b)],
        _ => return None,
    })
}

fn union(parts: impl IntoIterator<Item = RoaringTreemap>) -> RoaringTreemap {
    parts.into_iter().fold(RoaringTreemap::new(), |a, b| a | b)
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(coll: &'a Collection, class: &'a ClassDef) -> Self {
        Self {
            coll,
            class,
            scan: OnceCell::new(),
        }
    }

    fn objects(&self) -> Result<&[StoredObject], DbError> {
        if let Some(s) = self.scan.get() {
            return Ok(s);
        }
        let all = self.coll.list(None, 0, u64::MAX, false)?;
        Ok(self.scan.get_or_init(|| all))
    }

    /// Every live doc id.
    pub(crate) fn all(&self) -> Result<RoaringTreemap, DbError> {
        Ok(self.objects()?.iter().map(|o| o.doc_id).collect())
    }

    /// The doc ids matching `filter` (validated against the class before).
    pub(crate) fn eval(&self, filter: &Filter) -> Result<RoaringTreemap, DbError> {
        match filter {
            Filter::And(fs) => {
                let mut parts = fs.iter();
                let Some(first) = parts.next() else {
                    return self.all();
                };
                let mut acc = self.eval(first)?;
                for f in parts {
                    if acc.is_empty() {
                        break;
                    }
                    acc &= self.eval(f)?;
                }
                Ok(acc)
            }
            Filter::Or(fs) => {
                let mut acc = RoaringTreemap::new();
                for f in fs {
                    acc |= self.eval(f)?;
                }
                Ok(acc)
            }
            Filter::Not(f) => Ok(self.all()? - self.eval(f)?),
            Filter::Beacons { property, beacons } => {
                let indexed = self
                    .class
                    .property(property)
                    .is_some_and(|p| p.index_filterable);
                if !indexed {
                    return self.scanned(filter);
                }
                let mut acc = RoaringTreemap::new();
                for b in beacons {
                    acc |= self.coll.index_get(property, b.as_bytes())?;
                }
                Ok(acc)
            }
            Filter::Condition { target, op, value } => {
                use Operator as O;
                let op = *op;
                let resolved = resolve_target(self.class, target)?;
                if let (Resolved::Id, O::Equal | O::ContainsAny) = (&resolved, op) {
                    return self.by_ids(value);
                }
                match resolved {
                    Resolved::Property(p, primitive) if indexable(op, primitive) => {
                        self.indexed(p, primitive, op, value)
                    }
                    Resolved::RefCount(p) if p.index_filterable && op != O::IsNull => {
                        self.ref_count(p, op, value)
                    }
                    _ => self.scanned(filter),
                }
            }
        }
    }

    /// `_id` equal to one of the values: point lookups, no scan.
    fn by_ids(&self, value: &FilterValue) -> Result<RoaringTreemap, DbError> {
        let ids: Vec<&String> = match value {
            FilterValue::Text(s) => vec![s],
            FilterValue::TextArray(a) => a.iter().collect(),
            _ => Vec::new(),
        };
        let mut out = RoaringTreemap::new();
        for id in ids {
            if let Ok(uuid) = Uuid::parse_str(id.trim())
                && let Some(obj) = self.coll.get(uuid, false)?
            {
                out.insert(obj.doc_id);
            }
        }
        Ok(out)
    }

    /// A condition evaluated on every object.
    fn scanned(&self, filter: &Filter) -> Result<RoaringTreemap, DbError> {
        Ok(self
            .objects()?
            .iter()
            .filter(|o| filter.matches(self.class, o))
            .map(|o| o.doc_id)
            .collect())
    }

    fn equal(
        &self,
        p: &PropertyDef,
        kind: Primitive,
        v: &FilterValue,
    ) -> Result<RoaringTreemap, DbError> {
        let scalars = value_scalars(kind, tokenization(p), v);
        if scalars.is_empty() {
            return Ok(RoaringTreemap::new());
        }
        let mut acc: Option<RoaringTreemap> = None;
        for s in &scalars {
            let Some(key) = key_of(kind, s) else {
                return Ok(RoaringTreemap::new());
            };
            let ids = self.coll.index_get(&p.name, &key)?;
            acc = Some(match acc {
                Some(a) => a & ids,
                None => ids,
            });
        }
        Ok(acc.unwrap_or_default())
    }

    fn indexed(
        &self,
        p: &PropertyDef,
        primitive: Primitive,
        op: Operator,
        value: &FilterValue,
    ) -> Result<RoaringTreemap, DbError> {
        use Operator as O;
        let kind = primitive.element();
        let singles = FilterValue::singles;
        match op {
            O::Equal => self.equal(p, kind, value),
            O::NotEqual => Ok(self.all()? - self.equal(p, kind, value)?),
            O::ContainsAny => {
                let parts = singles(value)
                    .iter()
                    .map(|v| self.equal(p, kind, v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(union(parts))
            }
            O::ContainsNone => {
                let parts = singles(value)
                    .iter()
                    .map(|v| self.equal(p, kind, v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(self.all()? - union(parts))
            }
            O::ContainsAll => {
                let mut acc: Option<RoaringTreemap> = None;
                for v in singles(value) {
                    let ids = self.equal(p, kind, &v)?;
                    acc = Some(match acc {
                        Some(a) => a & ids,
                        None => ids,
                    });
                }
                Ok(acc.unwrap_or_default())
            }
            O::GreaterThan | O::GreaterThanEqual | O::LessThan | O::LessThanEqual => {
                let Some(key) = value_scalars(kind, tokenization(p), value)
                    .first()
                    .and_then(|s| key_of(kind, s))
                else {
                    return Ok(RoaringTreemap::new());
                };
                let (lo, hi) = match op {
                    O::GreaterThan => (Bound::Excluded(key.as_slice()), Bound::Unbounded),
                    O::GreaterThanEqual => (Bound::Included(key.as_slice()), Bound::Unbounded),
                    O::LessThan => (Bound::Unbounded, Bound::Excluded(key.as_slice())),
                    _ => (Bound::Unbounded, Bound::Included(key.as_slice())),
                };
                self.coll.index_union(&p.name, lo, hi, |_| true)
            }
            O::Like => {
                let FilterValue::Text(pattern) = value else {
                    return Ok(RoaringTreemap::new());
                };
                let pattern = like_pattern(tokenization(p), pattern);
                let matches = |k: &[u8]| match kind {
                    Primitive::Uuid => {
                        Uuid::from_slice(k).is_ok_and(|u| like(&pattern, &u.to_string()))
                    }
                    _ => std::str::from_utf8(k).is_ok_and(|t| like(&pattern, t)),
                };
                self.coll
                    .index_union(&p.name, Bound::Unbounded, Bound::Unbounded, matches)
            }
            O::IsNull | O::WithinGeoRange => Ok(RoaringTreemap::new()),
        }
    }
}

impl Resolver<'_> {
    /// A reference-count condition through the count keys of the property's bucket.
    fn ref_count(
        &self,
        p: &PropertyDef,
        op: Operator,
        value: &FilterValue,
    ) -> Result<RoaringTreemap, DbError> {
        use Operator as O;
        let counts: Vec<i64> = match value {
            FilterValue::Int(n) => vec![*n],
            FilterValue::IntArray(a) => a.clone(),
            _ => Vec::new(),
        };
        let equal = |n: i64| self.coll.index_get(&p.name, &ref_count_key(n));
        let first = counts.first().copied();
        let tag = [REF_COUNT_TAG];
        let end = [REF_COUNT_TAG + 1];
        let range =
            |lo: Bound<&[u8]>, hi: Bound<&[u8]>| self.coll.index_union(&p.name, lo, hi, |_| true);
        match (op, first) {
            (_, None) => Ok(RoaringTreemap::new()),
            (O::Equal, Some(n)) => equal(n),
            (O::NotEqual, Some(n)) => Ok(self.all()? - equal(n)?),
            (O::ContainsAny, _) => Ok(union(
                counts
                    .iter()
                    .map(|&n| equal(n))
                    .collect::<Result<Vec<_>, _>>()?,
            )),
            (O::ContainsNone, _) => Ok(self.all()?
                - union(
                    counts
                        .iter()
                        .map(|&n| equal(n))
                        .collect::<Result<Vec<_>, _>>()?,
                )),
            (O::ContainsAll, _) => {
                let mut distinct = counts.clone();
                distinct.sort_unstable();
                distinct.dedup();
                match distinct.as_slice() {
                    [n] => equal(*n),
                    _ => Ok(RoaringTreemap::new()),
                }
            }
            (O::GreaterThan, Some(n)) => {
                range(Bound::Excluded(&ref_count_key(n)), Bound::Excluded(&end))
            }
            (O::GreaterThanEqual, Some(n)) => {
                range(Bound::Included(&ref_count_key(n)), Bound::Excluded(&end))
            }
            (O::LessThan, Some(n)) => {
                range(Bound::Included(&tag), Bound::Excluded(&ref_count_key(n)))
            }
            (O::LessThanEqual, Some(n)) => {
                range(Bound::Included(&tag), Bound::Included(&ref_count_key(n)))
            }
            (O::Like | O::IsNull | O::WithinGeoRange, _) => Ok(RoaringTreemap::new()),
        }
    }
}

/// Whether the filterable index answers `op` on a property of type `p`.
fn indexable(op: Operator, p: Primitive) -> bool {
    !matches!(op, Operator::IsNull | Operator::WithinGeoRange)
        && !matches!(p, Primitive::GeoCoordinates)
}
