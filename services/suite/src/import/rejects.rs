//! The reject file: one CSV line per input row that was not imported as given.
//!
//! Columns: `line,invoice_no,stock_code,action,reason`. `line` is the 1-based line of the
//! row in the (decompressed) input, the header being line 1. `action` is `skipped` (the row
//! is not part of any imported event) or `rounded` (imported, with its price rounded).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ImportError;

/// What happened to a reported row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Skipped,
    Rounded,
    /// Imported, but its country name is unknown, so no country is set.
    WithoutCountry,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Rounded => "rounded",
            Self::WithoutCountry => "without_country",
        }
    }
}

/// One line of the reject file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectLine {
    pub line: u64,
    /// The row's key: InvoiceNo for Online Retail, customer id (or company) for customer lists.
    pub key: String,
    pub detail: String,
    pub action: Action,
    pub reason: String,
}

/// Writes reject lines to a CSV file with a header of the given column names.
pub struct RejectWriter {
    path: PathBuf,
    out: csv::Writer<BufWriter<File>>,
}

impl RejectWriter {
    /// Creates (truncates) `path` and writes the header `line,<key>,<detail>,action,reason`.
    pub fn create(path: &Path, key: &str, detail: &str) -> Result<Self, ImportError> {
        let file = File::create(path).map_err(|e| ImportError::io("create", path, e))?;
        let mut out = csv::Writer::from_writer(BufWriter::new(file));
        out.write_record(["line", key, detail, "action", "reason"])
            .map_err(|e| csv_io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            out,
        })
    }

    pub fn write(&mut self, reject: &RejectLine) -> Result<(), ImportError> {
        self.out
            .write_record([
                reject.line.to_string().as_str(),
                &reject.key,
                &reject.detail,
                reject.action.as_str(),
                &reject.reason,
            ])
            .map_err(|e| csv_io(&self.path, e))
    }

    pub fn write_all<'a>(
        &mut self,
        rejects: impl IntoIterator<Item = &'a RejectLine>,
    ) -> Result<(), ImportError> {
        rejects.into_iter().try_for_each(|r| self.write(r))
    }

    /// Flushes to disk (also after each acknowledged segment, so a crash keeps them).
    pub fn flush(&mut self) -> Result<(), ImportError> {
        self.out
            .flush()
            .map_err(|e| ImportError::io("write", &self.path, e))
    }
}

fn csv_io(path: &Path, error: csv::Error) -> ImportError {
    ImportError::io("write", path, std::io::Error::other(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_header_and_quoted_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rejects.csv");
        let mut writer = RejectWriter::create(&path, "invoice_no", "stock_code").expect("create");
        writer
            .write(&RejectLine {
                line: 7,
                key: "536365".into(),
                detail: "BANK CHARGES".into(),
                action: Action::Skipped,
                reason: "missing CustomerID, really".into(),
            })
            .expect("write");
        writer.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "line,invoice_no,stock_code,action,reason\n7,536365,BANK CHARGES,skipped,\"missing CustomerID, really\"\n"
        );
    }
}
