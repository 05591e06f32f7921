//! gRPC `BatchDelete` (`collection.data.delete_many`): request → a delete by filter, and the
//! result → the reply Weaviate sends (every handled object counts as successful unless it
//! failed, also in a dry run; per-object results only when `verbose`).

use weft_db::query::{DeleteManyResult, Filter};

use super::filters;
use crate::error::{ErrorCode, WireError};
use crate::proto::v1::{BatchDeleteObject, BatchDeleteReply, BatchDeleteRequest};

/// A planned delete.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletePlan {
    /// The class.
    pub class: String,
    /// Which objects.
    pub filter: Filter,
    /// Per-object results in the reply.
    pub verbose: bool,
    /// List only.
    pub dry_run: bool,
    /// The tenant (multi-tenant classes).
    pub tenant: Option<String>,
}

/// Reads the request; a missing filter is an error.
pub fn plan(req: BatchDeleteRequest) -> Result<DeletePlan, WireError> {
    let BatchDeleteRequest {
        collection,
        filters: wire_filter,
        verbose,
        dry_run,
        consistency_level: _,
        tenant,
    } = req;
    let wire_filter = wire_filter.ok_or_else(|| {
        WireError::new(
            ErrorCode::InvalidInput,
            "no filters in batch delete request",
        )
    })?;
    Ok(DeletePlan {
        class: collection,
        filter: filters::filter(wire_filter)?,
        verbose,
        dry_run,
        tenant: tenant.filter(|t| !t.is_empty()),
    })
}

/// The reply for a result.
pub fn reply(result: DeleteManyResult, verbose: bool, took: f32) -> BatchDeleteReply {
    let failed = result.objects.iter().filter(|(_, e)| e.is_some()).count() as i64;
    let successful = result.objects.len() as i64 - failed;
    let objects = if verbose {
        result
            .objects
            .into_iter()
            .map(|(id, err)| BatchDeleteObject {
                uuid: id.as_bytes().to_vec(),
                successful: err.is_none(),
                error: Some(err.unwrap_or_default()),
            })
            .collect()
    } else {
        Vec::new()
    };
    BatchDeleteReply {
        took,
        failed,
        matches: i64::try_from(result.matches).unwrap_or(i64::MAX),
        successful,
        objects,
    }
}
