//! `Property` JSON: data types (with the legacy `string` migration), index flags,
//! tokenization and nested properties.

use serde_json::{Map, Value, json};
use weft_db::error::UserError;
use weft_db::schema::{DataType, Primitive, PropertyDef, Tokenization};

use super::fields::{Fields, describe, invalid, set};

/// Prefixes a reader error with the property it is about.
fn in_property(name: &str) -> impl Fn(UserError) -> UserError + '_ {
    move |e| match e {
        UserError::Invalid(m) => invalid(format!("property '{name}': {m}")),
        other => other,
    }
}

/// The data type named by `names`, and whether it was the legacy `string` type (whose `word`
/// tokenization becomes `whitespace`).
fn data_type_from_names(names: &[String]) -> Result<(DataType, bool), UserError> {
    let Some(first) = names.first() else {
        return Err(invalid("dataType must not be empty"));
    };
    let is_class = |n: &String| n.starts_with(|c: char| c.is_ascii_uppercase());
    if is_class(first) {
        if let Some(bad) = names.iter().find(|n| !is_class(n)) {
            return Err(invalid(format!(
                "invalid dataType: cannot mix class references and data type \"{bad}\""
            )));
        }
        return Ok((DataType::Reference(names.to_vec()), false));
    }
    if names.len() > 1 {
        return Err(invalid(format!(
            "invalid dataType: a primitive data type must be given alone, got {names:?}"
        )));
    }
    let (primitive, legacy) = match first.as_str() {
        "string" => (Primitive::Text, true),
        "string[]" => (Primitive::TextArray, true),
        name => {
            let p = Primitive::parse(name).ok_or_else(|| {
                invalid(format!("invalid dataType: unknown data type \"{name}\""))
            })?;
            (p, false)
        }
    };
    Ok((DataType::Primitive(primitive), legacy))
}

/// Reads a property; `nested` properties keep their name as given (top-level names are
/// normalised by the catalog's validation).
fn property_from_fields(f: &Fields<'_>, label: &str) -> Result<PropertyDef, UserError> {
    let name = f.str("name")?.unwrap_or_default().to_string();
    let label = if label.is_empty() {
        name.clone()
    } else {
        format!("{label}.{name}")
    };
    let ctx = in_property(&label);
    let names = f
        .strings("dataType")
        .map_err(&ctx)?
        .ok_or_else(|| ctx(invalid("dataType is required")))?;
    let (data_type, legacy_string) = data_type_from_names(&names).map_err(&ctx)?;
    let mut property = PropertyDef::new(name, data_type);
    set(
        &mut property.description,
        f.str("description").map_err(&ctx)?.map(str::to_string),
    );
    let tokenization = f
        .str("tokenization")
        .map_err(&ctx)?
        .filter(|t| !t.is_empty());
    property.tokenization = tokenization
        .map(|t| {
            Tokenization::parse(t).ok_or_else(|| {
                ctx(invalid(format!(
                    "unknown tokenization \"{t}\" (one of word, lowercase, whitespace, field, \
                     trigram, gse, kagome_kr, kagome_ja, gse_ch)"
                )))
            })
        })
        .transpose()?;
    if legacy_string
        && property
            .tokenization
            .is_none_or(|t| t == Tokenization::Word)
    {
        property.tokenization = Some(Tokenization::Whitespace);
    }
    read_index_flags(f, &mut property).map_err(&ctx)?;
    if let Some(items) = f.array("nestedProperties").map_err(&ctx)? {
        for item in items {
            let nested = Fields::of(item, "").map_err(|_| {
                ctx(invalid(format!(
                    "nestedProperties: expected objects, got {}",
                    describe(item)
                )))
            })?;
            property
                .nested_properties
                .push(property_from_fields(&nested, &label)?);
        }
    }
    property.module_config = f.opaque_object("moduleConfig").map_err(&ctx)?;
    set(
        &mut property.disable_duplicated_references,
        f.bool("disableDuplicatedReferences").map_err(&ctx)?,
    );
    Ok(property)
}

/// `indexFilterable`, `indexSearchable`, `indexRangeFilters`, and the deprecated
/// `indexInverted` (false turns off both filterable and searchable unless they are given).
fn read_index_flags(f: &Fields<'_>, property: &mut PropertyDef) -> Result<(), UserError> {
    if f.bool("indexInverted")? == Some(false) {
        property.index_filterable = false;
        property.index_searchable = false;
    }
    set(&mut property.index_filterable, f.bool("indexFilterable")?);
    set(&mut property.index_searchable, f.bool("indexSearchable")?);
    set(
        &mut property.index_range_filters,
        f.bool("indexRangeFilters")?,
    );
    Ok(())
}

/// Parses a `Property` object; unknown keys are ignored.
pub(super) fn property_from_value(value: &Value) -> Result<PropertyDef, UserError> {
    let f = Fields::of(value, "").map_err(|_| {
        invalid(format!(
            "property: expected an object, got {}",
            describe(value)
        ))
    })?;
    property_from_fields(&f, "")
}

/// Renders a property with every flag.
pub(super) fn property_value(p: &PropertyDef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(p.name));
    out.insert("dataType".into(), json!(p.data_type.to_names()));
    if !p.description.is_empty() {
        out.insert("description".into(), json!(p.description));
    }
    if let Some(t) = p.tokenization {
        out.insert("tokenization".into(), json!(t.as_str()));
    }
    out.insert("indexFilterable".into(), json!(p.index_filterable));
    out.insert("indexSearchable".into(), json!(p.index_searchable));
    out.insert("indexRangeFilters".into(), json!(p.index_range_filters));
    if !p.nested_properties.is_empty() {
        let nested: Vec<Value> = p.nested_properties.iter().map(property_value).collect();
        out.insert("nestedProperties".into(), Value::Array(nested));
    }
    if let Some(config) = &p.module_config {
        out.insert("moduleConfig".into(), config.clone());
    }
    if p.disable_duplicated_references {
        out.insert("disableDuplicatedReferences".into(), json!(true));
    }
    Value::Object(out)
}
