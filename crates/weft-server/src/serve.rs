//! Running the REST and gRPC servers until shutdown, then draining in-flight requests.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{AppState, grpc, rest};

/// Why serving stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The REST server failed.
    #[error("REST server failed")]
    Rest(#[source] io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed")]
    Grpc(#[source] tonic::transport::Error),
    /// In-flight requests did not finish within the graceful timeout.
    #[error("in-flight requests did not finish within {0:?}")]
    DrainTimeout(Duration),
}

/// Serves REST on `rest` and gRPC on `grpc` until `shutdown` resolves, then stops accepting
/// connections and waits up to `graceful_timeout` for in-flight requests to finish.
pub async fn serve(
    state: AppState,
    rest: TcpListener,
    grpc: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    graceful_timeout: Duration,
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let weaviate = grpc::weaviate_service(state.clone());
    let app = rest::router(state);
    let rest_task = tokio::spawn(
        // Small replies must not wait for the peer's delayed ACK (Nagle): no-delay on every
        // accepted connection, REST and gRPC alike.
        axum::serve(
            rest.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            app,
        )
        .with_graceful_shutdown(wait(stop_rx.clone()))
        .into_future(),
    );
    let grpc_task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(grpc::health_service())
            .add_service(weaviate)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true)),
                wait(stop_rx),
            ),
    );

    // Either a shutdown request or a server failure ends the serving phase.
    let mut rest_task = rest_task;
    let mut grpc_task = grpc_task;
    tokio::select! {
        () = shutdown => {}
        res = &mut rest_task => return flatten_rest(res),
        res = &mut grpc_task => return flatten_grpc(res),
    }
    let _ = stop_tx.send(true);
    let drain = async {
        let rest = flatten_rest(rest_task.await);
        let grpc = flatten_grpc(grpc_task.await);
        rest.and(grpc)
    };
    tokio::time::timeout(graceful_timeout, drain)
        .await
        .map_err(|_| ServeError::DrainTimeout(graceful_timeout))?
}

fn flatten_rest(res: Result<io::Result<()>, tokio::task::JoinError>) -> Result<(), ServeError> {
    res.map_err(|e| ServeError::Rest(io::Error::other(e)))?
        .map_err(ServeError::Rest)
}

fn flatten_grpc(
    res: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), ServeError> {
    match res {
        Ok(inner) => inner.map_err(ServeError::Grpc),
        Err(join) => Err(ServeError::Rest(io::Error::other(join))),
    }
}
