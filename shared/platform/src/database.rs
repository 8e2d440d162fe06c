//! Opening the one Caravan store from the [`Settings`]: the encryption keys of personal
//! data first ([`crate::encryption`]), then the connection.

use std::time::Duration;

use caravan_store::sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::settings::Settings;

/// Installs the encryption keys, connects, and applies pending migrations when
/// `database.migrate_on_start` is set. Logs where the data lives (password redacted; the
/// absolute path for SQLite files).
pub async fn open_store(all: &Settings) -> anyhow::Result<DatabaseConnection> {
    crate::encryption::install(&all.privacy)?;
    let settings = &all.database;
    let url = settings.url.expose();
    let db = caravan_store::connect_pool(url, settings.pool_options()).await?;
    tracing::info!(
        database = %settings.redacted_url(),
        location = %data_location(url),
        backend = caravan_store::backend_name(&db),
        "store connected"
    );
    if settings.migrate_on_start {
        caravan_store::migrate(&db).await?;
        tracing::info!("store migrations applied");
    }
    Ok(db)
}

/// What readiness watches: the store's pool (for the pool metrics) and a connection of its
/// own to ping ([`store_health`]).
pub struct StoreHealth {
    pub(crate) store: DatabaseConnection,
    pub(crate) probe: DatabaseConnection,
    pub(crate) every: Option<Duration>,
}

/// Readiness for `store`, checked every `database.health_check_interval_ms` (never when 0).
///
/// For MySQL the ping goes over a one-connection pool of its own. Pinging through the
/// service's pool measured how busy the pool was, not whether the database answers: under
/// load every connection is taken, the ping waits its turn past the interval, and a busy
/// replica reported NOT_SERVING (185 flips in a 30-minute soak) just when load shedding
/// should keep it in rotation. SQLite's one connection is shared: a file does not go away.
pub async fn store_health(
    all: &Settings,
    store: &DatabaseConnection,
) -> anyhow::Result<StoreHealth> {
    let every = all.database.health_check_interval();
    let probe = match (every, store.get_database_backend()) {
        (Some(_), DatabaseBackend::MySql) => {
            let options = caravan_store::PoolOptions {
                max_connections: 1,
                ..all.database.pool_options()
            };
            caravan_store::connect_pool(all.database.url.expose(), options).await?
        }
        _ => store.clone(),
    };
    Ok(StoreHealth {
        store: store.clone(),
        probe,
        every,
    })
}

/// For SQLite, the absolute path of the file; otherwise the redacted URL.
fn data_location(url: &str) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return caravan_store::redact_url(url);
    };
    let path = rest.split('?').next().unwrap_or(rest);
    std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_location_is_absolute() {
        let location = data_location("sqlite://.caravan/caravan.sqlite?mode=rwc");
        assert!(location.starts_with('/'), "{location}");
        assert!(location.ends_with(".caravan/caravan.sqlite"), "{location}");
        assert_eq!(data_location("mysql://u:pw@db/x"), "mysql://u:***@db/x");
    }
}
