//! REST `DELETE /v1/batch/objects`: the body (`match.class`, `match.where`, `output`,
//! `dryRun`) and Weaviate's reply (`results.matches/limit/successful/failed/objects`, objects
//! with status SUCCESS / DRYRUN / FAILED; with `output: minimal` only the failures).

use serde_json::{Value, json};
use weft_db::query::{DeleteManyResult, Filter};

use crate::error::{ErrorCode, WireError, error_body};
use crate::where_filter::where_filter;

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct RestDelete {
    /// `match.class`.
    pub class: String,
    /// `match.where`, as sent (echoed in the reply).
    pub where_json: Value,
    /// `match.where`, converted.
    pub filter: Filter,
    /// `output == "verbose"`.
    pub verbose: bool,
    /// `dryRun`.
    pub dry_run: bool,
    /// `tenant` (a query parameter in Weaviate's API, also read from the body).
    pub tenant: Option<String>,
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

/// Reads the body.
pub fn parse(body: &Value) -> Result<RestDelete, WireError> {
    let m = body
        .get("match")
        .ok_or_else(|| invalid("validate: match is required"))?;
    let class = m
        .get("class")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("validate: match.class is required"))?
        .to_string();
    let where_json = m
        .get("where")
        .cloned()
        .ok_or_else(|| invalid("validate: match.where is required"))?;
    let filter = where_filter(&where_json)?;
    let verbose = match body.get("output").and_then(Value::as_str) {
        None | Some("minimal") => false,
        Some("verbose") => true,
        Some(other) => {
            return Err(invalid(format!(
                "validate: output must be \"minimal\" or \"verbose\", got {other:?}"
            )));
        }
    };
    let dry_run = body.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
    let tenant = body
        .get("tenant")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(RestDelete {
        tenant,
        class,
        where_json,
        filter,
        verbose,
        dry_run,
    })
}

/// The reply body.
pub fn reply(req: &RestDelete, class: &str, result: &DeleteManyResult, now_ms: i64) -> Value {
    let (mut successful, mut failed) = (0u64, 0u64);
    let mut objects = Vec::new();
    for (id, err) in &result.objects {
        let status = match (result.dry_run, err) {
            (true, _) => "DRYRUN",
            (false, Some(_)) => {
                failed += 1;
                "FAILED"
            }
            (false, None) => {
                successful += 1;
                "SUCCESS"
            }
        };
        if !req.verbose && status != "FAILED" {
            continue;
        }
        let mut o = json!({"id": id.to_string(), "status": status});
        if let (Some(e), false) = (err, result.dry_run) {
            o["errors"] = error_body(e);
        }
        objects.push(o);
    }
    json!({
        "match": {"class": class, "where": req.where_json},
        "output": if req.verbose { "verbose" } else { "minimal" },
        "dryRun": result.dry_run,
        "deletionTimeUnixMilli": now_ms,
        "results": {
            "matches": result.matches,
            "limit": result.limit,
            "successful": successful,
            "failed": failed,
            "objects": objects,
        }
    })
}
