//! Object operations of [`Db`]: validation against the schema (with autoschema), then one
//! durable batch per class.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::Db;
use crate::collection::{Collection, PreparedWrite};
use crate::error::{DbError, UserError};
use crate::object::coerce::{
    coerce_properties, infer_property, no_such_property, unknown_properties,
};
use crate::object::{LEGACY_VECTOR, ListRequest, ObjectInput, StoredObject, WriteMode};
use crate::schema::validation::uppercase_first;
use crate::schema::{ClassDef, ShardState, VectorSetup};

mod references;
pub use references::BatchReference;
use references::Staged;

/// Inputs of one (class, tenant), with their positions in the call.
type Group = Vec<(usize, ObjectInput)>;

/// Status reason of a shard set READONLY because a write failed in the storage engine.
pub const STORAGE_FAILURE: &str = "storage failure (disk full or I/O error)";

impl Db {
    /// Writes one object (see [`Db::put_objects`]).
    pub fn put_object(&self, input: ObjectInput, mode: WriteMode) -> Result<StoredObject, DbError> {
        self.put_objects(vec![input], mode)
            .pop()
            .unwrap_or_else(|| Err(UserError::Invalid("no object given".into()).into()))
    }

    /// Validates and writes objects; one result per input, in order. Objects of one class are
    /// written in one durable batch (one WAL record): when this returns, every `Ok` is durable.
    pub fn put_objects(
        &self,
        inputs: Vec<ObjectInput>,
        mode: WriteMode,
    ) -> Vec<Result<StoredObject, DbError>> {
        let n = inputs.len();
        let mut results: Vec<Option<Result<StoredObject, DbError>>> =
            (0..n).map(|_| None).collect();
        let mut groups: BTreeMap<(String, Option<String>), Group> = BTreeMap::new();
        let staged: Staged = inputs
            .iter()
            .filter_map(|i| Some((uppercase_first(&i.class), i.id?)))
            .collect();
        for (i, input) in inputs.into_iter().enumerate() {
            if input.class.is_empty() {
                results[i] = Some(Err(UserError::Invalid(
                    "invalid object: the given class is empty".into(),
                )
                .into()));
            } else {
                let tenant = input.tenant.clone().filter(|t| !t.is_empty());
                groups
                    .entry((uppercase_first(&input.class), tenant))
                    .or_default()
                    .push((i, input));
            }
        }
        for ((name, tenant), items) in groups {
            for (i, result) in self.put_group(&name, tenant.as_deref(), items, mode, &staged) {
                results[i] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(UserError::Invalid("object was not processed".into()).into())
                })
            })
            .collect()
    }

    fn put_group(
        &self,
        name: &str,
        tenant: Option<&str>,
        items: Vec<(usize, ObjectInput)>,
        mode: WriteMode,
        staged: &Staged,
    ) -> Vec<(usize, Result<StoredObject, DbError>)> {
        let fail_all = |items: Vec<(usize, ObjectInput)>, err: DbError| {
            let shared = Arc::new(err);
            items
                .into_iter()
                .map(|(i, _)| (i, Err(DbError::Batch(Arc::clone(&shared)))))
                .collect()
        };
        let class = match self.ensure_schema(name, &items) {
            Ok(class) => class,
            Err(err) => return fail_all(items, err),
        };
        if let Err(err) = self.auto_create_tenant(&class, tenant) {
            return fail_all(items, err);
        }
        let coll = match self.collection_for(&class, tenant) {
            Ok(coll) => coll,
            Err(err) => return fail_all(items, err),
        };
        if let Err(err) = self.check_writable(&class.name, &coll) {
            return fail_all(items, err);
        }
        let mut out = Vec::with_capacity(items.len());
        let mut writes = Vec::new();
        let mut slots = Vec::new();
        for (i, input) in items {
            match prepare(&class, input)
                .and_then(|w| self.check_targets(&class, &w, staged, tenant).map(|()| w))
            {
                Ok(w) => {
                    writes.push(w);
                    slots.push(i);
                }
                Err(err) => out.push((i, Err(err))),
            }
        }
        if writes.is_empty() {
            return out;
        }
        match coll.put(&class, writes, mode) {
            Ok(results) => out.extend(slots.into_iter().zip(results)),
            Err(err) => {
                self.note_storage_failure(&class.name, &coll, &err);
                let shared = Arc::new(err);
                out.extend(
                    slots
                        .into_iter()
                        .map(|i| (i, Err(DbError::Batch(Arc::clone(&shared))))),
                );
            }
        }
        out
    }

    /// After a failed write that poisoned the shard (a full disk, an I/O error), the shard is
    /// set READONLY so that later writes fail fast with a clear reason instead of each
    /// hitting the poisoned engine; [`Db::recover_shard`] brings it back.
    fn note_storage_failure(&self, class: &str, coll: &Collection, err: &DbError) {
        if !coll.is_poisoned() {
            return;
        }
        let reason = format!("{}: {}", STORAGE_FAILURE, crate::error::chain(err));
        tracing::error!(
            action = "set_shard_read_only",
            class = %class,
            shard = %coll.shard_name(),
            "write failed and the shard is set READONLY: {reason}"
        );
        let _ = self.catalog.set_shard_status(
            class,
            coll.shard_name(),
            ShardState::ReadOnly,
            STORAGE_FAILURE,
        );
    }

    /// Reopens the shards of `class` that a storage failure poisoned (recovering from what is
    /// durable) and sets shards READONLY because of that failure back to READY.
    /// Returns whether a shard was reopened. The disk-use monitor calls this once space is
    /// available again.
    pub fn recover_shard(&self, class: &str) -> Result<bool, DbError> {
        self.shard_registry().recover(class)
    }

    /// A READONLY shard refuses writes with Weaviate's message.
    pub(crate) fn check_writable(&self, class: &str, coll: &Collection) -> Result<(), DbError> {
        let status = self.catalog.shards(class)?;
        if let Some(shard) = status.iter().find(|s| s.name == coll.shard_name())
            && shard.status == ShardState::ReadOnly
        {
            return Err(DbError::ReadOnly {
                reason: shard.reason.clone(),
            });
        }
        Ok(())
    }

    /// The class `name`, created (autoschema) when missing, with every property of `items`
    /// added (autoschema) when unknown.
    fn ensure_schema(
        &self,
        name: &str,
        items: &[(usize, ObjectInput)],
    ) -> Result<ClassDef, DbError> {
        let autoschema = self.options.autoschema;
        let class = match self.class(name) {
            Some(class) => class,
            None if autoschema => {
                let mut class = ClassDef::new(name);
                for (_, item) in items {
                    for (prop, value) in &item.properties {
                        if class.property(prop).is_none() {
                            class.properties.extend(infer_property(prop, value));
                        }
                    }
                }
                match self.create_class(class) {
                    Ok(class) => {
                        tracing::info!(action = "autoschema", class = %class.name, "class created by autoschema");
                        class
                    }
                    // Another writer created it first.
                    Err(err) => self.class(name).ok_or(err)?,
                }
            }
            None => {
                return Err(UserError::Invalid(format!(
                    "invalid object: class {name:?} not found in schema"
                ))
                .into());
            }
        };
        if !autoschema {
            return Ok(class);
        }
        let mut added = false;
        for (_, item) in items {
            let current = if added {
                self.class(&class.name).unwrap_or_else(|| class.clone())
            } else {
                class.clone()
            };
            for prop in unknown_properties(&current, &item.properties) {
                let Some(value) = item.properties.get(prop) else {
                    continue;
                };
                let Some(def) = infer_property(prop, value) else {
                    continue;
                };
                match self.add_property(&class.name, def) {
                    Ok(_) => added = true,
                    Err(err) => {
                        // Added concurrently by another writer: fine; otherwise report.
                        let now = self.class(&class.name);
                        if now.as_ref().and_then(|c| c.property(prop)).is_none() {
                            return Err(err);
                        }
                        added = true;
                    }
                }
            }
        }
        Ok(if added {
            self.class(&class.name).unwrap_or(class)
        } else {
            class
        })
    }

    /// Checks an object against the schema without writing (`POST /v1/objects/validate`).
    pub fn validate_object(&self, input: &ObjectInput) -> Result<(), DbError> {
        let name = uppercase_first(&input.class);
        let class = self.class(&name).ok_or_else(|| {
            UserError::Invalid(format!(
                "invalid object: class {name:?} not found in schema"
            ))
        })?;
        let mut known = input.clone();
        if self.options.autoschema {
            known.properties.retain(|k, _| class.property(k).is_some());
        }
        prepare(&class, known).map(|_| ())
    }

    /// With `autoTenantCreation`, a write to a tenant the class does not have creates it.
    fn auto_create_tenant(&self, class: &ClassDef, tenant: Option<&str>) -> Result<(), DbError> {
        let Some(tenant) = tenant else {
            return Ok(());
        };
        if class.multi_tenancy.enabled
            && class.multi_tenancy.auto_tenant_creation
            && self.catalog.tenant(&class.name, tenant).is_none()
        {
            self.add_tenants(
                &class.name,
                &[crate::TenantInput {
                    name: tenant.to_string(),
                    status: String::new(),
                }],
            )?;
            tracing::info!(action = "auto_tenant_creation", class = %class.name, tenant = %tenant, "tenant created by a write");
        }
        Ok(())
    }

    /// Reads one object of a single-tenant class.
    pub fn get_object(
        &self,
        class: &str,
        id: Uuid,
        with_vectors: bool,
    ) -> Result<Option<StoredObject>, DbError> {
        self.get_object_in(class, id, with_vectors, None)
    }

    /// Reads one object (of `tenant` in a multi-tenant class).
    pub fn get_object_in(
        &self,
        class: &str,
        id: Uuid,
        with_vectors: bool,
        tenant: Option<&str>,
    ) -> Result<Option<StoredObject>, DbError> {
        let Some(class) = self.class(class) else {
            return Ok(None);
        };
        self.collection_for(&class, tenant)?.get(id, with_vectors)
    }

    /// Deletes one object of a single-tenant class; `false` if there was none.
    pub fn delete_object(&self, class: &str, id: Uuid) -> Result<bool, DbError> {
        self.delete_object_in(class, id, None)
    }

    /// Deletes one object (of `tenant` in a multi-tenant class); `false` if there was none.
    pub fn delete_object_in(
        &self,
        class: &str,
        id: Uuid,
        tenant: Option<&str>,
    ) -> Result<bool, DbError> {
        let Some(class) = self.class(class) else {
            return Ok(false);
        };
        let coll = self.collection_for(&class, tenant)?;
        self.check_writable(&class.name, &coll)?;
        coll.delete(&class, id)
    }

    /// Lists objects of one class, or of all classes (in class order) when none is given.
    pub fn list_objects(
        &self,
        req: &ListRequest,
        with_vectors: bool,
    ) -> Result<Vec<StoredObject>, DbError> {
        let classes: Vec<ClassDef> = match &req.class {
            Some(name) => vec![
                self.class(name)
                    .ok_or_else(|| UserError::ClassNotFound(name.clone()))?,
            ],
            None => {
                if req.after.is_some() {
                    return Err(UserError::Invalid(
                        "the 'after' parameter requires the 'class' parameter".into(),
                    )
                    .into());
                }
                self.classes()
            }
        };
        let mut out = Vec::new();
        let mut skip = req.offset;
        for class in classes {
            let remaining = req.limit.saturating_sub(out.len() as u64);
            if remaining == 0 {
                break;
            }
            let tenant = req.tenant.as_deref();
            if class.multi_tenancy.enabled != tenant.is_some_and(|t| !t.is_empty())
                && req.class.is_none()
            {
                // Listing every class: the ones the tenant does not apply to are skipped.
                continue;
            }
            let coll = self.collection_for(&class, tenant)?;
            let page = coll.list(req.after, skip, remaining, with_vectors)?;
            // The offset is consumed across classes.
            let seen = coll.object_count();
            skip = skip.saturating_sub(seen);
            out.extend(page);
        }
        Ok(out)
    }
}

/// Coerces properties and checks vectors of one object against its class.
fn prepare(class: &ClassDef, mut input: ObjectInput) -> Result<PreparedWrite, DbError> {
    // Unknown properties with empty values cannot be inferred and are ignored (Weaviate too).
    input.properties.retain(|k, v| {
        class.property(k).is_some() || !matches!(v, Value::Array(a) if a.is_empty())
    });
    if let Some(unknown) = unknown_properties(class, &input.properties).first() {
        return Err(no_such_property(&class.name, unknown).into());
    }
    let properties = coerce_properties(class, &input.properties)?;
    let mut vectors = BTreeMap::new();
    let legacy = input.vector.filter(|v| !v.is_empty());
    match &class.vectors {
        VectorSetup::Legacy { .. } => {
            if let Some(name) = input.vectors.keys().next() {
                return Err(UserError::Invalid(format!(
                    "class {} has no named vectors, but the object has vector {name:?}; send \"vector\"",
                    class.name
                ))
                .into());
            }
            if let Some(v) = legacy {
                vectors.insert(LEGACY_VECTOR.to_string(), v);
            }
        }
        VectorSetup::Named(named) => {
            for (name, v) in input.vectors {
                if !named.contains_key(&name) {
                    return Err(UserError::Invalid(format!(
                        "class {} has no named vector {name:?}",
                        class.name
                    ))
                    .into());
                }
                if !v.is_empty() {
                    vectors.insert(name, v);
                }
            }
            if let Some(v) = legacy {
                match (named.len(), named.keys().next()) {
                    (1, Some(only)) if !vectors.contains_key(only) => {
                        vectors.insert(only.clone(), v);
                    }
                    _ => {
                        return Err(UserError::Invalid(format!(
                            "class {} has named vectors; send \"vectors\" with their names",
                            class.name
                        ))
                        .into());
                    }
                }
            }
        }
    }
    if let Some((name, _)) = vectors
        .iter()
        .find(|(_, v)| v.iter().any(|x| !x.is_finite()))
    {
        return Err(
            UserError::Invalid(format!("vector {name:?} contains NaN or infinite values")).into(),
        );
    }
    Ok(PreparedWrite {
        id: input.id.unwrap_or_else(Uuid::new_v4),
        properties,
        vectors,
    })
}

#[cfg(test)]
mod tests;
