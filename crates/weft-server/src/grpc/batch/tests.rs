//! Decoding of batch objects as the Python client builds them.

use std::collections::BTreeMap;

use prost_types::value::Kind;
use serde_json::{Value, json};
use weft_api::proto::v1::batch_object::{MultiTargetRefProps, Properties, SingleTargetRefProps};
use weft_api::proto::v1::vectors::VectorType;
use weft_api::proto::v1::{
    BatchObject, BooleanArrayProperties, IntArrayProperties, NumberArrayProperties,
    ObjectArrayProperties, ObjectProperties, ObjectPropertiesValue, TextArrayProperties, Vectors,
};

use super::{decode_batch, decode_object, struct_to_json};

const ID: &str = "8a2b3c4d-0000-4000-8000-000000000001";
const OTHER: &str = "8A2B3C4D-0000-4000-8000-000000000002";

fn v(kind: Kind) -> prost_types::Value {
    prost_types::Value { kind: Some(kind) }
}

fn strukt(fields: Vec<(&str, prost_types::Value)>) -> prost_types::Struct {
    prost_types::Struct {
        fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(xs: &[f64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn object(properties: Properties) -> BatchObject {
    BatchObject {
        uuid: ID.to_owned(),
        collection: "Article".to_owned(),
        properties: Some(properties),
        ..Default::default()
    }
}

fn props(object: BatchObject) -> Value {
    Value::Object(decode_object(object).expect("decodes").properties)
}

fn error(object: BatchObject) -> String {
    decode_object(object).expect_err("must fail").to_string()
}

#[test]
fn struct_kinds_become_json_and_numbers_stay_doubles() {
    let nested = strukt(vec![("latitude", v(Kind::NumberValue(52.5)))]);
    let list = prost_types::ListValue {
        values: vec![v(Kind::StringValue("a".into())), v(Kind::BoolValue(false))],
    };
    let s = strukt(vec![
        ("null", v(Kind::NullValue(0))),
        ("unset", prost_types::Value { kind: None }),
        ("count", v(Kind::NumberValue(1.0))),
        ("price", v(Kind::NumberValue(-2.5))),
        ("title", v(Kind::StringValue("hello".into()))),
        ("flag", v(Kind::BoolValue(true))),
        ("geo", v(Kind::StructValue(nested))),
        ("list", v(Kind::ListValue(list))),
    ]);
    let out = Value::Object(struct_to_json(s, "").expect("decodes"));
    assert_eq!(
        out,
        json!({
            "null": null, "unset": null, "count": 1.0, "price": -2.5, "title": "hello",
            "flag": true, "geo": {"latitude": 52.5}, "list": ["a", false],
        })
    );
    // An integral double is still a JSON float: weft-db coerces it for int properties.
    assert!(out["count"].is_f64());
    assert_eq!(out["count"].as_f64(), Some(1.0));
}

#[test]
fn non_finite_struct_numbers_fail_naming_the_property() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let inner = strukt(vec![("x", v(Kind::NumberValue(bad)))]);
        let s = strukt(vec![("outer", v(Kind::StructValue(inner)))]);
        let err = struct_to_json(s, "").expect_err("non-finite").to_string();
        assert!(err.contains("\"outer.x\""), "{err}");
        assert!(err.contains("not a valid number"), "{err}");
    }
}

#[test]
fn typed_arrays_and_empty_lists() {
    let p = Properties {
        text_array_properties: vec![TextArrayProperties {
            prop_name: "tags".into(),
            values: vec!["a".into(), "b".into()],
        }],
        int_array_properties: vec![IntArrayProperties {
            prop_name: "counts".into(),
            values: vec![1, -2, i64::MAX],
        }],
        boolean_array_properties: vec![BooleanArrayProperties {
            prop_name: "flags".into(),
            values: vec![true, false],
        }],
        number_array_properties: vec![
            NumberArrayProperties {
                prop_name: "prices".into(),
                values_bytes: f64_bytes(&[1.5, -0.25]),
                values: vec![],
            },
            NumberArrayProperties {
                prop_name: "legacy".into(),
                values_bytes: vec![],
                values: vec![3.0],
            },
        ],
        empty_list_props: vec!["nothing".into()],
        ..Default::default()
    };
    let out = props(object(p));
    assert_eq!(
        out,
        json!({
            "tags": ["a", "b"], "counts": [1, -2, i64::MAX], "flags": [true, false],
            "prices": [1.5, -0.25], "legacy": [3.0], "nothing": [],
        })
    );
    assert!(out["counts"][0].is_i64(), "int arrays stay integers");
}

#[test]
fn bad_number_arrays_fail() {
    let odd = Properties {
        number_array_properties: vec![NumberArrayProperties {
            prop_name: "prices".into(),
            values_bytes: vec![0; 12],
            values: vec![],
        }],
        ..Default::default()
    };
    let err = error(object(odd));
    assert!(
        err.contains("\"prices\"") && err.contains("12 bytes"),
        "{err}"
    );

    let nan = Properties {
        number_array_properties: vec![NumberArrayProperties {
            prop_name: "prices".into(),
            values_bytes: f64_bytes(&[1.0, f64::NAN]),
            values: vec![],
        }],
        ..Default::default()
    };
    assert!(error(object(nan)).contains("not a valid number"));
}

fn nested_value() -> ObjectPropertiesValue {
    ObjectPropertiesValue {
        non_ref_properties: Some(strukt(vec![("name", v(Kind::StringValue("n".into())))])),
        int_array_properties: vec![IntArrayProperties {
            prop_name: "ints".into(),
            values: vec![7],
        }],
        text_array_properties: vec![TextArrayProperties {
            prop_name: "texts".into(),
            values: vec!["t".into()],
        }],
        number_array_properties: vec![NumberArrayProperties {
            prop_name: "nums".into(),
            values_bytes: f64_bytes(&[0.5]),
            values: vec![],
        }],
        boolean_array_properties: vec![BooleanArrayProperties {
            prop_name: "bools".into(),
            values: vec![true],
        }],
        object_properties: vec![ObjectProperties {
            prop_name: "deeper".into(),
            value: Some(ObjectPropertiesValue {
                non_ref_properties: Some(strukt(vec![("x", v(Kind::NumberValue(1.0)))])),
                ..Default::default()
            }),
        }],
        object_array_properties: vec![],
        empty_list_props: vec!["none".into()],
    }
}

#[test]
fn nested_objects_and_object_arrays() {
    let p = Properties {
        object_properties: vec![
            ObjectProperties {
                prop_name: "meta".into(),
                value: Some(nested_value()),
            },
            ObjectProperties {
                prop_name: "bare".into(),
                value: None,
            },
        ],
        object_array_properties: vec![ObjectArrayProperties {
            prop_name: "items".into(),
            values: vec![nested_value(), ObjectPropertiesValue::default()],
        }],
        ..Default::default()
    };
    let one = json!({
        "name": "n", "ints": [7], "texts": ["t"], "nums": [0.5], "bools": [true],
        "deeper": {"x": 1.0}, "none": [],
    });
    assert_eq!(
        props(object(p)),
        json!({ "meta": one, "bare": {}, "items": [one, {}] })
    );
}

#[test]
fn nested_errors_name_the_path() {
    let mut inner = nested_value();
    inner.number_array_properties[0].values_bytes = vec![1, 2, 3];
    let p = Properties {
        object_array_properties: vec![ObjectArrayProperties {
            prop_name: "items".into(),
            values: vec![inner],
        }],
        ..Default::default()
    };
    let err = error(object(p));
    assert!(err.contains("\"items.nums\""), "{err}");
}

#[test]
fn references_become_beacons() {
    let p = Properties {
        single_target_ref_props: vec![SingleTargetRefProps {
            prop_name: "author".into(),
            uuids: vec![ID.into(), OTHER.into()],
        }],
        multi_target_ref_props: vec![MultiTargetRefProps {
            prop_name: "about".into(),
            uuids: vec![ID.into()],
            target_collection: "person".into(),
        }],
        ..Default::default()
    };
    let other = OTHER.to_lowercase();
    assert_eq!(
        props(object(p)),
        json!({
            "author": [
                {"beacon": format!("weaviate://localhost/{ID}")},
                {"beacon": format!("weaviate://localhost/{other}")},
            ],
            "about": [{"beacon": format!("weaviate://localhost/Person/{ID}")}],
        })
    );

    let bad = Properties {
        single_target_ref_props: vec![SingleTargetRefProps {
            prop_name: "author".into(),
            uuids: vec!["nope".into()],
        }],
        ..Default::default()
    };
    let err = error(object(bad));
    assert!(
        err.contains("\"author\"") && err.contains("\"nope\""),
        "{err}"
    );
}

#[test]
fn ids_collection_and_tenant() {
    let input = decode_object(object(Properties::default())).expect("decodes");
    assert_eq!(input.id.map(|u| u.to_string()).as_deref(), Some(ID));
    assert_eq!(input.class, "Article");
    assert_eq!(input.tenant, None);
    assert!(input.properties.is_empty());

    let no_id = BatchObject {
        tenant: "t1".into(),
        properties: None,
        ..Default::default()
    };
    let input = decode_object(no_id).expect("decodes");
    assert_eq!(input.id, None, "weft-db generates one");
    assert_eq!(input.tenant.as_deref(), Some("t1"));

    let bad = BatchObject {
        uuid: "not-a-uuid".into(),
        ..Default::default()
    };
    assert!(error(bad).contains("invalid uuid \"not-a-uuid\""));
}

#[test]
fn vectors_from_bytes_deprecated_floats_and_named() {
    let bytes = BatchObject {
        vector_bytes: f32_bytes(&[1.0, -2.5, 0.0]),
        vector: vec![9.0],
        ..Default::default()
    };
    let input = decode_object(bytes).expect("decodes");
    assert_eq!(input.vector, Some(vec![1.0, -2.5, 0.0]), "bytes win");

    let floats = BatchObject {
        vector: vec![0.5, 0.25],
        ..Default::default()
    };
    assert_eq!(
        decode_object(floats).expect("decodes").vector,
        Some(vec![0.5, 0.25])
    );
    assert_eq!(
        decode_object(BatchObject::default())
            .expect("decodes")
            .vector,
        None
    );

    let named = BatchObject {
        vectors: vec![
            Vectors {
                name: "title".into(),
                index: 0,
                vector_bytes: f32_bytes(&[1.0, 2.0]),
                r#type: VectorType::SingleFp32 as i32,
            },
            Vectors {
                name: "body".into(),
                index: 0,
                vector_bytes: f32_bytes(&[3.0]),
                r#type: VectorType::Unspecified as i32,
            },
        ],
        ..Default::default()
    };
    let input = decode_object(named).expect("decodes");
    let expected: BTreeMap<String, Vec<f32>> = [
        ("title".to_owned(), vec![1.0, 2.0]),
        ("body".to_owned(), vec![3.0]),
    ]
    .into_iter()
    .collect();
    assert_eq!(input.vectors, expected);
    assert_eq!(input.vector, None);
}

#[test]
fn bad_vectors_fail() {
    let odd = BatchObject {
        vector_bytes: vec![0; 7],
        ..Default::default()
    };
    assert!(error(odd).contains("7 bytes is not a whole number of float32"));

    let named = |name: &str, r#type: i32, bytes: Vec<u8>| Vectors {
        name: name.into(),
        index: 0,
        vector_bytes: bytes,
        r#type,
    };
    let single = VectorType::SingleFp32 as i32;
    let cases = [
        (
            vec![named("m", VectorType::MultiFp32 as i32, vec![0; 10])],
            "multi-vectors are not supported",
        ),
        (
            vec![named("u", 42, f32_bytes(&[1.0]))],
            "unknown vector type 42",
        ),
        (vec![named("", single, f32_bytes(&[1.0]))], "needs a name"),
        (vec![named("o", single, vec![0; 5])], "5 bytes"),
        (
            vec![
                named("d", single, f32_bytes(&[1.0])),
                named("d", single, f32_bytes(&[2.0])),
            ],
            "given twice",
        ),
    ];
    for (vectors, expected) in cases {
        let err = error(BatchObject {
            vectors,
            ..Default::default()
        });
        assert!(err.contains(expected), "{err} should contain {expected}");
    }
}

#[test]
fn a_bad_object_fails_alone_by_index() {
    let good = |id: &str| BatchObject {
        uuid: id.into(),
        collection: "Article".into(),
        ..Default::default()
    };
    let objects = vec![
        good(ID),
        BatchObject {
            uuid: "bad".into(),
            ..Default::default()
        },
        good(OTHER),
        BatchObject {
            vector_bytes: vec![1],
            ..Default::default()
        },
    ];
    let decoded = decode_batch(objects);
    let indexes: Vec<usize> = decoded.objects.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, vec![0, 2]);
    let errors: Vec<i32> = decoded.errors.iter().map(|e| e.index).collect();
    assert_eq!(errors, vec![1, 3]);
    assert!(decoded.errors[0].error.contains("invalid uuid"));
    assert!(decoded.errors[1].error.contains("float32"));
}
