//! Each single-service binary on a fresh MariaDB database: migrates on start, serves its one
//! service (and only it) with health and reflection for the real grpcurl; `caravan migrate`
//! applies the schema to an empty database and is a no-op the second time.

use std::process::Command;

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::{SERVICES, ServerProcess, binary_path, grpcurl_ok};

const BINARIES: [(&str, &str); 4] = [
    ("caravan-ingestion", SERVICES[0]),
    ("caravan-profiling", SERVICES[1]),
    ("caravan-recommendation", SERVICES[2]),
    ("caravan-marketing", SERVICES[3]),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_single_service_binary_serves_its_service_on_mariadb() -> Result<()> {
    for (binary, service) in BINARIES {
        let Some(db) = TestDatabase::create().await? else {
            return Ok(());
        };
        let workdir = tempfile::tempdir()?;
        let server = ServerProcess::start(
            binary,
            &[],
            &[("CARAVAN__DATABASE__URL", db.url.as_str())],
            workdir.path(),
        )?;
        let target = server.target();
        let listed = grpcurl_ok(&["-plaintext", &target, "list"])?;
        ensure!(listed.lines().any(|l| l == service), "{binary}: {listed}");
        for other in SERVICES.iter().filter(|s| **s != service) {
            ensure!(
                !listed.contains(other),
                "{binary} must not advertise {other}:\n{listed}"
            );
        }
        let request = format!("{{\"service\":\"{service}\"}}");
        let health = grpcurl_ok(&[
            "-plaintext",
            "-d",
            &request,
            &target,
            "grpc.health.v1.Health/Check",
        ])?;
        ensure!(health.contains("\"SERVING\""), "{binary}: {health}");

        let store = caravan_store::connect(&db.url, 1).await?;
        let tables = caravan_store::testing::table_names(&store).await?;
        store.close().await?;
        ensure!(
            tables.iter().any(|t| t == "outbox"),
            "{binary} did not migrate: {tables:?}"
        );
        drop(server);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn caravan_migrate_applies_once_and_reruns_as_a_no_op() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let run = || -> Result<String> {
        let output = Command::new(binary_path("caravan")?)
            .arg("migrate")
            .env("CARAVAN__DATABASE__URL", &db.url)
            .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
            .output()
            .context("run caravan migrate")?;
        let logs = String::from_utf8_lossy(&output.stderr).into_owned();
        ensure!(output.status.success(), "caravan migrate failed:\n{logs}");
        ensure!(
            !logs.contains(":caravan@"),
            "password leaked into logs:\n{logs}"
        );
        Ok(logs)
    };
    let first = run()?;
    ensure!(
        first.contains("has been applied"),
        "first run applies:\n{first}"
    );
    let store = caravan_store::connect(&db.url, 1).await?;
    let tables = caravan_store::testing::table_names(&store).await?;
    let expected = caravan_store::testing::checks::expected_tables();
    for table in &expected {
        ensure!(tables.contains(table), "missing {table}: {tables:?}");
    }
    let second = run()?;
    ensure!(
        !second.contains("has been applied"),
        "second run must be a no-op:\n{second}"
    );
    ensure!(
        caravan_store::testing::table_names(&store).await? == tables,
        "second run changed the schema"
    );
    store.close().await?;
    Ok(())
}
