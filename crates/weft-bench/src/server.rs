//! A real `weft` process for end-to-end benchmarks: free ports, a temp data directory,
//! readiness wait, killed on drop.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running server.
#[derive(Debug)]
pub struct WeftServer {
    child: Child,
    /// REST base URL, e.g. `http://127.0.0.1:1234`.
    pub rest: String,
    /// gRPC endpoint URL.
    pub grpc: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for WeftServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl WeftServer {
    /// Stops the server with SIGTERM (an orderly shutdown) and waits for it.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        Ok(self.child.wait()?)
    }
}

/// Starts the binary `weft` on free ports with a fresh data directory and waits until
/// `/v1/.well-known/ready` answers.
pub fn start(weft: &Path) -> Result<WeftServer> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = spawn(weft, &data, "node1", Some(dir))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ureq::get(format!("{}/v1/.well-known/ready", server.rest))
            .call()
            .is_ok()
        {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("weft did not become ready")
}

/// Starts the binary `weft` on free ports over the data directory `data` as node `node`
/// without waiting for anything; `keep` is dropped with the server.
pub fn spawn(
    weft: &Path,
    data: &Path,
    node: &str,
    keep: Option<tempfile::TempDir>,
) -> Result<WeftServer> {
    let (port, gport) = (free_port()?, free_port()?);
    let child = Command::new(weft)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--scheme",
            "http",
        ])
        .env("GRPC_PORT", gport.to_string())
        .env("PERSISTENCE_DATA_PATH", data)
        .env("CLUSTER_HOSTNAME", node)
        .env("LOG_LEVEL", "warning")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start weft")?;
    Ok(WeftServer {
        child,
        rest: format!("http://127.0.0.1:{port}"),
        grpc: format!("http://127.0.0.1:{gport}"),
        _dir: keep,
    })
}
