//! `caravan privacy reseal`: re-encrypts the personal data in the configured store under the
//! active key (`privacy.active_encryption_key`), and seals what was written before sealing.
//! Run it after adding a new key and making it active; then the old key can be removed.

use caravan_platform::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum PrivacyCommand {
    /// Re-encrypts every sealed value under the active key; prints what it rewrote.
    Reseal,
}

pub async fn run(settings: Settings, command: PrivacyCommand) -> anyhow::Result<()> {
    let db = caravan_platform::database::open_store(&settings).await?;
    match command {
        PrivacyCommand::Reseal => {
            let store = caravan_store::reseal::reseal(&db).await?;
            let profiling = caravan_profiling::reseal::reseal(&db).await?;
            println!(
                "resealed: customers {}, contacts {}, events {}, failed events {}, profiles {}, event summaries {}, tags {}, tag history {}",
                store.customers,
                store.contacts,
                store.events,
                store.failed_events,
                profiling.profiles,
                profiling.event_summaries,
                profiling.tags,
                profiling.tag_history
            );
        }
    }
    Ok(())
}
