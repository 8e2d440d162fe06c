//! The README's grpcurl block, run as written against a fresh `caravan serve` in its working
//! directory (only the port differs), with the bootstrap key it writes.

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::{ServerProcess, repo_root};

/// The shell block under "## Try it with grpcurl".
fn readme_block() -> Result<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md"))?;
    let section = readme
        .split("## Try it with grpcurl")
        .nth(1)
        .context("README has no grpcurl section")?;
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .context("the section has no sh block")?;
    Ok(block.to_owned())
}

#[test]
fn the_readme_grpcurl_examples_work_as_written() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let script = readme_block()?.replace("127.0.0.1:50051", &server.target());
    ensure!(
        script.contains("$(cat .caravan/admin.key)"),
        "the examples must use the bootstrap key"
    );
    let tools = repo_root().join(".tools/bin");
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(workdir.path())
        .env("PATH", path)
        .output()
        .context("run bash")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "the README block failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "caravan.ingestion.v1.IngestionService",
        "\"name\": \"merchants/acme\"",
        "ada@example.com",
        "\"displayName\": \"ACME Ltd\"",
        "\"key\": \"cvn_",
        "\"summary\"",
        "ACCESS_ACTION_REVEAL_PII",
        "SERVING",
    ] {
        ensure!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    Ok(())
}
