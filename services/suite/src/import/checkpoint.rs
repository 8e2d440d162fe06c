//! Resumable imports: a JSON checkpoint written after every acknowledged unit of work.
//!
//! The checkpoint names the import (format, merchant, input file size and modification
//! time) and how far it got: whether the catalogue/customers were sent, and how many events
//! (Online Retail) or rows (customer lists) the server acknowledged. `--resume` continues
//! from there; anything re-sent after a crash is harmless, because events are idempotent by
//! event id and customers answer ALREADY_EXISTS.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ImportError;
use super::rejects::RejectLine;

const VERSION: u32 = 1;

/// Identifies the input file (cheaply: its size and modification time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: String,
    pub len: u64,
    pub modified_unix: i64,
}

impl FileStamp {
    pub fn of(path: &Path) -> Result<Self, ImportError> {
        let meta = std::fs::metadata(path).map_err(|e| ImportError::io("inspect", path, e))?;
        let modified_unix = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0);
        Ok(Self {
            path: path.display().to_string(),
            len: meta.len(),
            modified_unix,
        })
    }
}

/// Server-side outcome counts, accumulated over the acknowledged work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub events_accepted: i64,
    pub events_duplicate: i64,
    pub events_rejected: i64,
    pub products_created: i64,
    pub products_updated: i64,
    pub customers_created: i64,
    pub customers_existing: i64,
    pub customers_updated: i64,
    pub contacts_created: i64,
    pub customers_rejected: i64,
    /// IngestEvents calls sent again after the server asked to retry later; events a failed
    /// attempt had stored count as duplicates.
    #[serde(default)]
    pub event_calls_retried: i64,
}

/// Progress of one import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub format: String,
    pub merchant: String,
    pub file: FileStamp,
    /// Products and customers were sent (Online Retail).
    pub setup_done: bool,
    /// Events (Online Retail) or rows (customer lists) acknowledged so far.
    pub next_index: u64,
    pub counts: Counts,
    /// Rows the server rejected, re-written to the reject file on resume.
    pub server_rejects: Vec<RejectLine>,
    pub complete: bool,
}

impl Checkpoint {
    pub fn new(format: &str, merchant: &str, file: FileStamp) -> Self {
        Self {
            version: VERSION,
            format: format.to_owned(),
            merchant: merchant.to_owned(),
            file,
            setup_done: false,
            next_index: 0,
            counts: Counts::default(),
            server_rejects: Vec::new(),
            complete: false,
        }
    }

    /// Loads a checkpoint and checks that it belongs to this import.
    pub fn load(path: &Path, expected: &Self) -> Result<Self, ImportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ImportError::io("read", path, e))?;
        let loaded: Self = serde_json::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        if loaded.version != VERSION {
            return Err(bad(
                path,
                format!("version {} is not {VERSION}", loaded.version),
            ));
        }
        if loaded.format != expected.format || loaded.merchant != expected.merchant {
            return Err(bad(
                path,
                format!(
                    "it is a {} import for merchant {}, not {} for {}",
                    loaded.format, loaded.merchant, expected.format, expected.merchant
                ),
            ));
        }
        if loaded.file.len != expected.file.len
            || loaded.file.modified_unix != expected.file.modified_unix
        {
            return Err(bad(
                path,
                format!(
                    "the input file changed since the checkpoint ({} bytes then, {} now); \
                     start again without --resume",
                    loaded.file.len, expected.file.len
                ),
            ));
        }
        Ok(loaded)
    }

    /// Writes the checkpoint atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ImportError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| bad(path, e.to_string()))?;
        let tmp = temp_path(path);
        std::fs::write(&tmp, text).map_err(|e| ImportError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ImportError::io("replace", path, e))
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn bad(path: &Path, message: String) -> ImportError {
    ImportError::Checkpoint {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(len: u64) -> FileStamp {
        FileStamp {
            path: "data.csv.gz".into(),
            len,
            modified_unix: 1,
        }
    }

    #[test]
    fn round_trips_and_checks_ownership() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cp.json");
        let mut cp = Checkpoint::new("online-retail", "acme", stamp(10));
        cp.next_index = 5000;
        cp.counts.events_accepted = 4999;
        cp.save(&path).expect("save");
        let expected = Checkpoint::new("online-retail", "acme", stamp(10));
        assert_eq!(Checkpoint::load(&path, &expected).expect("load"), cp);

        let other_merchant = Checkpoint::new("online-retail", "zeta", stamp(10));
        assert!(Checkpoint::load(&path, &other_merchant).is_err());
        let changed_file = Checkpoint::new("online-retail", "acme", stamp(11));
        let err = Checkpoint::load(&path, &changed_file).expect_err("file changed");
        assert!(err.to_string().contains("changed"), "{err}");
    }

    #[test]
    fn garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cp.json");
        std::fs::write(&path, "{not json").expect("write");
        let expected = Checkpoint::new("customers", "acme", stamp(1));
        assert!(matches!(
            Checkpoint::load(&path, &expected),
            Err(ImportError::Checkpoint { .. })
        ));
    }
}
