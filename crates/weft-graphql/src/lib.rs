//! Weaviate's GraphQL API: `Get`, `Aggregate` and `Explore` on `/v1/graphql`, for the v3
//! Python client and the other clients and tutorials that speak it.
//!
//! - [`Engine`] keeps the schema generated from the catalog ([`schema`]), rebuilt only when
//!   the catalog's version moves and its classes changed — never per request.
//! - A class field's resolver reads its arguments ([`get`], [`aggregate`], [`explore`]) into
//!   the query values of `weft-db` that gRPC builds too, and runs them through the same
//!   functions ([`weft_api::search::run`], `Db::aggregate`): one query model, one plan.
//! - [`execute`] runs a request and shapes the answer as Weaviate does ([`response`]).
//!
//! Resolvers call the database directly (searches are CPU-bound); long calls go through
//! [`Backend::offload`], which the server provides.

pub mod aggregate;
pub mod args;
pub mod expansion;
pub mod explore;
pub mod get;
pub mod names;
pub mod preprocess;
pub mod resolve;
pub mod response;
pub mod schema;
pub mod selection;

use std::sync::Arc;

pub use async_graphql::dynamic::Schema;
use parking_lot::Mutex;
use serde_json::Value as Json;
use weft_api::QueryLimits;
use weft_db::Db;
use weft_db::schema::ClassDef;

/// Runs a database call that may take long (a large search, an aggregation, an exploration).
/// weft-server hands its async worker over meanwhile (`block_in_place`); [`in_place`] just
/// calls it. Small searches always run in place: the hand-over costs more than they do.
pub type Offload = fn(&mut dyn FnMut());

/// Calls `f` on this thread.
pub fn in_place(f: &mut dyn FnMut()) {
    f();
}

/// What resolvers read: the database, the query limits and how to run long calls.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The database.
    pub db: Arc<Db>,
    /// `QUERY_DEFAULTS_LIMIT`, `QUERY_DEFAULTS_LIMIT_GRAPHQL`, `QUERY_MAXIMUM_RESULTS`.
    pub limits: QueryLimits,
    /// How long calls run.
    pub offload: Offload,
}

impl Backend {
    /// Runs `f`, through [`Self::offload`] unless `small`.
    pub fn call<T>(&self, small: bool, f: impl FnOnce() -> T) -> Option<T> {
        let mut f = Some(f);
        let mut out = None;
        let mut run = || {
            if let Some(f) = f.take() {
                out = Some(f());
            }
        };
        if small {
            run();
        } else {
            (self.offload)(&mut run);
        }
        out
    }
}

/// The message of Weaviate when there is no class (no GraphQL schema at all).
pub const NO_SCHEMA: &str = "no graphql provider present, this is most likely because no schema is present. Import a schema first!";

struct Cached {
    version: u64,
    classes: Vec<ClassDef>,
    schema: Option<Result<Schema, String>>,
}

/// The GraphQL schema of the current catalog, cached.
#[derive(Default)]
pub struct Engine {
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with nothing built yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The schema for `db`'s catalog: `None` when there is no class, `Err` when the classes
    /// do not make a valid schema (type names that clash). Rebuilt when the catalog changed
    /// in its classes (tenant and shard changes only compare the classes).
    pub fn schema(&self, db: &Db) -> Option<Result<Schema, String>> {
        let version = db.schema_version();
        let mut cache = self.cache.lock();
        if let Some(c) = cache.as_mut()
            && c.version == version
        {
            return c.schema.clone();
        }
        let classes = db.classes();
        if let Some(c) = cache.as_mut()
            && c.classes == classes
        {
            c.version = version;
            return c.schema.clone();
        }
        let schema = schema::build(&classes).map(|r| r.map_err(|e| e.to_string()));
        *cache = Some(Cached {
            version,
            classes,
            schema: schema.clone(),
        });
        schema
    }
}

/// One GraphQL request (`GraphQLQuery`).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphQlRequest {
    /// The document.
    pub query: String,
    /// Which operation to run.
    pub operation_name: Option<String>,
    /// The variables (a JSON object).
    pub variables: Option<serde_json::Map<String, Json>>,
}

/// Reads a `GraphQLQuery` body; `Err` holds Weaviate's 422 message.
pub fn read_request(body: &Json) -> Result<GraphQlRequest, String> {
    let Json::Object(m) = body else {
        return Err(format!(
            "request body must be a JSON object, got {}",
            go_type(body)
        ));
    };
    let query = match m.get("query") {
        Some(Json::String(q)) if !q.is_empty() => q.clone(),
        Some(Json::String(_)) | None | Some(Json::Null) => {
            return Err("query cannot be empty".to_string());
        }
        Some(other) => {
            return Err(format!("query must be a string, got {}", go_type(other)));
        }
    };
    let operation_name = match m.get("operationName") {
        Some(Json::String(op)) if !op.is_empty() => Some(op.clone()),
        Some(Json::String(_) | Json::Null) | None => None,
        Some(other) => {
            return Err(format!(
                "operationName must be a string, got {}",
                go_type(other)
            ));
        }
    };
    let variables = match m.get("variables") {
        None | Some(Json::Null) => None,
        Some(Json::Object(v)) => Some(v.clone()),
        Some(other) => {
            return Err(format!(
                "variables must be a JSON object, got {}",
                go_type(other)
            ));
        }
    };
    Ok(GraphQlRequest {
        query,
        operation_name,
        variables,
    })
}

/// The Go type name Weaviate's messages print for a JSON value.
fn go_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::Number(_) => "float64",
        Json::String(_) => "string",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

/// Runs one request against `schema`; the answer in Weaviate's `GraphQLResponse` shape.
pub async fn execute(schema: &Schema, backend: Backend, request: GraphQlRequest) -> Json {
    let query = match preprocess::prepare(&request.query) {
        Ok(q) => q.into_owned(),
        Err(message) => return response::request_error(&message),
    };
    // Parsed once here, to bound its fragment expansion before anything walks it.
    let parsed = async_graphql::parser::parse_query(&query).ok();
    if let Some(doc) = &parsed
        && let Err(message) = expansion::check(doc)
    {
        return response::request_error(&message);
    }
    let mut r = async_graphql::Request::new(query).data(backend);
    if let Some(doc) = parsed {
        r.set_parsed_query(doc);
    }
    if let Some(op) = request.operation_name {
        r = r.operation_name(op);
    }
    if let Some(v) = request.variables {
        r = r.variables(async_graphql::Variables::from_json(Json::Object(v)));
    }
    response::shape(schema.execute(r).await)
}

#[cfg(test)]
mod tests;
