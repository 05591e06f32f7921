use std::collections::{BTreeMap, HashMap};

use crate::error::{ErrorCode, GrpcCode};
use crate::proto::v1::filters::{Operator, TestValue};
use crate::proto::v1::value::Kind;
use crate::proto::v1::vectors::VectorType;
use crate::proto::v1::{
    Bm25, FilterTarget, Filters, ListValue, MetadataRequest, NearObject, NearVector,
    ObjectPropertiesRequest, PropertiesRequest, SearchRequest, SortBy, Targets, Value, Vectors,
    filter_target, list_value,
};
use serde_json::json;
use uuid::Uuid;
use weft_db::object::StoredObject;
use weft_db::schema::{ClassDef, DataType, Primitive, PropertyDef};
use weft_db::{Near, SearchHit};

use super::reply::{metadata, pack_f32, properties, results};
use super::*;

const LIMITS: QueryLimits = QueryLimits {
    default_limit: 25,
    graphql_default_limit: 100,
    maximum_results: 10_000,
};

fn request(collection: &str) -> SearchRequest {
    SearchRequest {
        collection: collection.to_string(),
        uses_123_api: true,
        uses_125_api: true,
        uses_127_api: true,
        metadata: Some(MetadataRequest {
            uuid: true,
            ..MetadataRequest::default()
        }),
        ..SearchRequest::default()
    }
}

fn id_filter_of(id: &str, target: Option<&str>, on: &[&str]) -> Filters {
    Filters {
        operator: Operator::Equal as i32,
        on: on.iter().map(|s| s.to_string()).collect(),
        filters: Vec::new(),
        target: target.map(|p| FilterTarget {
            target: Some(filter_target::Target::Property(p.to_string())),
        }),
        test_value: Some(TestValue::ValueText(id.to_string())),
    }
}

fn refused(req: SearchRequest) -> WireError {
    plan(req, LIMITS).expect_err("refused")
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn fetch_object_by_id_maps_to_an_id_query() {
    let id = Uuid::from_u128(0x1234_5678);
    let mut req = request("article");
    req.limit = 1;
    req.metadata = Some(MetadataRequest {
        uuid: true,
        vector: true,
        creation_time_unix: true,
        last_update_time_unix: true,
        is_consistent: true,
        ..MetadataRequest::default()
    });
    req.filters = Some(id_filter_of(&id.to_string(), Some("_id"), &[]));
    let plan = plan(req, LIMITS).expect("planned");
    assert_eq!(plan.query.class, "article");
    assert_eq!(plan.query.filter, Some(id_equal(id)));
    assert_eq!(plan.query.limit, 1);
    assert!(plan.query.with_vectors);
    assert!(plan.query.near.is_none());
    let m = &plan.output.metadata;
    assert!(m.all_vectors && m.creation_time && m.update_time && m.is_consistent);
    assert!(!m.distance && !m.certainty);
    assert_eq!(plan.output.properties, Selection::everything());
}

#[test]
fn the_deprecated_on_path_is_accepted_for_the_id_filter() {
    let id = Uuid::from_u128(7);
    let mut req = request("A");
    req.filters = Some(id_filter_of(&id.to_string(), None, &["_id"]));
    assert_eq!(
        plan(req, LIMITS).expect("planned").query.filter,
        Some(id_equal(id))
    );
}

fn id_equal(id: Uuid) -> weft_db::query::Filter {
    weft_db::query::Filter::Condition {
        target: weft_db::query::Target::Id,
        op: weft_db::query::Operator::Equal,
        value: weft_db::query::FilterValue::Text(id.to_string()),
    }
}

#[test]
fn property_filters_are_planned() {
    let mut by_title = request("A");
    by_title.filters = Some(id_filter_of("x", Some("title"), &[]));
    let planned = plan(by_title, LIMITS).expect("planned");
    assert!(matches!(
        planned.query.filter,
        Some(weft_db::query::Filter::Condition { target: weft_db::query::Target::Property(ref p), .. }) if p == "title"
    ));
    let mut no_value = request("A");
    let mut f = id_filter_of("", Some("_id"), &[]);
    f.test_value = None;
    f.operator = Operator::NotEqual as i32;
    no_value.filters = Some(f);
    let err = refused(no_value);
    assert_eq!(err.grpc, GrpcCode::InvalidArgument);
}

#[test]
fn limit_zero_takes_the_default_and_the_maximum_is_enforced() {
    let planned = plan(request("A"), LIMITS).expect("planned");
    assert_eq!(planned.query.limit, 25);
    assert_eq!(planned.query.offset, 0);

    let mut req = request("A");
    req.limit = 5;
    req.offset = 2;
    let planned = plan(req, LIMITS).expect("planned");
    assert_eq!((planned.query.limit, planned.query.offset), (5, 2));

    let mut req = request("A");
    req.limit = 9_999;
    req.offset = 2;
    let err = refused(req);
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(
        err.message.contains("QUERY_MAXIMUM_RESULTS"),
        "{}",
        err.message
    );
}

#[test]
fn after_is_a_uuid_cursor() {
    let id = Uuid::from_u128(99);
    let mut req = request("A");
    req.limit = 100;
    req.after = id.to_string();
    assert_eq!(plan(req, LIMITS).expect("planned").query.after, Some(id));

    let mut bad = request("A");
    bad.after = "nope".to_string();
    assert_eq!(refused(bad).grpc, GrpcCode::InvalidArgument);

    let mut with_offset = request("A");
    with_offset.after = id.to_string();
    with_offset.offset = 3;
    assert_eq!(refused(with_offset).grpc, GrpcCode::InvalidArgument);
}

#[test]
fn near_vector_reads_vectors_bytes_thresholds_and_one_target() {
    let v = [0.25f32, -1.5, 3.0];
    let mut req = request("A");
    req.near_vector = Some(NearVector {
        distance: Some(0.5),
        vectors: vec![Vectors {
            name: String::new(),
            index: 0,
            vector_bytes: f32_bytes(&v),
            r#type: VectorType::SingleFp32 as i32,
        }],
        targets: Some(Targets {
            target_vectors: vec!["title_vec".to_string()],
            ..Targets::default()
        }),
        ..NearVector::default()
    });
    let near = plan(req, LIMITS)
        .expect("planned")
        .query
        .near
        .expect("near");
    assert_eq!(near.near, Near::Vector(v.to_vec()));
    assert_eq!(near.target.as_deref(), Some("title_vec"));
    assert_eq!(near.max_distance, Some(0.5));
    assert_eq!(near.min_certainty, None);
}

#[test]
fn near_vector_reads_the_deprecated_fields() {
    let v = [1.0f32, 2.0];
    let mut req = request("A");
    req.near_vector = Some(NearVector {
        vector_bytes: f32_bytes(&v),
        target_vectors: vec!["x".to_string()],
        certainty: Some(0.75),
        ..NearVector::default()
    });
    let near = plan(req, LIMITS)
        .expect("planned")
        .query
        .near
        .expect("near");
    assert_eq!(near.near, Near::Vector(v.to_vec()));
    assert_eq!(near.target.as_deref(), Some("x"));
    assert_eq!(near.min_certainty, Some(0.75));

    let mut req = request("A");
    req.near_vector = Some(NearVector {
        vector: v.to_vec(),
        vector_per_target: HashMap::from([("y".to_string(), f32_bytes(&v))]),
        ..NearVector::default()
    });
    let near = plan(req, LIMITS)
        .expect("planned")
        .query
        .near
        .expect("near");
    assert_eq!(near.target.as_deref(), Some("y"));

    let mut odd = request("A");
    odd.near_vector = Some(NearVector {
        vector_bytes: vec![0; 6],
        ..NearVector::default()
    });
    assert_eq!(refused(odd).grpc, GrpcCode::InvalidArgument);
}

#[test]
fn several_target_vectors_are_refused() {
    let mut req = request("A");
    req.near_vector = Some(NearVector {
        vector_bytes: f32_bytes(&[1.0]),
        targets: Some(Targets {
            target_vectors: vec!["a".to_string(), "b".to_string()],
            ..Targets::default()
        }),
        ..NearVector::default()
    });
    let err = refused(req);
    assert_eq!(err.grpc, GrpcCode::InvalidArgument);
    assert_eq!(
        err.message,
        "multiple target vectors are not supported by weft yet"
    );
}

#[test]
fn near_object_reads_id_certainty_and_target() {
    let id = Uuid::from_u128(5);
    let mut req = request("A");
    req.near_object = Some(NearObject {
        id: id.to_string(),
        certainty: Some(0.7),
        targets: Some(Targets {
            target_vectors: vec!["v".to_string()],
            ..Targets::default()
        }),
        ..NearObject::default()
    });
    let near = plan(req, LIMITS)
        .expect("planned")
        .query
        .near
        .expect("near");
    assert_eq!(near.near, Near::Object(id));
    assert_eq!(near.target.as_deref(), Some("v"));
    assert_eq!(near.min_certainty, Some(0.7));
}

#[test]
fn unsupported_features_are_named_and_never_unavailable() {
    let mut hybrid_text = request("A");
    hybrid_text.hybrid_search = Some(Hybrid {
        query: "hello".to_string(),
        near_text: Some(Default::default()),
        ..Hybrid::default()
    });
    let mut sort = request("A");
    sort.sort_by = vec![SortBy {
        ascending: true,
        path: vec![
            "author".to_string(),
            "Person".to_string(),
            "name".to_string(),
        ],
    }];
    let err = refused(sort);
    assert_eq!(err.grpc, GrpcCode::InvalidArgument);
    assert_eq!(
        err.message,
        "sorting by reference not supported, path must have exactly one argument"
    );
    let feature = "near_text in hybrid search";
    let err = refused(hybrid_text);
    assert_eq!(err.grpc, GrpcCode::InvalidArgument, "{feature}");
    assert!(err.message.contains(feature), "{}", err.message);
    assert!(
        err.message.ends_with("is not supported by weft yet"),
        "{}",
        err.message
    );
}

#[test]
fn bm25_and_hybrid_requests_become_queries() {
    use crate::proto::v1::hybrid::{FusionType, Threshold};
    use crate::proto::v1::search_operator_options::Operator;
    let mut req = request("A");
    req.bm25_search = Some(Bm25 {
        query: "hello world".to_string(),
        properties: vec!["title^2".to_string()],
        search_operator: Some(SearchOperatorOptions {
            operator: Operator::Or as i32,
            minimum_or_tokens_match: Some(2),
        }),
    });
    let q = plan(req, LIMITS).expect("planned").query;
    let k = q.keyword.expect("keyword");
    assert_eq!(k.query, "hello world");
    assert_eq!(k.properties, ["title^2"]);
    assert_eq!(k.operator, KeywordOperator::Or { minimum_match: 2 });

    let mut req = request("A");
    req.hybrid_search = Some(Hybrid {
        query: "hello".to_string(),
        alpha_param: Some(0.25),
        use_alpha_param: true,
        fusion_type: FusionType::Ranked as i32,
        vector_bytes: [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
        threshold: Some(Threshold::VectorDistance(0.5)),
        ..Hybrid::default()
    });
    let h = plan(req, LIMITS)
        .expect("planned")
        .query
        .hybrid
        .expect("hybrid");
    assert_eq!(h.alpha, 0.25);
    assert_eq!(h.fusion, Fusion::Ranked);
    assert_eq!(h.max_vector_distance, Some(0.5));
    assert_eq!(h.vector.map(|v| v.near), Some(Near::Vector(vec![1.0, 2.0])));
    // use_alpha_param without a value: Weaviate's default; the old field when not set.
    let mut req = request("A");
    req.hybrid_search = Some(Hybrid {
        use_alpha_param: true,
        ..Hybrid::default()
    });
    let h = plan(req, LIMITS)
        .expect("planned")
        .query
        .hybrid
        .expect("hybrid");
    assert_eq!(h.alpha, 0.75);
    assert_eq!(h.fusion, Fusion::RelativeScore);
    assert!(h.vector.is_none());
    // Two searches in one request are refused.
    let mut req = request("A");
    req.bm25_search = Some(Bm25::default());
    req.hybrid_search = Some(Hybrid::default());
    assert_eq!(refused(req).grpc, GrpcCode::InvalidArgument);
}

#[test]
fn properties_request_selects_properties() {
    let mut req = request("A");
    req.properties = Some(PropertiesRequest {
        non_ref_properties: vec!["title".to_string()],
        object_properties: vec![ObjectPropertiesRequest {
            prop_name: "meta".to_string(),
            primitive_properties: vec!["a".to_string()],
            object_properties: Vec::new(),
        }],
        ..PropertiesRequest::default()
    });
    let sel = plan(req, LIMITS).expect("planned").output.properties;
    assert!(!sel.all);
    assert_eq!(sel.child("title"), Some(Selection::everything()));
    assert_eq!(sel.child("count"), None);
    let meta = sel.child("meta").expect("meta selected");
    assert!(meta.child("a").is_some() && meta.child("b").is_none());

    let mut all = request("A");
    all.properties = Some(PropertiesRequest {
        return_all_nonref_properties: true,
        ..PropertiesRequest::default()
    });
    assert!(plan(all, LIMITS).expect("planned").output.properties.all);
}

fn prop(name: &str, p: Primitive) -> PropertyDef {
    PropertyDef::new(name, DataType::Primitive(p))
}

fn kind(props: &crate::proto::v1::Properties, name: &str) -> Option<Kind> {
    props.fields.get(name).and_then(|v| v.kind.clone())
}

fn list(props: &crate::proto::v1::Properties, name: &str) -> list_value::Kind {
    match kind(props, name) {
        Some(Kind::ListValue(ListValue { kind: Some(k) })) => k,
        other => panic!("{name}: not a list: {other:?}"),
    }
}

#[test]
fn values_follow_the_schema_types_and_lists_are_byte_packed() {
    let mut nested = prop("meta", Primitive::Object);
    nested.nested_properties = vec![prop("a", Primitive::Int), prop("b", Primitive::Text)];
    let schema = vec![
        prop("title", Primitive::Text),
        prop("count", Primitive::Int),
        prop("price", Primitive::Number),
        prop("whole", Primitive::Number),
        prop("flag", Primitive::Boolean),
        prop("when", Primitive::Date),
        prop("ref_id", Primitive::Uuid),
        prop("ints", Primitive::IntArray),
        prop("nums", Primitive::NumberArray),
        prop("tags", Primitive::TextArray),
        prop("bools", Primitive::BooleanArray),
        prop("empty", Primitive::IntArray),
        prop("where", Primitive::GeoCoordinates),
        prop("phone", Primitive::PhoneNumber),
        nested,
        PropertyDef::new("author", DataType::Reference(vec!["Person".to_string()])),
    ];
    let values = json!({
        "title": "hello", "count": 3, "price": 1.5, "whole": 2, "flag": true,
        "when": "2024-01-02T03:04:05Z", "ref_id": "00000000-0000-0000-0000-000000000001",
        "ints": [1, -2, 300], "nums": [0.5, 2.0], "tags": ["a", "b"], "bools": [true, false],
        "empty": [], "where": {"latitude": 52.5, "longitude": 13.25},
        "phone": {"input": "+49 30 1234", "defaultCountry": "DE"},
        "meta": {"a": 7, "b": "x"},
        "author": [{"beacon": "weaviate://localhost/Person/00000000-0000-0000-0000-000000000002"}],
        "extra": null,
    });
    let values = values.as_object().expect("object");
    let out = properties(values, &schema, &Selection::everything());
    assert_eq!(kind(&out, "title"), Some(Kind::TextValue("hello".into())));
    assert_eq!(kind(&out, "count"), Some(Kind::IntValue(3)));
    assert_eq!(kind(&out, "price"), Some(Kind::NumberValue(1.5)));
    // A number that happens to be whole is still a number.
    assert_eq!(kind(&out, "whole"), Some(Kind::NumberValue(2.0)));
    assert_eq!(kind(&out, "flag"), Some(Kind::BoolValue(true)));
    assert_eq!(
        kind(&out, "when"),
        Some(Kind::DateValue("2024-01-02T03:04:05Z".into()))
    );
    assert!(matches!(kind(&out, "ref_id"), Some(Kind::UuidValue(_))));
    let mut ints = Vec::new();
    for i in [1i64, -2, 300] {
        ints.extend_from_slice(&i.to_le_bytes());
    }
    assert_eq!(
        list(&out, "ints"),
        list_value::Kind::IntValues(crate::proto::v1::IntValues { values: ints })
    );
    let mut nums = Vec::new();
    for x in [0.5f64, 2.0] {
        nums.extend_from_slice(&x.to_le_bytes());
    }
    assert_eq!(
        list(&out, "nums"),
        list_value::Kind::NumberValues(crate::proto::v1::NumberValues { values: nums })
    );
    assert!(
        matches!(list(&out, "tags"), list_value::Kind::TextValues(t) if t.values == ["a", "b"])
    );
    assert!(
        matches!(list(&out, "bools"), list_value::Kind::BoolValues(b) if b.values == [true, false])
    );
    assert!(matches!(list(&out, "empty"), list_value::Kind::IntValues(v) if v.values.is_empty()));
    match kind(&out, "where") {
        Some(Kind::GeoValue(g)) => assert_eq!((g.latitude, g.longitude), (52.5, 13.25)),
        other => panic!("geo: {other:?}"),
    }
    match kind(&out, "phone") {
        Some(Kind::PhoneValue(p)) => {
            assert_eq!(
                (p.input.as_str(), p.default_country.as_str()),
                ("+49 30 1234", "DE")
            );
        }
        other => panic!("phone: {other:?}"),
    }
    match kind(&out, "meta") {
        Some(Kind::ObjectValue(o)) => {
            assert_eq!(kind(&o, "a"), Some(Kind::IntValue(7)));
            assert_eq!(kind(&o, "b"), Some(Kind::TextValue("x".into())));
        }
        other => panic!("meta: {other:?}"),
    }
    assert!(
        !out.fields.contains_key("author"),
        "references are left out"
    );
    assert!(!out.fields.contains_key("extra"), "nulls are left out");
}

#[test]
fn only_selected_properties_are_returned() {
    let values = json!({"title": "t", "count": 1, "meta": {"a": 1, "b": 2}});
    let values = values.as_object().expect("object");
    let sel = Selection {
        all: false,
        names: ["title".to_string()].into(),
        objects: BTreeMap::from([(
            "meta".to_string(),
            Selection {
                all: false,
                names: ["b".to_string()].into(),
                objects: BTreeMap::new(),
            },
        )]),
    };
    let out = properties(values, &[], &sel);
    let mut names: Vec<&String> = out.fields.keys().collect();
    names.sort();
    assert_eq!(names, ["meta", "title"]);
    match kind(&out, "meta") {
        Some(Kind::ObjectValue(o)) => {
            assert_eq!(o.fields.keys().collect::<Vec<_>>(), ["b"]);
            assert_eq!(
                o.fields.get("b"),
                Some(&Value {
                    kind: Some(Kind::IntValue(2))
                })
            );
        }
        other => panic!("meta: {other:?}"),
    }
}

fn stored(vectors: &[(&str, Vec<f32>)]) -> StoredObject {
    StoredObject {
        class: "Article".to_string(),
        id: Uuid::parse_str("0102030405060708090a0b0c0d0e0f10").expect("uuid"),
        doc_id: 1,
        properties: json!({"title": "t"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        vectors: vectors
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
        created_ms: 1_700_000_000_123,
        updated_ms: 1_700_000_000_456,
    }
}

#[test]
fn metadata_carries_the_id_as_big_endian_bytes_and_present_flags() {
    let wanted = MetadataWanted {
        distance: true,
        certainty: true,
        creation_time: true,
        ..MetadataWanted::default()
    };
    let m = metadata(
        SearchHit {
            distance: Some(0.25),
            certainty: Some(0.875),
            ..SearchHit::plain(stored(&[]))
        },
        &wanted,
    );
    assert_eq!(m.id, "01020304-0506-0708-090a-0b0c0d0e0f10");
    assert_eq!(m.id_as_bytes, (1u8..=16).collect::<Vec<u8>>());
    assert!(m.distance_present && m.certainty_present && m.creation_time_unix_present);
    assert_eq!((m.distance, m.certainty), (0.25, 0.875));
    assert_eq!(m.creation_time_unix, 1_700_000_000_123);
    assert!(!m.last_update_time_unix_present && !m.is_consistent_present);
    assert!(m.vector_bytes.is_empty() && m.vectors.is_empty());

    let none = metadata(SearchHit::plain(stored(&[])), &wanted);
    assert!(!none.distance_present && !none.certainty_present);
}

#[test]
fn vectors_are_little_endian_f32_legacy_or_named() {
    let all = MetadataWanted {
        all_vectors: true,
        ..MetadataWanted::default()
    };
    let legacy = metadata(SearchHit::plain(stored(&[("", vec![1.0, -0.5])])), &all);
    assert_eq!(legacy.vector_bytes, f32_bytes(&[1.0, -0.5]));
    assert_eq!(pack_f32(&[1.0, -0.5]), f32_bytes(&[1.0, -0.5]));

    let named = stored(&[("a", vec![1.0]), ("b", vec![2.0, 3.0])]);
    let m = metadata(SearchHit::plain(named.clone()), &all);
    assert!(m.vector_bytes.is_empty());
    let names: Vec<&str> = m.vectors.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(m.vectors[1].vector_bytes, f32_bytes(&[2.0, 3.0]));
    assert_eq!(m.vectors[1].r#type, VectorType::SingleFp32 as i32);

    let only_b = MetadataWanted {
        vectors: ["b".to_string()].into(),
        ..MetadataWanted::default()
    };
    let m = metadata(SearchHit::plain(named), &only_b);
    assert_eq!(m.vectors.len(), 1);
    assert_eq!(m.vectors[0].name, "b");
}

#[test]
fn results_name_the_collection_and_carry_properties() {
    let class = {
        let mut c = ClassDef::new("Article");
        c.properties = vec![prop("title", Primitive::Text)];
        c
    };
    let hits = vec![SearchHit {
        distance: Some(0.1),
        ..SearchHit::plain(stored(&[]))
    }];
    let out = results(hits, Some(&class), &Output::default(), &Default::default());
    assert_eq!(out.len(), 1);
    let props = out[0].properties.as_ref().expect("properties");
    assert_eq!(props.target_collection, "Article");
    assert!(!props.ref_props_requested);
    let fields = props.non_ref_props.as_ref().expect("non_ref_props");
    assert_eq!(kind(fields, "title"), Some(Kind::TextValue("t".into())));
    let meta = out[0].metadata.as_ref().expect("metadata");
    assert_eq!(meta.id_as_bytes.len(), 16);
    assert!(!meta.distance_present, "not asked for");
}

fn open_db(dir: &std::path::Path) -> Db {
    Db::open(weft_db::DbOptions::new(dir, "node1")).expect("open db")
}

fn insert(db: &Db, class: &str, objects: &[(u128, serde_json::Value, Vec<f32>)]) {
    let inputs = objects
        .iter()
        .map(|(id, props, vector)| weft_db::object::ObjectInput {
            class: class.to_string(),
            id: Some(Uuid::from_u128(*id)),
            properties: props.as_object().cloned().unwrap_or_default(),
            vector: Some(vector.clone()),
            ..weft_db::object::ObjectInput::default()
        })
        .collect();
    let results = db.put_objects(inputs, weft_db::object::WriteMode::Upsert);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[test]
fn execute_runs_near_vector_and_id_queries_on_a_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(dir.path());
    insert(
        &db,
        "Article",
        &[
            (1, json!({"title": "a", "count": 1}), vec![1.0, 0.0]),
            (2, json!({"title": "b", "count": 2}), vec![0.0, 1.0]),
            (3, json!({"title": "c", "count": 3}), vec![0.7, 0.7]),
        ],
    );
    let mut req = request("article");
    req.limit = 2;
    req.metadata = Some(MetadataRequest {
        uuid: true,
        distance: true,
        certainty: true,
        vector: true,
        ..MetadataRequest::default()
    });
    req.near_vector = Some(NearVector {
        vector_bytes: f32_bytes(&[1.0, 0.1]),
        ..NearVector::default()
    });
    let out = execute(&db, &plan(req, LIMITS).expect("planned"))
        .expect("executed")
        .0;
    let ids: Vec<Vec<u8>> = out
        .iter()
        .map(|r| r.metadata.as_ref().expect("metadata").id_as_bytes.clone())
        .collect();
    assert_eq!(
        ids,
        [Uuid::from_u128(1), Uuid::from_u128(3)].map(|u| u.as_bytes().to_vec())
    );
    let first = out[0].metadata.as_ref().expect("metadata");
    assert!(first.distance_present && first.certainty_present);
    assert!((first.certainty - (1.0 - first.distance / 2.0)).abs() < 1e-6);
    assert_eq!(first.vector_bytes, f32_bytes(&[1.0, 0.0]));
    let props = out[0].properties.as_ref().expect("properties");
    assert_eq!(props.target_collection, "Article");
    let fields = props.non_ref_props.as_ref().expect("fields");
    // Autoschema made `count` a number (batch ints arrive as JSON numbers): the schema decides.
    assert!(fields.fields.contains_key("count"));
    assert_eq!(kind(fields, "title"), Some(Kind::TextValue("a".into())));

    let mut by_id = request("Article");
    by_id.limit = 1;
    by_id.filters = Some(id_filter_of(
        &Uuid::from_u128(2).to_string(),
        Some("_id"),
        &[],
    ));
    let out = execute(&db, &plan(by_id, LIMITS).expect("planned"))
        .expect("executed")
        .0;
    assert_eq!(out.len(), 1);
    let mut missing = request("Article");
    missing.filters = Some(id_filter_of(
        &Uuid::from_u128(9).to_string(),
        Some("_id"),
        &[],
    ));
    let out = execute(&db, &plan(missing, LIMITS).expect("planned"))
        .expect("executed")
        .0;
    assert!(out.is_empty());

    let err = execute(&db, &plan(request("Nope"), LIMITS).expect("planned")).expect_err("missing");
    assert_eq!(err.grpc, GrpcCode::NotFound);
}

#[test]
fn return_references_plan_a_nested_request_and_its_output() {
    use crate::proto::v1::RefPropertiesRequest;
    let mut req = request("Review");
    req.properties = Some(PropertiesRequest {
        non_ref_properties: vec!["text".to_string()],
        ref_properties: vec![RefPropertiesRequest {
            reference_property: "about".into(),
            properties: Some(PropertiesRequest {
                non_ref_properties: vec!["title".to_string()],
                ref_properties: vec![RefPropertiesRequest {
                    reference_property: "holds".into(),
                    target_collection: "Author".into(),
                    metadata: Some(MetadataRequest {
                        vector: true,
                        ..MetadataRequest::default()
                    }),
                    ..RefPropertiesRequest::default()
                }],
                ..PropertiesRequest::default()
            }),
            ..RefPropertiesRequest::default()
        }],
        ..PropertiesRequest::default()
    });
    let plan = plan(req, LIMITS).expect("planned");
    let refs = &plan.query.references;
    assert_eq!(refs.len(), 1);
    assert_eq!(
        (refs[0].property.as_str(), refs[0].class.as_deref()),
        ("about", None)
    );
    assert!(!refs[0].with_vectors);
    let inner = &refs[0].references;
    assert_eq!(inner.len(), 1);
    assert_eq!(
        (inner[0].property.as_str(), inner[0].class.as_deref()),
        ("holds", Some("Author"))
    );
    assert!(
        inner[0].with_vectors,
        "metadata.vector loads the targets' vectors"
    );
    let out = &plan.output.references;
    assert_eq!(out.len(), 1);
    assert!(out[0].properties.names.contains("title") && !out[0].properties.all);
    assert_eq!(out[0].nested.len(), 1);
    assert!(
        out[0].nested[0].properties.all,
        "no PropertiesRequest: every property"
    );
    assert!(out[0].nested[0].metadata.all_vectors);
}
