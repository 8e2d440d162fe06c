//! The UCI Online Retail file and `caravan import online-retail`, as the tests that import
//! the whole file run it (GBP merchant, created on the fly, rejects and checkpoint in the
//! test's working directory, JSON logs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};

use crate::{ServerProcess, binary_path, repo_root};

/// The file committed under `data/online_retail` (CC BY 4.0, attribution in its README).
pub fn data_file() -> PathBuf {
    repo_root().join("data/online_retail/online_retail.csv.gz")
}

/// Where the import writes the rejected rows.
pub fn rejects_file(workdir: &Path) -> PathBuf {
    workdir.join("rejects.csv")
}

/// Where the import keeps its resume point.
pub fn checkpoint_file(workdir: &Path) -> PathBuf {
    workdir.join("import.checkpoint.json")
}

/// Runs the import of the whole file for `merchant` against `server` (presenting its key) to
/// its end, with `extra` arguments; returns what the process printed and its status (not
/// checked).
pub fn run_import(
    merchant: &str,
    server: &ServerProcess,
    workdir: &Path,
    extra: &[&str],
) -> Result<Output> {
    let endpoint = server.endpoint();
    let file = data_file();
    let rejects = rejects_file(workdir);
    let checkpoint = checkpoint_file(workdir);
    let mut args = vec![
        "import",
        "online-retail",
        "--merchant",
        merchant,
        "--file",
        file.to_str().context("path")?,
        "--target",
        &endpoint,
        "--rejects",
        rejects.to_str().context("path")?,
        "--checkpoint",
        checkpoint.to_str().context("path")?,
        "--create-merchant",
        "--base-currency",
        "GBP",
    ];
    if let Some(key) = server.api_key() {
        args.extend(["--api-key", key]);
    }
    args.extend_from_slice(extra);
    Command::new(binary_path("caravan")?)
        .args(&args)
        .current_dir(workdir)
        .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
        .output()
        .context("run caravan import")
}
