//! gRPC wire messages → database values (one module per message family).

pub mod aggregate;
pub mod batch_delete;
pub mod filters;
pub mod search;
pub mod sort;

/// A gRPC `BatchReference` as the beacons `POST /v1/batch/references` takes.
pub fn batch_reference(r: crate::proto::v1::BatchReference) -> weft_db::BatchReference {
    let crate::proto::v1::BatchReference {
        name,
        from_collection,
        from_uuid,
        to_collection,
        to_uuid,
        tenant,
    } = r;
    let to = match to_collection.filter(|c| !c.is_empty()) {
        Some(c) => format!("weaviate://localhost/{c}/{to_uuid}"),
        None => format!("weaviate://localhost/{to_uuid}"),
    };
    weft_db::BatchReference {
        from: format!("weaviate://localhost/{from_collection}/{from_uuid}/{name}"),
        to,
        tenant: (!tenant.is_empty()).then_some(tenant),
    }
}
