//! `weaviate.v1.Weaviate`: the handlers are adapters from the generated prost types to one
//! `weft-db` call each. Methods weft does not serve yet answer UNIMPLEMENTED.

use std::sync::Arc;
use std::time::Instant;

use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};
use weft_api::error::WireError;
use weft_api::grpc::{aggregate, batch_delete};
use weft_api::proto::v1::weaviate_server::Weaviate;
use weft_api::proto::v1::{
    AggregateReply, AggregateRequest, BatchDeleteReply, BatchDeleteRequest, BatchObjectsReply,
    BatchObjectsRequest, BatchReferencesReply, BatchReferencesRequest, BatchStreamReply,
    BatchStreamRequest, SearchReply, SearchRequest, TenantsGetReply, TenantsGetRequest,
};
use weft_db::Db;
use weft_db::object::WriteMode;

use super::batch::{batch_error, decode_batch};
use crate::AppState;
use weft_api::grpc::search;

/// The `weaviate.v1.Weaviate` service over the shared handler state.
#[derive(Debug, Clone)]
pub struct WeaviateService {
    state: AppState,
}

impl WeaviateService {
    /// A service answering from `state`'s database (UNAVAILABLE until it is loaded).
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// Runs a blocking database call (writes wait for fsync) off the async workers. While the
    /// database is loading the answer is UNAVAILABLE, which clients retry with back-off.
    async fn blocking<T, F>(&self, f: F) -> Result<T, Status>
    where
        F: FnOnce(&Db) -> T + Send + 'static,
        T: Send + 'static,
    {
        let db = Arc::clone(
            self.state
                .db()
                .ok_or_else(|| Status::unavailable("weft is still loading the database"))?,
        );
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| Status::internal(format!("database task failed: {e}")))
    }

    /// Runs a CPU-bound database call (a search: no fsync) on this worker thread. `small`
    /// calls (sub-millisecond) run directly: a hop to the blocking pool, or `block_in_place`
    /// handing the worker over, costs more than the search itself. Larger ones use
    /// `block_in_place` so the runtime moves this worker's other tasks elsewhere meanwhile.
    fn in_place<T>(&self, small: bool, f: impl FnOnce(&Db) -> T) -> Result<T, Status> {
        let db = self
            .state
            .db()
            .ok_or_else(|| Status::unavailable("weft is still loading the database"))?;
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        Ok(if small || !multi_thread {
            f(db)
        } else {
            tokio::task::block_in_place(|| f(db))
        })
    }
}

/// A request error as a gRPC status, with the code from the error table.
fn status(err: WireError) -> Status {
    Status::new(tonic::Code::from(err.grpc as i32), err.message)
}

/// Records a gRPC call in the metrics when dropped (with the status it ended with).
struct Observed<'a> {
    state: &'a AppState,
    method: &'static str,
    started: Instant,
    code: u16,
}

impl<'a> Observed<'a> {
    fn new(state: &'a AppState, method: &'static str) -> Self {
        Self {
            state,
            method,
            started: Instant::now(),
            code: 500,
        }
    }

    /// Marks the outcome: OK, or the status's HTTP-like class.
    fn done<T>(&mut self, r: Result<T, Status>) -> Result<T, Status> {
        self.code = match &r {
            Ok(_) => 200,
            Err(s) => match s.code() {
                tonic::Code::Internal
                | tonic::Code::Unknown
                | tonic::Code::Unavailable
                | tonic::Code::DataLoss => 500,
                _ => 400,
            },
        };
        r
    }
}

impl Drop for Observed<'_> {
    fn drop(&mut self) {
        self.state
            .metrics()
            .observe("grpc", self.method, self.code, self.started.elapsed());
    }
}

/// Authenticates the caller from the `authorization` metadata and checks `access`.
fn allow(
    state: &AppState,
    metadata: &tonic::metadata::MetadataMap,
    access: crate::auth::Access,
    verb: &str,
    method: &str,
) -> Result<(), Status> {
    let auth = &state.info().auth;
    let header = metadata.get("authorization").and_then(|v| v.to_str().ok());
    let who = auth.authenticate(header).map_err(|e| auth_status(&e))?;
    auth.authorize(&who, access, verb, method)
        .map_err(|e| auth_status(&e))
}

fn auth_status(e: &crate::auth::AuthError) -> Status {
    match e {
        crate::auth::AuthError::Unauthenticated(m) => Status::unauthenticated(m.clone()),
        crate::auth::AuthError::Forbidden(m) => Status::permission_denied(m.clone()),
    }
}

fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!("{method} is not implemented by weft yet"))
}

#[tonic::async_trait]
impl Weaviate for WeaviateService {
    /// Maps the request to one `Db::search` (refusing what weft does not serve yet) and
    /// encodes the hits with the class's property types.
    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        let mut observed = Observed::new(&self.state, "weaviate.v1.Weaviate/Search");
        let r = self.search_inner(request).await;
        observed.done(r)
    }

    /// Decodes every object (a bad one fails alone), writes the rest with one
    /// `Db::put_objects` call (durable when it returns) and reports failures by index.
    async fn batch_objects(
        &self,
        request: Request<BatchObjectsRequest>,
    ) -> Result<Response<BatchObjectsReply>, Status> {
        let mut observed = Observed::new(&self.state, "weaviate.v1.Weaviate/BatchObjects");
        let r = self.batch_objects_inner(request).await;
        observed.done(r)
    }

    /// References in a batch, as `POST /v1/batch/references` adds them (one `Db::add_references`
    /// call, durable when it returns); failures reported by index.
    async fn batch_references(
        &self,
        request: Request<BatchReferencesRequest>,
    ) -> Result<Response<BatchReferencesReply>, Status> {
        let mut observed = Observed::new(&self.state, "weaviate.v1.Weaviate/BatchReferences");
        let r = self.batch_references_inner(request).await;
        observed.done(r)
    }

    /// Deletes (or lists, `dry_run`) the objects a filter matches, at most
    /// `QUERY_MAXIMUM_RESULTS` of them, in atomic write batches.
    async fn batch_delete(
        &self,
        request: Request<BatchDeleteRequest>,
    ) -> Result<Response<BatchDeleteReply>, Status> {
        let mut observed = Observed::new(&self.state, "weaviate.v1.Weaviate/BatchDelete");
        let r = self.batch_delete_inner(request).await;
        observed.done(r)
    }

    /// The tenants of a class: all, or those named (unknown names are left out).
    async fn tenants_get(
        &self,
        request: Request<TenantsGetRequest>,
    ) -> Result<Response<TenantsGetReply>, Status> {
        let mut observed = Observed::new(&self.state, "weaviate.v1.Weaviate/TenantsGet");
        let r = self.tenants_get_inner(request).await;
        observed.done(r)
    }

    /// Counts and per-property metrics, filtered, over the nearest objects, grouped. A plain
    /// count (`len(collection)`) reads the stored counter.
    async fn aggregate(
        &self,
        request: Request<AggregateRequest>,
    ) -> Result<Response<AggregateReply>, Status> {
        let mut observed = Observed::new(&self.state, "weaviate.v1.Weaviate/Aggregate");
        let r = self.aggregate_inner(request).await;
        observed.done(r)
    }

    type BatchStreamStream = BoxStream<BatchStreamReply>;

    async fn batch_stream(
        &self,
        _: Request<Streaming<BatchStreamRequest>>,
    ) -> Result<Response<Self::BatchStreamStream>, Status> {
        Err(unimplemented("BatchStream"))
    }
}

impl WeaviateService {
    async fn search_inner(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        allow(
            &self.state,
            request.metadata(),
            crate::auth::Access::Read,
            "read",
            "weaviate.v1.Weaviate/Search",
        )?;
        let start = Instant::now();
        let plan = search::plan(request.into_inner(), self.state.info().limits).map_err(status)?;
        // Up to 100 results is a sub-millisecond search; more may scan or fetch a lot.
        let small = plan.query.offset.saturating_add(plan.query.limit) <= 100;
        let (results, group_by_results) = self
            .in_place(small, |db| search::execute(db, &plan))?
            .map_err(status)?;
        Ok(Response::new(SearchReply {
            took: start.elapsed().as_secs_f32(),
            results,
            group_by_results,
            ..SearchReply::default()
        }))
    }
}

impl WeaviateService {
    async fn batch_objects_inner(
        &self,
        request: Request<BatchObjectsRequest>,
    ) -> Result<Response<BatchObjectsReply>, Status> {
        allow(
            &self.state,
            request.metadata(),
            crate::auth::Access::Write,
            "create",
            "weaviate.v1.Weaviate/BatchObjects",
        )?;
        let start = Instant::now();
        let BatchObjectsRequest {
            objects,
            consistency_level: _,
        } = request.into_inner();
        let decoded = decode_batch(objects);
        let mut errors = decoded.errors;
        let (indexes, inputs): (Vec<usize>, Vec<_>) = decoded.objects.into_iter().unzip();
        let results = self
            .blocking(move |db| db.put_objects(inputs, WriteMode::Upsert))
            .await?;
        for (index, result) in indexes.into_iter().zip(results) {
            if let Err(err) = result {
                errors.push(batch_error(index, &err));
            }
        }
        errors.sort_by_key(|e| e.index);
        Ok(Response::new(BatchObjectsReply {
            took: start.elapsed().as_secs_f32(),
            errors,
        }))
    }
}

impl WeaviateService {
    async fn batch_delete_inner(
        &self,
        request: Request<BatchDeleteRequest>,
    ) -> Result<Response<BatchDeleteReply>, Status> {
        allow(
            &self.state,
            request.metadata(),
            crate::auth::Access::Write,
            "delete",
            "weaviate.v1.Weaviate/BatchDelete",
        )?;
        let start = Instant::now();
        let plan = batch_delete::plan(request.into_inner()).map_err(status)?;
        let limit = self.state.info().limits.maximum_results;
        let verbose = plan.verbose;
        let result = self
            .blocking(move |db| {
                db.delete_many_in(
                    &plan.class,
                    &plan.filter,
                    plan.dry_run,
                    limit,
                    plan.tenant.as_deref(),
                )
            })
            .await?
            .map_err(|e| status(WireError::from_db(&e)))?;
        let took = start.elapsed().as_secs_f32();
        Ok(Response::new(batch_delete::reply(result, verbose, took)))
    }

    async fn batch_references_inner(
        &self,
        request: Request<BatchReferencesRequest>,
    ) -> Result<Response<BatchReferencesReply>, Status> {
        allow(
            &self.state,
            request.metadata(),
            crate::auth::Access::Write,
            "create",
            "weaviate.v1.Weaviate/BatchReferences",
        )?;
        let start = Instant::now();
        let refs: Vec<weft_db::BatchReference> = request
            .into_inner()
            .references
            .into_iter()
            .map(weft_api::grpc::batch_reference)
            .collect();
        let results = self
            .blocking(move |db| Ok(db.add_references(&refs)))
            .await?
            .map_err(|e| status(WireError::from_db(&e)))?;
        let errors = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.as_ref().err().map(
                    |e| weft_api::proto::v1::batch_references_reply::BatchError {
                        index: i32::try_from(i).unwrap_or(i32::MAX),
                        error: WireError::from_db(e).message,
                    },
                )
            })
            .collect();
        Ok(Response::new(BatchReferencesReply {
            took: start.elapsed().as_secs_f32(),
            errors,
        }))
    }

    async fn tenants_get_inner(
        &self,
        request: Request<TenantsGetRequest>,
    ) -> Result<Response<TenantsGetReply>, Status> {
        allow(
            &self.state,
            request.metadata(),
            crate::auth::Access::Read,
            "read",
            "weaviate.v1.Weaviate/TenantsGet",
        )?;
        let start = Instant::now();
        let TenantsGetRequest { collection, params } = request.into_inner();
        let names = match params {
            Some(weft_api::proto::v1::tenants_get_request::Params::Names(n)) => {
                if n.values.is_empty() {
                    return Err(Status::invalid_argument(
                        "must specify at least one tenant name",
                    ));
                }
                Some(n.values)
            }
            None => None,
        };
        let tenants = self
            .blocking(move |db| db.tenants(&collection))
            .await?
            .map_err(|e| status(WireError::from_db(&e)))?;
        let tenants = tenants
            .iter()
            .filter(|(n, _)| names.as_ref().is_none_or(|w| w.contains(n)))
            .map(|(n, s)| weft_api::tenants::tenant_to_grpc(n, *s))
            .collect();
        Ok(Response::new(TenantsGetReply {
            took: start.elapsed().as_secs_f32(),
            tenants,
        }))
    }
}

impl WeaviateService {
    async fn aggregate_inner(
        &self,
        request: Request<AggregateRequest>,
    ) -> Result<Response<AggregateReply>, Status> {
        allow(
            &self.state,
            request.metadata(),
            crate::auth::Access::Read,
            "read",
            "weaviate.v1.Weaviate/Aggregate",
        )?;
        let start = Instant::now();
        let plan = aggregate::plan(request.into_inner()).map_err(status)?;
        let query = plan.query.clone();
        let groups = self
            .blocking(move |db| db.aggregate(&query))
            .await?
            .map_err(|e| status(WireError::from_db(&e)))?;
        aggregate::check_types(&plan, &groups).map_err(status)?;
        let took = start.elapsed().as_secs_f32();
        Ok(Response::new(aggregate::reply(&plan, groups, took)))
    }
}
