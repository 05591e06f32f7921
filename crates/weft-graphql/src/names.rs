//! The GraphQL type names Weaviate generates for a class (they are observable: in
//! `__typename`, fragments' type conditions and error messages).

/// Class names that would clash with GraphQL's own types get a `_` prefix, as in Weaviate.
const RESERVED: [&str; 7] = [
    "String", "Int", "Float", "Boolean", "ID", "DateTime", "FieldSet",
];

/// The `Get` object type (and field name) of a class.
pub fn class_type(class: &str) -> String {
    if RESERVED.contains(&class) {
        format!("_{class}")
    } else {
        class.to_string()
    }
}

/// The class a `Get` object type name stands for.
pub fn class_of_type(type_name: &str) -> &str {
    match type_name.strip_prefix('_') {
        Some(rest) if RESERVED.contains(&rest) => rest,
        _ => type_name,
    }
}

/// The union of a reference property's targets: `<Class><Prop>Obj`, the property's first
/// letter upper-cased.
pub fn reference_union(class_type: &str, property: &str) -> String {
    let mut chars = property.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    format!("{class_type}{first}{}Obj", chars.as_str())
}

/// Prefix of a class's `Get` argument types.
pub fn get_prefix(class_type: &str) -> String {
    format!("GetObjects{class_type}")
}

/// Prefix of a class's `Aggregate` argument types.
pub fn aggregate_prefix(class_type: &str) -> String {
    format!("AggregateObjects{class_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_weaviate() {
        assert_eq!(class_type("Book"), "Book");
        assert_eq!(class_type("String"), "_String");
        assert_eq!(class_of_type("_String"), "String");
        assert_eq!(class_of_type("_Other"), "_Other");
        assert_eq!(reference_union("Book", "writtenBy"), "BookWrittenByObj");
        assert_eq!(get_prefix("Book"), "GetObjectsBook");
        assert_eq!(aggregate_prefix("Book"), "AggregateObjectsBook");
    }
}
