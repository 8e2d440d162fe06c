//! `caravan-ingestion`: the ingestion service alone, for Kubernetes.

use std::process::ExitCode;

use caravan_ingestion::{BINARY, IngestionApi};
use caravan_platform::server::ServiceSet;

/// Many small allocations per request (protobuf, SQL values): mimalloc does them with far
/// less CPU than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    caravan_platform::binary::run(BINARY, |settings| async move {
        let db = caravan_platform::database::open_store(&settings.database).await?;
        let mut services = ServiceSet::new();
        services.add(
            IngestionApi::with_settings(db, &settings.ingestion)
                .into_server(settings.server.max_message_bytes),
        );
        Ok(services)
    })
    .await
}
