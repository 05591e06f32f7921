//! GraphQL over a real database in a temp dir: the schema, `Get`, `Aggregate`, `Explore`,
//! errors in Weaviate's shape, and random queries that never panic.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use weft_db::object::WriteMode;
use weft_db::{Db, DbOptions};

use super::*;

struct Fixture {
    engine: Engine,
    db: Arc<Db>,
    _dir: tempfile::TempDir,
}

const AUTHOR: &str = "00000000-0000-0000-0000-00000000000a";

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Arc::new(Db::open(DbOptions::new(dir.path(), "node1")).expect("open db"));
    for body in [
        json!({"class": "Author", "vectorizer": "none",
            "properties": [{"name": "name", "dataType": ["text"]}]}),
        json!({"class": "Book", "vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "price", "dataType": ["number"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "place", "dataType": ["geoCoordinates"]},
            {"name": "writtenBy", "dataType": ["Author"]},
        ]}),
    ] {
        let class = weft_api::schema::class_from_json(body).expect("class");
        db.create_class(class).expect("create class");
    }
    let author = weft_api::object::object_from_json(&json!({
        "class": "Author", "id": AUTHOR, "properties": {"name": "Ann"}, "vector": [0.0, 1.0]
    }))
    .expect("author");
    db.put_object(author, WriteMode::Upsert)
        .expect("put author");
    for i in 0..10u32 {
        let f = f64::from(i);
        let book = weft_api::object::object_from_json(&json!({
            "class": "Book",
            "id": format!("00000000-0000-0000-0000-{i:012}"),
            "properties": {
                "title": format!("book {i} {}", if i % 2 == 0 { "even" } else { "odd" }),
                "year": 2000 + i,
                "price": f * 1.5,
                "tags": if i % 3 == 0 { json!(["a", "b"]) } else { json!(["c"]) },
                "place": {"latitude": 52.0 + f / 100.0, "longitude": 4.0},
                "writtenBy": [{"beacon": format!("weaviate://localhost/Author/{AUTHOR}")}],
            },
            "vector": [1.0, f / 10.0],
        }))
        .expect("book");
        db.put_object(book, WriteMode::Upsert).expect("put book");
    }
    Fixture {
        engine: Engine::new(),
        db,
        _dir: dir,
    }
}

impl Fixture {
    fn run(&self, query: &str) -> Json {
        let schema = self
            .engine
            .schema(&self.db)
            .expect("a schema")
            .expect("valid schema");
        let backend = Backend {
            db: Arc::clone(&self.db),
            limits: QueryLimits::default(),
            offload: in_place,
        };
        let request = GraphQlRequest {
            query: query.to_string(),
            operation_name: None,
            variables: None,
        };
        futures::executor::block_on(execute(&schema, backend, request))
    }
}

fn titles(v: &Json) -> Vec<String> {
    v["data"]["Get"]["Book"]
        .as_array()
        .unwrap_or_else(|| panic!("no books in {v}"))
        .iter()
        .map(|b| b["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn get_filters_sorts_and_pages() {
    let f = fixture();
    let v = f.run(
        r#"{Get{Book(where: {path: ["year"] operator: GreaterThan valueInt: 2005} sort: [{path: ["year"] order: desc}] limit: 2 offset: 1){title year}}}"#,
    );
    assert_eq!(titles(&v), ["book 8 even", "book 7 odd"], "{v}");
    let v = f.run(
        r#"{Get{Book(where: {path: ["tags"] operator: ContainsAny valueText: ["a"]}){title}}}"#,
    );
    assert_eq!(titles(&v).len(), 4, "{v}");
    // Without limit, offset and autocut the GraphQL default (100) applies.
    let v = f.run("{Get{Book{title}}}");
    assert_eq!(titles(&v).len(), 10);
}

#[test]
fn get_near_vector_returns_additional_fields() {
    let f = fixture();
    let v = f.run(
        "{Get{Book(nearVector: {vector: [1, 0]} limit: 3){title _additional {id distance certainty creationTimeUnix}}}}",
    );
    let books = v["data"]["Get"]["Book"].as_array().expect("books");
    assert_eq!(books.len(), 3, "{v}");
    assert_eq!(
        books[0]["_additional"]["id"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(books[0]["_additional"]["distance"], json!(0));
    assert_eq!(books[0]["_additional"]["certainty"], json!(1));
    assert!(books[0]["_additional"]["creationTimeUnix"].is_string());
    let d1 = books[1]["_additional"]["distance"]
        .as_f64()
        .expect("distance");
    assert!(d1 > 0.0);
}

#[test]
fn references_resolve_through_fragments() {
    let f = fixture();
    let v = f.run("{Get{Book(limit: 1){title writtenBy{... on Author{name _additional{id}}}}}}");
    let book = &v["data"]["Get"]["Book"][0];
    assert_eq!(book["writtenBy"][0]["name"], "Ann", "{v}");
    assert_eq!(book["writtenBy"][0]["_additional"]["id"], AUTHOR);
    // A named fragment works the same way.
    let v = f.run("fragment A on Author { name } {Get{Book(limit: 1){writtenBy{...A}}}}");
    assert_eq!(
        v["data"]["Get"]["Book"][0]["writtenBy"][0]["name"], "Ann",
        "{v}"
    );
    // A filter through the reference.
    let v = f.run(
        r#"{Get{Book(where: {path: ["writtenBy", "Author", "name"] operator: Equal valueText: "Ann"}){title}}}"#,
    );
    assert_eq!(titles(&v).len(), 10, "{v}");
}

#[test]
fn aggregate_counts_and_groups() {
    let f = fixture();
    let v = f.run(
        "{Aggregate{Book{meta{count} year{minimum maximum mean type} title{count topOccurrences(limit: 2){value occurs}}}}}",
    );
    let a = &v["data"]["Aggregate"]["Book"][0];
    assert_eq!(a["meta"]["count"], 10, "{v}");
    assert_eq!(a["year"]["minimum"], 2000);
    assert_eq!(a["year"]["maximum"], 2009);
    assert_eq!(a["year"]["type"], "int");
    assert_eq!(
        a["title"]["topOccurrences"].as_array().map(Vec::len),
        Some(2)
    );
    let v = f.run(r#"{Aggregate{Book(groupBy: ["tags"]){meta{count} groupedBy{path value}}}}"#);
    let groups = v["data"]["Aggregate"]["Book"].as_array().expect("groups");
    assert!(groups.len() >= 2, "{v}");
    assert_eq!(groups[0]["groupedBy"]["path"], json!(["tags"]));
    // objectLimit without a vector search is refused as Weaviate refuses it.
    let v = f.run("{Aggregate{Book(objectLimit: 3){meta{count}}}}");
    assert_eq!(v["data"]["Aggregate"]["Book"], Json::Null, "{v}");
    assert_eq!(v["errors"][0]["path"], json!(["Aggregate", "Book"]));
}

#[test]
fn the_v3_clients_missing_separator_is_accepted() {
    let f = fixture();
    let v = f.run(
        "{Aggregate{Book(nearVector: {vector: [1.0, 0.0]} objectLimit: 3limit: 5){meta{count}}}}",
    );
    assert_eq!(v["data"]["Aggregate"]["Book"][0]["meta"]["count"], 3, "{v}");
}

#[test]
fn explore_merges_classes_by_distance() {
    let f = fixture();
    let v = f.run("{Explore(nearVector: {vector: [0, 1]} limit: 2){beacon className distance}}");
    let hits = v["data"]["Explore"].as_array().expect("hits");
    assert_eq!(hits.len(), 2, "{v}");
    assert_eq!(hits[0]["className"], "Author");
    assert_eq!(
        hits[0]["beacon"],
        format!("weaviate://localhost/Author/{AUTHOR}")
    );
    let v = f.run("{Explore{beacon}}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("received no search params"),
        "{v}"
    );
}

#[test]
fn errors_have_weaviates_shape() {
    let f = fixture();
    let v = f.run("{Get{Nope{title}}}");
    assert!(v.get("data").is_none(), "{v}");
    let e = &v["errors"][0];
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Cannot query field \"Nope\" on type \"GetObjectsObj\"."),
        "{v}"
    );
    assert_eq!(e["path"], Json::Null);
    assert_eq!(e["locations"][0], json!({"column": 6, "line": 1}));
    let v = f.run("{Get{Book(");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Syntax Error GraphQL request"),
        "{v}"
    );
    let v = f.run(r#"{Get{Book(limit: "x"){title}}}"#);
    assert!(v.get("data").is_none() && v["errors"].is_array(), "{v}");
    // A resolver error nulls the class field and names its path.
    let v = f.run(r#"{Get{Book(after: "not-a-uuid"){title}}}"#);
    assert_eq!(v["data"]["Get"]["Book"], Json::Null, "{v}");
    assert_eq!(v["errors"][0]["path"], json!(["Get", "Book"]));
    // `tenant` is not an argument of a single-tenant class.
    let v = f.run(r#"{Get{Book(tenant: "t"){title}}}"#);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("tenant"),
        "{v}"
    );
}

#[test]
fn review_findings_stay_fixed() {
    let f = fixture();
    // A fragment cycle is refused before any walk (it used to be an exponential depth check).
    let v = f.run("{Get{Book{...A}}} fragment A on Book{...A ...A}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("within itself"),
        "{v}"
    );
    // A long flat reference path is an error, not a stack overflow.
    let path = vec!["\"writtenBy\", \"Author\""; 20_000].join(", ");
    let v = f.run(&format!(
        "{{Get{{Book(where: {{path: [{path}, \"name\"] operator: Equal valueText: \"x\"}}){{title}}}}}}"
    ));
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most"),
        "{v}"
    );
    // A huge objectLimit is refused, not allocated.
    let v = f.run("{Aggregate{Book(nearVector: {vector: [1, 0]} objectLimit: 1000000000000000){meta{count}}}}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("QUERY_MAXIMUM_RESULTS"),
        "{v}"
    );
    // A near aggregation by certainty alone counts every match.
    let v = f.run("{Aggregate{Book(nearVector: {vector: [1, 0] certainty: 0.5}){meta{count}}}}");
    assert_eq!(
        v["data"]["Aggregate"]["Book"][0]["meta"]["count"], 10,
        "{v}"
    );
    // Each alias of topOccurrences keeps its own limit.
    let v = f.run("{Aggregate{Book{a: title{topOccurrences(limit: 1){value}} b: title{topOccurrences(limit: 3){value}}}}}");
    let a = &v["data"]["Aggregate"]["Book"][0];
    assert_eq!(
        a["a"]["topOccurrences"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    assert_eq!(
        a["b"]["topOccurrences"].as_array().map(Vec::len),
        Some(3),
        "{v}"
    );
    // A variable's default is used for topOccurrences.
    let v = f.run("query($n: Int = 7){Aggregate{Book{title{topOccurrences(limit: $n){value}}}}}");
    assert_eq!(
        v["data"]["Aggregate"]["Book"][0]["title"]["topOccurrences"]
            .as_array()
            .map(Vec::len),
        Some(7),
        "{v}"
    );
    // A single string for a list argument is a list of one.
    let v = f.run(r#"{Get{Book(bm25: {query: "odd" properties: "title"}){title}}}"#);
    assert_eq!(titles(&v).len(), 5, "{v}");
    // Nested explicit nulls are ignored.
    let v = f.run(r#"{Get{Book(where: {path: ["year"] operator: Equal valueBoolean: null valueInt: 2003}){title}}}"#);
    assert_eq!(titles(&v), ["book 3 odd"], "{v}");
    // A by-distance search with an offset past QUERY_MAXIMUM_RESULTS is an error.
    let v = f.run("{Get{Book(nearVector: {vector: [1, 0] distance: 0.5} offset: 20000){title}}}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("query maximum results"),
        "{v}"
    );
    // A fragment on the reference union itself is not taken for a class name (async-graphql
    // then resolves the member without the inner fragment's fields).
    let v = f.run("{Get{Book(limit: 1){writtenBy{... on BookWrittenByObj{... on Author{name}}}}}}");
    assert!(v.get("errors").is_none(), "{v}");
}

#[test]
fn the_schema_is_rebuilt_only_when_classes_change() {
    let f = fixture();
    let a = f.engine.schema(&f.db).expect("schema").expect("valid");
    let b = f.engine.schema(&f.db).expect("schema").expect("valid");
    assert_eq!(a.sdl(), b.sdl());
    let class = weft_api::schema::class_from_json(json!({"class": "Late", "vectorizer": "none"}))
        .expect("class");
    f.db.create_class(class).expect("create");
    let c = f.engine.schema(&f.db).expect("schema").expect("valid");
    assert!(c.sdl().contains("GetObjectsLateWhereInpObj"));
    assert!(!a.sdl().contains("GetObjectsLateWhereInpObj"));
}

#[test]
fn clashing_type_names_are_an_error_not_a_wrong_schema() {
    let classes: Vec<weft_db::schema::ClassDef> = ["Book", "BookAdditional"]
        .into_iter()
        .map(|name| {
            weft_api::schema::class_from_json(json!({"class": name, "vectorizer": "none"}))
                .expect("class")
        })
        .collect();
    let Some(Err(e)) = schema::build(&classes) else {
        panic!("a clash was not reported")
    };
    assert!(e.0.contains("BookAdditional"), "{}", e.0);
}

#[test]
fn an_empty_catalog_has_no_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(DbOptions::new(dir.path(), "node1")).expect("open db");
    assert!(Engine::new().schema(&db).is_none());
}

#[test]
fn requests_are_checked_as_weaviate_checks_them() {
    assert_eq!(
        read_request(&json!({"query": ""})).unwrap_err(),
        "query cannot be empty"
    );
    assert_eq!(
        read_request(&json!({"query": "{a}", "variables": "x"})).unwrap_err(),
        "variables must be a JSON object, got string"
    );
    assert!(read_request(&json!({"query": "{a}", "variables": null})).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Token soup and mutations of valid queries: always an answer, never a panic.
    #[test]
    fn random_queries_never_panic(
        tokens in proptest::collection::vec(prop_oneof![
            Just("{"), Just("}"), Just("("), Just(")"), Just("["), Just("]"), Just(":"),
            Just("Get"), Just("Aggregate"), Just("Explore"), Just("Book"), Just("Author"),
            Just("title"), Just("_additional"), Just("id"), Just("distance"), Just("where"),
            Just("path"), Just("operator"), Just("Equal"), Just("valueInt"), Just("1"),
            Just("-99999999999999999999"), Just("\"x\""), Just("nearVector"), Just("vector"),
            Just("limit"), Just("... on"), Just("writtenBy"), Just("meta"), Just("count"),
            Just("groupBy"), Just("bm25"), Just("query"), Just("hybrid"), Just("alpha"),
            Just("1e400"), Just("$v"), Just("fragment"), Just("sort"), Just("after"),
        ], 0..40)
    ) {
        let f = fixture_once();
        let q = tokens.join(" ");
        let v = f.run(&q);
        prop_assert!(v.is_object());
    }
}

fn fixture_once() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(fixture)
}

fn plan_of(args: Json) -> Result<get::GetPlan, String> {
    let class = weft_api::schema::class_from_json(json!({"class": "Book", "vectorizer": "none",
        "properties": [{"name": "title", "dataType": ["text"]}]}))
    .expect("class");
    let Json::Object(args) = args else {
        panic!("args must be an object")
    };
    get::plan(
        &class,
        &args,
        &selection::Shape::default(),
        QueryLimits::default(),
    )
    .map_err(|e| e.0)
}

#[test]
fn get_pages_as_weaviate_pages() {
    let limits = |args: Json| {
        let p = plan_of(args).expect("plan");
        (p.query.limit, p.query.offset)
    };
    assert_eq!(limits(json!({})), (100, 0));
    assert_eq!(limits(json!({"offset": 5})), (10, 5));
    assert_eq!(limits(json!({"limit": 3, "offset": 5})), (3, 5));
    assert_eq!(limits(json!({"autocut": 1})), (10, 0));
    // A vector search by distance without a limit returns every match.
    assert_eq!(
        limits(json!({"nearVector": {"vector": [1.0], "distance": 0.2}})),
        (10_000, 0)
    );
    let err = plan_of(json!({"limit": 9_999, "offset": 2})).unwrap_err();
    assert!(err.starts_with("query maximum results exceeded"), "{err}");
}

#[test]
fn get_refuses_what_weaviate_refuses() {
    for (args, message) in [
        (
            json!({"nearVector": {"vector": [1.0]}, "nearObject": {"id": AUTHOR}}),
            "found both 'nearVector' and 'nearObject'",
        ),
        (
            json!({"after": AUTHOR, "where": {"path": ["title"], "operator": "Equal", "valueText": "x"}}),
            "where cannot be set with after and limit parameters",
        ),
        (
            json!({"after": AUTHOR, "bm25": {"query": "x"}}),
            "other params cannot be set with after",
        ),
        (
            json!({"sort": [{"path": []}]}),
            "invalid 'sort' parameter: sort parameter at position 0: path parameter cannot be empty",
        ),
        (
            json!({"sort": [{"path": ["a", "B", "c"]}]}),
            "sorting by reference not supported",
        ),
        (
            json!({"bm25": {"query": "x"}, "sort": [{"path": ["title"]}]}),
            "bm25 search is not compatible with sort",
        ),
        (
            json!({"hybrid": {"query": "x", "alpha": 1.5}}),
            "alpha should be between 0.0 and 1.0",
        ),
        (
            json!({"hybrid": {"query": "x", "vector": [1.0], "searches": [{"nearVector": {"vector": [1.0]}}]}}),
            "cannot have both vector and nearVectorParams",
        ),
        (
            json!({"groupBy": {"path": ["title"], "groups": 1, "objectsPerGroup": 1}}),
            "groupBy needs a search",
        ),
        (
            json!({"group": {"type": "merge", "force": 0.5}}),
            "group is not supported",
        ),
        (
            json!({"where": {"operator": "Equal", "path": ["title"]}}),
            "could not extract filters:",
        ),
    ] {
        let err = plan_of(args.clone()).unwrap_err();
        assert!(err.contains(message), "{args}: {err}");
    }
}
