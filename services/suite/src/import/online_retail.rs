//! The UCI Online Retail format: parsing, row checks and invoice aggregation (pure).
//!
//! Columns `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country`
//! (any order). Every row is counted in [`FileTotals`]; the rows that become order lines are
//! grouped by InvoiceNo into [`Invoice`]s, the others are reported once each as a
//! [`RejectLine`] with the first [`SkipReason`] that applies (checked in declaration order).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::Path;

use super::country_names::{self, Country};
use super::csv_lines::{self, Lines};
use super::error::ImportError;
use super::local_time;
use super::price;
use super::rejects::{Action, RejectLine};
use caravan_core::time_zone::MerchantTimeZone;

/// Online Retail prices are pounds sterling.
pub const CURRENCY: &str = "GBP";
const EXPONENT: u32 = 2;
const COLUMNS: [&str; 8] = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
];

/// Why a row is not imported, checked in this order; the first that applies is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A field is empty or not a number/date where one is needed.
    InvalidField,
    /// CustomerID is blank: the event cannot be attributed to a customer.
    MissingCustomerId,
    /// CustomerID is not a valid Caravan customer id (`[a-z0-9][a-z0-9_-]{0,62}`).
    InvalidCustomerId,
    /// InvoiceNo starts with `A`: a bad-debt adjustment, not a sale.
    AdjustmentInvoice,
    /// InvoiceNo is neither digits nor `C`/`A` followed by digits.
    UnrecognisedInvoice,
    /// Quantity is zero.
    ZeroQuantity,
    /// A sales invoice (no `C`) with a negative quantity: a stock adjustment, not a sale.
    NegativeQuantityOnSale,
    /// A cancellation invoice (`C`) with a positive quantity.
    PositiveQuantityOnCancellation,
    /// UnitPrice is negative (only adjustments have that).
    NegativeUnitPrice,
    /// StockCode is empty or collides with another StockCode once made a product id.
    InvalidStockCode,
    /// The row's CustomerID differs from the one of the invoice's first imported row.
    CustomerMismatch,
    /// The server rejected the invoice's event (reported after the upload).
    RejectedByServer,
    /// The line does not read as a CSV row (`csv_lines`: an unbalanced quote, too long,
    /// more fields than the header). Checked before all the others, though listed last.
    MalformedLine,
}

impl SkipReason {
    /// Short, stable text used as the summary key and at the start of the reject reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidField => "invalid field",
            Self::MissingCustomerId => "missing CustomerID",
            Self::InvalidCustomerId => "invalid CustomerID",
            Self::AdjustmentInvoice => "adjustment invoice",
            Self::UnrecognisedInvoice => "unrecognised InvoiceNo",
            Self::ZeroQuantity => "zero Quantity",
            Self::NegativeQuantityOnSale => "negative Quantity on a sales invoice",
            Self::PositiveQuantityOnCancellation => "positive Quantity on a cancellation invoice",
            Self::NegativeUnitPrice => "negative UnitPrice",
            Self::InvalidStockCode => "invalid StockCode",
            Self::CustomerMismatch => "CustomerID differs within the invoice",
            Self::RejectedByServer => "rejected by server",
            Self::MalformedLine => "malformed line",
        }
    }
}

/// Counts over every row of the file, whatever happens to the row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileTotals {
    pub rows: u64,
    pub invoices: u64,
    pub stock_codes: u64,
    pub customers: u64,
    pub countries: u64,
    pub cancellation_rows: u64,
    pub quantity_sum: i64,
    pub blank_customer_rows: u64,
}

/// One order line: a row that is imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Line of the row in the input, for the reject file.
    pub source_line: u64,
    pub product_id: String,
    /// Units, positive (cancellation quantities are negated).
    pub quantity: i64,
    pub unit_price_minor: i64,
}

/// All imported rows of one InvoiceNo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    pub cancellation: bool,
    pub customer_id: String,
    /// The Country column as written.
    pub country: String,
    /// Earliest InvoiceDate of the rows, UTC seconds.
    pub occur_utc: i64,
    pub lines: Vec<Line>,
}

impl Invoice {
    pub fn total_minor(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.quantity.saturating_mul(l.unit_price_minor))
            .fold(0i64, i64::saturating_add)
    }
}

/// A catalogue entry derived from the rows of one StockCode (all rows, skipped ones too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductInfo {
    pub product_id: String,
    pub stock_code: String,
    /// Latest non-blank Description; the StockCode when there is none.
    pub title: String,
    /// UnitPrice of the latest sales row with a positive price, in pence.
    pub price_minor: Option<i64>,
}

/// A customer with the country of most of their invoices (ties: the latest invoice's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerInfo {
    pub customer_id: String,
    pub country: String,
}

/// A country name of the file that no ISO code was set for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UncodedCountry {
    /// Known, deliberately without a code (`European Community`); otherwise unknown.
    pub known: bool,
    /// Imported invoices that name it.
    pub invoices: u64,
}

/// The parsed file.
#[derive(Debug, Default)]
pub struct Dataset {
    pub totals: FileTotals,
    /// In order of first appearance in the file.
    pub invoices: Vec<Invoice>,
    /// Sorted by product id.
    pub products: Vec<ProductInfo>,
    /// Sorted by customer id.
    pub customers: Vec<CustomerInfo>,
    /// Skipped rows and rounded prices, in file order.
    pub rejects: Vec<RejectLine>,
    pub skipped: BTreeMap<SkipReason, u64>,
    pub rows_imported: u64,
    pub prices_rounded: u64,
    /// Country names imported without a country code, by name.
    pub uncoded_countries: BTreeMap<String, UncodedCountry>,
}

impl Dataset {
    pub fn orders(&self) -> usize {
        self.invoices.iter().filter(|i| !i.cancellation).count()
    }

    pub fn cancellations(&self) -> usize {
        self.invoices.iter().filter(|i| i.cancellation).count()
    }
}

/// Reads an Online Retail CSV (already decompressed); `on_row` is called every 10,000 rows
/// with the number of rows read, for progress reporting. One line is one row
/// (`csv_lines`): a malformed line is skipped with its reason, and never merged with the
/// next.
pub fn parse(
    input: impl Read,
    path: &Path,
    zone: MerchantTimeZone,
    mut on_row: impl FnMut(u64),
) -> Result<Dataset, ImportError> {
    let io_error = |e: std::io::Error| ImportError::io("read", path, e);
    // Descriptions are only shown: invalid UTF-8 in them is replaced, as before.
    let mut lines = Lines::new(BufReader::with_capacity(1 << 16, input)).lossy_utf8();
    let header = match lines.next().transpose().map_err(io_error)? {
        Some(csv_lines::Line::Record { fields, .. }) => fields,
        Some(csv_lines::Line::Bad { reason, .. }) => {
            return Err(ImportError::Header {
                path: path.to_path_buf(),
                message: format!("the header line: {reason}"),
            });
        }
        None => Vec::new(),
    };
    let columns = column_positions(&header, path)?;
    let mut aggregator = Aggregator::new(columns, zone);
    for read in lines {
        match read.map_err(io_error)? {
            csv_lines::Line::Record { line, fields } => aggregator.push(line, &fields),
            csv_lines::Line::Bad {
                line,
                reason,
                start,
            } => aggregator.malformed(line, &reason, &start),
        }
        if aggregator.totals.rows.is_multiple_of(10_000) {
            on_row(aggregator.totals.rows);
        }
    }
    on_row(aggregator.totals.rows);
    Ok(aggregator.finish())
}

fn column_positions(header: &[String], path: &Path) -> Result<[usize; 8], ImportError> {
    let mut positions = [0usize; 8];
    for (slot, name) in positions.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').trim_ascii() == name)
            .ok_or_else(|| ImportError::Header {
                path: path.to_path_buf(),
                message: format!(
                    "no {name} column; expected the columns {}",
                    COLUMNS.join(",")
                ),
            })?;
    }
    Ok(positions)
}

/// The fields of a row that parsed.
struct Row<'a> {
    invoice: &'a str,
    stock_code: &'a str,
    description: &'a str,
    quantity: i64,
    occur_utc: i64,
    price: price::MinorUnits,
    customer: &'a str,
    country: &'a str,
}

struct ProductAcc {
    /// The product id, or why the StockCode has none.
    id: Result<String, String>,
    title: Option<(i64, u64, String)>,
    price: Option<(i64, u64, i64)>,
}

/// FNV-1a: the maps below are keyed by short strings from a trusted file, and SipHash is
/// most of the parse time in unoptimised (test) builds.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;
type FastSet<K> = HashSet<K, std::hash::BuildHasherDefault<Fnv>>;

/// Remembers the last value seen, to skip set look-ups on the runs of equal values that an
/// invoice-ordered file is made of.
#[derive(Default)]
struct Last {
    invoice: String,
    customer: String,
    country: String,
    date: String,
    date_utc: Option<i64>,
}

#[derive(Default)]
struct Aggregator {
    columns: [usize; 8],
    /// The zone of the file's local times.
    zone: MerchantTimeZone,
    totals: FileTotals,
    last: Last,
    all_invoices: FastSet<String>,
    all_customers: FastSet<String>,
    all_countries: FastSet<String>,
    /// StockCode -> product accumulator.
    products: FastMap<String, ProductAcc>,
    /// Product id -> the StockCode that owns it (the first one in the file).
    product_ids: FastMap<String, String>,
    invoice_index: FastMap<String, usize>,
    invoices: Vec<Invoice>,
    /// Customer -> country -> (invoices, latest invoice time).
    customer_countries: FastMap<String, FastMap<String, (u64, i64)>>,
    rejects: Vec<RejectLine>,
    skipped: BTreeMap<SkipReason, u64>,
    rows_imported: u64,
    prices_rounded: u64,
    uncoded_countries: BTreeMap<String, UncodedCountry>,
}

impl Aggregator {
    fn new(columns: [usize; 8], zone: MerchantTimeZone) -> Self {
        Self {
            columns,
            zone,
            ..Self::default()
        }
    }

    fn push(&mut self, line: u64, fields: &[String]) {
        self.totals.rows += 1;
        let columns = self.columns;
        let text = |i: usize| fields.get(columns[i]).map_or("", |f| f.trim_ascii());
        let (invoice, stock_code, description) = (text(0), text(1), text(2));
        let (quantity, date, unit_price) = (text(3), text(4), text(5));
        let (customer, country) = (text(6), text(7));
        self.count_file_totals(invoice, stock_code, customer, country);
        let quantity_value = quantity.parse::<i64>().ok();
        if let Some(q) = quantity_value {
            self.totals.quantity_sum += q;
        }
        let occur_utc = self.utc(date);

        let parsed = (|| {
            if invoice.is_empty() {
                return Err("empty InvoiceNo".to_owned());
            }
            let quantity =
                quantity_value.ok_or_else(|| format!("invalid Quantity {quantity:?}"))?;
            let occur_utc = occur_utc.ok_or_else(|| format!("invalid InvoiceDate {date:?}"))?;
            let price = price::to_minor_units(unit_price, EXPONENT)
                .ok_or_else(|| format!("invalid UnitPrice {unit_price:?}"))?;
            Ok(Row {
                invoice,
                stock_code,
                description,
                quantity,
                occur_utc,
                price,
                customer,
                country,
            })
        })();
        let row = match parsed {
            Ok(row) => row,
            Err(message) => {
                self.skip(
                    line,
                    invoice,
                    stock_code,
                    SkipReason::InvalidField,
                    &message,
                );
                return;
            }
        };
        self.note_product(line, &row);
        match self.check(&row) {
            Ok(product_id) => self.add_line(line, &row, product_id),
            Err((reason, detail)) => {
                self.skip(line, row.invoice, row.stock_code, reason, &detail);
            }
        }
    }

    /// InvoiceDate (a local time of the file's zone) as UTC seconds; consecutive rows mostly
    /// share it.
    fn utc(&mut self, date: &str) -> Option<i64> {
        if self.last.date != date {
            self.last.date = date.to_owned();
            self.last.date_utc = local_time::parse_local(date, self.zone);
        }
        self.last.date_utc
    }

    fn count_file_totals(&mut self, invoice: &str, stock: &str, customer: &str, country: &str) {
        if self.last.invoice != invoice {
            self.last.invoice = invoice.to_owned();
            self.all_invoices.insert(invoice.to_owned());
        }
        if self.last.country != country {
            self.last.country = country.to_owned();
            self.all_countries.insert(country.to_owned());
        }
        if customer.is_empty() {
            self.totals.blank_customer_rows += 1;
        } else if self.last.customer != customer {
            self.last.customer = customer.to_owned();
            self.all_customers.insert(customer.to_owned());
        }
        if !self.products.contains_key(stock) {
            let id = match product_id_for(stock) {
                None => Err("empty StockCode".to_owned()),
                Some(id) => match self.product_ids.get(&id) {
                    Some(owner) => Err(format!(
                        "{stock:?} becomes product id {id:?}, already used by {owner:?}"
                    )),
                    None => {
                        self.product_ids.insert(id.clone(), stock.to_owned());
                        Ok(id)
                    }
                },
            };
            self.products.insert(
                stock.to_owned(),
                ProductAcc {
                    id,
                    title: None,
                    price: None,
                },
            );
        }
        if invoice.starts_with('C') {
            self.totals.cancellation_rows += 1;
        }
    }

    /// Title and list price come from every parsed row, skipped ones included.
    fn note_product(&mut self, line: u64, row: &Row<'_>) {
        let Some(acc) = self.products.get_mut(row.stock_code) else {
            return;
        };
        let key = (row.occur_utc, line);
        if !row.description.is_empty() {
            match &mut acc.title {
                Some((t, l, title)) if key >= (*t, *l) => {
                    (*t, *l) = key;
                    if title != row.description {
                        row.description.clone_into(title);
                    }
                }
                Some(_) => {}
                None => acc.title = Some((key.0, key.1, row.description.to_owned())),
            }
        }
        let sale = row
            .invoice
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit());
        if sale
            && row.price.amount > 0
            && acc.price.as_ref().is_none_or(|(t, l, _)| key >= (*t, *l))
        {
            acc.price = Some((key.0, key.1, row.price.amount));
        }
    }

    /// The product id of an importable row, or why the row is skipped.
    fn check(&self, row: &Row<'_>) -> Result<String, (SkipReason, String)> {
        let fail = |reason: SkipReason, detail: String| Err((reason, detail));
        if row.customer.is_empty() {
            return fail(SkipReason::MissingCustomerId, String::new());
        }
        if !valid_customer_id(row.customer) {
            return fail(SkipReason::InvalidCustomerId, format!("{:?}", row.customer));
        }
        let (prefix, digits) = split_invoice(row.invoice);
        if !digits {
            return fail(
                SkipReason::UnrecognisedInvoice,
                format!("{:?}", row.invoice),
            );
        }
        let cancellation = match prefix {
            None => false,
            Some('C') => true,
            Some('A') => return fail(SkipReason::AdjustmentInvoice, String::new()),
            Some(_) => {
                return fail(
                    SkipReason::UnrecognisedInvoice,
                    format!("{:?}", row.invoice),
                );
            }
        };
        if row.quantity == 0 {
            return fail(SkipReason::ZeroQuantity, String::new());
        }
        if !cancellation && row.quantity < 0 {
            return fail(SkipReason::NegativeQuantityOnSale, row.quantity.to_string());
        }
        if cancellation && row.quantity > 0 {
            return fail(
                SkipReason::PositiveQuantityOnCancellation,
                row.quantity.to_string(),
            );
        }
        if row.price.amount < 0 {
            return fail(SkipReason::NegativeUnitPrice, String::new());
        }
        let product_id = match self.products.get(row.stock_code).map(|acc| &acc.id) {
            Some(Ok(id)) => id.clone(),
            Some(Err(detail)) => return fail(SkipReason::InvalidStockCode, detail.clone()),
            None => return fail(SkipReason::InvalidStockCode, "empty StockCode".to_owned()),
        };
        if let Some(&i) = self.invoice_index.get(row.invoice)
            && self.invoices[i].customer_id != row.customer
        {
            return fail(
                SkipReason::CustomerMismatch,
                format!("{} vs {}", row.customer, self.invoices[i].customer_id),
            );
        }
        Ok(product_id)
    }

    fn add_line(&mut self, line: u64, row: &Row<'_>, product_id: String) {
        let index = match self.invoice_index.get(row.invoice) {
            Some(&i) => i,
            None => {
                let i = self.invoices.len();
                self.invoice_index.insert(row.invoice.to_owned(), i);
                self.invoices.push(Invoice {
                    number: row.invoice.to_owned(),
                    cancellation: row.invoice.starts_with('C'),
                    customer_id: row.customer.to_owned(),
                    country: row.country.to_owned(),
                    occur_utc: row.occur_utc,
                    lines: Vec::new(),
                });
                self.note_country(line, row);
                let per_country = self
                    .customer_countries
                    .entry(row.customer.to_owned())
                    .or_default()
                    .entry(row.country.to_owned())
                    .or_insert((0, i64::MIN));
                per_country.0 += 1;
                per_country.1 = per_country.1.max(row.occur_utc);
                i
            }
        };
        let invoice = &mut self.invoices[index];
        invoice.occur_utc = invoice.occur_utc.min(row.occur_utc);
        invoice.lines.push(Line {
            source_line: line,
            product_id,
            quantity: row.quantity.abs(),
            unit_price_minor: row.price.amount,
        });
        self.rows_imported += 1;
        if row.price.rounded {
            self.prices_rounded += 1;
            self.rejects.push(RejectLine {
                line,
                key: row.invoice.to_owned(),
                detail: row.stock_code.to_owned(),
                action: Action::Rounded,
                reason: format!(
                    "UnitPrice has more decimals than GBP pence; rounded half-even to {} pence",
                    row.price.amount
                ),
            });
        }
    }

    /// Counts a new invoice's country if no code is set for it; an unknown name is also a
    /// reject line, so it is never dropped silently.
    fn note_country(&mut self, line: u64, row: &Row<'_>) {
        let known = match country_names::lookup(row.country) {
            Country::Code(_) => return,
            Country::NoCode => true,
            Country::Unknown => false,
        };
        let uncoded = self
            .uncoded_countries
            .entry(row.country.to_owned())
            .or_insert_with(|| UncodedCountry { known, invoices: 0 });
        uncoded.invoices += 1;
        if !known {
            self.rejects.push(RejectLine {
                line,
                key: row.invoice.to_owned(),
                detail: row.stock_code.to_owned(),
                action: Action::WithoutCountry,
                reason: format!(
                    "unknown country {:?}: the invoice is imported without a country",
                    row.country
                ),
            });
        }
    }

    /// A line that does not read as a row: counted, and skipped with its start.
    fn malformed(&mut self, line: u64, reason: &str, start: &str) {
        self.totals.rows += 1;
        let detail = format!("{reason}; the line starts {start:?}");
        self.skip(line, "", "", SkipReason::MalformedLine, &detail);
    }

    fn skip(&mut self, line: u64, invoice: &str, stock: &str, reason: SkipReason, detail: &str) {
        *self.skipped.entry(reason).or_default() += 1;
        let reason = if detail.is_empty() {
            reason.as_str().to_owned()
        } else {
            format!("{}: {detail}", reason.as_str())
        };
        self.rejects.push(RejectLine {
            line,
            key: invoice.to_owned(),
            detail: stock.to_owned(),
            action: Action::Skipped,
            reason,
        });
    }

    fn finish(self) -> Dataset {
        let mut totals = self.totals;
        totals.invoices = self.all_invoices.len() as u64;
        totals.customers = self.all_customers.len() as u64;
        totals.countries = self.all_countries.len() as u64;
        totals.stock_codes = self.products.len() as u64;

        let mut products: Vec<ProductInfo> = self
            .products
            .into_iter()
            .filter_map(|(stock_code, acc)| {
                // A StockCode without a product id of its own is not in the catalogue.
                let product_id = acc.id.ok()?;
                Some(ProductInfo {
                    product_id,
                    title: acc.title.map_or_else(|| stock_code.clone(), |(_, _, t)| t),
                    price_minor: acc.price.map(|(_, _, p)| p),
                    stock_code,
                })
            })
            .collect();
        products.sort_by(|a, b| a.product_id.cmp(&b.product_id));

        let mut customers: Vec<CustomerInfo> = self
            .customer_countries
            .into_iter()
            .map(|(customer_id, countries)| {
                let country = countries
                    .into_iter()
                    .max_by(|(name_a, a), (name_b, b)| a.cmp(b).then(name_b.cmp(name_a)))
                    .map(|(name, _)| name)
                    .unwrap_or_default();
                CustomerInfo {
                    customer_id,
                    country,
                }
            })
            .collect();
        customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));

        Dataset {
            totals,
            invoices: self.invoices,
            products,
            customers,
            rejects: self.rejects,
            skipped: self.skipped,
            rows_imported: self.rows_imported,
            prices_rounded: self.prices_rounded,
            uncoded_countries: self.uncoded_countries,
        }
    }
}

/// `(prefix letter, rest is all digits)` of an InvoiceNo.
fn split_invoice(invoice: &str) -> (Option<char>, bool) {
    let mut chars = invoice.chars();
    let prefix = chars.next().filter(|c| c.is_ascii_alphabetic());
    let rest = if prefix.is_some() {
        chars.as_str()
    } else {
        invoice
    };
    (
        prefix,
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()),
    )
}

/// Caravan customer ids: `[a-z0-9][a-z0-9_-]{0,62}`.
pub fn valid_customer_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// The product id of a StockCode: Caravan SKUs match `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, so
/// any other character (the space of `BANK CHARGES`) becomes `_`; a StockCode that does
/// not start with a letter or digit gets an `X` in front. `None` for an empty StockCode.
pub fn product_id_for(stock_code: &str) -> Option<String> {
    if stock_code.is_empty() {
        return None;
    }
    let mut id: String = stock_code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        id.insert(0, 'X');
    }
    id.truncate(128);
    Some(id)
}

#[cfg(test)]
mod tests;
