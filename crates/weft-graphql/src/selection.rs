//! What a class field's selection asks for, read from its field AST as Weaviate does
//! (`extractProperties`): plain fields are properties, `_additional { … }` names metadata,
//! and a reference field's `... on Class { … }` fragments (inline or named) name the target
//! classes to resolve, each with its own selection, recursively.
//!
//! The AST is reached through async-graphql's hidden-public `Context::item` and
//! `QueryEnv::fragments` (the crate is pinned for that reason, decision 0014): its public
//! look-ahead flattens fragments and loses their type conditions.

use std::collections::{BTreeSet, HashMap};

use async_graphql::parser::types::{FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned};
use weft_db::query::refs::ReferenceRequest;
use weft_db::schema::{ClassDef, DataType};

use crate::names;

/// How deep `... on Class { ref { ... on Other { … } } }` may nest.
const MAX_REFERENCE_DEPTH: usize = 16;

/// What to return of each object of one class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Non-reference properties, by name.
    pub properties: BTreeSet<String>,
    /// `_additional` fields, by name.
    pub additional: BTreeSet<String>,
    /// Reference properties and the target classes asked of each.
    pub refs: Vec<RefShape>,
}

/// One reference property in a selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefShape {
    /// The property.
    pub property: String,
    /// The target classes asked (`... on Class`), each with what to return of its objects.
    pub targets: Vec<(String, Shape)>,
}

impl Shape {
    /// Whether the objects' vectors must be loaded.
    pub fn wants_vectors(&self) -> bool {
        ["vector", "vectors", "group"]
            .iter()
            .any(|f| self.additional.contains(*f))
    }

    /// The reference requests of the database query for this shape, one per (property,
    /// target class) in the order of [`Self::answers`].
    pub fn requests(&self) -> Vec<ReferenceRequest> {
        self.refs
            .iter()
            .flat_map(|r| {
                r.targets.iter().map(|(class, shape)| ReferenceRequest {
                    property: r.property.clone(),
                    class: Some(class.clone()),
                    with_vectors: shape.wants_vectors(),
                    references: shape.requests(),
                })
            })
            .collect()
    }

    /// For each request of [`Self::requests`], the (index into `refs`, index into its
    /// `targets`) it answers.
    pub fn answers(&self) -> Vec<(usize, usize)> {
        self.refs
            .iter()
            .enumerate()
            .flat_map(|(i, r)| (0..r.targets.len()).map(move |j| (i, j)))
            .collect()
    }
}

/// Reads selections against the catalog.
pub struct Walker<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    class: &'a dyn Fn(&str) -> Option<ClassDef>,
}

impl std::fmt::Debug for Walker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker").finish_non_exhaustive()
    }
}

impl<'a> Walker<'a> {
    /// A walker resolving named fragments from `fragments` and classes through `class`.
    pub fn new(
        fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
        class: &'a dyn Fn(&str) -> Option<ClassDef>,
    ) -> Self {
        Self { fragments, class }
    }

    /// The shape of a selection on objects of `class`.
    pub fn shape(&self, set: &SelectionSet, class: &ClassDef) -> Result<Shape, String> {
        let mut shape = Shape::default();
        self.walk(set, class, 0, &mut shape)?;
        Ok(shape)
    }

    fn walk(
        &self,
        set: &SelectionSet,
        class: &ClassDef,
        depth: usize,
        shape: &mut Shape,
    ) -> Result<(), String> {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    if name == "__typename" {
                        continue;
                    }
                    if name == "_additional" {
                        self.names(&f.node.selection_set.node, &mut shape.additional);
                        continue;
                    }
                    let is_ref = class
                        .properties
                        .iter()
                        .find(|p| p.name == name)
                        .is_some_and(|p| matches!(p.data_type, DataType::Reference(_)));
                    if !is_ref {
                        shape.properties.insert(name.to_string());
                        continue;
                    }
                    let at = match shape.refs.iter().position(|r| r.property == name) {
                        Some(at) => at,
                        None => {
                            shape.refs.push(RefShape {
                                property: name.to_string(),
                                targets: Vec::new(),
                            });
                            shape.refs.len() - 1
                        }
                    };
                    let union = names::reference_union(&names::class_type(&class.name), name);
                    self.targets(&f.node.selection_set.node, &union, depth, shape, at)?;
                }
                Selection::InlineFragment(fr) => {
                    self.walk(&fr.node.selection_set.node, class, depth, shape)?;
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(def) = self.fragments.get(&sp.node.fragment_name.node) {
                        self.walk(&def.node.selection_set.node, class, depth, shape)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The `... on Class { … }` parts of a reference field's selection.
    fn targets(
        &self,
        set: &SelectionSet,
        union: &str,
        depth: usize,
        shape: &mut Shape,
        at: usize,
    ) -> Result<(), String> {
        for item in &set.items {
            let (condition, selection) = match &item.node {
                Selection::InlineFragment(fr) => (
                    fr.node.type_condition.as_ref().map(|t| &t.node.on.node),
                    &fr.node.selection_set.node,
                ),
                Selection::FragmentSpread(sp) => {
                    let Some(def) = self.fragments.get(&sp.node.fragment_name.node) else {
                        continue;
                    };
                    (
                        Some(&def.node.type_condition.node.on.node),
                        &def.node.selection_set.node,
                    )
                }
                Selection::Field(_) => continue,
            };
            let Some(type_name) = condition.filter(|t| t.as_str() != union) else {
                // `... { }` without a type condition, or on the union itself: its parts.
                self.targets(selection, union, depth, shape, at)?;
                continue;
            };
            if type_name.as_str() == "Beacon" {
                return Err(
                    "retrieving cross-refs by beacon is not supported yet - coming soon!"
                        .to_string(),
                );
            }
            if depth + 1 > MAX_REFERENCE_DEPTH {
                return Err(format!(
                    "references nest deeper than {MAX_REFERENCE_DEPTH} levels"
                ));
            }
            let class_name = names::class_of_type(type_name.as_str());
            let Some(target) = (self.class)(class_name) else {
                return Err(format!("class {class_name} not found"));
            };
            let mut sub = Shape::default();
            let existing = shape
                .refs
                .get(at)
                .and_then(|r| r.targets.iter().position(|(c, _)| *c == target.name));
            if let (Some(i), Some(r)) = (existing, shape.refs.get(at)) {
                sub = r.targets.get(i).map(|(_, s)| s.clone()).unwrap_or_default();
            }
            self.walk(selection, &target, depth + 1, &mut sub)?;
            if let Some(r) = shape.refs.get_mut(at) {
                match existing.and_then(|i| r.targets.get_mut(i)) {
                    Some(slot) => slot.1 = sub,
                    None => r.targets.push((target.name.clone(), sub)),
                }
            }
        }
        Ok(())
    }

    /// The field names of a selection (through fragments), as `_additional`'s.
    fn names(&self, set: &SelectionSet, out: &mut BTreeSet<String>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    out.insert(f.node.name.node.to_string());
                }
                Selection::InlineFragment(fr) => self.names(&fr.node.selection_set.node, out),
                Selection::FragmentSpread(sp) => {
                    if let Some(def) = self.fragments.get(&sp.node.fragment_name.node) {
                        self.names(&def.node.selection_set.node, out);
                    }
                }
            }
        }
    }
}
