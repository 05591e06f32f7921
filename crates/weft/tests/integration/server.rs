//! Starting and stopping the real `weft` binary for tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free TCP port on 127.0.0.1 (bound and released; a small race is accepted).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// A running `weft` process with its own ports; its log goes to `<dir>/weft-<n>.log`.
pub struct Weft {
    pub child: Child,
    pub port: u16,
    pub grpc_port: u16,
    pub log: PathBuf,
    agent: ureq::Agent,
}

/// How to start a server.
pub struct Launch<'a> {
    pub data: &'a Path,
    pub env: Vec<(&'a str, String)>,
    pub args: Vec<String>,
}

impl<'a> Launch<'a> {
    pub fn new(data: &'a Path) -> Self {
        Self {
            data,
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn env(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Spawns the binary without waiting for readiness.
    pub fn spawn(self) -> Weft {
        let port = free_port();
        let grpc_port = free_port();
        let logs = self
            .data
            .parent()
            .expect("data dir has a parent")
            .to_path_buf();
        let log = unique_log(&logs);
        let file = std::fs::File::create(&log).expect("create log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--scheme",
            "http",
        ])
        .env("GRPC_PORT", grpc_port.to_string())
        .env("PERSISTENCE_DATA_PATH", self.data)
        .env("CLUSTER_HOSTNAME", "node1")
        .env_remove("LOG_LEVEL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
        cmd.args(&self.args);
        for (k, v) in self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn weft");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Weft {
            child,
            port,
            grpc_port,
            log,
            agent,
        }
    }

    /// Spawns the binary and waits until `/v1/.well-known/ready` answers 200.
    pub fn start(self) -> Weft {
        let mut weft = self.spawn();
        weft.wait_ready();
        weft
    }
}

fn unique_log(dir: &Path) -> PathBuf {
    (0..)
        .map(|n| dir.join(format!("weft-{n}.log")))
        .find(|p| !p.exists())
        .expect("a free name")
}

/// A response: status and body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The first message of a Weaviate error body.
    pub fn error_message(&self) -> String {
        let v = self.json();
        v["error"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {v}"))
            .to_string()
    }
}

impl Weft {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "weft exited with {status} before ready; log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(r) = self.agent.get(self.url("/v1/.well-known/ready")).call()
                && r.status() == 200
            {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        panic!("weft not ready within 60 s; log:\n{}", self.log_text());
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let url = self.url(path);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("HEAD", _) => self.agent.head(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            ("POST", b) => self
                .agent
                .post(&url)
                .content_type("application/json")
                .send(b.unwrap_or("")),
            ("PUT", b) => self
                .agent
                .put(&url)
                .content_type("application/json")
                .send(b.unwrap_or("")),
            ("PATCH", b) => self
                .agent
                .patch(&url)
                .content_type("application/json")
                .send(b.unwrap_or("")),
            _ => panic!("unsupported method {method}"),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Reply { status, body }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        self.request("POST", path, Some(body))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Parsed JSON log lines.
    pub fn log_lines(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        signal(self.child.id(), "TERM");
        let status = wait_exit(&mut self.child);
        (status, self.log_text())
    }

    /// SIGKILL: the process dies at once, nothing is flushed.
    pub fn kill9(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
        self.log_text()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(mut self) -> (ExitStatus, String) {
        let status = wait_exit(&mut self.child);
        (status, self.log_text())
    }
}

impl Drop for Weft {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
    assert!(
        ok.map(|s| s.success()).unwrap_or(false),
        "kill -{sig} {pid} failed"
    );
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "weft did not exit within 60 s");
        sleep(Duration::from_millis(20));
    }
}

/// What `weft verify` printed and how it exited.
#[derive(Debug)]
pub struct VerifyRun {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl VerifyRun {
    /// A number from the summary line `"{label}: {n}"`.
    pub fn count(&self, label: &str) -> Option<u64> {
        let prefix = format!("{label}: ");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
    }
}

/// Runs `weft verify --data-path <data>` to completion.
pub fn run_verify(data: &Path) -> VerifyRun {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("verify")
        .arg("--data-path")
        .arg(data)
        .env_remove("PERSISTENCE_DATA_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run weft verify");
    VerifyRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An HTTP agent for load generators: statuses are values, not errors, and no request hangs
/// for more than 30 s.
pub fn load_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl Weft {
    /// The process id (for signals sent while other threads use the server).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
