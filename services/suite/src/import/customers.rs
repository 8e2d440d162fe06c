//! `caravan import customers`: a seller-backend customer list via CreateCustomer,
//! UpdateCustomer (for customers that already exist) and CreateContact (B2B).

use std::fmt;

use caravan_proto::caravan::common::v1::CustomerKind;
use caravan_proto::caravan::ingestion::v1::{
    Contact, CreateContactRequest, Customer, EnterpriseDetails, PersonDetails, customer,
};
use futures::StreamExt;

use super::CustomersArgs;
use super::checkpoint::{Checkpoint, Counts, FileStamp};
use super::client::{self, Created};
use super::customer_csv::{self, CustomerRecord};
use super::error::ImportError;
use super::input;
use super::progress::Progress;
use super::rejects::{Action, RejectLine, RejectWriter};

const FORMAT: &str = "customers";
/// Id of the contact created for a B2B row's `contact`.
const CONTACT_ID: &str = "primary";
/// Fields a re-import refreshes on an existing customer, after `person` or `enterprise`.
const UPDATE_PATHS: [&str; 3] = ["import_tags", "star_rating", "source"];

/// What a customer-list import did; printed to stdout.
#[derive(Debug)]
pub struct CustomersSummary {
    merchant: String,
    rows: u64,
    valid: usize,
    rejected_rows: usize,
    counts: Counts,
    rejects_path: String,
}

pub async fn run(args: &CustomersArgs) -> Result<CustomersSummary, ImportError> {
    let common = &args.common;
    common.validate()?;
    let concurrency = args.concurrency.max(1);
    let checkpoint_path = common.checkpoint_path(FORMAT);
    let fresh = Checkpoint::new(FORMAT, &common.merchant, FileStamp::of(&common.file)?);
    let mut checkpoint = if common.resume && checkpoint_path.exists() {
        Checkpoint::load(&checkpoint_path, &fresh)?
    } else {
        fresh
    };
    let list = customer_csv::parse(input::open(&common.file)?, &common.file)?;
    let mut rejects = RejectWriter::create(&common.rejects, "customer", "contact")?;
    rejects.write_all(&list.rejects)?;
    rejects.write_all(&checkpoint.server_rejects)?;
    rejects.flush()?;

    if !checkpoint.complete {
        let mut client = client::connect(&common.target, common.api_key()?.as_ref()).await?;
        if common.create_merchant {
            client::ensure_merchant(&mut client, &common.merchant, &common.base_currency, None)
                .await?;
        }
        let total = list.customers.len();
        let mut from = usize::try_from(checkpoint.next_index)
            .unwrap_or(usize::MAX)
            .min(total);
        let bar = Progress::new().bar("customers", total as u64, from as u64);
        while from < total {
            let to = (from + common.batch_size).min(total);
            let mut calls = futures::stream::iter(list.customers[from..to].iter().map(|record| {
                let client = client.clone();
                let merchant = common.merchant.as_str();
                let source = args.source.as_str();
                async move { (record, upsert(client, merchant, source, record).await) }
            }))
            .buffered(concurrency);
            while let Some((record, outcome)) = calls.next().await {
                match outcome? {
                    Outcome::Done(counts) => add(&mut checkpoint.counts, &counts),
                    Outcome::Rejected(message) => {
                        checkpoint.counts.customers_rejected += 1;
                        let reject = RejectLine {
                            line: record.line,
                            key: record.customer_id.clone(),
                            detail: record.contact.clone(),
                            action: Action::Skipped,
                            reason: format!("rejected by server: {message}"),
                        };
                        rejects.write(&reject)?;
                        checkpoint.server_rejects.push(reject);
                    }
                }
                bar.inc(1);
            }
            rejects.flush()?;
            checkpoint.next_index = to as u64;
            checkpoint.save(&checkpoint_path)?;
            from = to;
        }
        bar.finish();
        checkpoint.complete = true;
        checkpoint.save(&checkpoint_path)?;
    }
    Ok(CustomersSummary {
        merchant: common.merchant.clone(),
        rows: list.rows,
        valid: list.customers.len(),
        rejected_rows: list.rejects.len() + checkpoint.server_rejects.len(),
        counts: checkpoint.counts,
        rejects_path: common.rejects.display().to_string(),
    })
}

enum Outcome {
    Done(Counts),
    Rejected(String),
}

fn add(total: &mut Counts, more: &Counts) {
    total.customers_created += more.customers_created;
    total.customers_updated += more.customers_updated;
    total.contacts_created += more.contacts_created;
}

/// Creates the customer, or refreshes it when it exists; then its B2B contact.
async fn upsert(
    client: client::Client,
    merchant: &str,
    default_source: &str,
    record: &CustomerRecord,
) -> Result<Outcome, ImportError> {
    let mut counts = Counts::default();
    let message = to_customer(record, default_source);
    match client::create_customer(
        client.clone(),
        merchant,
        &record.customer_id,
        message.clone(),
    )
    .await?
    {
        Ok(Created::New) => counts.customers_created += 1,
        Ok(Created::Existing) => {
            let mut update = message;
            update.name = format!("merchants/{merchant}/customers/{}", record.customer_id);
            let details = if record.is_enterprise() {
                "enterprise"
            } else {
                "person"
            };
            let paths: Vec<&str> = std::iter::once(details).chain(UPDATE_PATHS).collect();
            if let Err(status) = client::update_customer(client.clone(), update, &paths).await? {
                return Ok(Outcome::Rejected(status.message().to_owned()));
            }
            counts.customers_updated += 1;
        }
        Err(status) => return Ok(Outcome::Rejected(status.message().to_owned())),
    }
    if record.is_enterprise() && !record.contact.is_empty() {
        let request = CreateContactRequest {
            parent: format!("merchants/{merchant}/customers/{}", record.customer_id),
            contact_id: CONTACT_ID.to_owned(),
            contact: Some(Contact {
                display_name: record.contact.clone(),
                email: record.email.clone(),
                phone: record.phone.clone(),
                ..Contact::default()
            }),
        };
        match client::create_contact(client, request).await? {
            Ok(Created::New) => counts.contacts_created += 1,
            Ok(Created::Existing) => {}
            Err(status) => return Ok(Outcome::Rejected(format!("contact: {}", status.message()))),
        }
    }
    Ok(Outcome::Done(counts))
}

/// The Customer message of a row: ENTERPRISE with a company, PERSON otherwise.
fn to_customer(record: &CustomerRecord, default_source: &str) -> Customer {
    let country_code = record.country_code.clone().unwrap_or_default();
    let (kind, details) = if record.is_enterprise() {
        (
            CustomerKind::Enterprise,
            customer::Details::Enterprise(EnterpriseDetails {
                company_name: record.company.clone(),
                country_code,
                ..EnterpriseDetails::default()
            }),
        )
    } else {
        let (given_name, family_name) = record.person_names();
        (
            CustomerKind::Person,
            customer::Details::Person(PersonDetails {
                given_name,
                family_name,
                email: record.email.clone(),
                phone: record.phone.clone(),
                country_code,
                ..PersonDetails::default()
            }),
        )
    };
    let source = if record.source.is_empty() {
        default_source
    } else {
        &record.source
    };
    Customer {
        kind: kind as i32,
        details: Some(details),
        import_tags: record.tags.clone(),
        star_rating: record.star_rating,
        source: source.to_owned(),
        ..Customer::default()
    }
}

impl fmt::Display for CustomersSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(f, "Customer list import into merchants/{}", self.merchant)?;
        let mut line = |key: &str, value: String| writeln!(f, "{:<44} {value}", format!("{key}:"));
        line("rows read", self.rows.to_string())?;
        line("customers in file", self.valid.to_string())?;
        line("customers created", c.customers_created.to_string())?;
        line("customers updated", c.customers_updated.to_string())?;
        line("contacts created", c.contacts_created.to_string())?;
        line("rows rejected", self.rejected_rows.to_string())?;
        line("reject file", self.rejects_path.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(company: &str) -> CustomerRecord {
        CustomerRecord {
            line: 2,
            customer_id: "c1".into(),
            company: company.into(),
            contact: "Anna Maria Schmidt".into(),
            email: "anna@example.de".into(),
            phone: String::new(),
            country_code: Some("DE".into()),
            tags: vec!["vip".into()],
            star_rating: 4,
            source: String::new(),
        }
    }

    #[test]
    fn enterprise_and_person_messages() {
        let b2b = to_customer(&record("Acme GmbH"), "seller-backend-import");
        assert_eq!(b2b.kind, CustomerKind::Enterprise as i32);
        assert_eq!(b2b.source, "seller-backend-import");
        assert_eq!(b2b.import_tags, vec!["vip"]);
        assert_eq!(b2b.star_rating, 4);
        let Some(customer::Details::Enterprise(e)) = b2b.details else {
            panic!("enterprise");
        };
        assert_eq!(
            (e.company_name.as_str(), e.country_code.as_str()),
            ("Acme GmbH", "DE")
        );

        let b2c = to_customer(&record(""), "x");
        assert_eq!(b2c.kind, CustomerKind::Person as i32);
        let Some(customer::Details::Person(p)) = b2c.details else {
            panic!("person");
        };
        assert_eq!(p.given_name, "Anna");
        assert_eq!(p.family_name, "Maria Schmidt");
        assert_eq!(p.email, "anna@example.de");
    }
}
