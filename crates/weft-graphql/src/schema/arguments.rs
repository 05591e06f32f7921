//! The input types of the class fields' arguments (`where`, `sort`, `nearVector`,
//! `nearObject`, `bm25`, `hybrid`, `group`, `groupBy`), with Weaviate's names per class.

use async_graphql::dynamic::{Enum, InputObject, InputValue, TypeRef};
use weft_db::schema::ClassDef;

use super::{
    Check, Registry, float, int, is_bool, is_int, is_number, is_string, scalar_list_or_one, string,
    strings, vector_scalar,
};
use crate::names;

/// The `where` input of `prefix` (`GetObjectsBook`, `AggregateObjectsBook`); returns its name.
fn where_input(reg: &mut Registry, prefix: &str) -> String {
    let op = format!("{prefix}WhereOperatorEnum");
    reg.add(
        &op,
        Enum::new(op.as_str()).items([
            "And",
            "Or",
            "Not",
            "Equal",
            "NotEqual",
            "GreaterThan",
            "GreaterThanEqual",
            "LessThan",
            "LessThanEqual",
            "Like",
            "WithinGeoRange",
            "IsNull",
            "ContainsAny",
            "ContainsAll",
            "ContainsNone",
        ]),
    );
    let scalars: [(&str, String, Check); 6] = [
        ("valueText", format!("Text{prefix}"), is_string),
        ("valueString", format!("TextString{prefix}"), is_string),
        ("valueDate", format!("TextDate{prefix}"), is_string),
        ("valueInt", format!("Int{prefix}"), is_int),
        ("valueNumber", format!("Float{prefix}"), is_number),
        ("valueBoolean", format!("Boolean{prefix}"), is_bool),
    ];
    for (_, name, check) in &scalars {
        reg.add(name, scalar_list_or_one(name, *check));
    }
    let coords = format!("{prefix}WhereGeoRangeGeoCoordinatesInpObj");
    reg.add(
        &coords,
        InputObject::new(coords.as_str())
            .field(InputValue::new(
                "latitude",
                TypeRef::named_nn(TypeRef::FLOAT),
            ))
            .field(InputValue::new(
                "longitude",
                TypeRef::named_nn(TypeRef::FLOAT),
            )),
    );
    let distance = format!("{prefix}WhereGeoRangeDistanceInpObj");
    reg.add(
        &distance,
        InputObject::new(distance.as_str())
            .field(InputValue::new("max", TypeRef::named_nn(TypeRef::FLOAT))),
    );
    let geo = format!("{prefix}WhereGeoRangeInpObj");
    reg.add(
        &geo,
        InputObject::new(geo.as_str())
            .field(InputValue::new(
                "geoCoordinates",
                TypeRef::named_nn(&coords),
            ))
            .field(InputValue::new("distance", TypeRef::named_nn(&distance))),
    );
    let operands = format!("{prefix}WhereOperandsInpObj");
    let filter = |name: &str| {
        let mut o = InputObject::new(name)
            .field(InputValue::new("operator", TypeRef::named(&op)))
            .field(InputValue::new("path", strings()))
            .field(InputValue::new("operands", TypeRef::named_list(&operands)))
            .field(InputValue::new("valueGeoRange", TypeRef::named(&geo)));
        for (field, ty, _) in &scalars {
            o = o.field(InputValue::new(*field, TypeRef::named(ty)));
        }
        o
    };
    let operands_obj = filter(&operands);
    reg.add(&operands, operands_obj);
    let name = format!("{prefix}WhereInpObj");
    let where_obj = filter(&name);
    reg.add(&name, where_obj);
    name
}

fn targets_input(reg: &mut Registry, name: &str) {
    reg.add(
        name,
        InputObject::new(name)
            .field(InputValue::new("targetVectors", strings()))
            .field(InputValue::new(
                "combinationMethod",
                TypeRef::named("targetCombinationEnum"),
            ))
            .field(InputValue::new("weights", TypeRef::named("Weights"))),
    );
}

pub(super) fn near_object_input(name: &str, targets: Option<&str>) -> InputObject {
    let mut o = InputObject::new(name)
        .field(InputValue::new("id", string()))
        .field(InputValue::new("beacon", string()))
        .field(InputValue::new("certainty", float()))
        .field(InputValue::new("distance", float()))
        .field(InputValue::new("targetVectors", strings()));
    if let Some(t) = targets {
        o = o.field(InputValue::new("targets", TypeRef::named(t)));
    }
    o
}

/// `nearVector` of `prefix` (with `targets` for Get); returns its name.
fn near_vector_input(reg: &mut Registry, prefix: &str, with_targets: bool) -> String {
    let scalar = format!("{prefix}NearVectorVectorScalar");
    reg.add(&scalar, vector_scalar(&scalar));
    let name = format!("{prefix}NearVectorInpObj");
    let mut o = InputObject::new(name.as_str())
        .field(InputValue::new("vector", TypeRef::named(&scalar)))
        .field(InputValue::new("certainty", float()))
        .field(InputValue::new("distance", float()))
        .field(InputValue::new("targetVectors", strings()));
    if with_targets {
        let targets = format!("{prefix}nearVectorTargetInpObj");
        targets_input(reg, &targets);
        o = o
            .field(InputValue::new(
                "vectorPerTarget",
                TypeRef::named("VectorPerTarget"),
            ))
            .field(InputValue::new("targets", TypeRef::named(&targets)));
    }
    reg.add(&name, o);
    name
}

pub(super) fn get_arguments(reg: &mut Registry, class: &ClassDef) -> Vec<InputValue> {
    let ct = names::class_type(&class.name);
    let p = names::get_prefix(&ct);
    let where_name = where_input(reg, &p);
    let sort_enum = format!("{p}SortInpObjTypeEnum");
    reg.add(
        &sort_enum,
        Enum::new(sort_enum.as_str()).items(["asc", "desc"]),
    );
    let sort = format!("{p}SortInpObj");
    reg.add(
        &sort,
        InputObject::new(sort.as_str())
            .field(InputValue::new("path", strings()))
            .field(InputValue::new("order", TypeRef::named(&sort_enum))),
    );
    let near_vector = near_vector_input(reg, &p, true);
    let near_object_targets = format!("{p}nearObjectTargetInpObj");
    targets_input(reg, &near_object_targets);
    let near_object = format!("{p}NearObjectInpObj");
    reg.add(
        &near_object,
        near_object_input(&near_object, Some(&near_object_targets)),
    );
    let searches_op = format!("{p}SearchesOperator");
    reg.add(
        &searches_op,
        Enum::new(searches_op.as_str()).items(["And", "Or", "AndCross"]),
    );
    let searches = format!("{p}Searches");
    reg.add(
        &searches,
        InputObject::new(searches.as_str())
            .field(InputValue::new("operator", TypeRef::named(&searches_op)))
            .field(InputValue::new("minimumOrTokensMatch", int())),
    );
    let bm25 = format!("{p}HybridGetBm25InpObj");
    reg.add(
        &bm25,
        InputObject::new(bm25.as_str())
            .field(InputValue::new("query", string()))
            .field(InputValue::new("properties", strings()))
            .field(InputValue::new("searchOperator", TypeRef::named(&searches))),
    );
    let sub_near = format!("{ct}SubSearchNearVectorInpObj");
    reg.add(
        &sub_near,
        InputObject::new(sub_near.as_str())
            .field(InputValue::new(
                "vector",
                TypeRef::named(format!("{p}NearVectorVectorScalar")),
            ))
            .field(InputValue::new("certainty", float()))
            .field(InputValue::new("distance", float()))
            .field(InputValue::new("targetVectors", strings())),
    );
    let sub = format!("{ct}SubSearchSearchesInpObj");
    reg.add(
        &sub,
        InputObject::new(sub.as_str())
            .field(InputValue::new("nearVector", TypeRef::named(&sub_near))),
    );
    let hybrid_targets = format!("{ct}SubSearchhybridTargetInpObj");
    targets_input(reg, &hybrid_targets);
    let hybrid = format!("{p}HybridInpObj");
    reg.add(
        &hybrid,
        InputObject::new(hybrid.as_str())
            .field(InputValue::new("query", string()))
            .field(InputValue::new("alpha", float()))
            .field(InputValue::new("maxVectorDistance", float()))
            .field(InputValue::new(
                "vector",
                TypeRef::named_list(TypeRef::FLOAT),
            ))
            .field(InputValue::new("properties", strings()))
            .field(InputValue::new("fusionType", TypeRef::named("FusionEnum")))
            .field(InputValue::new("targetVectors", strings()))
            .field(InputValue::new(
                "bm25SearchOperator",
                TypeRef::named(&searches),
            ))
            .field(InputValue::new("searches", TypeRef::named_list(&sub)))
            .field(InputValue::new("targets", TypeRef::named(&hybrid_targets))),
    );
    let group_enum = format!("{p}GroupInpObjTypeEnum");
    reg.add(
        &group_enum,
        Enum::new(group_enum.as_str()).items(["closest", "merge"]),
    );
    let group = format!("{p}GroupInpObj");
    reg.add(
        &group,
        InputObject::new(group.as_str())
            .field(InputValue::new("type", TypeRef::named(&group_enum)))
            .field(InputValue::new("force", TypeRef::named_nn(TypeRef::FLOAT))),
    );
    let group_by = format!("{p}GroupByInpObj");
    reg.add(
        &group_by,
        InputObject::new(group_by.as_str())
            .field(InputValue::new(
                "path",
                TypeRef::named_nn_list_nn(TypeRef::STRING),
            ))
            .field(InputValue::new("groups", TypeRef::named_nn(TypeRef::INT)))
            .field(InputValue::new(
                "objectsPerGroup",
                TypeRef::named_nn(TypeRef::INT),
            )),
    );
    let mut args = vec![
        InputValue::new("limit", int()),
        InputValue::new("offset", int()),
        InputValue::new("autocut", int()),
        InputValue::new("after", string()),
        InputValue::new("where", TypeRef::named(where_name)),
        InputValue::new("sort", TypeRef::named_list(sort)),
        InputValue::new("nearVector", TypeRef::named(near_vector)),
        InputValue::new("nearObject", TypeRef::named(near_object)),
        InputValue::new("bm25", TypeRef::named(bm25)),
        InputValue::new("hybrid", TypeRef::named(hybrid)),
        InputValue::new("group", TypeRef::named(group)),
        InputValue::new("groupBy", TypeRef::named(group_by)),
    ];
    if class.multi_tenancy.enabled {
        args.push(InputValue::new("tenant", string()));
    }
    args
}

pub(super) fn aggregate_arguments(reg: &mut Registry, class: &ClassDef) -> Vec<InputValue> {
    let ct = names::class_type(&class.name);
    let p = names::aggregate_prefix(&ct);
    let where_name = where_input(reg, &p);
    let near_vector = near_vector_input(reg, &p, false);
    let near_object = format!("{p}NearObjectInpObj");
    reg.add(&near_object, near_object_input(&near_object, None));
    let mut args = vec![
        InputValue::new("limit", int()),
        InputValue::new("objectLimit", int()),
        InputValue::new("where", TypeRef::named(where_name)),
        InputValue::new("groupBy", strings()),
        InputValue::new("nearVector", TypeRef::named(near_vector)),
        InputValue::new("nearObject", TypeRef::named(near_object)),
    ];
    if class.multi_tenancy.enabled {
        args.push(InputValue::new("tenant", string()));
    }
    args
}
