//! The encryption keys of personal data at rest (`caravan_store::sealing`), installed once
//! per process from `privacy.*` settings before the store is used.
//!
//! Without configured keys (a local installation) the process uses the key in
//! `privacy.key_file`, made on first start with mode 0600; start-up on an address other
//! machines can reach refuses that (see `caravan_access::setup::check_exposure`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use caravan_store::sealing::{self, SealKeys};

use crate::settings::PrivacySettings;

#[derive(Debug, thiserror::Error)]
pub enum EncryptionSetupError {
    #[error("privacy.encryption_keys: {0}")]
    Keys(#[from] sealing::SealError),
    #[error("encryption key file {path}: {reason}")]
    File { path: String, reason: String },
}

/// Installs the keys of this process (a second call with the same settings is harmless).
pub fn install(settings: &PrivacySettings) -> Result<(), EncryptionSetupError> {
    let keys = if settings.encryption_keys.is_empty() {
        local_keys(&settings.key_file)?
    } else {
        let material: BTreeMap<String, String> = settings
            .encryption_keys
            .iter()
            .map(|(id, key)| (id.clone(), key.expose().to_owned()))
            .collect();
        SealKeys::new(&settings.active_encryption_key, &material)?
    };
    match sealing::install(keys) {
        Ok(()) | Err(sealing::SealError::AlreadyInstalled) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The key of a local installation: read from `path`, made there first if missing.
fn local_keys(path: &Path) -> Result<SealKeys, EncryptionSetupError> {
    let fail = |reason: String| EncryptionSetupError::File {
        path: path.display().to_string(),
        reason,
    };
    if !path.exists() {
        let (id, key) = SealKeys::generate();
        write_private(path, &format!("{id} {key}\n")).map_err(|e| fail(e.to_string()))?;
        tracing::info!(path = %path.display(), key_id = %id, "encryption key of this installation created (mode 0600)");
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let (id, key) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| fail("expected one line `<key id> <base64 key>`".to_owned()))?;
    let material = BTreeMap::from([(id.to_owned(), key.to_owned())]);
    Ok(SealKeys::new(id, &material)?)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".caravan/encryption.key");
        let first = local_keys(&path).expect("made");
        let again = local_keys(&path).expect("read");
        assert_eq!(first.active_id(), again.active_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").expect("write");
        assert!(local_keys(&path).is_err());
    }
}
