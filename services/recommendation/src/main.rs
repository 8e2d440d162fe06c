//! `caravan-recommendation`: the recommendation service alone, for Kubernetes.

use std::process::ExitCode;

use caravan_access::AccessControl;
use caravan_platform::server::ServiceSet;
use caravan_recommendation::{BINARY, RecommendationApi};

/// Many small allocations per request (protobuf, SQL values): mimalloc does them with far
/// less CPU than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    caravan_platform::binary::run(BINARY, |settings| async move {
        caravan_access::setup::check_client_key(&settings)?;
        let db = caravan_platform::database::open_store(&settings).await?;
        let profiling = caravan_platform::client::profiling_client(&settings.clients)?;
        let mut services = ServiceSet::new();
        services.store_health(caravan_platform::database::store_health(&settings, &db).await?);
        AccessControl::guard(&settings, &db, &mut services).await?;
        services.after_stop(caravan_recommendation::running_jobs::cancel_on_stop(
            db.clone(),
        ));
        services.add(
            RecommendationApi::with_settings(db, profiling, &settings.recommendation)
                .into_server(settings.server.max_message_bytes),
        );
        Ok(services)
    })
    .await
}
