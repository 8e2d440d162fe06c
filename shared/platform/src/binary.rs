//! What a single-service binary's `main` does, in one place: read `--config`, load settings,
//! start telemetry, build the service, serve until SIGTERM/SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::server::{self, ServiceSet};
use crate::settings::Settings;
use crate::telemetry;

/// Command line shared by the single-service binaries.
#[derive(Debug, Parser)]
pub struct ServiceArgs {
    /// Optional TOML configuration file; `CARAVAN__SECTION__KEY` variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Identity of one binary.
#[derive(Debug, Clone, Copy)]
pub struct BinarySpec {
    /// Service name in logs and traces, e.g. `caravan-profiling`.
    pub name: &'static str,
    /// Port used when `server.listen_addr` is not configured.
    pub default_port: u16,
}

impl BinarySpec {
    pub fn default_listen_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.default_port))
    }
}

/// Runs a single-service binary. `build` receives the settings and returns the services.
pub async fn run<F, Fut>(spec: BinarySpec, build: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<ServiceSet>>,
{
    let args = ServiceArgs::parse();
    let settings = match Settings::load(spec.default_listen_addr(), args.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{}: {err}", spec.name);
            return ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(&settings.telemetry, spec.name) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("{}: {err}", spec.name);
            return ExitCode::from(2);
        }
    };
    match serve_until_signal(settings, build).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(
                error = format!("{err:#}"),
                "{} stopped with an error",
                spec.name
            );
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_signal<F, Fut>(settings: Settings, build: F) -> anyhow::Result<()>
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<ServiceSet>>,
{
    let server_settings = settings.server.clone();
    let services = build(settings).await?;
    let listener = server::bind(server_settings.listen_addr).await?;
    server::serve(
        &server_settings,
        listener,
        services,
        server::shutdown_signal(),
    )
    .await?;
    Ok(())
}
