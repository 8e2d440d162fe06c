//! The first key of an embedded installation: `caravan serve` on SQLite creates an admin key
//! for every merchant once, when the store has no key at all, and writes it to a file only
//! its user can read. The log names the file, never the key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use caravan_store::sea_orm::DatabaseConnection;

use crate::key_admin::{self, KeyAdminError, KeySpec};
use crate::key_store;
use crate::principal::MerchantGrant;
use crate::scope::Scopes;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot write the bootstrap key to {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the bootstrap key: {0}")]
    Key(#[from] KeyAdminError),
}

/// Creates the bootstrap admin key when the store has none; returns the file it was written
/// to, or `None` when the store already had keys.
pub async fn ensure_bootstrap_key(
    db: &DatabaseConnection,
    path: &Path,
) -> Result<Option<PathBuf>, BootstrapError> {
    if key_store::count(db).await.map_err(KeyAdminError::from)? > 0 {
        return Ok(None);
    }
    let spec = KeySpec {
        display_name: "bootstrap admin".to_owned(),
        merchants: MerchantGrant::All,
        scopes: Scopes::all(),
        expires_at: None,
        rate_limit_per_second: None,
    };
    let (key, record) = key_admin::create_key(db, spec, "bootstrap", chrono::Utc::now()).await?;
    if let Err(source) = write_private(path, key.reveal()) {
        // A key nobody can read would stop the next start from making one.
        if let Err(e) = key_store::delete(db, &record.id).await {
            tracing::error!(error = %e, key = %record.id, "cannot remove the unwritten bootstrap key");
        }
        return Err(BootstrapError::File {
            path: path.display().to_string(),
            source,
        });
    }
    tracing::info!(path = %path.display(), "bootstrap admin key written (mode 0600); use it as `authorization: Bearer <key>`");
    Ok(Some(path.to_owned()))
}

/// Writes `text` to `path`, readable and writable by the owner only, replacing a stale file
/// atomically (a key file left from an earlier, deleted store is useless).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp)?;
    #[cfg(unix)]
    std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    writeln!(file, "{text}")?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bootstrap_key_is_made_once_and_readable_by_its_owner_only() {
        let db = caravan_store::testing::sqlite_memory()
            .await
            .expect("store");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".caravan/admin.key");
        let written = ensure_bootstrap_key(&db, &path).await.expect("bootstrap");
        assert_eq!(written.as_deref(), Some(path.as_path()));
        let key = std::fs::read_to_string(&path).expect("key file");
        assert!(crate::api_key::PresentedKey::parse(key.trim()).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            ensure_bootstrap_key(&db, &path)
                .await
                .expect("second start"),
            None
        );
        assert_eq!(std::fs::read_to_string(&path).expect("unchanged"), key);
    }
}
