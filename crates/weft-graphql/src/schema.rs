//! The GraphQL schema generated from the catalog, with Weaviate's type and argument names
//! (decision 0014 §2): `Get`, `Aggregate` and `Explore` under the root `WeaviateObj`.
//!
//! Every output field below a class field resolves by reading its own name out of the value
//! its parent resolved to ([`pass`]): the class resolvers (`get`, `aggregate`, `explore`)
//! build the whole answer of a class field at once, from one query.

use std::collections::HashSet;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, SchemaBuilder, SchemaError, Type, TypeRef, Union,
};
use async_graphql::parser::types::FragmentDefinition;
use async_graphql::{Name, Value};
use weft_db::schema::{ClassDef, DataType, Primitive, PropertyDef, VectorSetup};

use crate::names;

mod arguments;

use arguments::{aggregate_arguments, get_arguments, near_object_input};

/// The key, in an object value built by a resolver, naming the GraphQL type of a reference
/// target (for the union). Property names cannot start with `__`.
pub const CLASS_KEY: &str = "__class";

/// Types registered so far, so each is registered once.
struct Registry {
    builder: Option<SchemaBuilder>,
    names: HashSet<String>,
    /// Names two different types wanted (class names that make the same generated name).
    clashes: Vec<String>,
}

impl Registry {
    /// Registers a type; a second type of the same name is a clash.
    fn add(&mut self, name: &str, ty: impl Into<Type>) {
        if !self.names.insert(name.to_string()) {
            self.clashes.push(name.to_string());
            return;
        }
        if let Some(b) = self.builder.take() {
            self.builder = Some(b.register(ty));
        }
    }
}

/// Builds the schema for `classes`. `None` when there is no class (Weaviate serves no GraphQL
/// then).
pub fn build(classes: &[ClassDef]) -> Option<Result<Schema, SchemaError>> {
    if classes.is_empty() {
        return None;
    }
    let mut reg = Registry {
        builder: Some(
            Schema::build("WeaviateObj", None, None)
                .limit_recursive_depth(crate::preprocess::MAX_NESTING + 8),
        ),
        names: HashSet::new(),
        clashes: Vec::new(),
    };
    let known: HashSet<&str> = classes.iter().map(|c| c.name.as_str()).collect();
    shared_types(&mut reg);
    let mut get = Object::new("GetObjectsObj");
    let mut aggregate = Object::new("AggregateObjectsObj");
    for class in classes {
        let ct = names::class_type(&class.name);
        class_object(&mut reg, class, &known);
        let name = class.name.clone();
        let mut field = Field::new(ct.as_str(), TypeRef::named_list(&ct), move |ctx| {
            let class = name.clone();
            FieldFuture::new(async move { settle(&ctx, crate::get::resolve(&ctx, &class)) })
        });
        for arg in get_arguments(&mut reg, class) {
            field = field.argument(arg);
        }
        get = get.field(field);

        let agg_type = aggregate_object(&mut reg, class);
        let name = class.name.clone();
        let mut field = Field::new(ct.as_str(), TypeRef::named_list(agg_type), move |ctx| {
            let class = name.clone();
            FieldFuture::new(async move { settle(&ctx, crate::aggregate::resolve(&ctx, &class)) })
        });
        for arg in aggregate_arguments(&mut reg, class) {
            field = field.argument(arg);
        }
        aggregate = aggregate.field(field);
    }
    reg.add("GetObjectsObj", get);
    reg.add("AggregateObjectsObj", aggregate);
    let explore = Field::new("Explore", TypeRef::named_list("ExploreObj"), |ctx| {
        FieldFuture::new(async move { settle(&ctx, crate::explore::resolve(&ctx)) })
    })
    .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
    .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT)))
    .argument(InputValue::new(
        "nearVector",
        TypeRef::named("ExploreNearVectorInpObj"),
    ))
    .argument(InputValue::new(
        "nearObject",
        TypeRef::named("ExploreNearObjectInpObj"),
    ));
    let root = Object::new("WeaviateObj")
        .field(Field::new("Get", TypeRef::named("GetObjectsObj"), |_| {
            FieldFuture::Value(Some(FieldValue::value(Value::Object(Default::default()))))
        }))
        .field(Field::new(
            "Aggregate",
            TypeRef::named("AggregateObjectsObj"),
            |_| FieldFuture::Value(Some(FieldValue::value(Value::Object(Default::default())))),
        ))
        .field(explore);
    reg.add("WeaviateObj", root);
    if !reg.clashes.is_empty() {
        return Some(Err(SchemaError(format!(
            "the classes make GraphQL type names that clash: {}",
            reg.clashes.join(", ")
        ))));
    }
    let builder = reg.builder.take()?;
    Some(builder.finish())
}

/// A class resolver's error nulls that field alone and is reported with its path
/// (`["Get", "Book"]`), as in Weaviate; the other fields of the request still resolve.
fn settle(
    ctx: &ResolverContext<'_>,
    result: async_graphql::Result<Option<FieldValue<'static>>>,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    match result {
        Ok(v) => Ok(v),
        Err(e) => {
            ctx.add_error(ctx.set_error_path(e.into_server_error(ctx.item.pos)));
            Ok(None)
        }
    }
}

/// An output field that reads `name` from its parent's object value.
fn pass(name: &str, ty: TypeRef) -> Field {
    let key = Name::new(name);
    Field::new(name, ty, move |ctx| {
        FieldFuture::Value(child(ctx.parent_value, &key).map(FieldValue::value))
    })
}

fn child(parent: &FieldValue<'_>, key: &Name) -> Option<Value> {
    match parent.as_value()? {
        Value::Object(m) => m.get(key).filter(|v| !matches!(v, Value::Null)).cloned(),
        _ => None,
    }
}

/// `topOccurrences(limit:)`: the class resolver computed the most any alias asks; each field
/// keeps as many as its own `limit` (default 5).
fn top_occurrences(ty: &str) -> Field {
    let key = Name::new("topOccurrences");
    Field::new("topOccurrences", TypeRef::named_list(ty), move |ctx| {
        let limit = ctx
            .args
            .get("limit")
            .and_then(|v| v.i64().ok())
            .map_or(5, |n| usize::try_from(n.max(0)).unwrap_or(usize::MAX));
        let Some(Value::List(mut items)) = child(ctx.parent_value, &key) else {
            return FieldFuture::Value(None);
        };
        items.truncate(limit);
        FieldFuture::Value(Some(FieldValue::value(Value::List(items))))
    })
    .argument(InputValue::new("limit", int()))
}

/// A reference field: a list of target objects, each typed by its [`CLASS_KEY`]. Only targets
/// of the classes this field's own fragments name are listed (as in Weaviate; another alias of
/// the same property may have asked for other classes).
fn reference_field(name: &str, union: &str) -> Field {
    let key = Name::new(name);
    let union_name = union.to_string();
    Field::new(name, TypeRef::named_list(union), move |ctx| {
        let Some(Value::List(items)) = child(ctx.parent_value, &key) else {
            return FieldFuture::Value(None);
        };
        let mut asked = HashSet::new();
        fragment_types(
            &ctx.item.node.selection_set.node,
            &ctx.query_env.fragments,
            &union_name,
            0,
            &mut asked,
        );
        let typed = items.into_iter().filter_map(|item| {
            let ty = match &item {
                Value::Object(m) => match m.get(CLASS_KEY) {
                    Some(Value::String(t)) if asked.contains(t.as_str()) => t.clone(),
                    _ => return None,
                },
                _ => return None,
            };
            Some(FieldValue::value(item).with_type(ty))
        });
        FieldFuture::Value(Some(FieldValue::list(typed)))
    })
}

/// The type conditions of the fragments in a reference field's selection (through fragments
/// without a condition or on the union itself).
fn fragment_types(
    set: &async_graphql::parser::types::SelectionSet,
    fragments: &std::collections::HashMap<Name, async_graphql::Positioned<FragmentDefinition>>,
    union: &str,
    depth: usize,
    out: &mut HashSet<String>,
) {
    use async_graphql::parser::types::Selection;
    if depth > 16 {
        return;
    }
    for item in &set.items {
        let (condition, inner) = match &item.node {
            Selection::InlineFragment(fr) => (
                fr.node
                    .type_condition
                    .as_ref()
                    .map(|t| t.node.on.node.to_string()),
                &fr.node.selection_set.node,
            ),
            Selection::FragmentSpread(sp) => match fragments.get(&sp.node.fragment_name.node) {
                Some(def) => (
                    Some(def.node.type_condition.node.on.node.to_string()),
                    &def.node.selection_set.node,
                ),
                None => continue,
            },
            Selection::Field(_) => continue,
        };
        match condition {
            Some(t) if t != union => {
                out.insert(t);
            }
            _ => fragment_types(inner, fragments, union, depth + 1, out),
        }
    }
}

/// Whether an input value fits a scalar.
type Check = fn(&Value) -> bool;

fn scalar_list_or_one(name: &str, one: Check) -> Scalar {
    Scalar::new(name).validator(move |v| match v {
        Value::List(items) => items.iter().all(one),
        other => one(other),
    })
}

fn is_string(v: &Value) -> bool {
    matches!(v, Value::String(_))
}

fn is_int(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::Number(_))
}

fn is_bool(v: &Value) -> bool {
    matches!(v, Value::Boolean(_))
}

fn is_number_list(v: &Value) -> bool {
    matches!(v, Value::List(items) if items.iter().all(is_number))
}

/// A query vector: a list of numbers (or a list of lists, a multi-vector).
fn vector_scalar(name: &str) -> Scalar {
    Scalar::new(name).validator(|v| match v {
        Value::List(items) => items.iter().all(|x| is_number(x) || is_number_list(x)),
        _ => false,
    })
}

fn shared_types(reg: &mut Registry) {
    reg.add(
        "FusionEnum",
        Enum::new("FusionEnum").items(["rankedFusion", "relativeScoreFusion"]),
    );
    reg.add(
        "targetCombinationEnum",
        Enum::new("targetCombinationEnum").items([
            "minimum",
            "average",
            "sum",
            "manualWeights",
            "relativeScore",
        ]),
    );
    reg.add(
        "Weights",
        Scalar::new("Weights").validator(|v| matches!(v, Value::Object(_))),
    );
    reg.add(
        "VectorPerTarget",
        Scalar::new("VectorPerTarget").validator(|v| matches!(v, Value::Object(_))),
    );
    reg.add(
        "Beacon",
        Object::new("Beacon").field(pass("beacon", TypeRef::named(TypeRef::STRING))),
    );
    reg.add(
        "ExploreObj",
        Object::new("ExploreObj")
            .field(pass("beacon", TypeRef::named(TypeRef::STRING)))
            .field(pass("className", TypeRef::named(TypeRef::STRING)))
            .field(pass("certainty", TypeRef::named(TypeRef::FLOAT)))
            .field(pass("distance", TypeRef::named(TypeRef::FLOAT))),
    );
    let scalar = "ExploreNearVectorInpObjNearVectorVectorScalar";
    reg.add(scalar, vector_scalar(scalar));
    reg.add(
        "ExploreNearVectorInpObj",
        InputObject::new("ExploreNearVectorInpObj")
            .field(InputValue::new("vector", TypeRef::named_nn(scalar)))
            .field(InputValue::new("certainty", TypeRef::named(TypeRef::FLOAT)))
            .field(InputValue::new("distance", TypeRef::named(TypeRef::FLOAT)))
            .field(InputValue::new(
                "targetVectors",
                TypeRef::named_list(TypeRef::STRING),
            )),
    );
    reg.add(
        "ExploreNearObjectInpObj",
        near_object_input("ExploreNearObjectInpObj", None),
    );
}

/// The GraphQL output type of a property; `None` for what `Get` does not expose.
fn property_type(reg: &mut Registry, owner: &str, p: &PropertyDef) -> Option<TypeRef> {
    let DataType::Primitive(prim) = &p.data_type else {
        return None;
    };
    let scalar = |n: &str| Some(TypeRef::named(n));
    let list = |n: &str| Some(TypeRef::named_list(n));
    match prim {
        Primitive::Text
        | Primitive::Date
        | Primitive::Blob
        | Primitive::BlobHash
        | Primitive::Uuid => scalar(TypeRef::STRING),
        Primitive::TextArray | Primitive::DateArray | Primitive::UuidArray => list(TypeRef::STRING),
        Primitive::Int => scalar(TypeRef::INT),
        Primitive::IntArray => list(TypeRef::INT),
        Primitive::Number => scalar(TypeRef::FLOAT),
        Primitive::NumberArray => list(TypeRef::FLOAT),
        Primitive::Boolean => scalar(TypeRef::BOOLEAN),
        Primitive::BooleanArray => list(TypeRef::BOOLEAN),
        Primitive::GeoCoordinates => {
            let name = format!("{owner}{}GeoCoordinatesObj", p.name);
            let obj = Object::new(name.as_str())
                .field(pass("latitude", TypeRef::named(TypeRef::FLOAT)))
                .field(pass("longitude", TypeRef::named(TypeRef::FLOAT)));
            reg.add(&name, obj);
            Some(TypeRef::named(name))
        }
        Primitive::PhoneNumber => {
            let name = format!("{owner}{}PhoneNumberObj", p.name);
            let s = || TypeRef::named(TypeRef::STRING);
            let obj = Object::new(name.as_str())
                .field(pass("input", s()))
                .field(pass("internationalFormatted", s()))
                .field(pass("nationalFormatted", s()))
                .field(pass("national", TypeRef::named(TypeRef::INT)))
                .field(pass("valid", TypeRef::named(TypeRef::BOOLEAN)))
                .field(pass("countryCode", TypeRef::named(TypeRef::INT)))
                .field(pass("defaultCountry", s()));
            reg.add(&name, obj);
            Some(TypeRef::named(name))
        }
        Primitive::Object | Primitive::ObjectArray => {
            let prefix = format!("{owner}_{}", p.name);
            let name = format!("{prefix}_object");
            let mut obj = Object::new(name.as_str());
            for sub in p
                .nested_properties
                .iter()
                .filter(|s| !s.name.starts_with("__"))
            {
                if let Some(ty) = property_type(reg, &prefix, sub) {
                    obj = obj.field(pass(&sub.name, ty));
                }
            }
            reg.add(&name, obj);
            if *prim == Primitive::Object {
                Some(TypeRef::named(name))
            } else {
                Some(TypeRef::named_list(name))
            }
        }
        _ => None,
    }
}

/// The `Get` object of a class, its `_additional` object and their parts.
fn class_object(reg: &mut Registry, class: &ClassDef, known: &HashSet<&str>) {
    let ct = names::class_type(&class.name);
    let raw = &class.name;
    let mut obj = Object::new(ct.as_str());
    let mut hits = Object::new(format!("{raw}AdditionalGroupHits"));
    for p in class
        .properties
        .iter()
        .filter(|p| !p.name.starts_with("__"))
    {
        if let DataType::Reference(targets) = &p.data_type {
            let present: Vec<String> = targets
                .iter()
                .filter(|t| known.contains(t.as_str()))
                .map(|t| names::class_type(t))
                .collect();
            if present.is_empty() {
                continue;
            }
            let union_name = names::reference_union(&ct, &p.name);
            let mut union = Union::new(union_name.as_str()).possible_type("Beacon");
            for t in present {
                union = union.possible_type(t);
            }
            reg.add(&union_name, union);
            obj = obj.field(reference_field(&p.name, &union_name));
        } else if let Some(ty) = property_type(reg, &ct, p) {
            obj = obj.field(pass(&p.name, ty.clone()));
            hits = hits.field(pass(&p.name, ty));
        }
    }
    let float = || TypeRef::named(TypeRef::FLOAT);
    let string = || TypeRef::named(TypeRef::STRING);
    let vector = || TypeRef::named_list(TypeRef::FLOAT);
    let hits_additional = format!("{raw}AdditionalGroupHitsAdditional");
    reg.add(
        &hits_additional,
        Object::new(hits_additional.as_str())
            .field(pass("id", string()))
            .field(pass("vector", vector()))
            .field(pass("distance", float())),
    );
    hits = hits.field(pass("_additional", TypeRef::named(&hits_additional)));
    let hits_name = format!("{raw}AdditionalGroupHits");
    reg.add(&hits_name, hits);
    let grouped_by = format!("{raw}AdditionalGroupGroupedBy");
    reg.add(
        &grouped_by,
        Object::new(grouped_by.as_str())
            .field(pass("path", TypeRef::named_list(TypeRef::STRING)))
            .field(pass("value", string())),
    );
    let group = format!("{raw}AdditionalGroup");
    reg.add(
        &group,
        Object::new(group.as_str())
            .field(pass("id", TypeRef::named(TypeRef::INT)))
            .field(pass("groupedBy", TypeRef::named(&grouped_by)))
            .field(pass("minDistance", float()))
            .field(pass("maxDistance", float()))
            .field(pass("count", TypeRef::named(TypeRef::INT)))
            .field(pass("hits", TypeRef::named_list(&hits_name))),
    );
    let additional = format!("{raw}Additional");
    let mut add = Object::new(additional.as_str())
        .field(pass("id", string()))
        .field(pass("vector", vector()))
        .field(pass("distance", float()))
        .field(pass("certainty", float()))
        .field(pass("score", string()))
        .field(pass("explainScore", string()))
        .field(pass("creationTimeUnix", string()))
        .field(pass("lastUpdateTimeUnix", string()))
        .field(pass("group", TypeRef::named(&group)));
    if let VectorSetup::Named(named) = &class.vectors {
        let vectors = format!("{raw}AdditionalVectors");
        let mut v = Object::new(vectors.as_str());
        for name in named.keys().filter(|n| !n.starts_with("__")) {
            v = v.field(pass(name, vector()));
        }
        reg.add(&vectors, v);
        add = add.field(pass("vectors", TypeRef::named(&vectors)));
    }
    reg.add(&additional, add);
    obj = obj.field(pass("_additional", TypeRef::named(&additional)));
    reg.add(&ct, obj);
}

fn int() -> TypeRef {
    TypeRef::named(TypeRef::INT)
}

fn float() -> TypeRef {
    TypeRef::named(TypeRef::FLOAT)
}

fn string() -> TypeRef {
    TypeRef::named(TypeRef::STRING)
}

fn strings() -> TypeRef {
    TypeRef::named_list(TypeRef::STRING)
}

/// The kind of aggregation a property's data type allows; `None`: not aggregatable.
pub fn aggregation_kind(data_type: &DataType) -> Option<AggKind> {
    match data_type {
        DataType::Reference(_) => Some(AggKind::Reference),
        DataType::Primitive(p) => match p {
            Primitive::Int | Primitive::IntArray | Primitive::Number | Primitive::NumberArray => {
                Some(AggKind::Numeric)
            }
            Primitive::Text | Primitive::TextArray | Primitive::Blob => Some(AggKind::Text),
            Primitive::Boolean | Primitive::BooleanArray => Some(AggKind::Boolean),
            Primitive::Date | Primitive::DateArray => Some(AggKind::Date),
            _ => None,
        },
    }
}

/// How a property is aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    /// `int`, `number` and their arrays.
    Numeric,
    /// `text`, `text[]`, `blob`.
    Text,
    /// `boolean`, `boolean[]`.
    Boolean,
    /// `date`, `date[]`.
    Date,
    /// A cross-reference: its type and targets only.
    Reference,
}

/// The `Aggregate<Class>` object; returns its name.
fn aggregate_object(reg: &mut Registry, class: &ClassDef) -> String {
    let ct = names::class_type(&class.name);
    let name = format!("Aggregate{ct}");
    let meta = format!("Aggregate{ct}MetaObject");
    reg.add(
        &meta,
        Object::new(meta.as_str()).field(pass("count", int())),
    );
    let grouped = format!("Aggregate{ct}GroupedByObj");
    reg.add(
        &grouped,
        Object::new(grouped.as_str())
            .field(pass("path", strings()))
            .field(pass("value", string())),
    );
    let mut obj = Object::new(name.as_str())
        .field(pass("meta", TypeRef::named(&meta)))
        .field(pass("groupedBy", TypeRef::named(&grouped)));
    for p in &class.properties {
        // A property named like a built-in field would hide it; `__` names are GraphQL's own.
        if matches!(p.name.as_str(), "meta" | "groupedBy") || p.name.starts_with("__") {
            continue;
        }
        let Some(kind) = aggregation_kind(&p.data_type) else {
            continue;
        };
        let prop_obj = format!("Aggregate{ct}{}Obj", p.name);
        let o = Object::new(prop_obj.as_str());
        let o = match kind {
            AggKind::Numeric => o
                .field(pass("count", int()))
                .field(pass("sum", float()))
                .field(pass("minimum", float()))
                .field(pass("maximum", float()))
                .field(pass("mean", float()))
                .field(pass("median", float()))
                .field(pass("mode", float()))
                .field(pass("type", string())),
            AggKind::Text => {
                let top = format!("Aggregate{ct}{}TopOccurrencesObj", p.name);
                reg.add(
                    &top,
                    Object::new(top.as_str())
                        .field(pass("value", string()))
                        .field(pass("occurs", int())),
                );
                o.field(pass("count", int()))
                    .field(pass("type", string()))
                    .field(top_occurrences(&top))
            }
            AggKind::Boolean => o
                .field(pass("count", int()))
                .field(pass("totalTrue", int()))
                .field(pass("totalFalse", int()))
                .field(pass("percentageTrue", float()))
                .field(pass("percentageFalse", float()))
                .field(pass("type", string())),
            AggKind::Date => o
                .field(pass("count", int()))
                .field(pass("minimum", string()))
                .field(pass("maximum", string()))
                .field(pass("mode", string()))
                .field(pass("median", string())),
            AggKind::Reference => o
                .field(pass("type", string()))
                .field(pass("pointingTo", strings())),
        };
        reg.add(&prop_obj, o);
        obj = obj.field(pass(&p.name, TypeRef::named(&prop_obj)));
    }
    reg.add(&name, obj);
    name
}
