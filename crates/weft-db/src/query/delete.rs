//! Deleting the objects a filter matches (`delete_many`, gRPC `BatchDelete`, REST
//! `DELETE /v1/batch/objects`): at most `QUERY_MAXIMUM_RESULTS` of them per call, written in
//! atomic batches, so a crash leaves every matched object entirely there or entirely gone.

use uuid::Uuid;

use super::filter::Filter;
use crate::Db;
use crate::error::{DbError, UserError};

/// Objects deleted per write batch (one WAL record each).
const CHUNK: usize = 1000;

/// What a delete by filter did.
#[derive(Debug, Default)]
pub struct DeleteManyResult {
    /// Objects the filter matched (all of them, also those beyond the limit).
    pub matches: u64,
    /// The most one call deletes (`QUERY_MAXIMUM_RESULTS`).
    pub limit: u64,
    /// Nothing was deleted: the objects are only listed.
    pub dry_run: bool,
    /// Each object handled: its id and `None`, or the error that kept it.
    pub objects: Vec<(Uuid, Option<String>)>,
}

impl Db {
    /// Deletes (or with `dry_run` lists) the objects of single-tenant `class` matching
    /// `filter`.
    pub fn delete_many(
        &self,
        class: &str,
        filter: &Filter,
        dry_run: bool,
        limit: u64,
    ) -> Result<DeleteManyResult, DbError> {
        self.delete_many_in(class, filter, dry_run, limit, None)
    }

    /// [`Db::delete_many`] in `tenant` of a multi-tenant class.
    pub fn delete_many_in(
        &self,
        class: &str,
        filter: &Filter,
        dry_run: bool,
        limit: u64,
        tenant: Option<&str>,
    ) -> Result<DeleteManyResult, DbError> {
        let class = self
            .class(class)
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        let coll = self.collection_for(&class, tenant)?;
        let matched = self.filter_ids(&coll, &class, filter, tenant)?;
        if !dry_run {
            self.check_writable(&class.name, &coll)?;
        }
        let mut ids = Vec::new();
        for doc_id in matched
            .iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            if let Some(obj) = coll.by_doc_id(doc_id, false)? {
                ids.push(obj.id);
            }
        }
        let mut out = DeleteManyResult {
            matches: matched.len(),
            limit,
            dry_run,
            objects: Vec::with_capacity(ids.len()),
        };
        if dry_run {
            out.objects = ids.into_iter().map(|id| (id, None)).collect();
            return Ok(out);
        }
        for chunk in ids.chunks(CHUNK) {
            match coll.delete_many(&class, chunk) {
                Ok(_) => out.objects.extend(chunk.iter().map(|&id| (id, None))),
                Err(err) => {
                    let msg = crate::error::chain(&err);
                    out.objects
                        .extend(chunk.iter().map(|&id| (id, Some(msg.clone()))));
                }
            }
        }
        Ok(out)
    }
}
