//! Cross-reference writes of [`Db`]: the single-reference endpoints (`POST`, `PUT`, `DELETE
//! /v1/objects/{class}/{id}/references/{prop}`), `POST /v1/batch/references`, and the target
//! existence check of object writes. Each change is a new version of the source object written
//! under the collection's writer lock, in one WAL record with its index changes, so an
//! acknowledged reference survives a crash and concurrent changes never lose each other.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Db;
use crate::collection::{PreparedWrite, RefEdit, RefOp};
use crate::error::{DbError, UserError};
use crate::object::beacon::{Beacon, SourceBeacon};
use crate::object::coerce::{complete_beacon, no_such_property, reference_beacon, stored_beacons};
use crate::schema::validation::uppercase_first;
use crate::schema::{ClassDef, DataType, PropertyDef};

/// One reference of `POST /v1/batch/references`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReference {
    /// Source beacon, long form: `weaviate://localhost/<Class>/<uuid>/<property>`.
    pub from: String,
    /// Target beacon.
    pub to: String,
    /// The tenant of source and target (multi-tenant classes).
    pub tenant: Option<String>,
}

/// Objects written in the same call, by class: references to them count as existing.
pub(crate) type Staged = HashSet<(String, Uuid)>;

fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

fn reference_property<'a>(class: &'a ClassDef, name: &str) -> Result<&'a PropertyDef, DbError> {
    let prop = class
        .property(name)
        .ok_or_else(|| DbError::from(no_such_property(&class.name, name)))?;
    if !prop.is_reference() {
        return Err(invalid(format!(
            "property '{}' is not a reference-type",
            prop.name
        )));
    }
    Ok(prop)
}

fn targets(prop: &PropertyDef) -> &[String] {
    match &prop.data_type {
        DataType::Reference(t) => t,
        DataType::Primitive(_) => &[],
    }
}

fn beacon_value(beacon: &Beacon) -> Value {
    let mut m = Map::new();
    m.insert("beacon".into(), Value::String(beacon.to_string()));
    Value::Object(m)
}

impl Db {
    /// The class of a references endpoint: 422 when missing (Weaviate's wording).
    fn reference_class(&self, class: &str) -> Result<ClassDef, DbError> {
        let name = uppercase_first(class);
        self.class(&name)
            .ok_or_else(|| invalid(format!("collection {name:?} not found in schema")))
    }

    /// Whether the object a beacon names exists (in its class, or in any class for a
    /// class-less beacon), or is written in the same call.
    pub(crate) fn target_exists(
        &self,
        beacon: &Beacon,
        staged: &Staged,
        tenant: Option<&str>,
    ) -> Result<bool, DbError> {
        if let Some(c) = &beacon.class
            && staged.contains(&(c.clone(), beacon.id))
        {
            return Ok(true);
        }
        let classes: Vec<ClassDef> = match &beacon.class {
            Some(c) => self.class(c).into_iter().collect(),
            None => self.classes(),
        };
        for def in classes {
            if staged.contains(&(def.name.clone(), beacon.id)) {
                return Ok(true);
            }
            if self
                .reference_collection(&def, tenant)?
                .get(beacon.id, false)?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The collection a reference's target is looked up in: the source's tenant for a
    /// multi-tenant target class; a single-tenant class ignores it (references from tenants to
    /// shared classes).
    pub(crate) fn reference_collection(
        &self,
        target: &ClassDef,
        tenant: Option<&str>,
    ) -> Result<std::sync::Arc<crate::collection::Collection>, DbError> {
        if target.multi_tenancy.enabled {
            if tenant.is_none_or(str::is_empty) {
                return Err(invalid(
                    "invalid reference: cannot reference a multi-tenant enabled class from a \
                     non multi-tenant enabled class"
                        .into(),
                ));
            }
            self.collection_for(target, tenant)
        } else {
            self.collection_for(target, None)
        }
    }

    /// The first reference of `write` whose target does not exist, as Weaviate's error
    /// (`'cref' <Class>:<prop>: no object with id <id> found`).
    pub(crate) fn check_targets(
        &self,
        class: &ClassDef,
        write: &PreparedWrite,
        staged: &Staged,
        tenant: Option<&str>,
    ) -> Result<(), DbError> {
        for prop in class.properties.iter().filter(|p| p.is_reference()) {
            for beacon in stored_beacons(write.properties.get(&prop.name)) {
                if !self.target_exists(&beacon, staged, tenant)? {
                    return Err(invalid(format!(
                        "'cref' {}:{}: no object with id {} found",
                        class.name, prop.name, beacon.id
                    )));
                }
            }
        }
        Ok(())
    }

    fn edit_one(
        &self,
        class: &ClassDef,
        edit: RefEdit,
        tenant: Option<&str>,
    ) -> Result<(), DbError> {
        let coll = self.collection_for(class, tenant)?;
        self.check_writable(&class.name, &coll)?;
        let mut results = coll.edit_references(class, vec![edit])?;
        results
            .pop()
            .unwrap_or_else(|| Err(invalid("reference was not processed".into())))
            .map(|_| ())
    }

    /// The target of a references endpoint must exist (Weaviate's `validate reference` error).
    fn require_target(&self, beacon: &Beacon, tenant: Option<&str>) -> Result<(), DbError> {
        if !self.target_exists(beacon, &Staged::new(), tenant)? {
            return Err(invalid(format!(
                "validate reference: no object with id {} found",
                beacon.id
            )));
        }
        Ok(())
    }

    /// The source object of a references endpoint must exist (404 otherwise).
    fn require_source(
        &self,
        class: &ClassDef,
        id: Uuid,
        tenant: Option<&str>,
    ) -> Result<(), DbError> {
        if self
            .collection_for(class, tenant)?
            .get(id, false)?
            .is_none()
        {
            return Err(UserError::ObjectNotFound {
                class: class.name.clone(),
                id,
            }
            .into());
        }
        Ok(())
    }

    /// A checked, completed beacon of the references endpoints.
    fn endpoint_beacon(
        &self,
        class: &ClassDef,
        prop: &PropertyDef,
        reference: &Value,
    ) -> Result<Beacon, DbError> {
        let Value::Object(map) = reference else {
            return Err(invalid(format!(
                "reference property is not a map: {}",
                json_kind(reference)
            )));
        };
        let beacon = reference_beacon(&class.name, &prop.name, map)?;
        Ok(complete_beacon(beacon, targets(prop)))
    }

    /// `POST /v1/objects/{class}/{id}/references/{prop}`: appends one reference; its target
    /// must exist.
    pub fn add_reference(
        &self,
        class: &str,
        id: Uuid,
        property: &str,
        reference: &Value,
        tenant: Option<&str>,
    ) -> Result<(), DbError> {
        let class = self.reference_class(class)?;
        let prop = reference_property(&class, property)?;
        let beacon = self.endpoint_beacon(&class, prop, reference)?;
        self.require_target(&beacon, tenant)?;
        let edit = RefEdit {
            id,
            property: prop.name.clone(),
            op: RefOp::Add(
                vec![beacon_value(&beacon)],
                prop.disable_duplicated_references,
            ),
        };
        self.edit_one(&class, edit, tenant)
    }

    /// `PUT /v1/objects/{class}/{id}/references/{prop}`: replaces the property's references;
    /// every target must exist.
    pub fn replace_references(
        &self,
        class: &str,
        id: Uuid,
        property: &str,
        references: &Value,
        tenant: Option<&str>,
    ) -> Result<(), DbError> {
        let class = self.reference_class(class)?;
        let prop = reference_property(&class, property)?;
        self.require_source(&class, id, tenant)?;
        let Value::Array(items) = references else {
            return Err(invalid(format!(
                "reference property is not a slice {}",
                json_kind(references)
            )));
        };
        let mut list = Vec::with_capacity(items.len());
        for item in items {
            let beacon = self.endpoint_beacon(&class, prop, item)?;
            self.require_target(&beacon, tenant)?;
            list.push(beacon_value(&beacon));
        }
        let edit = RefEdit {
            id,
            property: prop.name.clone(),
            op: RefOp::Replace(list),
        };
        self.edit_one(&class, edit, tenant)
    }

    /// `DELETE /v1/objects/{class}/{id}/references/{prop}`: removes every reference equal to
    /// the given one; nothing to remove is not an error.
    pub fn delete_reference(
        &self,
        class: &str,
        id: Uuid,
        property: &str,
        reference: &Value,
        tenant: Option<&str>,
    ) -> Result<(), DbError> {
        let class = self.reference_class(class)?;
        if let Value::Object(map) = reference {
            let raw = map
                .get("beacon")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Beacon::parse(raw).map_err(|e| invalid(format!("cannot parse beacon: {e}")))?;
        }
        self.require_source(&class, id, tenant)?;
        let prop = reference_property(&class, property)?;
        let beacon = self.endpoint_beacon(&class, prop, reference)?;
        let edit = RefEdit {
            id,
            property: prop.name.clone(),
            op: RefOp::Remove(beacon.to_string()),
        };
        self.edit_one(&class, edit, tenant)
    }

    /// `POST /v1/batch/references`: one result per reference, in order. References of one
    /// source class are written in one durable batch; their targets are not checked (as
    /// Weaviate: a reference to an object imported later is kept).
    pub fn add_references(&self, refs: &[BatchReference]) -> Vec<Result<(), DbError>> {
        let mut results: Vec<Option<Result<(), DbError>>> = (0..refs.len()).map(|_| None).collect();
        type Group = (ClassDef, Vec<(usize, RefEdit)>);
        let mut groups: BTreeMap<(String, Option<String>), Group> = BTreeMap::new();
        for (i, r) in refs.iter().enumerate() {
            match self.batch_edit(r) {
                Ok((class, edit)) => groups
                    .entry((
                        class.name.clone(),
                        r.tenant.clone().filter(|t| !t.is_empty()),
                    ))
                    .or_insert_with(|| (class, Vec::new()))
                    .1
                    .push((i, edit)),
                Err(err) => results[i] = Some(Err(err)),
            }
        }
        for ((_, tenant), (class, items)) in groups {
            let (slots, edits): (Vec<usize>, Vec<RefEdit>) = items.into_iter().unzip();
            let outcome = self
                .collection_for(&class, tenant.as_deref())
                .and_then(|coll| {
                    self.check_writable(&class.name, &coll)?;
                    coll.edit_references(&class, edits)
                });
            match outcome {
                Ok(done) => {
                    for (i, r) in slots.into_iter().zip(done) {
                        results[i] = Some(r.map(|_| ()).map_err(|e| match e {
                            DbError::User(UserError::ObjectNotFound { id, .. }) => {
                                invalid(format!("object with id {id} not found"))
                            }
                            other => other,
                        }));
                    }
                }
                Err(err) => {
                    let shared = std::sync::Arc::new(err);
                    for i in slots {
                        results[i] = Some(Err(DbError::Batch(std::sync::Arc::clone(&shared))));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(invalid("reference was not processed".into()))))
            .collect()
    }

    fn batch_edit(&self, r: &BatchReference) -> Result<(ClassDef, RefEdit), DbError> {
        let source = SourceBeacon::parse(&r.from).map_err(invalid)?;
        let target = Beacon::parse(&r.to).map_err(invalid)?;
        if !target.is_local() {
            return Err(invalid(format!(
                "importing network references in batch is not possible. Please perform a \
                 regular non-batch import for network references, got peer {}",
                target.host
            )));
        }
        let class = self.class(&source.class).ok_or_else(|| {
            invalid(format!(
                "source class {:?} not found in schema",
                source.class
            ))
        })?;
        let prop = class.property(&source.property).ok_or_else(|| {
            invalid(format!(
                "property {} does not exist for class {}",
                source.property, class.name
            ))
        })?;
        if !prop.is_reference() {
            return Err(invalid(format!(
                "property '{}' is not a reference-type",
                prop.name
            )));
        }
        let beacon = complete_beacon(target, targets(prop));
        let tenant = r.tenant.as_deref().filter(|t| !t.is_empty());
        if tenant.is_some() && !self.target_exists(&beacon, &Staged::new(), tenant)? {
            // As Weaviate: with a tenant the target is looked up in it.
            return Err(invalid(format!(
                "target: object {}/{} not found for tenant {:?}",
                beacon.class.as_deref().unwrap_or_default(),
                beacon.id,
                tenant.unwrap_or_default()
            )));
        }
        let edit = RefEdit {
            id: source.id,
            property: prop.name.clone(),
            op: RefOp::Add(
                vec![beacon_value(&beacon)],
                prop.disable_duplicated_references,
            ),
        };
        Ok((class, edit))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests;
