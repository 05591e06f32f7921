//! `weft verify`: exit codes, the summary, the lock, and that it leaves recovery to the server.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::Sandbox;
use crate::server::{Launch, Weft, run_verify};

fn create_class(weft: &Weft, class: &str, tag_filterable: bool) {
    let body = json!({
        "class": class,
        "vectorizer": "none",
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "tag", "dataType": ["text"], "indexFilterable": tag_filterable},
            {"name": "n", "dataType": ["int"]},
        ],
    });
    let r = weft.post("/v1/schema", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
}

fn insert(weft: &Weft, class: &str, count: usize) -> Vec<String> {
    let objects: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "class": class,
                "id": format!("00000000-0000-4000-8000-{i:012x}"),
                "properties": {"title": format!("object {i}"), "tag": format!("t{}", i % 3), "n": i},
                "vector": [i as f32, 1.0, 2.0],
            })
        })
        .collect();
    let r = weft.post(
        "/v1/batch/objects",
        &json!({ "objects": objects }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json();
    let items = items.as_array().expect("batch answers an array");
    items
        .iter()
        .map(|item| {
            assert_eq!(item["result"]["status"], "SUCCESS", "{item}");
            item["id"].as_str().expect("id").to_string()
        })
        .collect()
}

#[test]
fn after_kill_9_verify_is_clean_and_leaves_the_recovery_to_the_server() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    create_class(&weft, "Article", true);
    let ids = insert(&weft, "Article", 20);
    for id in &ids[..3] {
        let r = weft.request("DELETE", &format!("/v1/objects/Article/{id}"), None);
        assert_eq!(r.status, 204, "{}", r.body);
    }
    weft.kill9();

    let run = run_verify(&data);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.count("classes"), Some(1), "{run:?}");
    assert_eq!(run.count("objects"), Some(17), "{run:?}");
    assert_eq!(run.count("problems"), Some(0), "{run:?}");
    assert!(
        run.count("index entries checked").unwrap_or(0) > 0,
        "{run:?}"
    );
    assert!(run.stdout.contains("OK"), "{run:?}");
    // Replaying the WAL is reported on stderr.
    assert!(
        run.stderr.contains("active write-ahead-log found"),
        "{run:?}"
    );

    // verify did not flush: the server still finds the active WAL, and every object.
    let weft = Launch::new(&data).start();
    let recovered = weft
        .log_lines()
        .iter()
        .any(|l| l["action"] == "lsm_recover_from_active_wal");
    assert!(recovered, "{}", weft.log_text());
    let listed = weft.get("/v1/objects?class=Article&limit=100").json();
    assert_eq!(listed["objects"].as_array().map(Vec::len), Some(17));
    let (status, log) = weft.terminate();
    assert!(status.success(), "{log}");

    // After an orderly close there is nothing to replay, and the environment names the path.
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("verify")
        .env("PERSISTENCE_DATA_PATH", &data)
        .stdin(Stdio::null())
        .output()
        .expect("run weft verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("objects: 17"), "{stdout}");
    assert!(!stderr.contains("write-ahead-log"), "{stderr}");
}

#[test]
fn verify_refuses_while_a_server_runs_on_the_directory() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    let run = run_verify(&data);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("in use by another weft process"),
        "{run:?}"
    );
    // The server is unaffected.
    assert_eq!(weft.get("/v1/.well-known/ready").status, 200);
}

#[test]
fn verify_exits_2_naming_what_it_cannot_open() {
    let sb = Sandbox::new();
    let missing = sb.dir.path().join("nowhere");
    let run = run_verify(&missing);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("nowhere"), "{run:?}");
    assert!(!missing.exists(), "verify must not create a data directory");

    let data = sb.data();
    let weft = Launch::new(&data).start();
    create_class(&weft, "Article", true);
    let (status, log) = weft.terminate();
    assert!(status.success(), "{log}");
    std::fs::write(data.join("schema.bin"), b"not a schema file").expect("overwrite schema");
    let run = run_verify(&data);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("schema.bin"), "{run:?}");
}

/// The shard directory of the only shard of `class`.
fn shard_dir(weft: &Weft, data: &std::path::Path, class: &str) -> std::path::PathBuf {
    let shards = weft.get(&format!("/v1/schema/{class}/shards")).json();
    let name = shards[0]["name"].as_str().expect("shard name");
    data.join(class.to_lowercase()).join(name)
}

#[test]
fn verify_exits_1_when_the_index_does_not_match_the_objects() {
    // Objects written while `tag` had no filterable index, then the schema of a twin directory
    // where `tag` is indexed: the index the schema promises is empty.
    let sb = Sandbox::new();
    let plain = sb.data();
    let weft = Launch::new(&plain).start();
    create_class(&weft, "Article", false);
    insert(&weft, "Article", 10);
    let plain_shard = shard_dir(&weft, &plain, "Article");
    let (status, log) = weft.terminate();
    assert!(status.success(), "{log}");

    let indexed = sb.dir.path().join("indexed");
    let weft = Launch::new(&indexed).start();
    create_class(&weft, "Article", true);
    let indexed_shard = shard_dir(&weft, &indexed, "Article");
    let (status, log) = weft.terminate();
    assert!(status.success(), "{log}");

    std::fs::copy(indexed.join("schema.bin"), plain.join("schema.bin")).expect("copy schema");
    let target = plain.join(indexed_shard.strip_prefix(&indexed).expect("under data"));
    if plain_shard != target {
        std::fs::rename(&plain_shard, &target).expect("rename shard");
    }
    let run = run_verify(&plain);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.count("objects"), Some(10), "{run:?}");
    assert!(run.count("problems").unwrap_or(0) > 0, "{run:?}");
    assert!(run.stdout.contains("index property_tag"), "{run:?}");
    assert!(run.stdout.contains("FAILED"), "{run:?}");
}
