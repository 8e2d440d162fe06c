//! `caravan-profiling`: the profiling service alone, for Kubernetes.

use std::process::ExitCode;

use caravan_access::AccessControl;
use caravan_platform::server::ServiceSet;
use caravan_profiling::{BINARY, ProfilingApi};

/// Many small allocations per request (protobuf, SQL values): mimalloc does them with far
/// less CPU than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    caravan_platform::binary::run(BINARY, |settings| async move {
        let db = caravan_platform::database::open_store(&settings).await?;
        let consumer = caravan_profiling::outbox_consumer::spawn(&db, &settings.profiling);
        let mut services = ServiceSet::new();
        services.store_health(caravan_platform::database::store_health(&settings, &db).await?);
        AccessControl::guard(&settings, &db, &mut services).await?;
        services.add(
            ProfilingApi::new(db)
                .with_settings(&settings.profiling)
                .into_server(settings.server.max_message_bytes),
        );
        if let Some(consumer) = consumer {
            services.after_stop(consumer.stop());
        }
        services.after_stop(caravan_profiling::value_model_service::settle_fits(
            std::time::Duration::from_secs(5),
        ));
        Ok(services)
    })
    .await
}
