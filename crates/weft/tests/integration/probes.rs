//! `/v1`, `/v1/meta`, well-known probes, `/v1/nodes`, and framework-level errors.

use crate::Sandbox;
use crate::server::Launch;

#[test]
fn meta_reports_api_level_and_grpc_size() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data)
        .env("GRPC_MAX_MESSAGE_SIZE", "2000000")
        .start();
    let meta = weft.get("/v1/meta");
    assert_eq!(meta.status, 200);
    let v = meta.json();
    assert_eq!(v["version"], "1.37.0");
    assert_eq!(v["grpcMaxMessageSize"], 2_000_000);
    assert_eq!(v["hostname"], format!("http://127.0.0.1:{}", weft.port));
    assert!(v["modules"].is_object());
    assert!(v["weftVersion"].as_str().is_some_and(|s| !s.is_empty()));
    let root = weft.get("/v1");
    assert_eq!(root.status, 200);
    assert!(
        root.json()["links"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );
}

#[test]
fn probes_answer_like_weaviate() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    assert_eq!(weft.get("/v1/.well-known/live").status, 200);
    assert_eq!(weft.get("/v1/.well-known/ready").status, 200);
    let oidc = weft.get("/v1/.well-known/openid-configuration");
    assert_eq!(oidc.status, 404);
    assert!(oidc.body.is_empty(), "{}", oidc.body);
    let grpc_line = format!("grpc server listening at 127.0.0.1:{}", weft.grpc_port);
    assert!(weft.log_text().contains(&grpc_line), "{}", weft.log_text());
}

#[test]
fn nodes_lists_this_node_with_its_shards() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).env("CLUSTER_HOSTNAME", "weft-a").start();
    assert_eq!(
        weft.post("/v1/schema", r#"{"class":"Article"}"#).status,
        200
    );
    let nodes = weft.get("/v1/nodes").json();
    let node = &nodes["nodes"][0];
    assert_eq!(node["name"], "weft-a");
    assert_eq!(node["status"], "HEALTHY");
    assert_eq!(node["version"], "1.37.0");
    assert_eq!(node["stats"]["shardCount"], 1);
    assert!(node["batchStats"]["queueLength"].is_number());
    assert!(node.get("shards").is_none());
    let verbose = weft.get("/v1/nodes?output=verbose").json();
    assert_eq!(verbose["nodes"][0]["shards"][0]["class"], "Article");
    let bad = weft.get("/v1/nodes?output=loud");
    assert_eq!(bad.status, 422);
    assert!(bad.error_message().contains("output"));
}

#[test]
fn unknown_routes_wrong_methods_and_bad_json() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    let missing = weft.get("/v1/no-such-thing");
    assert_eq!(missing.status, 404);
    assert!(missing.error_message().contains("/v1/no-such-thing"));
    let wrong = weft.request("PATCH", "/v1/meta", Some("{}"));
    assert_eq!(wrong.status, 405);
    assert!(!wrong.error_message().is_empty());
    let bad = weft.post("/v1/schema", "{not json");
    assert_eq!(bad.status, 400);
    assert!(bad.error_message().contains("line 1"), "{}", bad.body);
    let array = weft.post("/v1/schema", "[1,2]");
    assert_eq!(array.status, 422);
    assert!(array.error_message().contains("JSON object"));
    let empty = weft.post("/v1/schema", "");
    assert_eq!(empty.status, 422);
}
