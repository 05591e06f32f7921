//! `weaviate.v1.Weaviate` over real HTTP/2 on loopback with a real database in a temp dir.

use std::sync::Arc;

use prost_types::value::Kind;
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use uuid::Uuid;
use weft_api::proto::v1::batch_object::Properties;
use weft_api::proto::v1::weaviate_client::WeaviateClient;
use weft_api::proto::v1::{BatchDeleteRequest, BatchObject, BatchObjectsRequest};
use weft_db::{Db, DbOptions};

use super::weaviate_service;
use crate::{AppState, ServerInfo};

struct Harness {
    client: WeaviateClient<Channel>,
    db: Option<Arc<Db>>,
    _dir: tempfile::TempDir,
}

/// A server on a free port; `with_db: false` leaves the database "loading".
async fn start(info: ServerInfo, with_db: bool) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = AppState::new(info);
    let db = with_db.then(|| {
        let db = Arc::new(Db::open(DbOptions::new(dir.path(), "node1")).expect("open db"));
        state.set_db(Arc::clone(&db));
        db
    });
    let incoming = TcpIncoming::bind(([127, 0, 0, 1], 0).into()).expect("bind loopback");
    let addr = incoming.local_addr().expect("local addr");
    tokio::spawn(
        Server::builder()
            .add_service(weaviate_service(state))
            .serve_with_incoming(incoming),
    );
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let client = WeaviateClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    Harness {
        client,
        db,
        _dir: dir,
    }
}

fn number(x: f64) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::NumberValue(x)),
    }
}

fn text(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

fn obj(id: Uuid, fields: Vec<(&str, prost_types::Value)>, vector: &[f32]) -> BatchObject {
    let fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    BatchObject {
        uuid: id.to_string(),
        collection: "article".to_owned(),
        vector_bytes: vector.iter().flat_map(|x| x.to_le_bytes()).collect(),
        properties: Some(Properties {
            non_ref_properties: Some(prost_types::Struct { fields }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_objects_writes_and_reports_failures_by_index() {
    let mut h = start(ServerInfo::for_tests(), true).await;
    let ids: Vec<Uuid> = (1..=5).map(|i| Uuid::from_u128(0xa000 + i)).collect();
    let objects = vec![
        obj(
            ids[0],
            vec![("title", text("a")), ("count", number(1.0))],
            &[1.0, 2.0],
        ),
        BatchObject {
            uuid: "nope".to_owned(),
            collection: "Article".to_owned(),
            ..Default::default()
        },
        obj(ids[2], vec![("title", text("c"))], &[3.0, 4.0]),
        // `count` is a number (autoschema from index 0): a string fails this object only.
        obj(ids[3], vec![("count", text("many"))], &[5.0, 6.0]),
        obj(ids[4], vec![], &[f32::NAN, 0.0]),
    ];
    let reply = h
        .client
        .batch_objects(BatchObjectsRequest {
            objects,
            consistency_level: None,
        })
        .await
        .expect("batch call")
        .into_inner();
    let failed: Vec<i32> = reply.errors.iter().map(|e| e.index).collect();
    assert_eq!(failed, vec![1, 3, 4], "{:?}", reply.errors);
    assert!(reply.errors[0].error.contains("invalid uuid"));
    assert!(
        reply.errors[1].error.contains("count"),
        "{}",
        reply.errors[1].error
    );
    assert!(
        reply.errors[2].error.contains("NaN"),
        "{}",
        reply.errors[2].error
    );
    assert!(reply.took >= 0.0);

    let db = h.db.take().expect("db");
    let stored = tokio::task::spawn_blocking(move || {
        [0, 2, 3, 4].map(|i| db.get_object("Article", ids[i], true).expect("get"))
    })
    .await
    .expect("join");
    let first = stored[0].as_ref().expect("object 0 stored");
    assert_eq!(first.properties["title"], "a");
    assert_eq!(first.vectors.get(""), Some(&vec![1.0, 2.0]));
    assert!(stored[1].is_some(), "object 2 stored");
    assert!(
        stored[2].is_none() && stored[3].is_none(),
        "failed objects are not stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_batch_is_fine() {
    let mut h = start(ServerInfo::for_tests(), true).await;
    let reply = h
        .client
        .batch_objects(BatchObjectsRequest::default())
        .await
        .expect("batch call")
        .into_inner();
    assert!(reply.errors.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn loading_database_answers_unavailable() {
    let mut h = start(ServerInfo::for_tests(), false).await;
    let request = BatchObjectsRequest {
        objects: vec![obj(Uuid::from_u128(1), vec![], &[1.0])],
        consistency_level: None,
    };
    let status = h
        .client
        .batch_objects(request)
        .await
        .expect_err("not loaded");
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test(flavor = "multi_thread")]
async fn message_size_limit_comes_from_server_info() {
    // Above tonic's 4 MiB default, below GRPC_MAX_MESSAGE_SIZE (100 MB): accepted.
    let mut h = start(ServerInfo::for_tests(), true).await;
    let big: Vec<BatchObject> = (0..40u128)
        .map(|i| obj(Uuid::from_u128(i + 1), vec![], &vec![0.5; 32 * 1024]))
        .collect();
    let request = BatchObjectsRequest {
        objects: big,
        consistency_level: None,
    };
    assert!(prost::Message::encoded_len(&request) > 5 * 1024 * 1024);
    let reply = h
        .client
        .batch_objects(request.clone())
        .await
        .expect("accepted")
        .into_inner();
    assert!(reply.errors.is_empty(), "{:?}", reply.errors);

    // Over a small configured limit: refused, and never with the retried UNAVAILABLE.
    let info = ServerInfo {
        grpc_max_message_size: 64 * 1024,
        ..ServerInfo::for_tests()
    };
    let mut small = start(info, true).await;
    let status = small
        .client
        .batch_objects(request)
        .await
        .expect_err("too large");
    // tonic's code for an oversized message (grpc-go says RESOURCE_EXHAUSTED); clients only
    // treat UNAVAILABLE specially.
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("65536"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn other_methods_are_unimplemented() {
    let mut h = start(ServerInfo::for_tests(), true).await;
    // TenantsGet of an unknown class: a request error.
    let status = h
        .client
        .tenants_get(weft_api::proto::v1::TenantsGetRequest::default())
        .await
        .expect_err("no class");
    assert_ne!(status.code(), Code::Unimplemented);
    assert_ne!(status.code(), Code::Unavailable);
    // A batch delete without a filter is a request error, not a missing method.
    let status = h
        .client
        .batch_delete(BatchDeleteRequest::default())
        .await
        .expect_err("no filter");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("no filters"),
        "{}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn search_maps_errors_through_the_table_and_never_to_unavailable() {
    let mut h = start(ServerInfo::for_tests(), true).await;
    let db = h.db.clone().expect("db");
    let input = weft_db::object::ObjectInput {
        class: "Article".to_string(),
        id: Some(Uuid::from_u128(1)),
        properties: serde_json::json!({"title": "a"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        vector: Some(vec![1.0, 0.0]),
        ..weft_db::object::ObjectInput::default()
    };
    db.put_object(input, weft_db::object::WriteMode::Upsert)
        .expect("insert");
    let request = |c: &str| weft_api::proto::v1::SearchRequest {
        collection: c.to_string(),
        uses_123_api: true,
        uses_125_api: true,
        uses_127_api: true,
        ..Default::default()
    };
    let reply = h
        .client
        .search(request("Article"))
        .await
        .expect("search")
        .into_inner();
    assert_eq!(reply.results.len(), 1);
    assert!(reply.took >= 0.0);
    let missing = h
        .client
        .search(request("Missing"))
        .await
        .expect_err("no such class");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let mut bm25 = request("Article");
    bm25.bm25_search = Some(weft_api::proto::v1::Bm25::default());
    let refused = h.client.search(bm25).await.expect_err("empty bm25 query");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "keyword search (bm25) must have query set"
    );
    let mut near_text = request("Article");
    near_text.near_text = Some(Default::default());
    let refused = h.client.search(near_text).await.expect_err("near_text");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.message(), "near_text is not supported by weft yet");
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_references_add_beacons_and_report_failures_by_index() {
    use weft_db::schema::{ClassDef, DataType, PropertyDef};
    let mut h = start(ServerInfo::for_tests(), true).await;
    let db = h.db.clone().expect("db");
    db.create_class(ClassDef::new("Author")).expect("author");
    let mut book = ClassDef::new("Book");
    book.properties = vec![PropertyDef::new(
        "writtenBy",
        DataType::Reference(vec!["Author".into()]),
    )];
    db.create_class(book).expect("book");
    for (class, id) in [("Author", 1u128), ("Book", 2)] {
        let input = weft_db::object::ObjectInput {
            class: class.to_string(),
            id: Some(Uuid::from_u128(id)),
            ..weft_db::object::ObjectInput::default()
        };
        db.put_object(input, weft_db::object::WriteMode::Upsert)
            .expect("insert");
    }
    let reference = |from: u128| weft_api::proto::v1::BatchReference {
        name: "writtenBy".into(),
        from_collection: "Book".into(),
        from_uuid: Uuid::from_u128(from).to_string(),
        to_collection: None,
        to_uuid: Uuid::from_u128(1).to_string(),
        tenant: String::new(),
    };
    let reply = h
        .client
        .batch_references(weft_api::proto::v1::BatchReferencesRequest {
            references: vec![reference(2), reference(99)],
            consistency_level: None,
        })
        .await
        .expect("batch references")
        .into_inner();
    assert_eq!(reply.errors.len(), 1);
    assert_eq!(reply.errors[0].index, 1);
    assert!(
        reply.errors[0].error.contains("not found"),
        "{}",
        reply.errors[0].error
    );
    let stored = db
        .get_object("Book", Uuid::from_u128(2), false)
        .expect("get")
        .expect("book");
    assert_eq!(
        stored.properties["writtenBy"],
        serde_json::json!([{"beacon": format!("weaviate://localhost/Author/{}", Uuid::from_u128(1))}])
    );
}
