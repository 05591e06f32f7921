//! The index-backed filter evaluation against the reference evaluator ([`Filter::matches`])
//! on random objects and random filter trees, every operator and type, nulls and arrays; and
//! filtered vector search against brute force.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::filter::{Filter, FilterValue, Operator, Target};
use super::resolve::Resolver;
use crate::object::{ObjectInput, WriteMode};
use crate::schema::{ClassDef, DataType, Primitive, PropertyDef, Tokenization};
use crate::{Db, DbOptions, Query};

const WORDS: &[&str] = &["alpha", "Beta", "gamma", "delta", "alp", "be-ta", "Γάμμα"];
const TAGS: &[&str] = &["red", "green", "blue", "Red"];

fn open(dir: &std::path::Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn class() -> ClassDef {
    let mut c = ClassDef::new("Thing");
    let p = |name: &str, t: Primitive| PropertyDef::new(name, DataType::Primitive(t));
    let mut field = p("code", Primitive::Text);
    field.tokenization = Some(Tokenization::Field);
    c.properties = vec![
        p("title", Primitive::Text),
        field,
        p("tags", Primitive::TextArray),
        p("n", Primitive::Int),
        p("ns", Primitive::IntArray),
        p("x", Primitive::Number),
        p("flag", Primitive::Boolean),
        p("when", Primitive::Date),
        p("ref", Primitive::Uuid),
        p("place", Primitive::GeoCoordinates),
    ];
    c
}

fn date(day: u32) -> String {
    format!("2024-01-{:02}T00:00:00Z", day % 28 + 1)
}

fn random_props(rng: &mut StdRng) -> Map<String, Value> {
    let mut m = Map::new();
    let mut maybe = |rng: &mut StdRng, k: &str, v: Value| {
        if rng.random_bool(0.8) {
            m.insert(k.into(), v);
        }
    };
    let words: Vec<&str> = (0..rng.random_range(1..4))
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect();
    let v = json!(words.join(" "));
    maybe(rng, "title", v);
    let v = json!(WORDS[rng.random_range(0..3)]);
    maybe(rng, "code", v);
    let tags: Vec<&str> = (0..rng.random_range(0..3))
        .map(|_| TAGS[rng.random_range(0..TAGS.len())])
        .collect();
    let v = json!(tags);
    maybe(rng, "tags", v);
    let v = json!(rng.random_range(-3i64..4));
    maybe(rng, "n", v);
    let ns: Vec<i64> = (0..rng.random_range(0..3))
        .map(|_| rng.random_range(0..5))
        .collect();
    let v = json!(ns);
    maybe(rng, "ns", v);
    let v = json!(f64::from(rng.random_range(-4i32..5)) / 2.0);
    maybe(rng, "x", v);
    let v = json!(rng.random_bool(0.5));
    maybe(rng, "flag", v);
    let v = json!(date(rng.random_range(0..6)));
    maybe(rng, "when", v);
    let v = json!(Uuid::from_u128(rng.random_range(1..4)).to_string());
    maybe(rng, "ref", v);
    let v = json!({"latitude": f64::from(rng.random_range(0..3)), "longitude": 0.0});
    maybe(rng, "place", v);
    m
}

fn cond(target: Target, op: Operator, value: FilterValue) -> Filter {
    Filter::Condition { target, op, value }
}

fn prop(name: &str) -> Target {
    Target::Property(name.into())
}

fn random_leaf(rng: &mut StdRng, ids: &[Uuid]) -> Filter {
    use Operator as O;
    let cmp = [
        O::Equal,
        O::NotEqual,
        O::GreaterThan,
        O::GreaterThanEqual,
        O::LessThan,
        O::LessThanEqual,
    ];
    let any_cmp = |rng: &mut StdRng| cmp[rng.random_range(0..cmp.len())];
    let contains = [O::ContainsAny, O::ContainsAll, O::ContainsNone];
    let any_contains = |rng: &mut StdRng| contains[rng.random_range(0..contains.len())];
    let word = |rng: &mut StdRng| WORDS[rng.random_range(0..WORDS.len())].to_string();
    match rng.random_range(0..16) {
        0 => cond(prop("title"), any_cmp(rng), FilterValue::Text(word(rng))),
        1 => {
            let pats = ["alp*", "*ta", "?eta", "*", "g*a", "be"];
            cond(
                prop("title"),
                O::Like,
                FilterValue::Text(pats[rng.random_range(0..pats.len())].into()),
            )
        }
        2 => cond(prop("code"), any_cmp(rng), FilterValue::Text(word(rng))),
        3 => {
            let tags = (0..rng.random_range(1..3))
                .map(|_| TAGS[rng.random_range(0..TAGS.len())].to_string())
                .collect();
            cond(
                prop("tags"),
                any_contains(rng),
                FilterValue::TextArray(tags),
            )
        }
        4 => cond(
            prop("n"),
            any_cmp(rng),
            FilterValue::Int(rng.random_range(-3..4)),
        ),
        5 => {
            let v = (0..rng.random_range(1..3))
                .map(|_| rng.random_range(0..5))
                .collect();
            cond(prop("ns"), any_contains(rng), FilterValue::IntArray(v))
        }
        6 => cond(
            prop("ns"),
            any_cmp(rng),
            FilterValue::Int(rng.random_range(0..5)),
        ),
        7 => cond(
            prop("x"),
            any_cmp(rng),
            FilterValue::Number(f64::from(rng.random_range(-4i32..5)) / 2.0),
        ),
        8 => cond(
            prop("x"),
            any_cmp(rng),
            FilterValue::Int(rng.random_range(-2..3)),
        ),
        9 => cond(
            prop("flag"),
            if rng.random_bool(0.5) {
                O::Equal
            } else {
                O::NotEqual
            },
            FilterValue::Bool(rng.random_bool(0.5)),
        ),
        10 => cond(
            prop("when"),
            any_cmp(rng),
            FilterValue::Text(date(rng.random_range(0..6))),
        ),
        11 => cond(
            prop("ref"),
            any_cmp(rng),
            FilterValue::Text(Uuid::from_u128(rng.random_range(1..4)).to_string()),
        ),
        12 => {
            let names = ["title", "tags", "n", "flag", "place"];
            cond(
                prop(names[rng.random_range(0..names.len())]),
                O::IsNull,
                FilterValue::Bool(rng.random_bool(0.5)),
            )
        }
        13 => cond(
            prop("place"),
            O::WithinGeoRange,
            FilterValue::Geo {
                latitude: 0.0,
                longitude: 0.0,
                distance: f64::from(rng.random_range(0..3)) * 120_000.0,
            },
        ),
        14 => {
            let pick: Vec<String> = (0..rng.random_range(1..4))
                .map(|_| ids[rng.random_range(0..ids.len())].to_string())
                .collect();
            let op =
                [O::Equal, O::ContainsAny, O::ContainsNone, O::NotEqual][rng.random_range(0..4)];
            let value = if matches!(op, O::ContainsAny | O::ContainsNone) {
                FilterValue::TextArray(pick)
            } else {
                FilterValue::Text(pick[0].clone())
            };
            cond(Target::Id, op, value)
        }
        _ => {
            let t = if rng.random_bool(0.5) {
                Target::Length("title".into())
            } else {
                Target::CreationTime
            };
            match t {
                Target::Length(_) => {
                    cond(t, any_cmp(rng), FilterValue::Int(rng.random_range(0..20)))
                }
                _ => cond(t, any_cmp(rng), FilterValue::Text("0".into())),
            }
        }
    }
}

fn random_filter(rng: &mut StdRng, ids: &[Uuid], depth: u32) -> Filter {
    if depth == 0 || rng.random_bool(0.4) {
        return random_leaf(rng, ids);
    }
    let n = rng.random_range(0..4);
    let kids = (0..n).map(|_| random_filter(rng, ids, depth - 1)).collect();
    match rng.random_range(0..3) {
        0 => Filter::And(kids),
        1 => Filter::Or(kids),
        _ => Filter::Not(Box::new(random_filter(rng, ids, depth - 1))),
    }
}

#[test]
fn the_index_agrees_with_the_reference_evaluator_on_random_filters() {
    let cases: u64 = if std::env::var_os("WEFT_LONG").is_some() {
        40
    } else {
        6
    };
    for seed in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let class = db.create_class(class()).unwrap();
        let n = rng.random_range(0..60);
        let inputs: Vec<ObjectInput> = (0..n)
            .map(|i| ObjectInput {
                class: "Thing".into(),
                id: Some(Uuid::from_u128(1000 + i)),
                properties: random_props(&mut rng),
                ..ObjectInput::default()
            })
            .collect();
        for r in db.put_objects(inputs, WriteMode::Upsert) {
            r.unwrap();
        }
        // Some updates and deletes, so doc ids are not dense.
        for i in 0..n / 4 {
            let id = Uuid::from_u128(1000 + rng.random_range(0..n));
            if i % 2 == 0 {
                db.delete_object("Thing", id).unwrap();
            } else {
                let input = ObjectInput {
                    class: "Thing".into(),
                    id: Some(id),
                    properties: random_props(&mut rng),
                    ..ObjectInput::default()
                };
                db.put_object(input, WriteMode::Upsert).unwrap();
            }
        }
        let coll = db.collection("Thing").unwrap();
        let all = coll.list(None, 0, u64::MAX, false).unwrap();
        let ids: Vec<Uuid> = all
            .iter()
            .map(|o| o.id)
            .chain([Uuid::from_u128(7)])
            .collect();
        for f in 0..150 {
            let filter = random_filter(&mut rng, &ids, 3);
            filter
                .validate(&class)
                .unwrap_or_else(|e| panic!("seed {seed} filter {f}: {filter:?}: {e}"));
            let got = Resolver::new(&coll, &class).eval(&filter).unwrap();
            let want: roaring::RoaringTreemap = all
                .iter()
                .filter(|o| filter.matches(&class, o))
                .map(|o| o.doc_id)
                .collect();
            assert_eq!(got, want, "seed {seed} filter {f}: {filter:#?}");
        }
    }
}

#[test]
fn text_equal_needs_every_token_and_field_tokenization_the_whole_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let class = db.create_class(class()).unwrap();
    let props = |t: &str| {
        json!({"title": t, "code": t})
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    for (i, t) in ["Hello World", "hello", "World, hello!", "help"]
        .iter()
        .enumerate()
    {
        let input = ObjectInput {
            class: "Thing".into(),
            id: Some(Uuid::from_u128(i as u128 + 1)),
            properties: props(t),
            ..ObjectInput::default()
        };
        db.put_object(input, WriteMode::Insert).unwrap();
    }
    let coll = db.collection("Thing").unwrap();
    let run = |f: Filter| -> Vec<u128> {
        let mut ids: Vec<u128> = Resolver::new(&coll, &class)
            .eval(&f)
            .unwrap()
            .iter()
            .filter_map(|d| coll.by_doc_id(d, false).unwrap())
            .map(|o| o.id.as_u128())
            .collect();
        ids.sort_unstable();
        ids
    };
    let eq = |p: &str, v: &str| cond(prop(p), Operator::Equal, FilterValue::Text(v.into()));
    assert_eq!(run(eq("title", "hello world")), [1, 3]);
    assert_eq!(run(eq("title", "HELLO")), [1, 2, 3]);
    assert_eq!(run(eq("code", "hello")), [2]);
    assert_eq!(run(eq("code", "Hello World")), [1]);
    assert_eq!(
        run(cond(
            prop("title"),
            Operator::Like,
            FilterValue::Text("hel*".into())
        )),
        [1, 2, 3, 4]
    );
    assert_eq!(
        run(cond(
            prop("title"),
            Operator::Like,
            FilterValue::Text("hel?".into())
        )),
        [4]
    );
}

#[test]
fn bad_filters_get_clear_errors() {
    let c = class();
    let check = |f: Filter, needle: &str| {
        let err = f.validate(&c).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    };
    check(
        cond(prop("nope"), Operator::Equal, FilterValue::Int(1)),
        "no such prop with name 'nope'",
    );
    check(
        cond(prop("n"), Operator::Equal, FilterValue::Text("1".into())),
        "cannot use valueText on type int",
    );
    check(
        cond(prop("title"), Operator::Equal, FilterValue::Int(1)),
        "cannot use valueInt on type text",
    );
    check(
        cond(
            prop("tags"),
            Operator::ContainsAny,
            FilterValue::Text("a".into()),
        ),
        "requires an array",
    );
    check(
        cond(prop("n"), Operator::IsNull, FilterValue::Int(1)),
        "IsNull requires a valueBoolean",
    );
    check(
        cond(
            prop("n"),
            Operator::WithinGeoRange,
            FilterValue::Geo {
                latitude: 0.0,
                longitude: 0.0,
                distance: 1.0,
            },
        ),
        "WithinGeoRange",
    );
    let mut unfiltered = class();
    if let Some(p) = unfiltered.properties.iter_mut().find(|p| p.name == "n") {
        p.index_filterable = false;
    }
    let err = cond(prop("n"), Operator::Equal, FilterValue::Int(1))
        .validate(&unfiltered)
        .unwrap_err();
    assert!(err.to_string().contains("indexFilterable"), "{err}");
}

/// Filtered `near_vector` against brute force over the matching objects, from all objects
/// down to a handful.
#[test]
fn filtered_near_vector_finds_the_true_neighbours_among_the_matches() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut c = ClassDef::new("Vec");
    c.properties = vec![PropertyDef::new(
        "bucket",
        DataType::Primitive(Primitive::Int),
    )];
    db.create_class(c).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let n = 1500u64;
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|_| (0..16).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    let inputs = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| ObjectInput {
            class: "Vec".into(),
            id: Some(Uuid::from_u128(i as u128 + 1)),
            properties: json!({"bucket": i % 1000})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            vector: Some(v.clone()),
            ..ObjectInput::default()
        })
        .collect();
    for r in db.put_objects(inputs, WriteMode::Upsert) {
        r.unwrap();
    }
    // The default distance is cosine.
    let dist = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        1.0 - dot / (norm(a) * norm(b))
    };
    // bucket < t keeps t/1000 of the objects: 100 %, 10 %, 1 %, 0.2 %.
    for t in [1000i64, 100, 10, 2] {
        let mut found = 0usize;
        let mut wanted = 0usize;
        for q in 0..20 {
            let query: Vec<f32> = (0..16).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let mut truth: Vec<(f32, u128)> = vectors
                .iter()
                .enumerate()
                .filter(|(i, _)| (*i as i64 % 1000) < t)
                .map(|(i, v)| (dist(v, &query), i as u128 + 1))
                .collect();
            truth.sort_by(|a, b| a.0.total_cmp(&b.0));
            let truth: Vec<u128> = truth.into_iter().take(10).map(|(_, id)| id).collect();
            let req = Query {
                class: "Vec".into(),
                limit: 10,
                filter: Some(cond(
                    prop("bucket"),
                    Operator::LessThan,
                    FilterValue::Int(t),
                )),
                near: Some(crate::NearQuery::vector(query)),
                ..Query::default()
            };
            let hits = db.search(&req).unwrap();
            for h in &hits {
                let b = h
                    .object
                    .properties
                    .get("bucket")
                    .and_then(Value::as_i64)
                    .unwrap_or(-1);
                assert!(b < t, "q {q}: a hit outside the filter");
            }
            let got: std::collections::HashSet<u128> =
                hits.iter().map(|h| h.object.id.as_u128()).collect();
            found += truth.iter().filter(|id| got.contains(id)).count();
            wanted += truth.len();
        }
        let recall = found as f64 / wanted as f64;
        assert!(recall >= 0.95, "selectivity {t}/1000: recall {recall}");
    }
}

#[test]
fn delete_many_deletes_what_the_filter_matches_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut c = ClassDef::new("Del");
    c.properties = vec![PropertyDef::new("n", DataType::Primitive(Primitive::Int))];
    db.create_class(c).unwrap();
    let inputs = (0..50)
        .map(|i| ObjectInput {
            class: "Del".into(),
            id: Some(Uuid::from_u128(i + 1)),
            properties: json!({"n": i % 10})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            vector: Some(vec![i as f32, 1.0]),
            ..ObjectInput::default()
        })
        .collect();
    for r in db.put_objects(inputs, WriteMode::Upsert) {
        r.unwrap();
    }
    let small = cond(prop("n"), Operator::LessThan, FilterValue::Int(3));
    let dry = db.delete_many("Del", &small, true, 100).unwrap();
    assert_eq!((dry.matches, dry.objects.len()), (15, 15));
    assert_eq!(db.object_count("Del"), 50, "a dry run deletes nothing");
    let capped = db.delete_many("Del", &small, false, 4).unwrap();
    assert_eq!((capped.matches, capped.objects.len()), (15, 4));
    assert_eq!(db.object_count("Del"), 46);
    let rest = db.delete_many("Del", &small, false, 100).unwrap();
    assert_eq!((rest.matches, rest.objects.len()), (11, 11));
    assert!(rest.objects.iter().all(|(_, e)| e.is_none()));
    assert_eq!(db.object_count("Del"), 35);
    let coll = db.collection("Del").unwrap();
    let class = db.class("Del").unwrap();
    assert!(
        Resolver::new(&coll, &class)
            .eval(&small)
            .unwrap()
            .is_empty()
    );
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let err = db.delete_many("Nope", &small, false, 10).unwrap_err();
    assert!(err.to_string().contains("Nope"), "{err}");
}

#[test]
fn sort_puts_missing_values_first_ascending_and_ignores_case() {
    use super::sort::{SortBy, sort};
    let c = class();
    let obj = |id: u128, title: Option<&str>, n: Option<i64>| {
        let mut properties = Map::new();
        if let Some(t) = title {
            properties.insert("title".into(), json!(t));
        }
        if let Some(n) = n {
            properties.insert("n".into(), json!(n));
        }
        crate::object::StoredObject {
            class: "Thing".into(),
            id: Uuid::from_u128(id),
            doc_id: id as u64,
            properties,
            vectors: Default::default(),
            created_ms: 0,
            updated_ms: 0,
        }
    };
    let mut objects = vec![
        obj(1, Some("b"), Some(2)),
        obj(2, None, Some(1)),
        obj(3, Some("A"), None),
        obj(4, Some("a"), Some(1)),
    ];
    let order = |objects: &[crate::object::StoredObject]| {
        objects.iter().map(|o| o.id.as_u128()).collect::<Vec<_>>()
    };
    sort(&c, &[SortBy::named("title", true)], &mut objects);
    assert_eq!(
        order(&objects),
        [2, 3, 4, 1],
        "missing first, 'A' and 'a' equal (stable)"
    );
    sort(&c, &[SortBy::named("title", false)], &mut objects);
    assert_eq!(order(&objects), [1, 3, 4, 2]);
    sort(
        &c,
        &[SortBy::named("n", true), SortBy::named("title", false)],
        &mut objects,
    );
    assert_eq!(order(&objects), [3, 4, 2, 1]);
}
