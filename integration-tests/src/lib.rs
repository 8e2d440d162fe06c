//! Harness for the cross-service tests: real binaries started as processes, the real
//! `grpcurl`, and a fresh MariaDB database per test.
//!
//! Binaries are the ones `cargo build --workspace --bins` put next to this test executable
//! (`scripts/test.sh` builds them first). A server is started on port 0 with JSON logs; the
//! harness reads its "gRPC server listening" line to learn the real address.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use caravan_platform::Secret;
use caravan_platform::client::CallerInterceptor;
use tonic::service::interceptor::InterceptedService;

pub mod customer_fixture;
pub mod fault_drill;
pub mod ingestion_env;
pub mod mysql;
pub mod online_retail;
pub mod proc_stats;
pub mod raw_codec;
pub mod store_scan;
pub mod synthetic_events;
pub mod tcp_proxy;

/// The repository root (this crate lives in `integration-tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of a workspace binary in the same target profile as the running test.
pub fn binary_path(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("current test executable")?;
    // Tests live in target/<profile>/deps/, binaries (the benchmarks) in target/<profile>/.
    let exe_dir = exe.parent().context("executable has no directory")?;
    let profile_dir = if exe_dir.ends_with("deps") {
        exe_dir.parent().context("deps has no parent")?
    } else {
        exe_dir
    };
    let path = profile_dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            path.display()
        );
    }
    Ok(path)
}

/// A channel whose calls carry a server's API key (and the trace context).
pub type Channel = InterceptedService<tonic::transport::Channel, CallerInterceptor>;

/// A running Caravan binary, stopped when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    /// A key for every merchant with every scope: made with `caravan keys create` on the
    /// server's MariaDB database before the start, or the bootstrap key `caravan serve`
    /// wrote on SQLite. `None` when authentication is off.
    api_key: Option<String>,
}

/// The encryption key every server of the tests gets unless a test sets its own (32 bytes,
/// base64): processes of one test share a store and must read each other's data.
pub const TEST_ENCRYPTION_KEY: &str = "dGVzdC1rZXktb2YtdGhlLWludGVncmF0aW9uLXRlc3Q";

/// Installs [`TEST_ENCRYPTION_KEY`] in this test process, so that code of the services run
/// in-process (or reading the store directly) opens what the binaries sealed.
pub fn install_test_encryption_key() -> Result<()> {
    use caravan_store::sealing::{self, SealError, SealKeys};
    let keys =
        std::collections::BTreeMap::from([("test".to_owned(), TEST_ENCRYPTION_KEY.to_owned())]);
    match sealing::install(SealKeys::new("test", &keys)?) {
        Ok(()) | Err(SealError::AlreadyInstalled) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Binaries that call profiling (ingestion for exports) and so need `clients.api_key`.
const PROFILING_CALLERS: [&str; 3] = [
    "caravan-ingestion",
    "caravan-marketing",
    "caravan-recommendation",
];

/// Creates a key with `caravan keys create` on the store at `database_url`.
pub fn create_api_key(database_url: &str, merchants: &str, scopes: &str) -> Result<String> {
    create_api_key_with_rate_limit(database_url, merchants, scopes, None)
}

/// [`create_api_key`] with its own calls-per-second limit (`--rate-limit`): for callers that
/// make more calls per second than the default limit (`auth.rate_limit_per_second`) allows.
pub fn create_api_key_with_rate_limit(
    database_url: &str,
    merchants: &str,
    scopes: &str,
    rate_limit: Option<u32>,
) -> Result<String> {
    let rate_limit = rate_limit.map(|n| n.to_string());
    let mut command = Command::new(binary_path("caravan")?);
    command.args([
        "keys",
        "create",
        "--merchant",
        merchants,
        "--scope",
        scopes,
        "--name",
        "integration-test",
    ]);
    if let Some(n) = &rate_limit {
        command.args(["--rate-limit", n]);
    }
    let output = command
        .env("CARAVAN__DATABASE__URL", database_url)
        .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
        .env(
            "CARAVAN__PRIVACY__ENCRYPTION_KEYS__TEST",
            TEST_ENCRYPTION_KEY,
        )
        .env("CARAVAN__PRIVACY__ACTIVE_ENCRYPTION_KEY", "test")
        .output()
        .context("run caravan keys create")?;
    if !output.status.success() {
        bail!(
            "caravan keys create failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let key = String::from_utf8(output.stdout).context("key is text")?;
    Ok(key.trim().to_owned())
}

fn command_env(command: &Command, key: &str) -> Option<String> {
    command
        .get_envs()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().into_owned())
}

impl ServerProcess {
    /// Starts `binary args...` in `workdir` with `envs` (on top of a JSON log format and a
    /// `127.0.0.1:0` listen address unless `envs` sets them) and waits until it listens.
    pub fn start(
        binary: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        workdir: &Path,
    ) -> Result<Self> {
        let mut command = Command::new(binary_path(binary)?);
        command
            .args(args)
            .current_dir(workdir)
            .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
            .env("CARAVAN__SERVER__LISTEN_ADDR", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        Self::start_command(command)
    }

    /// Starts a prepared command (no default environment added) and waits until it listens.
    /// With a database URL in its environment, a key is made in that store first (and given
    /// to binaries that call profiling as `clients.api_key` unless the command sets one).
    pub fn start_command(mut command: Command) -> Result<Self> {
        let auth_off =
            command_env(&command, "CARAVAN__AUTH__ENABLED").is_some_and(|v| v == "false");
        let mut api_key = match command_env(&command, "CARAVAN__DATABASE__URL") {
            Some(url) if !auth_off && url.starts_with("mysql://") => {
                Some(create_api_key(&url, "*", "read,write,pii,admin")?)
            }
            _ => None,
        };
        let program = Path::new(command.get_program())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if PROFILING_CALLERS.contains(&program.as_str())
            && command_env(&command, "CARAVAN__CLIENTS__API_KEY").is_none()
            && let Some(key) = &api_key
        {
            command.env("CARAVAN__CLIENTS__API_KEY", key);
        }
        // Tests run side by side: each process serves metrics on a port of its own.
        if command_env(&command, "CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR").is_none() {
            command.env("CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR", "127.0.0.1:0");
        }
        // Processes of one test share a store, so they share its encryption key.
        if command_env(&command, "CARAVAN__PRIVACY__ACTIVE_ENCRYPTION_KEY").is_none() {
            command
                .env(
                    "CARAVAN__PRIVACY__ENCRYPTION_KEYS__TEST",
                    TEST_ENCRYPTION_KEY,
                )
                .env("CARAVAN__PRIVACY__ACTIVE_ENCRYPTION_KEY", "test");
        }
        let workdir = command.get_current_dir().map(Path::to_path_buf);
        let mut child = command.spawn().context("spawn server")?;
        let stderr = child.stderr.take().context("server stderr")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            logs,
            api_key: None,
        };
        server.addr = server.wait_for_listen_address(Duration::from_secs(60))?;
        if api_key.is_none() && !auth_off {
            // `caravan serve` on SQLite wrote its bootstrap key before listening.
            let file = workdir.unwrap_or_default().join(".caravan/admin.key");
            api_key = std::fs::read_to_string(&file)
                .ok()
                .map(|k| k.trim().to_owned());
        }
        server.api_key = api_key;
        Ok(server)
    }

    /// The server's all-powerful test key (see [`ServerProcess::api_key`]).
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// A connected channel presenting this server's key.
    pub async fn channel(&self) -> Result<Channel> {
        self.channel_with_key(self.api_key.as_deref()).await
    }

    /// A connected channel presenting `key` (or no credential).
    pub async fn channel_with_key(&self, key: Option<&str>) -> Result<Channel> {
        let channel = tonic::transport::Channel::from_shared(self.endpoint())?
            .connect()
            .await
            .context("connect")?;
        let key = key.map(Secret::new);
        let interceptor = CallerInterceptor::new(key.as_ref()).map_err(anyhow::Error::msg)?;
        Ok(InterceptedService::new(channel, interceptor))
    }

    /// grpcurl against this server (plaintext) with its key, then `args` (ending with the
    /// method).
    pub fn grpcurl(&self, args: &[&str]) -> Result<Output> {
        let header = self
            .api_key
            .as_ref()
            .map(|k| format!("authorization: Bearer {k}"));
        let mut all: Vec<&str> = vec!["-plaintext"];
        if let Some(header) = &header {
            all.extend(["-H", header.as_str()]);
        }
        all.extend_from_slice(args);
        grpcurl(&all)
    }

    fn wait_for_listen_address(&mut self, timeout: Duration) -> Result<SocketAddr> {
        let start = Instant::now();
        loop {
            if let Some(addr) = self.logs().iter().find_map(|line| listen_address(line)) {
                return Ok(addr);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "server exited with {status} before listening; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            if start.elapsed() > timeout {
                bail!(
                    "server did not listen within {timeout:?}; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`, for tonic clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, for grpcurl.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Where the process serves `GET /metrics` (logged before the gRPC port listens).
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.logs()
            .iter()
            .find_map(|line| logged_address(line, METRICS_LISTENING))
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("run kill")?;
        if !status.success() {
            bail!("kill -TERM failed: {status}");
        }
        Ok(())
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                bail!("server still running after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in the log line of `caravan_platform::server` saying it listens, in JSON or
/// in the default pretty format (`... gRPC server listening address=127.0.0.1:50051 ...`).
fn listen_address(line: &str) -> Option<SocketAddr> {
    logged_address(line, "gRPC server listening")
}

/// The `address` field of the log line whose message is `message` (JSON or pretty logs).
fn logged_address(line: &str, message: &str) -> Option<SocketAddr> {
    if !line.trim_start().starts_with('{') {
        let rest = line.split(message).nth(1)?;
        let address = rest.split("address=").nth(1)?.split_whitespace().next()?;
        return address.parse().ok();
    }
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != message {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

/// The fields a status's `google.rpc.BadRequest` names, in order (empty without one).
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// What the metrics endpoint logs when it listens.
const METRICS_LISTENING: &str = "metrics endpoint listening (GET /metrics)";

/// The real grpcurl (installed into `.tools/bin` by `scripts/install-tools.sh`).
pub fn grpcurl(args: &[&str]) -> Result<Output> {
    let local = repo_root().join(".tools/bin/grpcurl");
    let program = if local.is_file() {
        local
    } else {
        PathBuf::from("grpcurl")
    };
    Command::new(&program).args(args).output().with_context(|| {
        format!(
            "run {} (scripts/install-tools.sh installs it)",
            program.display()
        )
    })
}

/// grpcurl that must succeed; returns its stdout.
pub fn grpcurl_ok(args: &[&str]) -> Result<String> {
    let output = grpcurl(args)?;
    if !output.status.success() {
        bail!(
            "grpcurl {args:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The fully-qualified names of the four Caravan services.
pub const SERVICES: [&str; 4] = [
    "caravan.ingestion.v1.IngestionService",
    "caravan.profiling.v1.ProfilingService",
    "caravan.recommendation.v1.RecommendationService",
    "caravan.marketing.v1.StrategyScoringService",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listen_line() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"gRPC server listening","address":"127.0.0.1:40123","services":"[]"},"target":"caravan_platform::server"}"#;
        assert_eq!(
            listen_address(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(listen_address(r#"{"fields":{"message":"other"}}"#), None);
        assert_eq!(listen_address("not json"), None);
        let pretty = "2026-11-23T19:53:52Z  INFO caravan_platform::server: gRPC server listening address=127.0.0.1:50051 services=[]";
        assert_eq!(
            listen_address(pretty),
            Some(SocketAddr::from(([127, 0, 0, 1], 50051)))
        );
    }
}
