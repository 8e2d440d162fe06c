//! `caravan serve` with no configuration at all: embedded SQLite, the default port, all four
//! services visible to the real grpcurl through reflection, healthy, and a clean exit on
//! SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::{SERVICES, ServerProcess, binary_path, grpcurl_ok};

#[test]
fn caravan_serve_without_configuration_serves_every_service_on_sqlite() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let mut command = Command::new(binary_path("caravan")?);
    command
        .arg("serve")
        .current_dir(workdir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // "No configuration at all": not even inherited CARAVAN__* variables.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CARAVAN__")) {
        command.env_remove(key);
    }
    let mut server = ServerProcess::start_command(command)?;
    ensure!(
        server.target() == "127.0.0.1:50051",
        "default address, got {}",
        server.target()
    );
    let sqlite = workdir.path().join(".caravan/caravan.sqlite");
    ensure!(sqlite.is_file(), "{} was not created", sqlite.display());
    let logs = server.logs().join("\n");
    ensure!(
        logs.contains(&sqlite.display().to_string()),
        "start-up must say where the data lives:\n{logs}"
    );

    let target = server.target();
    let listed = grpcurl_ok(&["-plaintext", &target, "list"])?;
    for service in SERVICES.iter().chain(&[
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ]) {
        ensure!(
            listed.lines().any(|l| l == *service),
            "{service} not listed:\n{listed}"
        );
    }

    let described = grpcurl_ok(&[
        "-plaintext",
        &target,
        "describe",
        "caravan.ingestion.v1.IngestionService.IngestEvents",
    ])?;
    ensure!(
        described.contains("rpc IngestEvents ( stream .caravan.ingestion.v1.IngestEventsRequest )"),
        "describe output:\n{described}"
    );
    let message = grpcurl_ok(&["-plaintext", &target, "describe", "caravan.common.v1.Money"])?;
    ensure!(message.contains("amount_minor"), "{message}");

    for service in SERVICES.iter().chain(&[""]) {
        let request = format!("{{\"service\":\"{service}\"}}");
        let health = grpcurl_ok(&[
            "-plaintext",
            "-d",
            &request,
            &target,
            "grpc.health.v1.Health/Check",
        ])?;
        ensure!(
            health.contains("\"SERVING\""),
            "{service:?} is not serving: {health}"
        );
    }

    server.sigterm()?;
    let status = server.wait_exit(Duration::from_secs(30))?;
    ensure!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}

#[test]
fn unknown_configuration_keys_stop_the_binary_with_the_key_name() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let output = Command::new(binary_path("caravan")?)
        .arg("serve")
        .current_dir(workdir.path())
        .env("CARAVAN__SERVER__LISTEN_PORT", "1")
        .output()
        .context("run caravan")?;
    ensure!(!output.status.success(), "must refuse an unknown key");
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        stderr.contains("listen_port"),
        "error must name the key: {stderr}"
    );
    Ok(())
}
