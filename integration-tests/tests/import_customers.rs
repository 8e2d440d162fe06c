//! `caravan import customers` with the documented example list (`docs/examples/customers.csv`)
//! against a real `caravan serve` on a fresh MariaDB database: B2B rows become ENTERPRISE
//! customers with a contact, B2C rows PERSON customers, with country, tags, star rating and
//! source; a second run refreshes the same customers instead of adding any.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::{ServerProcess, binary_path, repo_root};
use caravan_store::entity::{customer_contacts, customers};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

const MERCHANT: &str = "seller-list";

fn import(server: &ServerProcess, workdir: &Path) -> Result<BTreeMap<String, String>> {
    let file = repo_root().join("docs/examples/customers.csv");
    let mut command = Command::new(binary_path("caravan")?);
    command
        .args([
            "import",
            "customers",
            "--merchant",
            MERCHANT,
            "--create-merchant",
        ])
        .args(["--target", &server.endpoint(), "--file"])
        .arg(&file);
    if let Some(key) = server.api_key() {
        command.args(["--api-key", key]);
    }
    let output = command
        .current_dir(workdir)
        .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json")
        .output()
        .context("run caravan import customers")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "caravan import customers failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_customer_list_imports_and_reimports_idempotently() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[("CARAVAN__DATABASE__URL", db.url.as_str())],
        workdir.path(),
    )?;
    let store = caravan_store::connect(&db.url, 2).await?;

    let first = import(&server, workdir.path())?;
    for (key, value) in [
        ("rows read", "5"),
        ("customers in file", "5"),
        ("customers created", "5"),
        ("customers updated", "0"),
        ("contacts created", "3"),
        ("rows rejected", "0"),
    ] {
        ensure!(
            first.get(key).map(String::as_str) == Some(value),
            "{key}: {first:#?}"
        );
    }
    let rejects = std::fs::read_to_string(workdir.path().join("rejects.csv"))?;
    ensure!(
        rejects == "line,customer,contact,action,reason\n",
        "{rejects}"
    );

    let rows = customers::Entity::find()
        .filter(customers::Column::MerchantId.eq(MERCHANT))
        .all(&store)
        .await?;
    ensure!(rows.len() == 5, "{rows:#?}");
    let by_id: BTreeMap<&str, &customers::Model> =
        rows.iter().map(|c| (c.id.as_str(), c)).collect();
    let hoffmann = by_id
        .get("de-hoffmann-handel")
        .context("customer de-hoffmann-handel")?;
    ensure!(hoffmann.kind == "ENTERPRISE", "{hoffmann:?}");
    ensure!(hoffmann.company_name.as_deref() == Some("Hoffmann Handel GmbH"));
    ensure!(hoffmann.country.as_deref() == Some("DE"), "{hoffmann:?}");
    ensure!(hoffmann.star_rating == Some(5), "{hoffmann:?}");
    ensure!(hoffmann.source.as_deref() == Some("alibaba-seller-backend"));
    let tags = hoffmann.import_tags.clone().unwrap_or_default().to_string();
    ensure!(
        tags.contains("wholesaler") && tags.contains("trade-show-2024"),
        "{tags}"
    );
    let brightside = by_id.get("us-brightside").context("us-brightside")?;
    ensure!(brightside.star_rating == Some(4), "stars: {brightside:?}");
    let sean = by_id.get("ie-oconnor").context("ie-oconnor")?;
    ensure!(
        sean.kind == "PERSON" && sean.country.as_deref() == Some("IE"),
        "{sean:?}"
    );
    ensure!(
        sean.family_name.is_none(),
        "names are sealed at rest: {sean:?}"
    );
    let mut opened = (*sean).clone();
    caravan_integration_tests::install_test_encryption_key()?;
    caravan_store::pii::open_customer(&mut opened)?;
    ensure!(
        opened.family_name.as_deref() == Some("O'Connor"),
        "{opened:?}"
    );
    ensure!(
        rows.iter().filter(|c| c.id.starts_with("sb-")).count() == 2,
        "derived ids: {rows:#?}"
    );
    let contacts = customer_contacts::Entity::find()
        .filter(customer_contacts::Column::MerchantId.eq(MERCHANT))
        .count(&store)
        .await?;
    ensure!(contacts == 3, "{contacts} contacts");

    let second = import(&server, workdir.path())?;
    for (key, value) in [
        ("customers created", "0"),
        ("customers updated", "5"),
        ("contacts created", "0"),
        ("rows rejected", "0"),
    ] {
        ensure!(
            second.get(key).map(String::as_str) == Some(value),
            "{key}: {second:#?}"
        );
    }
    let count = customers::Entity::find()
        .filter(customers::Column::MerchantId.eq(MERCHANT))
        .count(&store)
        .await?;
    ensure!(count == 5, "{count} customers after the second import");
    store.close().await?;
    drop(server);
    Ok(())
}
