//! `caravan`: the whole suite in one process.
//!
//! * `caravan serve`: all four services on one port (default `127.0.0.1:50051`), an embedded
//!   SQLite file unless `database.url` says otherwise. Marketing and recommendation still
//!   reach profiling over gRPC, by default at this process's own address.
//! * `caravan migrate`: applies pending migrations to the configured database and exits.
//! * `caravan import <format>`: bulk import into a running server over gRPC (see
//!   `docs/import.md`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use caravan_access::AccessControl;
use caravan_access::admin_api::AccessApi;
use caravan_ingestion::privacy::PrivacyApi;
use caravan_platform::server::{self, ServiceSet};
use caravan_platform::{Secret, Settings};
use clap::{Parser, Subcommand};

mod credentials;
mod import;
mod keys;
mod privacy;

const NAME: &str = "caravan";
/// `GET /metrics` of `caravan serve` when `telemetry.metrics_listen_addr` is not set.
const DEFAULT_METRICS_PORT: u16 = 9464;
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50051);

#[derive(Debug, Parser)]
#[command(
    name = "caravan",
    version,
    about = "Caravan customer intelligence: all services in one process"
)]
struct Cli {
    /// Optional TOML configuration file; `CARAVAN__SECTION__KEY` variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve ingestion, profiling, recommendation and marketing scoring on one port.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Bulk-import a file into a running server (gRPC client; see docs/import.md).
    Import {
        #[command(subcommand)]
        format: import::ImportCommand,
    },
    /// Manage API keys directly in the configured store (see docs/security.md).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Personal data at rest: re-encrypt under the active key (see docs/security.md).
    Privacy {
        #[command(subcommand)]
        command: privacy::PrivacyCommand,
    },
}

/// Many small allocations per request (protobuf, SQL values): mimalloc does them with far
/// less CPU than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(DEFAULT_LISTEN, cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{NAME}: {err}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match caravan_platform::telemetry::init(&settings.telemetry, NAME) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("{NAME}: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Import { format } => import::run(format).await.map_err(anyhow::Error::from),
        Command::Keys { command } => keys::run(settings, command).await,
        Command::Privacy { command } => privacy::run(settings, command).await,
    };
    let code = match result {
        Ok(()) => 0,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "{NAME} failed");
            1
        }
    };
    caravan_platform::binary::exit_now(code, _telemetry)
}

async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let db = caravan_platform::database::open_store(&settings).await?;
    let (access, internal_key) = AccessControl::start(&settings, &db, true).await?;
    if settings.auth.enabled && caravan_store::backend_name(&db) == "sqlite" {
        caravan_access::bootstrap::ensure_bootstrap_key(&db, &settings.auth.bootstrap_key_file)
            .await?;
    }
    let listener = server::bind(settings.server.listen_addr).await?;
    let local = listener.local_addr().context("listener address")?;
    if let Some(addr) = settings.telemetry.metrics_addr(DEFAULT_METRICS_PORT)? {
        caravan_platform::metrics::endpoint::start(addr)
            .await
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
    }
    if settings.clients.profiling_addr.is_none() {
        settings.clients.profiling_addr = Some(self_address(local, &settings));
    }
    // Marketing and recommendation present this process's own in-memory key to profiling.
    if let Some(key) = &internal_key {
        settings.clients.api_key = Some(Secret::new(key.reveal()));
    }
    let profiling = caravan_platform::client::profiling_client(&settings.clients)?;
    let max_message = settings.server.max_message_bytes;

    let consumer = caravan_profiling::outbox_consumer::spawn(&db, &settings.profiling);
    let ingestion = caravan_ingestion::IngestionApi::with_settings(db.clone(), &settings.ingestion)
        .with_profiling(profiling.clone());
    ingestion.spawn_failed_event_retention();
    let mut services = ServiceSet::new();
    access.install(&mut services);
    services.store_health(caravan_platform::database::store_health(&settings, &db).await?);
    if let Some(consumer) = consumer {
        services.after_stop(consumer.stop());
    }
    services.after_stop(caravan_recommendation::running_jobs::cancel_on_stop(
        db.clone(),
    ));
    services.after_stop(caravan_profiling::value_model_service::settle_fits(
        std::time::Duration::from_secs(5),
    ));
    services.limit_repeated(ingestion.batch_limits());
    services
        .add(ingestion.clone().into_server(max_message))
        .add(PrivacyApi::new(ingestion).into_server(max_message))
        .add(AccessApi::new(db.clone()).into_server())
        .add(
            caravan_profiling::ProfilingApi::new(db.clone())
                .with_settings(&settings.profiling)
                .into_server(max_message),
        )
        .add(
            caravan_recommendation::RecommendationApi::with_settings(
                db.clone(),
                profiling.clone(),
                &settings.recommendation,
            )
            .into_server(max_message),
        )
        .add(
            caravan_marketing::ScoringApi::new(
                db,
                caravan_marketing::ProfileSource::new(profiling),
            )
            .into_server(max_message),
        );
    server::serve(
        &settings.server,
        listener,
        services,
        server::shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// How this process reaches itself: the bound port on loopback when bound to any address,
/// over TLS when the server speaks TLS (the certificate must then name `localhost` or
/// `clients.tls.domain`).
fn self_address(local: SocketAddr, settings: &Settings) -> String {
    let host = if local.ip().is_unspecified() {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    } else {
        local.ip()
    };
    let scheme = if settings.server.tls.cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", SocketAddr::new(host, local.port()))
}

async fn migrate(mut settings: Settings) -> anyhow::Result<()> {
    // `open_store` migrates when asked to; `caravan migrate` always asks.
    settings.database.migrate_on_start = true;
    caravan_platform::database::open_store(&settings).await?;
    tracing::info!("migrations are up to date");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_itself_on_loopback() {
        let settings = Settings::default();
        assert_eq!(
            self_address("0.0.0.0:50051".parse().expect("addr"), &settings),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            self_address("127.0.0.1:4000".parse().expect("addr"), &settings),
            "http://127.0.0.1:4000"
        );
    }

    #[test]
    fn cli_parses() {
        Cli::try_parse_from(["caravan", "serve"]).expect("serve");
        Cli::try_parse_from(["caravan", "migrate", "--config", "x.toml"]).expect("migrate");
        Cli::try_parse_from([
            "caravan",
            "import",
            "online-retail",
            "--merchant",
            "acme",
            "--file",
            "online_retail.csv.gz",
        ])
        .expect("import");
        assert!(Cli::try_parse_from(["caravan", "dance"]).is_err());
    }
}
