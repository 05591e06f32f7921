//! Multi-tenancy: one shard per tenant, routed by the request's tenant with Weaviate's errors.
//!
//! A tenant is created by one schema write (its shard directory appears on first use), made
//! inactive by closing its shard (files kept) and writing its status, activated by writing its
//! status (the shard opens on the next use), and removed by writing the schema first and then
//! deleting its directory; a directory of no listed tenant is deleted at the next open. So
//! after any crash a tenant is whole or absent. Startup opens no tenant shard: each opens on
//! its first use (Weaviate's lazy shard loading, always on for tenants).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{Db, drain};
use crate::collection::Collection;
use crate::error::{DbError, UserError};
use crate::schema::validation::validate_tenant_name;
use crate::schema::{ClassDef, TenantStatus, class_dir};

/// Key of a tenant's collection in the collection map (`#` is in neither a class nor a
/// tenant name).
pub(crate) fn tenant_key(class: &str, tenant: &str) -> String {
    format!("{class}#{tenant}")
}

/// One tenant of a create or update request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInput {
    /// Name.
    pub name: String,
    /// Activity status as sent (`ACTIVE`, `INACTIVE`, `HOT`, `COLD`; empty = `ACTIVE`).
    pub status: String,
}

fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

/// Most tenants one update may change (Weaviate's limit).
const MAX_TENANT_UPDATES: usize = 100;

impl Db {
    fn multi_tenant_class(&self, class: &str) -> Result<ClassDef, DbError> {
        let def = self
            .class(class)
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        if !def.multi_tenancy.enabled {
            return Err(invalid(format!(
                "multi-tenancy is not enabled for class {:?}",
                def.name
            )));
        }
        Ok(def)
    }

    fn parse_tenants(
        &self,
        tenants: &[TenantInput],
    ) -> Result<Vec<(String, TenantStatus)>, DbError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(tenants.len());
        let mut bad = Vec::new();
        for (i, t) in tenants.iter().enumerate() {
            validate_tenant_name(i, &t.name)?;
            if !seen.insert(t.name.as_str()) {
                return Err(invalid(format!(
                    "tenant name {} existed multiple times",
                    t.name
                )));
            }
            match TenantStatus::parse(&t.status, &t.name) {
                Ok(status) => out.push((t.name.clone(), status)),
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() {
            bad.dedup();
            return Err(invalid(bad.join(", ")));
        }
        Ok(out)
    }

    /// `POST /v1/schema/{class}/tenants`: adds tenants in one durable schema write; existing
    /// ones are left as they are. Returns the tenants as requested.
    pub fn add_tenants(
        &self,
        class: &str,
        tenants: &[TenantInput],
    ) -> Result<Vec<(String, TenantStatus)>, DbError> {
        let def = self.multi_tenant_class(class)?;
        let parsed = self.parse_tenants(tenants)?;
        let added = self.catalog.add_tenants(&def.name, &parsed)?;
        if !added.is_empty() {
            tracing::info!(
                action = "add_tenants",
                class = %def.name,
                added = added.len(),
                "tenants created"
            );
        }
        Ok(parsed)
    }

    /// `PUT /v1/schema/{class}/tenants`: changes activity statuses (at most 100 at once). A
    /// tenant made inactive has its shard closed (its files kept) before the status is written.
    pub fn update_tenants(
        &self,
        class: &str,
        tenants: &[TenantInput],
    ) -> Result<Vec<(String, TenantStatus)>, DbError> {
        let def = self.multi_tenant_class(class)?;
        if tenants.len() > MAX_TENANT_UPDATES {
            return Err(invalid(format!(
                "maximum number of tenants allowed to be updated simultaneously is \
                 {MAX_TENANT_UPDATES}. Please reduce the number of tenants in your request \
                 and try again"
            )));
        }
        let parsed = self.parse_tenants(tenants)?;
        let known = self.catalog.tenants(&def.name)?;
        if let Some((name, _)) = parsed.iter().find(|(n, _)| !known.contains_key(n)) {
            return Err(invalid(format!("shard not found: {name}")));
        }
        // Closing and the status write happen under the opening and map locks: no request
        // reopens the shard in between.
        let _opening = self.opening.lock();
        let mut map = self.collections.write();
        for (name, status) in &parsed {
            if *status == TenantStatus::Cold {
                let key = tenant_key(&def.name, name);
                drain(&map, &key, "deactivating a tenant", &self.options.data_path)?;
                if let Some(coll) = map.remove(&key)
                    && let Ok(coll) = Arc::try_unwrap(coll)
                {
                    coll.close()?;
                }
            }
        }
        self.catalog.set_tenant_statuses(&def.name, &parsed)?;
        drop(map);
        tracing::info!(
            action = "update_tenants",
            class = %def.name,
            tenants = parsed.len(),
            "tenant statuses changed"
        );
        Ok(parsed)
    }

    /// `DELETE /v1/schema/{class}/tenants`: removes tenants and their data (unknown names are
    /// skipped). The schema is written first; the directories are deleted after.
    pub fn delete_tenants(&self, class: &str, names: &[String]) -> Result<(), DbError> {
        let def = self.multi_tenant_class(class)?;
        if let Some(i) = names.iter().position(String::is_empty) {
            return Err(invalid(format!("empty tenant name at index {i}")));
        }
        let _opening = self.opening.lock();
        let mut map = self.collections.write();
        for name in names {
            let key = tenant_key(&def.name, name);
            drain(&map, &key, "deleting a tenant", &self.options.data_path)?;
            if let Some(coll) = map.remove(&key)
                && let Ok(coll) = Arc::try_unwrap(coll)
            {
                coll.close()?;
            }
        }
        let removed = self.catalog.remove_tenants(&def.name, names)?;
        drop(map);
        let dir = class_dir(&self.options.data_path, &def.name);
        for name in &removed {
            remove_tenant_dir(&dir, name)?;
        }
        if !removed.is_empty() {
            tracing::info!(
                action = "delete_tenants",
                class = %def.name,
                removed = removed.len(),
                "tenants removed with their data"
            );
        }
        Ok(())
    }

    /// The tenants of a multi-tenant class with their statuses.
    pub fn tenants(&self, class: &str) -> Result<BTreeMap<String, TenantStatus>, DbError> {
        let def = self.multi_tenant_class(class)?;
        self.catalog.tenants(&def.name)
    }

    /// The collection serving `class` for `tenant`, with Weaviate's errors for a missing,
    /// unexpected, unknown or inactive tenant. An inactive tenant is activated first when the
    /// class has `autoTenantActivation`; a tenant's shard is opened on its first use.
    pub(crate) fn collection_for(
        &self,
        class: &ClassDef,
        tenant: Option<&str>,
    ) -> Result<Arc<Collection>, DbError> {
        let tenant = tenant.filter(|t| !t.is_empty());
        match (class.multi_tenancy.enabled, tenant) {
            (false, None) => return self.collection(&class.name),
            (false, Some(_)) => {
                return Err(invalid(format!(
                    "class {} has multi-tenancy disabled, but request was with tenant",
                    class.name
                )));
            }
            (true, None) => {
                return Err(invalid(format!(
                    "class {} has multi-tenancy enabled, but request was without tenant",
                    class.name
                )));
            }
            (true, Some(_)) => {}
        }
        let tenant = tenant.unwrap_or_default();
        let key = tenant_key(&class.name, tenant);
        if let Some(coll) = self.collections.read().get(&key).cloned() {
            return Ok(coll);
        }
        let _opening = self.opening.lock();
        if let Some(coll) = self.collections.read().get(&key).cloned() {
            return Ok(coll);
        }
        match self.catalog.tenant(&class.name, tenant) {
            None => return Err(invalid(format!("tenant not found: {tenant:?}"))),
            Some(TenantStatus::Cold) if class.multi_tenancy.auto_tenant_activation => {
                self.catalog
                    .set_tenant_statuses(&class.name, &[(tenant.to_string(), TenantStatus::Hot)])?;
                tracing::info!(
                    action = "activate_tenant",
                    class = %class.name,
                    tenant = %tenant,
                    "tenant activated by a request (autoTenantActivation)"
                );
            }
            Some(TenantStatus::Cold) => {
                return Err(invalid(format!("tenant not active: '{tenant}'")));
            }
            Some(TenantStatus::Hot) => {}
        }
        self.open_tenant(class, tenant, &key)
    }

    /// Runs `f` on a tenant's shard whatever its status (`weft verify`, backups): the open
    /// one, or one opened for `f` alone and closed after (a request for the tenant waits).
    pub(crate) fn with_tenant_shard<T>(
        &self,
        class: &ClassDef,
        tenant: &str,
        f: impl FnOnce(&Collection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let key = tenant_key(&class.name, tenant);
        if let Some(coll) = self.collections.read().get(&key).cloned() {
            return f(&coll);
        }
        let _opening = self.opening.lock();
        if let Some(coll) = self.collections.read().get(&key).cloned() {
            return f(&coll);
        }
        let (coll, _) = Collection::open(
            &self.options.data_path,
            class,
            tenant,
            self.options.storage.clone(),
        )?;
        let out = f(&coll);
        coll.close()?;
        out
    }

    fn open_tenant(
        &self,
        class: &ClassDef,
        tenant: &str,
        key: &str,
    ) -> Result<Arc<Collection>, DbError> {
        let (coll, report) = Collection::open(
            &self.options.data_path,
            class,
            tenant,
            self.options.storage.clone(),
        )?;
        if let Some(message) = report.warning() {
            tracing::warn!(
                action = "lsm_recover_from_active_wal",
                class = %class.name,
                shard = %tenant,
                records = report.records_replayed,
                "{message}"
            );
        }
        let coll = Arc::new(coll);
        self.collections
            .write()
            .insert(key.to_string(), Arc::clone(&coll));
        Ok(coll)
    }

    /// Objects of one shard of `class`, and whether the shard is loaded: a tenant's shard
    /// not opened yet (or inactive) counts 0, not loaded (`/v1/nodes`).
    pub fn shard_object_count(&self, class: &str, shard: &str) -> (u64, bool) {
        let Some(def) = self.class(class) else {
            return (0, false);
        };
        self.open_collections(&def)
            .into_iter()
            .find(|(name, _)| name == shard)
            .map_or((0, false), |(_, c)| (c.object_count(), true))
    }

    /// Whether shard `shard` of `class` is open and holds compressed vectors
    /// (`/v1/nodes` `compressed`).
    pub fn shard_compressed(&self, class: &str, shard: &str) -> bool {
        let Some(def) = self.class(class) else {
            return false;
        };
        self.open_collections(&def)
            .into_iter()
            .find(|(name, _)| name == shard)
            .is_some_and(|(_, c)| c.vectors_compressed())
    }

    /// The open collections of a class: its shard, or its tenants' open shards.
    pub(crate) fn open_collections(&self, class: &ClassDef) -> Vec<(String, Arc<Collection>)> {
        if !class.multi_tenancy.enabled {
            return self
                .collection(&class.name)
                .ok()
                .map(|c| vec![(c.shard_name().to_string(), c)])
                .unwrap_or_default();
        }
        let prefix = tenant_key(&class.name, "");
        let map = self.collections.read();
        let mut out: Vec<(String, Arc<Collection>)> = map
            .iter()
            .filter_map(|(k, c)| {
                k.strip_prefix(&prefix)
                    .map(|t| (t.to_string(), Arc::clone(c)))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Closes every open tenant shard of `class` (a class delete), with the map locked.
    pub(crate) fn close_tenants(
        &self,
        map: &mut crate::db::CollectionMap,
        class: &str,
    ) -> Result<(), DbError> {
        let prefix = tenant_key(class, "");
        let keys: Vec<String> = map
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for key in keys {
            drain(map, &key, "deleting a class", &self.options.data_path)?;
            if let Some(coll) = map.remove(&key)
                && let Ok(coll) = Arc::try_unwrap(coll)
            {
                coll.close()?;
            }
        }
        Ok(())
    }
}

/// Deletes a tenant's directory: renamed to `<name>.deleted` first (one durable rename), then
/// removed, so a crash midway leaves no half tenant under its name.
fn remove_tenant_dir(class_dir: &Path, name: &str) -> Result<(), DbError> {
    let dir = class_dir.join(name);
    if !dir.exists() {
        return Ok(());
    }
    let trash = class_dir.join(format!("{name}.deleted"));
    crate::schema::catalog_file::move_dir_durably(class_dir, &dir, &trash)?;
    crate::schema::catalog_file::remove_dir_durably(class_dir, Some(&trash))
}

/// At open: removes the directories of a multi-tenant class that belong to no listed tenant
/// (removed tenants whose deletion a crash interrupted).
pub(crate) fn sweep_tenant_dirs(
    data_path: &Path,
    class: &ClassDef,
    tenants: &BTreeMap<String, TenantStatus>,
) -> Result<(), DbError> {
    let dir = class_dir(data_path, &class.name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if tenants.contains_key(&name) || !entry.path().is_dir() {
            continue;
        }
        tracing::info!(
            action = "startup",
            class = %class.name,
            directory = %name,
            "removing the data of a removed tenant"
        );
        crate::schema::catalog_file::remove_dir_durably(&dir, Some(&entry.path()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
