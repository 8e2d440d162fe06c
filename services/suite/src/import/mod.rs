//! `caravan import`: bulk import into a running ingestion service over gRPC.
//!
//! * `caravan import online-retail`: the UCI Online Retail file; invoices become order
//!   events streamed through `IngestEvents`, after the catalogue (`BatchUpsertProducts`) and
//!   the customers (`CreateCustomer`).
//! * `caravan import customers`: a seller-backend customer list (`CreateCustomer`,
//!   `UpdateCustomer`, `CreateContact`).
//!
//! Both write a reject file (one line per row not imported, with the reason), checkpoint
//! after every acknowledged unit of work (`--resume` continues), show a progress bar when
//! stderr is a terminal and print a summary to stdout. See `docs/import.md`.

use std::path::PathBuf;

mod checkpoint;
mod client;
mod country_names;
mod csv_lines;
mod customer_csv;
mod customers;
pub mod error;
mod events;
mod input;
mod local_time;
mod online_retail;
mod price;
mod progress;
mod rejects;
mod retail;

pub use error::ImportError;

/// The formats `caravan import` reads.
#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// The UCI Online Retail file (CSV, optionally gzip): invoices become order events.
    OnlineRetail(OnlineRetailArgs),
    /// A seller-backend customer list (CSV, optionally gzip), see docs/import.md.
    Customers(CustomersArgs),
}

/// Options of every format.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// Merchant (tenant) id to import into, e.g. `acme`.
    #[arg(long)]
    pub merchant: String,
    /// The file to import (`.gz` is decompressed).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    /// The ingestion service (or `caravan serve`) to send to.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// API key with the `write` scope for the merchant (`admin` too with
    /// --create-merchant); default: the bootstrap key in `.caravan/admin.key`, if any.
    #[arg(
        long,
        env = "CARAVAN_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Where to write the rows that were not imported, with the reason.
    #[arg(long, value_name = "FILE", default_value = "rejects.csv")]
    pub rejects: PathBuf,
    /// Progress file; default `caravan-import-<merchant>-<format>.checkpoint.json`.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint instead of starting over.
    #[arg(long)]
    pub resume: bool,
    /// Events (or customers) per request message, 1 to 1000.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Create the merchant first (an existing merchant is fine).
    #[arg(long)]
    pub create_merchant: bool,
    /// Base currency of a merchant created with --create-merchant.
    #[arg(long, default_value = "GBP", value_name = "CODE")]
    pub base_currency: String,
}

impl CommonArgs {
    fn validate(&self) -> Result<(), ImportError> {
        caravan_core::names::MerchantId::parse(&self.merchant)
            .map_err(|e| ImportError::Usage(format!("--merchant {:?}: {e}", self.merchant)))?;
        if !(1..=1000).contains(&self.batch_size) {
            return Err(ImportError::Usage(format!(
                "--batch-size must be 1 to 1000, not {}",
                self.batch_size
            )));
        }
        if self.create_merchant && !caravan_core::iso::is_currency(&self.base_currency) {
            return Err(ImportError::Usage(format!(
                "--base-currency {:?} is not an ISO 4217 code",
                self.base_currency
            )));
        }
        Ok(())
    }

    /// The key to present: `--api-key`, `CARAVAN_API_KEY`, or the bootstrap key file.
    fn api_key(&self) -> Result<Option<caravan_platform::Secret>, ImportError> {
        crate::credentials::api_key(self.api_key.as_deref()).map_err(ImportError::Usage)
    }

    fn checkpoint_path(&self, format: &str) -> PathBuf {
        self.checkpoint.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "caravan-import-{}-{format}.checkpoint.json",
                self.merchant
            ))
        })
    }
}

/// `caravan import online-retail`.
#[derive(Debug, clap::Args)]
pub struct OnlineRetailArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Request messages per IngestEvents call; the checkpoint advances after each call.
    #[arg(long, default_value_t = 10)]
    pub batches_per_call: usize,
    /// IANA time zone the file's InvoiceDate values are local times of (the UCI file's are
    /// UK time); a merchant created with --create-merchant gets it as its time zone, which
    /// decides its purchase days.
    #[arg(long, default_value = "Europe/London", value_name = "ZONE")]
    pub time_zone: String,
}

/// `caravan import customers`.
#[derive(Debug, clap::Args)]
pub struct CustomersArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// `source` of customers whose row has none.
    #[arg(long, default_value = "seller-backend-import")]
    pub source: String,
    /// Customer calls in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// Runs an import and prints its summary to stdout.
pub async fn run(command: ImportCommand) -> Result<(), ImportError> {
    let summary = match command {
        ImportCommand::OnlineRetail(args) => retail::run(&args).await?.to_string(),
        ImportCommand::Customers(args) => customers::run(&args).await?.to_string(),
    };
    print!("{summary}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ImportCommand,
    }

    #[test]
    fn parses_both_formats() {
        let cli = Cli::try_parse_from([
            "import",
            "online-retail",
            "--merchant",
            "acme",
            "--file",
            "x.csv.gz",
            "--create-merchant",
            "--resume",
        ])
        .expect("online-retail");
        let ImportCommand::OnlineRetail(args) = cli.command else {
            panic!("online-retail");
        };
        assert_eq!(args.common.target, "http://127.0.0.1:50051");
        assert_eq!(args.common.batch_size, 1000);
        assert_eq!(args.common.rejects, PathBuf::from("rejects.csv"));
        assert!(args.common.resume && args.common.create_merchant);
        assert_eq!(
            args.common.checkpoint_path("online-retail"),
            PathBuf::from("caravan-import-acme-online-retail.checkpoint.json")
        );
        args.common.validate().expect("valid");

        let cli = Cli::try_parse_from([
            "import",
            "customers",
            "--merchant",
            "Bad!",
            "--file",
            "c.csv",
        ])
        .expect("customers");
        let ImportCommand::Customers(args) = cli.command else {
            panic!("customers");
        };
        assert!(args.common.validate().is_err(), "merchant slug is checked");
        assert!(Cli::try_parse_from(["import", "online-retail", "--file", "x"]).is_err());
    }
}
