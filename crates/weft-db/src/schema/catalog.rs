//! PLACEHOLDER in-memory catalog; replaced by the persisted one.

use std::path::Path;

use parking_lot::RwLock;

use super::{ClassDef, PropertyDef, SchemaDefaults, ShardStatus};
use crate::error::{DbError, UserError};

/// The set of classes, persisted under the data directory.
#[derive(Debug)]
pub struct Catalog {
    classes: RwLock<Vec<ClassDef>>,
}

impl Catalog {
    pub fn open(_dir: &Path, _defaults: SchemaDefaults) -> Result<Self, DbError> {
        Ok(Self { classes: RwLock::new(Vec::new()) })
    }
    pub fn classes(&self) -> Vec<ClassDef> {
        self.classes.read().clone()
    }
    pub fn class(&self, name: &str) -> Option<ClassDef> {
        self.classes.read().iter().find(|c| c.name == name).cloned()
    }
    pub fn create_class(&self, class: ClassDef) -> Result<ClassDef, DbError> {
        self.classes.write().push(class.clone());
        Ok(class)
    }
    pub fn update_class(&self, _name: &str, class: ClassDef) -> Result<ClassDef, DbError> {
        Ok(class)
    }
    pub fn delete_class(&self, name: &str) -> Result<(), DbError> {
        self.classes.write().retain(|c| c.name != name);
        Ok(())
    }
    pub fn add_property(&self, class: &str, p: PropertyDef) -> Result<PropertyDef, DbError> {
        let mut classes = self.classes.write();
        let c = classes
            .iter_mut()
            .find(|c| c.name == class)
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        c.properties.push(p.clone());
        Ok(p)
    }
    pub fn shards(&self, class: &str) -> Result<Vec<ShardStatus>, DbError> {
        self.class(class).ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        Ok(vec![ShardStatus { name: "placeholder".into(), status: "READY".into() }])
    }
    pub fn close(&self) -> Result<(), DbError> {
        Ok(())
    }
}
