//! Wire-layout tests: hand-built bytes against the generated types, so a wrong field number,
//! wire type or label in proto/ shows up here as well as in `xtask check-protos`.

use std::collections::BTreeMap;

use prost::Message as _;

use super::v1;

/// A length-delimited field: `tag` (already varint-encoded), one length byte, `body`.
fn ld(tag: &[u8], body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128, "test helper only does one-byte lengths");
    let mut out = tag.to_vec();
    out.push(u8::try_from(body.len()).expect("short"));
    out.extend_from_slice(body);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const UUID: &str = "00000000-0000-0000-0000-000000000001";

#[test]
fn batch_objects_request_encodes_to_the_expected_bytes() {
    let mut fields = BTreeMap::new();
    fields.insert(
        "name".to_owned(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue("x".to_owned())),
        },
    );
    let request = v1::BatchObjectsRequest {
        objects: vec![v1::BatchObject {
            uuid: UUID.to_owned(),
            collection: "C".to_owned(),
            vector_bytes: 1.0f32.to_le_bytes().to_vec(),
            properties: Some(v1::batch_object::Properties {
                non_ref_properties: Some(prost_types::Struct { fields }),
                ..Default::default()
            }),
            ..Default::default()
        }],
        consistency_level: Some(v1::ConsistencyLevel::Quorum as i32),
    };

    // google.protobuf.Value{string_value (3) = "x"} inside a map entry {key 1, value 2}
    let value = ld(&[0x1a], b"x");
    let entry = cat(&[&ld(&[0x0a], b"name"), &ld(&[0x12], &value)]);
    let strukt = ld(&[0x0a], &entry); // Struct.fields = 1
    let properties = ld(&[0x0a], &strukt); // Properties.non_ref_properties = 1
    let object = cat(&[
        &ld(&[0x0a], UUID.as_bytes()),           // uuid = 1
        &ld(&[0x1a], &properties),               // properties = 3
        &ld(&[0x22], b"C"),                      // collection = 4
        &ld(&[0x32], &[0x00, 0x00, 0x80, 0x3f]), // vector_bytes = 6, 1.0f32 LE
    ]);
    let expected = cat(&[
        &ld(&[0x0a], &object), // objects = 1
        &[0x10, 0x02],         // consistency_level = 2, QUORUM
    ]);

    let bytes = request.encode_to_vec();
    assert_eq!(bytes, expected);
    assert_eq!(bytes[0], 0x0a, "objects is field 1, wire type LEN");
    assert_eq!(
        v1::BatchObjectsRequest::decode(bytes.as_slice()).expect("decodes"),
        request
    );
}

#[test]
fn consistency_level_absent_is_not_encoded_but_zero_is() {
    // proto3 `optional`: presence survives the wire even for the zero value.
    let unset = v1::BatchObjectsRequest {
        objects: vec![],
        consistency_level: None,
    };
    assert!(unset.encode_to_vec().is_empty());
    let zero = v1::BatchObjectsRequest {
        objects: vec![],
        consistency_level: Some(0),
    };
    assert_eq!(zero.encode_to_vec(), vec![0x10, 0x00]);
    let back = v1::BatchObjectsRequest::decode(&[0x10u8, 0x00][..]).expect("decodes");
    assert_eq!(back.consistency_level, Some(0));
}

#[test]
fn search_request_decodes_from_hand_built_bytes() {
    let mut vector_bytes = Vec::new();
    vector_bytes.extend_from_slice(&1.0f32.to_le_bytes());
    vector_bytes.extend_from_slice(&2.0f32.to_le_bytes());
    let vectors = cat(&[
        &ld(&[0x0a], b"default"),    // name = 1
        &ld(&[0x1a], &vector_bytes), // vector_bytes = 3
        &[0x20, 0x01],               // type = 4, VECTOR_TYPE_SINGLE_FP32
    ]);
    let mut certainty = vec![0x11]; // certainty = 2, wire type I64
    certainty.extend_from_slice(&0.7f64.to_le_bytes());
    let near_vector = cat(&[&certainty, &ld(&[0x4a], &vectors)]); // vectors = 9
    let metadata = [0x08, 0x01, 0x28, 0x01]; // uuid = 1 true, distance = 5 true
    let bytes = cat(&[
        &ld(&[0x0a], b"Things"),          // collection = 1
        &ld(&[0xaa, 0x01], &metadata),    // metadata = 21 -> tag 170
        &[0xf0, 0x01, 0x05],              // limit = 30 -> tag 240, value 5
        &ld(&[0xda, 0x02], &near_vector), // near_vector = 43 -> tag 346
        &[0xb0, 0x06, 0x01],              // uses_127_api = 102 -> tag 816, true
    ]);

    let request = v1::SearchRequest::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(request.collection, "Things");
    assert_eq!(request.limit, 5);
    assert!(request.uses_127_api);
    assert!(!request.uses_123_api && !request.uses_125_api);
    let metadata = request.metadata.as_ref().expect("metadata present");
    assert!(metadata.uuid && metadata.distance && !metadata.vector);
    let nv = request.near_vector.as_ref().expect("near_vector present");
    assert_eq!(nv.certainty, Some(0.7));
    assert_eq!(nv.distance, None);
    assert_eq!(nv.vectors.len(), 1);
    assert_eq!(nv.vectors[0].name, "default");
    assert_eq!(nv.vectors[0].vector_bytes, vector_bytes);
    assert_eq!(nv.vectors[0].r#type(), v1::vectors::VectorType::SingleFp32);
    assert!(request.hybrid_search.is_none() && request.filters.is_none());
    // and it re-encodes to the same bytes (fields in number order, as built)
    assert_eq!(request.encode_to_vec(), bytes);
}

#[test]
fn search_reply_metadata_result_layout() {
    let id: Vec<u8> = (1..=16).collect();
    let metadata = v1::MetadataResult {
        distance: 0.25,
        distance_present: true,
        id_as_bytes: id.clone(),
        ..Default::default()
    };
    let meta_bytes = cat(&[
        &[0x3d, 0x00, 0x00, 0x80, 0x3e], // distance = 7, wire type I32, 0.25f32 LE
        &[0x40, 0x01],                   // distance_present = 8
        &ld(&[0xa2, 0x01], &id),         // id_as_bytes = 20 -> tag 162
    ]);
    assert_eq!(metadata.encode_to_vec(), meta_bytes);

    let mut fields = std::collections::HashMap::new();
    fields.insert(
        "title".to_owned(),
        v1::Value {
            kind: Some(v1::value::Kind::TextValue("hi".to_owned())),
        },
    );
    let reply = v1::SearchReply {
        took: 0.5,
        results: vec![v1::SearchResult {
            properties: Some(v1::PropertiesResult {
                non_ref_props: Some(v1::Properties { fields }),
                ..Default::default()
            }),
            metadata: Some(metadata),
            generative: None,
        }],
        ..Default::default()
    };
    let value = ld(&[0x6a], b"hi"); // Value.text_value = 13
    let entry = cat(&[&ld(&[0x0a], b"title"), &ld(&[0x12], &value)]);
    let props = ld(&[0x0a], &entry); // Properties.fields = 1
    let props_result = ld(&[0x5a], &props); // PropertiesResult.non_ref_props = 11
    let result = cat(&[&ld(&[0x0a], &props_result), &ld(&[0x12], &meta_bytes)]);
    let expected = cat(&[
        &[0x0d, 0x00, 0x00, 0x00, 0x3f], // took = 1, 0.5f32
        &ld(&[0x12], &result),           // results = 2
    ]);
    assert_eq!(reply.encode_to_vec(), expected);
}

#[test]
fn enum_values_match_the_contract() {
    assert_eq!(v1::TenantActivityStatus::Frozen as i32, 4);
    assert_eq!(v1::TenantActivityStatus::Onloading as i32, 11);
    assert_eq!(v1::filters::Operator::Not as i32, 15);
    assert_eq!(
        v1::filters::Operator::IsNull.as_str_name(),
        "OPERATOR_IS_NULL"
    );
    assert_eq!(v1::vectors::VectorType::MultiFp32 as i32, 2);
    assert_eq!(v1::ConsistencyLevel::All as i32, 3);
}

#[test]
fn batch_stream_oneof_tags() {
    let start = v1::BatchStreamRequest {
        message: Some(v1::batch_stream_request::Message::Start(
            v1::batch_stream_request::Start {
                consistency_level: None,
            },
        )),
    };
    assert_eq!(start.encode_to_vec(), vec![0x0a, 0x00]); // start = 1, empty
    let reply = v1::BatchStreamReply {
        message: Some(v1::batch_stream_reply::Message::Backoff(
            v1::batch_stream_reply::Backoff { batch_size: 100 },
        )),
    };
    assert_eq!(reply.encode_to_vec(), vec![0x2a, 0x02, 0x08, 0x64]); // backoff = 5
}

#[test]
fn service_name_is_weaviate_v1() {
    assert_eq!(v1::weaviate_server::SERVICE_NAME, "weaviate.v1.Weaviate");
    assert_eq!(
        <v1::weaviate_server::WeaviateServer<Unimplemented> as tonic::server::NamedService>::NAME,
        "weaviate.v1.Weaviate"
    );
    let _server = v1::weaviate_server::WeaviateServer::new(Unimplemented);
}

/// A server that answers every rpc with UNIMPLEMENTED: shows the trait's shape.
#[derive(Debug)]
struct Unimplemented;

type Res<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl v1::weaviate_server::Weaviate for Unimplemented {
    async fn search(&self, _: tonic::Request<v1::SearchRequest>) -> Res<v1::SearchReply> {
        Err(tonic::Status::unimplemented("search"))
    }
    async fn batch_objects(
        &self,
        _: tonic::Request<v1::BatchObjectsRequest>,
    ) -> Res<v1::BatchObjectsReply> {
        Err(tonic::Status::unimplemented("batch_objects"))
    }
    async fn batch_references(
        &self,
        _: tonic::Request<v1::BatchReferencesRequest>,
    ) -> Res<v1::BatchReferencesReply> {
        Err(tonic::Status::unimplemented("batch_references"))
    }
    async fn batch_delete(
        &self,
        _: tonic::Request<v1::BatchDeleteRequest>,
    ) -> Res<v1::BatchDeleteReply> {
        Err(tonic::Status::unimplemented("batch_delete"))
    }
    async fn tenants_get(
        &self,
        _: tonic::Request<v1::TenantsGetRequest>,
    ) -> Res<v1::TenantsGetReply> {
        Err(tonic::Status::unimplemented("tenants_get"))
    }
    async fn aggregate(&self, _: tonic::Request<v1::AggregateRequest>) -> Res<v1::AggregateReply> {
        Err(tonic::Status::unimplemented("aggregate"))
    }
    type BatchStreamStream = std::pin::Pin<
        Box<
            dyn tonic::codegen::tokio_stream::Stream<
                    Item = Result<v1::BatchStreamReply, tonic::Status>,
                > + Send,
        >,
    >;
    async fn batch_stream(
        &self,
        _: tonic::Request<tonic::Streaming<v1::BatchStreamRequest>>,
    ) -> Res<Self::BatchStreamStream> {
        Err(tonic::Status::unimplemented("batch_stream"))
    }
}

/// A tiny server over real HTTP/2 on loopback: proves the generated server and client stubs
/// agree on paths, codecs and streaming.
mod round_trip {
    use tonic::codegen::tokio_stream::{self, StreamExt as _};
    use tonic::transport::server::TcpIncoming;
    use tonic::transport::{Endpoint, Server};

    use super::{Res, v1};
    use v1::weaviate_client::WeaviateClient;
    use v1::weaviate_server::{Weaviate, WeaviateServer};

    #[derive(Debug)]
    struct Echo;

    #[tonic::async_trait]
    impl Weaviate for Echo {
        async fn search(&self, req: tonic::Request<v1::SearchRequest>) -> Res<v1::SearchReply> {
            let req = req.into_inner();
            let result = v1::SearchResult {
                metadata: Some(v1::MetadataResult {
                    id: req.collection,
                    id_as_bytes: vec![7; 16],
                    ..Default::default()
                }),
                ..Default::default()
            };
            Ok(tonic::Response::new(v1::SearchReply {
                took: 1.5,
                results: vec![result; req.limit as usize],
                ..Default::default()
            }))
        }
        async fn batch_objects(
            &self,
            req: tonic::Request<v1::BatchObjectsRequest>,
        ) -> Res<v1::BatchObjectsReply> {
            let errors = (0..req.into_inner().objects.len())
                .map(|i| v1::batch_objects_reply::BatchError {
                    index: i32::try_from(i).expect("small"),
                    error: "nope".to_owned(),
                })
                .collect();
            Ok(tonic::Response::new(v1::BatchObjectsReply {
                took: 0.0,
                errors,
            }))
        }
        async fn batch_references(
            &self,
            _: tonic::Request<v1::BatchReferencesRequest>,
        ) -> Res<v1::BatchReferencesReply> {
            Err(tonic::Status::unimplemented("batch_references"))
        }
        async fn batch_delete(
            &self,
            _: tonic::Request<v1::BatchDeleteRequest>,
        ) -> Res<v1::BatchDeleteReply> {
            Err(tonic::Status::unimplemented("batch_delete"))
        }
        async fn tenants_get(
            &self,
            _: tonic::Request<v1::TenantsGetRequest>,
        ) -> Res<v1::TenantsGetReply> {
            Err(tonic::Status::unimplemented("tenants_get"))
        }
        async fn aggregate(
            &self,
            _: tonic::Request<v1::AggregateRequest>,
        ) -> Res<v1::AggregateReply> {
            Err(tonic::Status::unimplemented("aggregate"))
        }
        type BatchStreamStream = std::pin::Pin<
            Box<
                dyn tokio_stream::Stream<Item = Result<v1::BatchStreamReply, tonic::Status>> + Send,
            >,
        >;
        /// Acks every object uuid of every Data message.
        async fn batch_stream(
            &self,
            req: tonic::Request<tonic::Streaming<v1::BatchStreamRequest>>,
        ) -> Res<Self::BatchStreamStream> {
            use v1::batch_stream_reply::{Acks, Message};
            let out = req.into_inner().filter_map(|msg| {
                let msg = match msg {
                    Ok(m) => m,
                    Err(status) => return Some(Err(status)),
                };
                match msg.message? {
                    v1::batch_stream_request::Message::Data(data) => {
                        let uuids = data.objects?.values.into_iter().map(|o| o.uuid).collect();
                        Some(Ok(v1::BatchStreamReply {
                            message: Some(Message::Acks(Acks {
                                uuids,
                                beacons: vec![],
                            })),
                        }))
                    }
                    _ => None,
                }
            });
            Ok(tonic::Response::new(Box::pin(out)))
        }
    }

    #[tokio::test]
    async fn generated_client_and_server_talk() {
        let incoming = TcpIncoming::bind(([127, 0, 0, 1], 0).into()).expect("bind loopback");
        let addr = incoming.local_addr().expect("local addr");
        let server = tokio::spawn(
            Server::builder()
                .add_service(WeaviateServer::new(Echo))
                .serve_with_incoming(incoming),
        );
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut client = WeaviateClient::new(channel);

        let reply = client
            .search(v1::SearchRequest {
                collection: "Things".to_owned(),
                limit: 2,
                uses_127_api: true,
                ..Default::default()
            })
            .await
            .expect("search")
            .into_inner();
        assert_eq!(reply.results.len(), 2);
        let meta = reply.results[0].metadata.as_ref().expect("metadata");
        assert_eq!(meta.id, "Things");
        assert_eq!(meta.id_as_bytes, vec![7; 16]);

        let batch = client
            .batch_objects(v1::BatchObjectsRequest {
                objects: vec![v1::BatchObject::default(); 3],
                consistency_level: None,
            })
            .await
            .expect("batch")
            .into_inner();
        assert_eq!(
            batch.errors.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );

        let status = client
            .batch_delete(v1::BatchDeleteRequest::default())
            .await
            .expect_err("unimplemented");
        assert_eq!(status.code(), tonic::Code::Unimplemented);

        let data = |uuid: &str| v1::BatchStreamRequest {
            message: Some(v1::batch_stream_request::Message::Data(
                v1::batch_stream_request::Data {
                    objects: Some(v1::batch_stream_request::data::Objects {
                        values: vec![v1::BatchObject {
                            uuid: uuid.to_owned(),
                            ..Default::default()
                        }],
                    }),
                    references: None,
                },
            )),
        };
        let requests = tokio_stream::iter(vec![data("a"), data("b")]);
        let mut replies = client
            .batch_stream(requests)
            .await
            .expect("stream")
            .into_inner();
        let mut acked = Vec::new();
        while let Some(reply) = replies.message().await.expect("reply") {
            if let Some(v1::batch_stream_reply::Message::Acks(acks)) = reply.message {
                acked.extend(acks.uuids);
            }
        }
        assert_eq!(acked, vec!["a".to_owned(), "b".to_owned()]);
        server.abort();
    }
}
