use serde_json::json;

use super::*;
use crate::schema::Tokenization;

fn class() -> ClassDef {
    let mut class = ClassDef::new("Article");
    let mut title = PropertyDef::primitive("title", Primitive::Text);
    title.tokenization = Some(Tokenization::Word);
    class.properties = vec![
        title,
        PropertyDef::primitive("count", Primitive::Int),
        PropertyDef::primitive("price", Primitive::Number),
        PropertyDef::primitive("flag", Primitive::Boolean),
        PropertyDef::primitive("when", Primitive::Date),
        PropertyDef::primitive("ref", Primitive::Uuid),
        PropertyDef::primitive("tags", Primitive::TextArray),
        PropertyDef::primitive("counts", Primitive::IntArray),
        PropertyDef::primitive("place", Primitive::GeoCoordinates),
        PropertyDef::primitive("data", Primitive::Blob),
    ];
    let mut meta = PropertyDef::primitive("meta", Primitive::Object);
    meta.nested_properties = vec![PropertyDef::primitive("name", Primitive::Text)];
    class.properties.push(meta);
    class
}

fn coerce(v: Value) -> Result<Map<String, Value>, UserError> {
    coerce_properties(&class(), v.as_object().unwrap())
}

#[test]
fn valid_values_are_normalised() {
    let out = coerce(json!({
        "title": "Hi", "count": 3.0, "price": 2, "flag": true,
        "when": "2024-01-02T03:04:05.000000+01:00",
        "ref": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "tags": ["a", "b"], "counts": [1, 2.0],
        "place": {"latitude": 52.5, "longitude": 13.4},
        "data": "aGVsbG8=", "meta": {"name": "x"}, "Title2": null,
    }))
    .unwrap();
    assert_eq!(out["count"], json!(3));
    assert_eq!(out["when"], json!("2024-01-02T02:04:05Z"));
    assert_eq!(out["ref"], json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_eq!(out["counts"], json!([1, 2]));
    assert!(!out.contains_key("Title2"), "nulls are dropped");
}

#[test]
fn wrong_types_are_rejected_with_property_and_class_named() {
    for (body, needle) in [
        (json!({"count": 1.5}), "integer property 'count'"),
        (json!({"count": "3"}), "integer property 'count'"),
        (json!({"title": 3}), "text property 'title'"),
        (json!({"flag": "yes"}), "boolean property 'flag'"),
        (json!({"when": "yesterday"}), "RFC3339"),
        (json!({"ref": "not-a-uuid"}), "uuid property 'ref'"),
        (json!({"tags": "a"}), "expected an array"),
        (
            json!({"place": {"latitude": 100, "longitude": 0}}),
            "latitude",
        ),
        (json!({"data": "***"}), "base64"),
        (json!({"meta": {"other": 1}}), "nested property"),
        (json!({"nope": 1}), "no such prop with name 'nope'"),
    ] {
        let err = coerce(body.clone()).unwrap_err().to_string();
        assert!(err.contains(needle), "{body} → {err}");
        assert!(
            needle.starts_with("no such") || err.contains("Article"),
            "{err}"
        );
    }
}

#[test]
fn autoschema_infers_types() {
    let infer = |v: Value| infer_property("p", &v).map(|p| p.data_type);
    let prim = |p| Some(DataType::Primitive(p));
    assert_eq!(infer(json!("text")), prim(Primitive::Text));
    assert_eq!(infer(json!("2024-01-02T03:04:05Z")), prim(Primitive::Date));
    assert_eq!(
        infer(json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        prim(Primitive::Uuid)
    );
    assert_eq!(infer(json!(1)), prim(Primitive::Number));
    assert_eq!(infer(json!(true)), prim(Primitive::Boolean));
    assert_eq!(infer(json!(["a"])), prim(Primitive::TextArray));
    assert_eq!(infer(json!([1.5])), prim(Primitive::NumberArray));
    assert_eq!(
        infer(json!({"latitude": 1, "longitude": 2})),
        prim(Primitive::GeoCoordinates)
    );
    assert_eq!(infer(json!({"a": "b"})), prim(Primitive::Object));
    assert_eq!(infer(json!([])), None);
    assert_eq!(infer(Value::Null), None);
    let nested = infer_property("o", &json!({"a": "b", "n": 1})).unwrap();
    assert_eq!(nested.nested_properties.len(), 2);
}
