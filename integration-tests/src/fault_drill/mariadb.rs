//! The drill's own MariaDB: a `mariadbd` on a data directory, port and socket of its own
//! (made and run by `scripts/own-mariadb.sh`), so that it can be killed with SIGKILL and
//! started again on the same data without touching the shared test server.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::repo_root;

/// A running private MariaDB, killed when dropped (its data directory is a temporary one).
pub struct OwnMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// `mysql://caravan:caravan@127.0.0.1:PORT/test`: the server, for
    /// `caravan_store::testing::create_mysql_database`.
    pub server_url: String,
}

fn script() -> PathBuf {
    repo_root().join("scripts/own-mariadb.sh")
}

/// Why the drill cannot run here (`scripts/own-mariadb.sh check` failed), or `None`.
pub fn unavailable_reason() -> Option<String> {
    match Command::new(script()).arg("check").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Some(format!("cannot run {}: {e}", script().display())),
    }
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `scripts/own-mariadb.sh args...`; returns its stdout, or fails with its stderr.
fn run_script(args: &[&str]) -> Result<String> {
    let out = Command::new(script())
        .args(args)
        .output()
        .with_context(|| format!("run own-mariadb.sh {args:?}"))?;
    if !out.status.success() {
        bail!(
            "own-mariadb.sh {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl OwnMariaDb {
    /// Initialises a data directory in a temporary directory and starts the server on
    /// `port` (a free one if `None`); returns once the `caravan` user can log in.
    pub fn start(port: Option<u16>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("caravan-drill-")
            .tempdir()?;
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        run_script(&["init", &path_str(dir.path())?])?;
        let mut db = Self {
            dir,
            port,
            child: None,
            server_url: String::new(),
        };
        db.spawn()?;
        Ok(db)
    }

    /// Starts `mariadbd` (the script execs it, so the child is the server itself) and waits
    /// until it answers; returns how long that took.
    fn spawn(&mut self) -> Result<Duration> {
        let start = Instant::now();
        let dir = path_str(self.dir.path())?;
        let port = self.port.to_string();
        let child = Command::new(script())
            .args(["run", &dir, &port])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start mariadbd")?;
        self.child = Some(child);
        match run_script(&["user", &dir, &port]) {
            Ok(url) => self.server_url = url,
            Err(e) => bail!("{e:#}\nits log:\n{}", self.log_tail(30)),
        }
        Ok(start.elapsed())
    }

    /// SIGKILL: no shutdown, no flush; InnoDB recovers from its redo log at the next start.
    pub fn kill9(&mut self) -> Result<()> {
        let mut child = self.child.take().context("mariadbd is not running")?;
        child.kill().context("kill -9 mariadbd")?;
        child.wait().context("reap mariadbd")?;
        Ok(())
    }

    /// Starts the server again on the same data directory and port; returns how long it
    /// took to answer (crash recovery included).
    pub fn restart(&mut self) -> Result<Duration> {
        self.spawn()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last `lines` lines of the server's error log (crash recovery shows there).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// How many times the error log says InnoDB ran crash recovery.
    pub fn crash_recoveries(&self) -> usize {
        let text = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("Starting crash recovery"))
            .count()
    }
}

fn path_str(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .context("temporary directory path is not UTF-8")
}

impl Drop for OwnMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
