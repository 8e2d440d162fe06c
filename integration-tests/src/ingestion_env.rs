//! A real `caravan-ingestion` on a fresh MariaDB database, with merchant `acme` (EUR) created.

use crate::Channel;
use anyhow::Result;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;

use crate::ServerProcess;
use crate::mysql::TestDatabase;

pub struct IngestionEnv {
    pub db: TestDatabase,
    pub server: ServerProcess,
    _workdir: tempfile::TempDir,
    pub client: IngestionServiceClient<Channel>,
}

/// Starts the server with a fixed identity key plus `extra_env`; `None` only when MySQL
/// tests are explicitly skipped.
pub async fn start(extra_env: &[(&str, &str)]) -> Result<Option<IngestionEnv>> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(None);
    };
    let workdir = tempfile::tempdir()?;
    let mut env = vec![
        ("CARAVAN__DATABASE__URL", db.url.as_str()),
        (
            "CARAVAN__INGESTION__IDENTITY_HASH_KEY",
            "integration-test-key",
        ),
    ];
    env.extend_from_slice(extra_env);
    let server = ServerProcess::start("caravan-ingestion", &[], &env, workdir.path())?;
    let mut client = IngestionServiceClient::new(server.channel().await?);
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "acme".to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "ACME".to_owned(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    Ok(Some(IngestionEnv {
        db,
        server,
        _workdir: workdir,
        client,
    }))
}
