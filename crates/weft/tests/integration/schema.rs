//! The schema API end to end: validation errors, defaults, persistence across restarts and
//! `kill -9`.

use serde_json::{Value, json};

use crate::Sandbox;
use crate::server::{Launch, Weft};

fn class_body(name: &str) -> String {
    json!({
        "class": name,
        "vectorIndexType": "hnsw",
        "vectorIndexConfig": {"distance": "dot"},
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "count", "dataType": ["int"]},
            {"name": "tags", "dataType": ["text[]"]},
        ],
    })
    .to_string()
}

fn get_class(weft: &Weft, name: &str) -> Value {
    let reply = weft.get(&format!("/v1/schema/{name}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[test]
fn create_get_list_delete() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    let created = weft.post("/v1/schema", &class_body("article"));
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.json()["class"], "Article");
    let class = get_class(&weft, "Article");
    assert_eq!(class["vectorIndexConfig"]["distance"], "dot");
    assert_eq!(class["vectorIndexConfig"]["efConstruction"], 128);
    assert_eq!(class["invertedIndexConfig"]["bm25"]["k1"], 1.2);
    assert_eq!(class["properties"][0]["tokenization"], "word");
    let list = weft.get("/v1/schema").json();
    assert_eq!(list["classes"].as_array().map(Vec::len), Some(1));
    let shards = weft.get("/v1/schema/Article/shards").json();
    let shard = shards[0]["name"].as_str().expect("shard name");
    assert_eq!(shard.len(), 12);
    assert_eq!(shards[0]["status"], "READY");
    assert_eq!(
        weft.request("DELETE", "/v1/schema/Article", None).status,
        200
    );
    assert_eq!(weft.get("/v1/schema/Article").status, 404);
    // Deleting a missing class is not an error.
    assert_eq!(
        weft.request("DELETE", "/v1/schema/Article", None).status,
        200
    );
}

#[test]
fn bad_schema_input_gets_422_never_5xx() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    assert_eq!(weft.post("/v1/schema", &class_body("Book")).status, 200);
    let cases = [
        json!({"class": "1abc"}),
        json!({"class": "Bad-Name"}),
        json!({"class": ""}),
        json!({"class": "BOOK"}),
        json!({"class": "Book"}),
        json!({"class": "Thing", "properties": [{"name": "p", "dataType": ["nonsense"]}]}),
        json!({"class": "Thing", "properties": [{"name": "p", "dataType": ["text"]}, {"name": "P", "dataType": ["int"]}]}),
        json!({"class": "Thing", "properties": [{"name": "id", "dataType": ["text"]}]}),
        json!({"class": "Thing", "vectorIndexConfig": {"distance": "euclid"}}),
        json!({"class": "Thing", "vectorIndexType": "annoy"}),
        json!({"class": 42}),
        json!({"class": "Thing", "properties": "title"}),
    ];
    for body in cases {
        let reply = weft.post("/v1/schema", &body.to_string());
        assert_eq!(
            reply.status, 422,
            "{body} → {} {}",
            reply.status, reply.body
        );
        assert!(!reply.error_message().is_empty(), "{body}");
    }
    // The duplicate-name rejections left the original untouched.
    assert_eq!(
        get_class(&weft, "Book")["vectorIndexConfig"]["distance"],
        "dot"
    );
    let missing = weft.request("PUT", "/v1/schema/Nope", Some(&class_body("Nope")));
    assert_eq!(missing.status, 404);
}

#[test]
fn schema_survives_orderly_restart_and_kill_minus_9() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    assert_eq!(weft.post("/v1/schema", &class_body("Article")).status, 200);
    let added = weft.post(
        "/v1/schema/Article/properties",
        r#"{"name":"body","dataType":["text"]}"#,
    );
    assert_eq!(added.status, 200, "{}", added.body);
    let before = get_class(&weft, "Article");
    let shards_before = weft.get("/v1/schema/Article/shards").json();
    let (status, _) = weft.terminate();
    assert!(status.success());

    let weft = Launch::new(&data).start();
    assert_eq!(get_class(&weft, "Article"), before);
    assert_eq!(weft.get("/v1/schema/Article/shards").json(), shards_before);
    // Acknowledged, then killed without any chance to flush.
    assert_eq!(weft.post("/v1/schema", &class_body("Second")).status, 200);
    weft.kill9();

    let weft = Launch::new(&data).start();
    assert_eq!(get_class(&weft, "Article"), before);
    assert_eq!(get_class(&weft, "Second")["class"], "Second");
}
