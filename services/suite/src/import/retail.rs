//! `caravan import online-retail`: parse, send the catalogue and customers, stream events.

use caravan_core::time_zone::MerchantTimeZone;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use futures::StreamExt;

use super::OnlineRetailArgs;
use super::checkpoint::{Checkpoint, Counts, FileStamp};
use super::client::{self, Created};
use super::error::ImportError;
use super::events;
use super::input;
use super::online_retail::{self, Dataset, FileTotals, SkipReason, UncodedCountry};
use super::progress::Progress;
use super::rejects::{Action, RejectLine, RejectWriter};

const FORMAT: &str = "online-retail";
/// CreateCustomer calls in flight at once.
const CUSTOMER_CONCURRENCY: usize = 16;

/// What an Online Retail import did; printed to stdout.
#[derive(Debug)]
pub struct RetailSummary {
    merchant: String,
    totals: FileTotals,
    rows_imported: u64,
    skipped: BTreeMap<SkipReason, u64>,
    prices_rounded: u64,
    uncoded_countries: BTreeMap<String, UncodedCountry>,
    orders: usize,
    cancellations: usize,
    products: usize,
    customers: usize,
    counts: Counts,
    rejects_path: String,
    reject_lines: usize,
}

pub async fn run(args: &OnlineRetailArgs) -> Result<RetailSummary, ImportError> {
    let common = &args.common;
    common.validate()?;
    if args.batches_per_call == 0 {
        return Err(ImportError::Usage(
            "--batches-per-call must be at least 1".into(),
        ));
    }
    let checkpoint_path = common.checkpoint_path(FORMAT);
    let fresh = Checkpoint::new(FORMAT, &common.merchant, FileStamp::of(&common.file)?);
    let mut checkpoint = if common.resume && checkpoint_path.exists() {
        Checkpoint::load(&checkpoint_path, &fresh)?
    } else {
        fresh
    };
    let progress = Progress::new();

    let zone = MerchantTimeZone::parse(&args.time_zone)
        .map_err(|e| ImportError::Usage(format!("--time-zone: {e}")))?;
    let data = read(&common.file, zone, progress)?;
    let mut rejects = RejectWriter::create(&common.rejects, "invoice_no", "stock_code")?;
    rejects.write_all(&data.rejects)?;
    rejects.write_all(&checkpoint.server_rejects)?;
    rejects.flush()?;

    if !checkpoint.complete {
        let mut client = client::connect(&common.target, common.api_key()?.as_ref()).await?;
        if common.create_merchant {
            client::ensure_merchant(
                &mut client,
                &common.merchant,
                &common.base_currency,
                Some(zone),
            )
            .await?;
        }
        if !checkpoint.setup_done {
            send_products(
                &mut client,
                &common.merchant,
                &data,
                &mut checkpoint,
                progress,
            )
            .await?;
            send_customers(&client, &common.merchant, &data, &mut checkpoint, progress).await?;
            checkpoint.setup_done = true;
            checkpoint.save(&checkpoint_path)?;
        }
        let events = EventUpload {
            merchant: &common.merchant,
            batch_size: common.batch_size,
            per_call: common.batch_size * args.batches_per_call,
            checkpoint_path: &checkpoint_path,
        };
        events
            .send(&mut client, &data, &mut checkpoint, &mut rejects, progress)
            .await?;
        checkpoint.complete = true;
        checkpoint.save(&checkpoint_path)?;
    }

    let mut skipped = data.skipped.clone();
    let by_server = checkpoint.server_rejects.len() as u64;
    if by_server > 0 {
        *skipped.entry(SkipReason::RejectedByServer).or_default() += by_server;
    }
    Ok(RetailSummary {
        merchant: common.merchant.clone(),
        totals: data.totals.clone(),
        rows_imported: data.rows_imported - by_server,
        skipped,
        prices_rounded: data.prices_rounded,
        uncoded_countries: data.uncoded_countries.clone(),
        orders: data.orders(),
        cancellations: data.cancellations(),
        products: data.products.len(),
        customers: data.customers.len(),
        counts: checkpoint.counts,
        rejects_path: common.rejects.display().to_string(),
        reject_lines: data.rejects.len() + checkpoint.server_rejects.len(),
    })
}

fn read(path: &Path, zone: MerchantTimeZone, progress: Progress) -> Result<Dataset, ImportError> {
    let bar = progress.spinner("reading rows");
    let data = online_retail::parse(input::open(path)?, path, zone, |rows| {
        bar.set_position(rows);
    })?;
    bar.finish();
    Ok(data)
}

async fn send_products(
    client: &mut client::Client,
    merchant: &str,
    data: &Dataset,
    checkpoint: &mut Checkpoint,
    progress: Progress,
) -> Result<(), ImportError> {
    let bar = progress.bar("products", data.products.len() as u64, 0);
    for chunk in data.products.chunks(client::PRODUCTS_PER_CALL) {
        let products = chunk.iter().map(|p| events::product(merchant, p)).collect();
        let (created, updated) = client::upsert_products(client, merchant, products).await?;
        checkpoint.counts.products_created += created;
        checkpoint.counts.products_updated += updated;
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok(())
}

async fn send_customers(
    client: &client::Client,
    merchant: &str,
    data: &Dataset,
    checkpoint: &mut Checkpoint,
    progress: Progress,
) -> Result<(), ImportError> {
    let bar = progress.bar("customers", data.customers.len() as u64, 0);
    let mut calls = futures::stream::iter(data.customers.iter().map(|info| {
        let client = client.clone();
        async move {
            let outcome = client::create_customer(
                client,
                merchant,
                &info.customer_id,
                events::customer(info),
            )
            .await;
            (info, outcome)
        }
    }))
    .buffer_unordered(CUSTOMER_CONCURRENCY);
    while let Some((info, outcome)) = calls.next().await {
        match outcome? {
            Ok(Created::New) => checkpoint.counts.customers_created += 1,
            Ok(Created::Existing) => checkpoint.counts.customers_existing += 1,
            Err(status) => {
                // Their events will be rejected by the server and reported row by row.
                checkpoint.counts.customers_rejected += 1;
                tracing::warn!(
                    customer = info.customer_id,
                    error = status.message(),
                    "customer rejected"
                );
            }
        }
        bar.inc(1);
    }
    bar.finish();
    Ok(())
}

struct EventUpload<'a> {
    merchant: &'a str,
    batch_size: usize,
    per_call: usize,
    checkpoint_path: &'a Path,
}

impl EventUpload<'_> {
    /// One IngestEvents call per `per_call` invoices; checkpoint after each answer.
    async fn send(
        &self,
        client: &mut client::Client,
        data: &Dataset,
        checkpoint: &mut Checkpoint,
        rejects: &mut RejectWriter,
        progress: Progress,
    ) -> Result<(), ImportError> {
        let total = data.invoices.len();
        let start = usize::try_from(checkpoint.next_index)
            .unwrap_or(usize::MAX)
            .min(total);
        let bar = progress.bar("events", total as u64, start as u64);
        let mut from = start;
        while from < total {
            let to = (from + self.per_call).min(total);
            let invoices = &data.invoices[from..to];
            let batch = invoices.iter().map(events::order_event).collect();
            let (answer, retries) =
                client::ingest_segment(client, self.merchant, batch, self.batch_size).await?;
            checkpoint.counts.event_calls_retried += i64::from(retries);
            checkpoint.counts.events_accepted += answer.accepted_count;
            checkpoint.counts.events_duplicate += answer.duplicate_count;
            checkpoint.counts.events_rejected += answer.rejected_count;
            for rejection in &answer.rejections {
                let Some(invoice) = usize::try_from(rejection.index)
                    .ok()
                    .and_then(|i| invoices.get(i))
                else {
                    continue;
                };
                let why = rejection
                    .field_violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ");
                for line in &invoice.lines {
                    let reject = RejectLine {
                        line: line.source_line,
                        key: invoice.number.clone(),
                        detail: line.product_id.clone(),
                        action: Action::Skipped,
                        reason: format!("{}: {why}", SkipReason::RejectedByServer.as_str()),
                    };
                    rejects.write(&reject)?;
                    checkpoint.server_rejects.push(reject);
                }
            }
            rejects.flush()?;
            checkpoint.next_index = to as u64;
            checkpoint.save(self.checkpoint_path)?;
            bar.set_position(to as u64);
            from = to;
        }
        bar.finish();
        Ok(())
    }
}

impl fmt::Display for RetailSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        let c = &self.counts;
        writeln!(f, "Online Retail import into merchants/{}", self.merchant)?;
        let mut line = |key: &str, value: String| writeln!(f, "{:<44} {value}", format!("{key}:"));
        line("rows read", t.rows.to_string())?;
        line("invoices in file", t.invoices.to_string())?;
        line("stock codes in file", t.stock_codes.to_string())?;
        line("customers in file", t.customers.to_string())?;
        line("countries in file", t.countries.to_string())?;
        line("cancellation rows in file", t.cancellation_rows.to_string())?;
        line("sum of Quantity in file", t.quantity_sum.to_string())?;
        line(
            "rows with blank CustomerID",
            t.blank_customer_rows.to_string(),
        )?;
        line("rows imported", self.rows_imported.to_string())?;
        line(
            "rows skipped",
            self.skipped.values().sum::<u64>().to_string(),
        )?;
        for (reason, count) in &self.skipped {
            line(&format!("skipped ({})", reason.as_str()), count.to_string())?;
        }
        line("prices rounded", self.prices_rounded.to_string())?;
        for (known, label) in [
            (false, "unknown countries (no country set)"),
            (true, "countries without an ISO code"),
        ] {
            let names: Vec<String> = self
                .uncoded_countries
                .iter()
                .filter(|(_, c)| c.known == known)
                .map(|(name, c)| format!("{name} ({} invoices)", c.invoices))
                .collect();
            if !names.is_empty() {
                line(label, names.join(", "))?;
            }
        }
        line("orders", self.orders.to_string())?;
        line("cancellations", self.cancellations.to_string())?;
        line("events accepted", c.events_accepted.to_string())?;
        line("events duplicate", c.events_duplicate.to_string())?;
        line("events rejected", c.events_rejected.to_string())?;
        if c.event_calls_retried > 0 {
            line(
                "event calls retried",
                format!(
                    "{} (the server asked to retry later; events a failed attempt had stored are counted as duplicates)",
                    c.event_calls_retried
                ),
            )?;
        }
        line(
            "products",
            format!(
                "{} (created {}, updated {})",
                self.products, c.products_created, c.products_updated
            ),
        )?;
        line(
            "customers",
            format!(
                "{} (created {}, already existed {}, rejected {})",
                self.customers, c.customers_created, c.customers_existing, c.customers_rejected
            ),
        )?;
        line(
            "reject file",
            format!("{} ({} lines)", self.rejects_path, self.reject_lines),
        )
    }
}
