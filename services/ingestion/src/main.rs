//! `caravan-ingestion`: the ingestion service alone, for Kubernetes, with access
//! administration (API keys, access log) and exports (privacy) beside it.

use std::process::ExitCode;

use caravan_access::AccessControl;
use caravan_access::admin_api::AccessApi;
use caravan_ingestion::privacy::PrivacyApi;
use caravan_ingestion::{BINARY, IngestionApi};
use caravan_platform::server::ServiceSet;

/// Many small allocations per request (protobuf, SQL values): mimalloc does them with far
/// less CPU than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    caravan_platform::binary::run(BINARY, |settings| async move {
        // Exports read profiles and tags from profiling, with this key.
        caravan_access::setup::check_client_key(&settings)?;
        let db = caravan_platform::database::open_store(&settings).await?;
        let profiling = caravan_platform::client::profiling_client(&settings.clients)?;
        let max_message = settings.server.max_message_bytes;
        let ingestion =
            IngestionApi::with_settings(db.clone(), &settings.ingestion).with_profiling(profiling);
        ingestion.spawn_failed_event_retention();
        let mut services = ServiceSet::new();
        services.store_health(caravan_platform::database::store_health(&settings, &db).await?);
        services.limit_repeated(ingestion.batch_limits());
        AccessControl::guard(&settings, &db, &mut services).await?;
        services
            .add(ingestion.clone().into_server(max_message))
            .add(PrivacyApi::new(ingestion).into_server(max_message))
            .add(AccessApi::new(db).into_server());
        Ok(services)
    })
    .await
}
