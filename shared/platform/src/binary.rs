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
    /// Port of `GET /metrics` when `telemetry.metrics_listen_addr` is not configured.
    pub default_metrics_port: u16,
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
    let code = match serve_until_signal(settings, spec.default_metrics_port, build).await {
        Ok(()) => 0,
        Err(err) => {
            tracing::error!(
                error = format!("{err:#}"),
                "{} stopped with an error",
                spec.name
            );
            1
        }
    };
    exit_now(code, _telemetry)
}

/// Ends the process with `code` once telemetry is flushed, without waiting for work left on
/// blocking threads. A recommendation training or evaluation on a blocking thread does not
/// stop by itself, and dropping the async runtime would wait for it (minutes for EASE on a
/// large catalogue; Kubernetes kills the pod first), although the server had stopped and its
/// after-stop work (jobs marked cancelled, fits settled, the consumer's lease released) was
/// done.
pub fn exit_now(code: u8, telemetry: telemetry::TelemetryGuard) -> ! {
    drop(telemetry);
    // `exit` runs no destructors: flush what was printed without a newline.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(i32::from(code))
}

async fn serve_until_signal<F, Fut>(
    settings: Settings,
    default_metrics_port: u16,
    build: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<ServiceSet>>,
{
    let server_settings = settings.server.clone();
    let metrics = settings.telemetry.metrics_addr(default_metrics_port)?;
    let services = build(settings).await?;
    if let Some(addr) = metrics
        && let Err(err) = crate::metrics::endpoint::start(addr).await
    {
        services.abandon().await;
        anyhow::bail!("cannot serve metrics on {addr}: {err}");
    }
    let listener = match server::bind(server_settings.listen_addr).await {
        Ok(listener) => listener,
        Err(err) => {
            services.abandon().await;
            return Err(err.into());
        }
    };
    server::serve(
        &server_settings,
        listener,
        services,
        server::shutdown_signal(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_server_that_cannot_bind_still_runs_its_after_stop_work() {
        // The port is taken, so binding fails after the services (and their background
        // work, such as the outbox consumer holding its lease) were built.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = taken.local_addr().expect("its address");
        let settings = Settings::load_from(addr, None, Vec::new()).expect("settings");
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let result = serve_until_signal(settings, 0, |_| async move {
            let mut services = ServiceSet::new();
            services.after_stop(async move { flag.store(true, Ordering::SeqCst) });
            Ok(services)
        })
        .await;
        assert!(result.is_err(), "the port was taken");
        assert!(
            stopped.load(Ordering::SeqCst),
            "after_stop work did not run"
        );
    }
}
