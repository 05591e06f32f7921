//! The tenants API's wire shapes: `[{"name", "activityStatus"}]` in and out. Statuses are
//! returned as Weaviate stores them (`HOT`, `COLD`); requests may use either naming.

use serde_json::{Value, json};
use weft_db::DbError;
use weft_db::TenantInput;
use weft_db::error::UserError;
use weft_db::schema::TenantStatus;

use crate::proto::v1::{Tenant, TenantActivityStatus};

fn invalid(msg: impl Into<String>) -> DbError {
    UserError::Invalid(msg.into()).into()
}

/// The body of `POST` / `PUT /v1/schema/{class}/tenants`.
pub fn tenants_from_json(v: &Value) -> Result<Vec<TenantInput>, DbError> {
    let Value::Array(items) = v else {
        return Err(invalid("the body must be an array of tenants"));
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(m) = item else {
                return Err(invalid("a tenant must be an object {\"name\": ...}"));
            };
            let name = match m.get("name") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(_) => return Err(invalid("a tenant's name must be a string")),
            };
            let status = match m.get("activityStatus") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(_) => return Err(invalid("a tenant's activityStatus must be a string")),
            };
            Ok(TenantInput { name, status })
        })
        .collect()
}

/// The body of `DELETE /v1/schema/{class}/tenants`: `["name", ...]`.
pub fn tenant_names_from_json(v: &Value) -> Result<Vec<String>, DbError> {
    let Value::Array(items) = v else {
        return Err(invalid("the body must be an array of tenant names"));
    };
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid("tenant names must be strings"))
        })
        .collect()
}

/// One tenant as the REST API shows it.
pub fn tenant_to_json(name: &str, status: TenantStatus) -> Value {
    json!({ "name": name, "activityStatus": status.as_str() })
}

/// Tenants as the REST API shows them.
pub fn tenants_to_json<'a>(
    tenants: impl IntoIterator<Item = (&'a String, &'a TenantStatus)>,
) -> Value {
    Value::Array(
        tenants
            .into_iter()
            .map(|(n, s)| tenant_to_json(n, *s))
            .collect(),
    )
}

/// One tenant of a gRPC `TenantsGetReply`.
pub fn tenant_to_grpc(name: &str, status: TenantStatus) -> Tenant {
    let status = match status {
        TenantStatus::Hot => TenantActivityStatus::Hot,
        TenantStatus::Cold => TenantActivityStatus::Cold,
    };
    Tenant {
        name: name.to_string(),
        activity_status: status as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_bodies_parse_and_render() {
        let parsed = tenants_from_json(&json!([
            {"name": "a", "activityStatus": "INACTIVE"},
            {"name": "b"}
        ]))
        .unwrap();
        assert_eq!(parsed[0].status, "INACTIVE");
        assert_eq!(parsed[1].status, "");
        assert!(tenants_from_json(&json!({"name": "a"})).is_err());
        assert!(tenants_from_json(&json!([{"name": 1}])).is_err());
        assert_eq!(
            tenant_names_from_json(&json!(["a", "b"])).unwrap(),
            ["a", "b"]
        );
        assert!(tenant_names_from_json(&json!([1])).is_err());
        assert_eq!(
            tenant_to_json("a", TenantStatus::Cold),
            json!({"name": "a", "activityStatus": "COLD"})
        );
        assert_eq!(tenant_to_grpc("a", TenantStatus::Hot).activity_status, 1);
    }
}
