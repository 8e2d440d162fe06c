//! `caravan import online-retail` on the full UCI Online Retail file, against a real
//! `caravan serve` on a fresh MariaDB database: the summary and the reject file match the
//! known totals of the data set's README, the store holds exactly the imported customers,
//! products, events and orders, a second run is all duplicates, and `--resume` continues
//! from a checkpoint.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::online_retail;
use caravan_store::entity::{customers, events, order_lines, orders, products};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};

const MERCHANT: &str = "uci-retail";

// Known totals (data/online_retail/README.md) and what follows from them.
const ROWS: u64 = 541_909;
const BLANK_CUSTOMER_ROWS: u64 = 135_080;
const INVOICES: u64 = 25_900;
const STOCK_CODES: u64 = 4_070;
const CUSTOMERS: u64 = 4_372;
const COUNTRIES: u64 = 38;
const CANCELLATION_ROWS: u64 = 9_288;
const QUANTITY_SUM: u64 = 5_176_450;
/// Invoices with a CustomerID: sales and `C` cancellations.
const ORDERS: u64 = 18_536;
const CANCELLATIONS: u64 = 3_654;
const EVENTS: u64 = ORDERS + CANCELLATIONS;
/// Four rows priced 0.001 GBP, rounded to 0 pence and reported as `rounded`.
const ROUNDED: u64 = 4;

struct Import<'a> {
    server: &'a ServerProcess,
    workdir: &'a Path,
}

impl Import<'_> {
    fn rejects(&self) -> PathBuf {
        online_retail::rejects_file(self.workdir)
    }

    fn checkpoint(&self) -> PathBuf {
        online_retail::checkpoint_file(self.workdir)
    }

    /// Runs `caravan import online-retail` to completion; returns the summary lines.
    fn run(&self, extra: &[&str]) -> Result<BTreeMap<String, String>> {
        let output = online_retail::run_import(MERCHANT, self.server, self.workdir, extra)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "caravan import failed ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(summary(&stdout))
    }
}

/// `key: value` lines of the summary; the value's first word.
fn summary(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| {
            let first = value.split_whitespace().next().unwrap_or_default();
            (key.trim().to_owned(), first.to_owned())
        })
        .collect()
}

fn expect(summary: &BTreeMap<String, String>, key: &str, value: u64) -> Result<()> {
    let got = summary
        .get(key)
        .with_context(|| format!("summary has no {key:?}: {summary:#?}"))?;
    ensure!(
        *got == value.to_string(),
        "{key}: {got}, expected {value}; summary {summary:#?}"
    );
    Ok(())
}

/// The event counts of a run. When the importer had to send a call again (the server said
/// "retry later"), what the failed attempt stored comes back as duplicates, so only the sum
/// is known, and accepted can only be lower.
fn expect_events(summary: &BTreeMap<String, String>, accepted: u64, duplicate: u64) -> Result<()> {
    if !summary.contains_key("event calls retried") {
        expect(summary, "events accepted", accepted)?;
        return expect(summary, "events duplicate", duplicate);
    }
    let count = |key: &str| -> Result<u64> {
        summary
            .get(key)
            .with_context(|| format!("summary has no {key:?}"))?
            .parse()
            .with_context(|| format!("{key} is not a number"))
    };
    let (got_accepted, got_duplicate) = (count("events accepted")?, count("events duplicate")?);
    ensure!(
        got_accepted + got_duplicate == accepted + duplicate && got_accepted <= accepted,
        "after retries: accepted {got_accepted}, duplicate {got_duplicate}; expected {accepted} \
         and {duplicate} in some split"
    );
    Ok(())
}

fn expect_file_totals(summary: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in [
        ("rows read", ROWS),
        ("invoices in file", INVOICES),
        ("stock codes in file", STOCK_CODES),
        ("customers in file", CUSTOMERS),
        ("countries in file", COUNTRIES),
        ("cancellation rows in file", CANCELLATION_ROWS),
        ("sum of Quantity in file", QUANTITY_SUM),
        ("rows with blank CustomerID", BLANK_CUSTOMER_ROWS),
        ("rows skipped", BLANK_CUSTOMER_ROWS),
        ("skipped (missing CustomerID)", BLANK_CUSTOMER_ROWS),
        ("rows imported", ROWS - BLANK_CUSTOMER_ROWS),
        ("prices rounded", ROUNDED),
        ("orders", ORDERS),
        ("cancellations", CANCELLATIONS),
        ("products", STOCK_CODES),
        ("customers", CUSTOMERS),
    ] {
        expect(summary, key, value)?;
    }
    Ok(())
}

/// One line per skipped row (reason `missing CustomerID`) plus the rounded prices.
fn check_reject_file(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).context("read reject file")?;
    let mut lines = text.lines();
    ensure!(lines.next() == Some("line,invoice_no,stock_code,action,reason"));
    let (mut missing, mut rounded) = (0u64, 0u64);
    let mut seen = HashSet::new();
    for record in lines {
        let fields: Vec<&str> = record.splitn(5, ',').collect();
        ensure!(fields.len() == 5, "malformed reject line {record:?}");
        let line: u64 = fields[0].parse().context("line number")?;
        ensure!((2..=ROWS + 1).contains(&line), "line {line} out of range");
        ensure!(seen.insert(line), "line {line} reported twice");
        ensure!(!fields[1].is_empty(), "no InvoiceNo in {record:?}");
        match (fields[3], fields[4]) {
            ("skipped", "missing CustomerID") => missing += 1,
            ("rounded", reason) if reason.contains("rounded half-even") => rounded += 1,
            _ => bail!("unexpected reject line {record:?}"),
        }
    }
    ensure!(
        missing == BLANK_CUSTOMER_ROWS,
        "{missing} missing-CustomerID lines"
    );
    ensure!(rounded == ROUNDED, "{rounded} rounded lines");
    Ok(())
}

async fn count_store(db: &DatabaseConnection) -> Result<BTreeMap<&'static str, u64>> {
    let mut counts = BTreeMap::new();
    counts.insert(
        "customers",
        customers::Entity::find()
            .filter(customers::Column::MerchantId.eq(MERCHANT))
            .count(db)
            .await?,
    );
    counts.insert(
        "products",
        products::Entity::find()
            .filter(products::Column::MerchantId.eq(MERCHANT))
            .count(db)
            .await?,
    );
    counts.insert(
        "events",
        events::Entity::find()
            .filter(events::Column::MerchantId.eq(MERCHANT))
            .count(db)
            .await?,
    );
    for (key, status) in [
        ("orders placed", "PLACED"),
        ("orders cancelled", "CANCELLED"),
    ] {
        counts.insert(
            key,
            orders::Entity::find()
                .filter(orders::Column::MerchantId.eq(MERCHANT))
                .filter(orders::Column::Status.eq(status))
                .count(db)
                .await?,
        );
    }
    counts.insert(
        "orders",
        orders::Entity::find()
            .filter(orders::Column::MerchantId.eq(MERCHANT))
            .count(db)
            .await?,
    );
    counts.insert(
        "order lines",
        order_lines::Entity::find()
            .filter(order_lines::Column::MerchantId.eq(MERCHANT))
            .count(db)
            .await?,
    );
    Ok(counts)
}

fn expected_store() -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        ("customers", CUSTOMERS),
        ("products", STOCK_CODES),
        ("events", EVENTS),
        ("orders", EVENTS),
        ("orders placed", ORDERS),
        ("orders cancelled", CANCELLATIONS),
        ("order lines", ROWS - BLANK_CUSTOMER_ROWS),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn importing_online_retail_gives_the_known_totals_and_reruns_as_duplicates() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    ensure!(
        online_retail::data_file().is_file(),
        "{} is missing",
        online_retail::data_file().display()
    );
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[("CARAVAN__DATABASE__URL", db.url.as_str())],
        workdir.path(),
    )?;
    let import = Import {
        server: &server,
        workdir: workdir.path(),
    };
    let store = caravan_store::connect(&db.url, 2).await?;

    // First run: everything is new.
    let first = import.run(&[])?;
    expect_file_totals(&first)?;
    expect_events(&first, EVENTS, 0)?;
    expect(&first, "events rejected", 0)?;
    check_reject_file(&import.rejects())?;
    // The merchant the importer created counts its days in the file's zone (UK time).
    let zone: Option<String> = store
        .query_one_raw(sea_orm::Statement::from_string(
            store.get_database_backend(),
            "SELECT time_zone FROM merchants WHERE id = 'uci-retail'",
        ))
        .await?
        .context("the merchant row")?
        .try_get_by_index(0)?;
    ensure!(zone.as_deref() == Some("Europe/London"), "{zone:?}");
    let after_first = count_store(&store).await?;
    ensure!(
        after_first == expected_store(),
        "store after the first import: {after_first:#?}, expected {:#?}",
        expected_store()
    );

    // Second run of the same import: every event is a duplicate, nothing is doubled.
    let second = import.run(&[])?;
    expect_file_totals(&second)?;
    expect_events(&second, 0, EVENTS)?;
    expect(&second, "events rejected", 0)?;
    check_reject_file(&import.rejects())?;
    ensure!(
        count_store(&store).await? == expected_store(),
        "the second import changed the store"
    );

    // Resume: pretend the import stopped after 20,000 events; --resume sends the rest only.
    let path = import.checkpoint();
    let mut checkpoint: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    checkpoint["complete"] = false.into();
    checkpoint["next_index"] = 20_000.into();
    checkpoint["counts"]["events_duplicate"] = 0.into();
    std::fs::write(&path, serde_json::to_string(&checkpoint)?)?;
    let resumed = import.run(&["--resume"])?;
    expect_events(&resumed, 0, EVENTS - 20_000)?;
    check_reject_file(&import.rejects())?;
    ensure!(
        count_store(&store).await? == expected_store(),
        "the resumed import changed the store"
    );
    store.close().await?;
    drop(server);
    Ok(())
}
