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

pub mod ingestion_env;
pub mod mysql;
pub mod online_retail;

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

/// A running Caravan binary, stopped when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
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
    pub fn start_command(mut command: Command) -> Result<Self> {
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
        };
        server.addr = server.wait_for_listen_address(Duration::from_secs(60))?;
        Ok(server)
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
    if !line.trim_start().starts_with('{') {
        let rest = line.split("gRPC server listening").nth(1)?;
        let address = rest.split("address=").nth(1)?.split_whitespace().next()?;
        return address.parse().ok();
    }
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "gRPC server listening" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

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
