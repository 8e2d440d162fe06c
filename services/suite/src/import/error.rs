//! The one error type of `caravan import`.
//!
//! Row-level problems of the input (a blank CustomerID, an unparseable quantity) are not
//! errors: they become lines of the reject file. `ImportError` is for what stops an import:
//! unreadable files, a malformed CSV structure, a server that refuses a call, a checkpoint
//! that belongs to another import.

use std::path::PathBuf;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be opened, read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The header of the input does not have the columns of the chosen format.
    #[error("{}: {message}", path.display())]
    Header { path: PathBuf, message: String },
    /// A command-line value is unusable.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached.
    #[error("connect to {target}: {message}")]
    Connect { target: String, message: String },
    /// A gRPC call failed.
    #[error("{call}: {} ({})", status.message(), status.code())]
    Rpc {
        call: &'static str,
        #[source]
        status: Box<tonic::Status>,
    },
    /// The checkpoint file is unreadable or belongs to another import.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
}

impl ImportError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn rpc(call: &'static str, status: tonic::Status) -> Self {
        Self::Rpc {
            call,
            status: Box::new(status),
        }
    }
}
