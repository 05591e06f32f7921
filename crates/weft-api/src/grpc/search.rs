//! `Search`: the request as the Python client sends it for `query.near_vector`,
//! `query.near_object`, `query.fetch_objects`, `query.fetch_object_by_id` and `iterator()`,
//! mapped to one [`weft_db::Query`] ([`plan`]); the hits are encoded by [`reply`].
//!
//! Accepted: `collection`, `limit` (0 = `QUERY_DEFAULTS_LIMIT`), `offset`, `after`, filters,
//! sorting, grouping, autocut, `near_vector` / `near_object` with one target vector and
//! `distance` / `certainty`, `bm25_search` (properties with boosts, `Or` with a minimum /
//! `And`), `hybrid_search` (alpha, both fusions, a vector or `near_vector`, a target,
//! `vector_distance`), `properties` (with `ref_properties` nested to any depth) and `metadata`
//! (with `score`, `explain_score`). What weft
//! does not serve (near_text and the other modules, generative, rerank, boost)
//! is refused with INVALID_ARGUMENT and a message naming the feature — never
//! UNAVAILABLE, which clients retry for a minute.

pub mod reply;

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ErrorCode, WireError};
use crate::proto::v1::SearchResult;
use crate::proto::v1::vectors::VectorType;
use crate::proto::v1::{
    Bm25, GroupByResult, Hybrid, MetadataRequest, NearObject, NearVector, ObjectPropertiesRequest,
    PropertiesRequest, SearchOperatorOptions, SearchRequest, Targets, VectorForTarget, Vectors,
};
use uuid::Uuid;
use weft_db::query::{Fusion, HybridQuery, KeywordOperator, KeywordQuery};
use weft_db::{Db, Near, NearQuery};

use crate::QueryLimits;

/// A `Search` call ready to run: the database query and what to put in each result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    /// The query for [`weft_db::Db::search`].
    pub query: weft_db::Query,
    /// Group the hits of a vector search.
    pub group_by: Option<weft_db::query::GroupBy>,
    /// What each result carries.
    pub output: Output,
}

/// What each result carries besides the object id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Which non-reference properties to return.
    pub properties: Selection,
    /// Metadata fields asked for.
    pub metadata: MetadataWanted,
    /// What each returned reference carries, in the order of the query's `references`.
    pub references: Vec<RefOutput>,
}

/// What the targets of one returned reference carry (`RefPropertiesRequest`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefOutput {
    /// Their non-reference properties.
    pub properties: Selection,
    /// Their metadata.
    pub metadata: MetadataWanted,
    /// Their own references, in the order of the request's nested `references`.
    pub nested: Vec<RefOutput>,
}

/// The metadata fields asked for (`MetadataRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataWanted {
    /// The legacy vector and every named vector (`vector`).
    pub all_vectors: bool,
    /// Named vectors asked for by name (`vectors`).
    pub vectors: BTreeSet<String>,
    /// `creation_time_unix`
    pub creation_time: bool,
    /// `last_update_time_unix`
    pub update_time: bool,
    /// `distance`
    pub distance: bool,
    /// `certainty`
    pub certainty: bool,
    /// `score`
    pub score: bool,
    /// `explain_score`
    pub explain_score: bool,
    /// `is_consistent`
    pub is_consistent: bool,
}

impl MetadataWanted {
    /// Whether any vector has to be loaded.
    pub fn any_vector(&self) -> bool {
        self.all_vectors || !self.vectors.is_empty()
    }
}

/// Which properties of an object (or of a nested object) to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Every property, nested objects whole.
    pub all: bool,
    /// Properties returned whole, by name.
    pub names: BTreeSet<String>,
    /// Nested-object properties returned in part.
    pub objects: BTreeMap<String, Selection>,
}

impl Default for Selection {
    /// Everything: what a request without a `PropertiesRequest` gets.
    fn default() -> Self {
        Self::everything()
    }
}

impl Selection {
    /// Every property.
    pub fn everything() -> Self {
        Self {
            all: true,
            names: BTreeSet::new(),
            objects: BTreeMap::new(),
        }
    }

    /// What to return of property `name`: `None` to leave it out.
    pub fn child(&self, name: &str) -> Option<Selection> {
        if self.all || self.names.contains(name) {
            return Some(Self::everything());
        }
        self.objects.get(name).cloned()
    }
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

fn unsupported(feature: &str) -> WireError {
    invalid(format!("{feature} is not supported by weft yet"))
}

fn several_targets() -> WireError {
    invalid("multiple target vectors are not supported by weft yet")
}

/// Refuses every part of a request weft does not serve yet.
macro_rules! refuse {
    ($($present:expr => $feature:literal),+ $(,)?) => {
        $(if $present {
            return Err(unsupported($feature));
        })+
    };
}

/// Maps a `SearchRequest` to a database query; refuses what weft cannot answer yet.
pub fn plan(req: SearchRequest, limits: QueryLimits) -> Result<SearchPlan, WireError> {
    let SearchRequest {
        collection,
        tenant,
        consistency_level: _,
        properties,
        metadata,
        group_by,
        limit,
        offset,
        autocut,
        after,
        sort_by,
        filters,
        hybrid_search,
        bm25_search,
        near_vector,
        near_object,
        near_text,
        near_image,
        near_audio,
        near_video,
        near_depth,
        near_thermal,
        near_imu,
        generative,
        rerank,
        boost,
        uses_123_api: _,
        uses_125_api: _,
        uses_127_api: _,
    } = req;
    refuse!(
        near_text.is_some() => "near_text",
        near_image.is_some() => "near_image",
        near_audio.is_some() => "near_audio",
        near_video.is_some() => "near_video",
        near_depth.is_some() => "near_depth",
        near_thermal.is_some() => "near_thermal",
        near_imu.is_some() => "near_imu",
        generative.is_some() => "generative search",
        rerank.is_some() => "rerank",
        boost.is_some() => "boost",
    );
    if collection.is_empty() {
        return Err(invalid("collection is required"));
    }
    let (limit, offset) = page(limit, offset, limits)?;
    let near = match (near_vector, near_object) {
        (Some(_), Some(_)) => return Err(invalid("near_vector and near_object are exclusive")),
        (Some(v), None) => Some(near_vector_query(v)?),
        (None, Some(o)) => Some(near_object_query(o)?),
        (None, None) => None,
    };
    let keyword = bm25_search.map(bm25_query).transpose()?;
    let hybrid = hybrid_search.map(hybrid_query).transpose()?;
    let searches = usize::from(near.is_some())
        + usize::from(keyword.is_some())
        + usize::from(hybrid.is_some());
    if searches > 1 {
        return Err(invalid(
            "only one of near_vector, near_object, bm25 and hybrid can be used in one search",
        ));
    }
    let filter = filters.map(super::filters::filter).transpose()?;
    let sort = super::sort::sort(sort_by)?;
    let group_by = group_by
        .map(|g| {
            let crate::proto::v1::GroupBy {
                path,
                number_of_groups,
                objects_per_group,
            } = g;
            match path.as_slice() {
                [one] => Ok(weft_db::query::GroupBy {
                    property: one.clone(),
                    groups: usize::try_from(number_of_groups).unwrap_or(0),
                    per_group: usize::try_from(objects_per_group).unwrap_or(0),
                }),
                _ => Err(invalid(format!(
                    "groupby path can only have one entry, received {path:?}"
                ))),
            }
        })
        .transpose()?;
    if group_by.is_some() && searches == 0 {
        return Err(invalid(
            "group_by needs a search (near_vector, near_object, bm25 or hybrid)",
        ));
    }
    let after = parse_uuid(&after, "after")?;
    if after.is_some() && (offset > 0 || searches > 0 || filter.is_some()) {
        return Err(invalid(
            "'after' cannot be combined with offset, filters or a vector search",
        ));
    }
    let metadata = metadata_wanted(metadata.unwrap_or_default());
    let (properties, refs) = properties.map(selection).transpose()?.unwrap_or_default();
    let (references, ref_outputs): (Vec<_>, Vec<_>) = refs.into_iter().unzip();
    Ok(SearchPlan {
        query: weft_db::Query {
            class: collection,
            limit,
            offset,
            after,
            filter,
            sort,
            autocut: (autocut > 0).then(|| usize::try_from(autocut).unwrap_or(0)),
            with_vectors: metadata.any_vector(),
            near,
            keyword,
            hybrid,
            references,
            tenant: (!tenant.is_empty()).then_some(tenant),
        },
        group_by,
        output: Output {
            properties,
            metadata,
            references: ref_outputs,
        },
    })
}

/// Runs a plan (through [`crate::search::run`], as GraphQL does), then encodes the results
/// with the class's property types.
pub fn execute(
    db: &Db,
    plan: &SearchPlan,
) -> Result<(Vec<SearchResult>, Vec<GroupByResult>), WireError> {
    let class = db.class(&plan.query.class);
    let ran = crate::search::run(
        db,
        &plan.query,
        plan.group_by.as_ref(),
        plan.output.metadata.certainty,
        class.as_ref(),
    )?;
    // The schemas of reference targets, for their property types.
    let targets: BTreeMap<String, weft_db::schema::ClassDef> = if plan.query.references.is_empty() {
        BTreeMap::new()
    } else {
        db.classes()
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect()
    };
    match ran {
        crate::search::Ran::Hits(hits) => Ok((
            reply::results(hits, class.as_ref(), &plan.output, &targets),
            Vec::new(),
        )),
        crate::search::Ran::Groups(groups) => {
            let groups = groups
                .into_iter()
                .map(|g| {
                    let distances: Vec<f32> = g.hits.iter().filter_map(|h| h.distance).collect();
                    GroupByResult {
                        name: g.name,
                        min_distance: distances.first().copied().unwrap_or(0.0),
                        max_distance: distances.last().copied().unwrap_or(0.0),
                        number_of_objects: g.hits.len() as i64,
                        objects: reply::results(g.hits, class.as_ref(), &plan.output, &targets),
                        ..GroupByResult::default()
                    }
                })
                .collect();
            Ok((Vec::new(), groups))
        }
    }
}

/// `(limit, offset)`: limit 0 is `QUERY_DEFAULTS_LIMIT`; their sum may not exceed
/// `QUERY_MAXIMUM_RESULTS`.
fn page(limit: u32, offset: u32, limits: QueryLimits) -> Result<(u64, u64), WireError> {
    let limit = match u64::from(limit) {
        0 => limits.default_limit,
        n => n,
    };
    let offset = u64::from(offset);
    if offset.saturating_add(limit) > limits.maximum_results {
        return Err(invalid(format!(
            "query maximum results exceeded: offset ({offset}) + limit ({limit}) > QUERY_MAXIMUM_RESULTS ({})",
            limits.maximum_results
        )));
    }
    Ok((limit, offset))
}

/// `None` for an empty string.
fn parse_uuid(s: &str, what: &str) -> Result<Option<Uuid>, WireError> {
    if s.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(s)
        .map(Some)
        .map_err(|_| invalid(format!("{what}: {s:?} is not a valid uuid")))
}

fn metadata_wanted(m: MetadataRequest) -> MetadataWanted {
    let MetadataRequest {
        uuid: _,
        vector,
        creation_time_unix,
        last_update_time_unix,
        distance,
        certainty,
        score,
        explain_score,
        is_consistent,
        vectors,
        query_profile: _,
    } = m;
    MetadataWanted {
        all_vectors: vector,
        vectors: vectors.into_iter().collect(),
        creation_time: creation_time_unix,
        update_time: last_update_time_unix,
        distance,
        certainty,
        score,
        explain_score,
        is_consistent,
    }
}

/// A reference to return: what the database resolves, and what the reply shows of it.
type RefSelection = (weft_db::query::refs::ReferenceRequest, RefOutput);

/// How deep `return_references` may nest (unlimited in Weaviate's gRPC; bounded here so a
/// malicious request cannot exhaust the stack).
const MAX_REFERENCE_DEPTH: usize = 32;

fn selection(p: PropertiesRequest) -> Result<(Selection, Vec<RefSelection>), WireError> {
    selection_at(p, 0)
}

fn selection_at(
    p: PropertiesRequest,
    depth: usize,
) -> Result<(Selection, Vec<RefSelection>), WireError> {
    let PropertiesRequest {
        non_ref_properties,
        ref_properties,
        object_properties,
        return_all_nonref_properties,
    } = p;
    if depth > MAX_REFERENCE_DEPTH {
        return Err(invalid(format!(
            "return_references nests deeper than {MAX_REFERENCE_DEPTH} levels"
        )));
    }
    let mut refs = Vec::with_capacity(ref_properties.len());
    for r in ref_properties {
        let crate::proto::v1::RefPropertiesRequest {
            reference_property,
            properties,
            metadata,
            target_collection,
        } = r;
        let metadata = metadata_wanted(metadata.unwrap_or_default());
        let (properties, nested) = match properties {
            Some(p) => selection_at(p, depth + 1)?,
            None => (Selection::everything(), Vec::new()),
        };
        let (nested_requests, nested_outputs): (Vec<_>, Vec<_>) = nested.into_iter().unzip();
        let request = weft_db::query::refs::ReferenceRequest {
            property: reference_property,
            class: (!target_collection.is_empty()).then_some(target_collection),
            with_vectors: metadata.any_vector(),
            references: nested_requests,
        };
        let output = RefOutput {
            properties,
            metadata,
            nested: nested_outputs,
        };
        refs.push((request, output));
    }
    let selection = Selection {
        all: return_all_nonref_properties,
        names: non_ref_properties.into_iter().collect(),
        objects: object_selections(object_properties),
    };
    Ok((selection, refs))
}

fn object_selections(requests: Vec<ObjectPropertiesRequest>) -> BTreeMap<String, Selection> {
    requests
        .into_iter()
        .map(|r| {
            let ObjectPropertiesRequest {
                prop_name,
                primitive_properties,
                object_properties,
            } = r;
            let nested = Selection {
                all: false,
                names: primitive_properties.into_iter().collect(),
                objects: object_selections(object_properties),
            };
            (prop_name, nested)
        })
        .collect()
}

/// The one target vector a query names, if any.
fn one_target(
    targets: Option<Targets>,
    deprecated: Vec<String>,
) -> Result<Option<String>, WireError> {
    let mut names = match targets {
        Some(t) => t.target_vectors,
        None => deprecated,
    };
    match names.len() {
        0 => Ok(None),
        1 => Ok(names.pop()),
        _ => Err(several_targets()),
    }
}

fn f32s(bytes: &[u8]) -> Result<Vec<f32>, WireError> {
    weft_db::object::record::decode_vector(bytes).map_err(|_| {
        invalid(format!(
            "vector_bytes: {} bytes is not a whole number of float32 values",
            bytes.len()
        ))
    })
}

/// A single vector from `Vectors`; multi-vectors are refused.
fn single_vector(v: Vectors) -> Result<(String, Vec<f32>), WireError> {
    let Vectors {
        name,
        index: _,
        vector_bytes,
        r#type,
    } = v;
    if r#type == VectorType::MultiFp32 as i32 {
        return Err(unsupported("multi-vector queries"));
    }
    Ok((name, f32s(&vector_bytes)?))
}

/// The query vector of `near_vector` and the target it names (`""` when none).
fn query_vector(
    vectors: Vec<Vectors>,
    for_targets: Vec<VectorForTarget>,
    per_target: std::collections::HashMap<String, Vec<u8>>,
    bytes: Vec<u8>,
    floats: Vec<f32>,
) -> Result<(String, Vec<f32>), WireError> {
    if vectors.len() > 1 || for_targets.len() > 1 || per_target.len() > 1 {
        return Err(several_targets());
    }
    if let Some(v) = vectors.into_iter().next() {
        return single_vector(v);
    }
    if let Some(t) = for_targets.into_iter().next() {
        let VectorForTarget {
            name,
            vector_bytes,
            vectors,
        } = t;
        if vectors.len() > 1 {
            return Err(unsupported("several query vectors for one target"));
        }
        let vector = match vectors.into_iter().next() {
            Some(v) => single_vector(v)?.1,
            None => f32s(&vector_bytes)?,
        };
        return Ok((name, vector));
    }
    if let Some((name, b)) = per_target.into_iter().next() {
        return Ok((name, f32s(&b)?));
    }
    if !bytes.is_empty() {
        return Ok((String::new(), f32s(&bytes)?));
    }
    Ok((String::new(), floats))
}

/// Keeps one target name: the one of `targets` / `target_vectors`, else the vector's own.
fn merge_target(named: Option<String>, from_vector: String) -> Result<Option<String>, WireError> {
    match named {
        Some(n) if !from_vector.is_empty() && n != from_vector => Err(unsupported(
            "a query vector for a target other than the one searched",
        )),
        Some(n) => Ok(Some(n)),
        None => Ok(Some(from_vector).filter(|n| !n.is_empty())),
    }
}

fn thresholds(distance: Option<f64>, certainty: Option<f64>) -> (Option<f32>, Option<f32>) {
    // Thresholds are compared with f32 distances.
    let narrow = |x: f64| x as f32;
    (distance.map(narrow), certainty.map(narrow))
}

pub(crate) fn near_vector_query(v: NearVector) -> Result<NearQuery, WireError> {
    let NearVector {
        vector,
        certainty,
        distance,
        vector_bytes,
        target_vectors,
        targets,
        vector_per_target,
        vector_for_targets,
        vectors,
        selection,
    } = v;
    if selection.is_some() {
        return Err(unsupported("diversity selection (MMR)"));
    }
    let named = one_target(targets, target_vectors)?;
    let (from_vector, query) = query_vector(
        vectors,
        vector_for_targets,
        vector_per_target,
        vector_bytes,
        vector,
    )?;
    if query.is_empty() {
        return Err(invalid("near_vector: the query vector is empty"));
    }
    let (max_distance, min_certainty) = thresholds(distance, certainty);
    Ok(NearQuery {
        near: Near::Vector(query),
        target: merge_target(named, from_vector)?,
        max_distance,
        min_certainty,
    })
}

/// The operator of a keyword search.
fn keyword_operator(o: Option<SearchOperatorOptions>) -> Result<KeywordOperator, WireError> {
    use crate::proto::v1::search_operator_options::Operator;
    let Some(SearchOperatorOptions {
        operator,
        minimum_or_tokens_match,
    }) = o
    else {
        return Ok(KeywordOperator::Default);
    };
    let minimum = usize::try_from(minimum_or_tokens_match.unwrap_or(0).max(0)).unwrap_or(0);
    match Operator::try_from(operator) {
        Ok(Operator::Unspecified | Operator::Or) => Ok(KeywordOperator::Or {
            minimum_match: minimum,
        }),
        Ok(Operator::And) => Ok(KeywordOperator::And),
        Ok(Operator::AndCross) => Err(unsupported("the AND_CROSS keyword operator")),
        Err(_) => Err(invalid(format!("unknown search operator {operator}"))),
    }
}

pub(crate) fn bm25_query(b: Bm25) -> Result<KeywordQuery, WireError> {
    let Bm25 {
        query,
        properties,
        search_operator,
    } = b;
    Ok(KeywordQuery {
        query,
        properties,
        operator: keyword_operator(search_operator)?,
    })
}

pub(crate) fn hybrid_query(h: Hybrid) -> Result<HybridQuery, WireError> {
    use crate::proto::v1::hybrid::{FusionType, Threshold};
    let Hybrid {
        query,
        properties,
        vector,
        alpha,
        fusion_type,
        vector_bytes,
        target_vectors,
        near_text,
        near_vector,
        targets,
        bm25_search_operator,
        alpha_param,
        use_alpha_param,
        selection,
        threshold,
        vectors,
    } = h;
    if near_text.is_some() {
        return Err(unsupported(
            "near_text in hybrid search (weft has no vectorizer modules)",
        ));
    }
    if selection.is_some() {
        return Err(unsupported("diversity selection (MMR)"));
    }
    let alpha = if use_alpha_param {
        alpha_param.unwrap_or(weft_db::query::hybrid::DEFAULT_ALPHA)
    } else {
        alpha
    };
    let fusion = match FusionType::try_from(fusion_type) {
        Ok(FusionType::Ranked) => Fusion::Ranked,
        Ok(FusionType::RelativeScore | FusionType::Unspecified) => Fusion::RelativeScore,
        Err(_) => return Err(invalid(format!("unknown fusion type {fusion_type}"))),
    };
    let named = one_target(targets, target_vectors)?;
    let vector_sub_search = near_vector.is_some();
    let vector = match near_vector {
        Some(nv) => {
            let mut q = near_vector_query(nv)?;
            q.target = merge_target(named, q.target.unwrap_or_default())?;
            Some(q)
        }
        None => {
            if vectors.len() > 1 {
                return Err(invalid(format!(
                    "hybrid: only 1 vector supported, found {} vectors",
                    vectors.len()
                )));
            }
            let (from_vector, v) = match vectors.into_iter().next() {
                Some(v) => single_vector(v)?,
                None if !vector_bytes.is_empty() => (String::new(), f32s(&vector_bytes)?),
                None => (String::new(), vector),
            };
            if v.is_empty() {
                None
            } else {
                Some(NearQuery {
                    near: Near::Vector(v),
                    target: merge_target(named, from_vector)?,
                    max_distance: None,
                    min_certainty: None,
                })
            }
        }
    };
    Ok(HybridQuery {
        query,
        alpha,
        fusion,
        properties,
        operator: keyword_operator(bm25_search_operator)?,
        vector,
        max_vector_distance: threshold.map(|Threshold::VectorDistance(d)| d),
        vector_sub_search,
    })
}

pub(crate) fn near_object_query(o: NearObject) -> Result<NearQuery, WireError> {
    let NearObject {
        id,
        certainty,
        distance,
        target_vectors,
        targets,
        selection,
    } = o;
    if selection.is_some() {
        return Err(unsupported("diversity selection (MMR)"));
    }
    let id =
        parse_uuid(&id, "near_object.id")?.ok_or_else(|| invalid("near_object: id is required"))?;
    let (max_distance, min_certainty) = thresholds(distance, certainty);
    Ok(NearQuery {
        near: Near::Object(id),
        target: one_target(targets, target_vectors)?,
        max_distance,
        min_certainty,
    })
}

#[cfg(test)]
mod tests;
