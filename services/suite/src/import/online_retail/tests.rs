use std::io::Read;
use std::path::{Path, PathBuf};

use super::*;

fn london() -> MerchantTimeZone {
    MerchantTimeZone::parse("Europe/London").expect("zone")
}

const HEADER: &str =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

fn parse_text(body: &str) -> Dataset {
    let text = format!("{HEADER}{body}");
    parse(text.as_bytes(), Path::new("test.csv"), london(), |_| {}).expect("parses")
}

fn reasons(data: &Dataset) -> Vec<(u64, String)> {
    data.rejects
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect()
}

#[test]
fn groups_rows_into_orders_and_cancellations() {
    let data = parse_text(
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n\
         536365,71053,\"LANTERN, WHITE\",2,2010-12-01 08:27:00,3.39,17850,United Kingdom\n\
         C536379,D,Discount,-1,2011-06-01 09:41:00,27.5,14527,EIRE\n",
    );
    assert_eq!(data.invoices.len(), 2);
    let order = &data.invoices[0];
    assert_eq!(order.number, "536365");
    assert!(!order.cancellation);
    assert_eq!(order.customer_id, "17850");
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[1].product_id, "71053");
    assert_eq!(order.lines[1].source_line, 3);
    assert_eq!(order.total_minor(), 6 * 255 + 2 * 339);
    // Earliest row time; winter, so UK time is UTC.
    assert_eq!(order.occur_utc, 1_291_191_960);
    let cancel = &data.invoices[1];
    assert!(cancel.cancellation);
    assert_eq!(
        cancel.lines[0].quantity, 1,
        "cancellation quantities are positive"
    );
    assert_eq!(cancel.total_minor(), 2750);
    // Summer: 09:41 BST is 08:41 UTC.
    assert_eq!(cancel.occur_utc, 1_306_917_660);
    assert_eq!(data.orders(), 1);
    assert_eq!(data.cancellations(), 1);
    assert!(data.rejects.is_empty());
    assert_eq!(data.rows_imported, 3);
    assert_eq!(data.totals.cancellation_rows, 1);
    assert_eq!(data.totals.quantity_sum, 7);
}

#[test]
fn every_skip_reason_is_reported_once_per_row() {
    let data = parse_text(
        "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom\n\
         536367,22633,HAND WARMER,x,2010-12-01 08:28:00,1.85,13047,United Kingdom\n\
         536368,22633,HAND WARMER,6,01/12/2010 08:28,1.85,13047,United Kingdom\n\
         536369,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,13047.0,United Kingdom\n\
         A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,11062.06,13047,United Kingdom\n\
         536370,22633,HAND WARMER,0,2010-12-01 08:28:00,1.85,13047,United Kingdom\n\
         536371,22633,HAND WARMER,-6,2010-12-01 08:28:00,1.85,13047,United Kingdom\n\
         C536372,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,13047,United Kingdom\n\
         536373,22633,HAND WARMER,6,2010-12-01 08:28:00,-1.85,13047,United Kingdom\n\
         536374,BANK CHARGES,Bank Charges,1,2010-12-01 08:28:00,15,13047,United Kingdom\n\
         536374,BANK_CHARGES,Other,1,2010-12-01 08:28:00,15,13047,United Kingdom\n\
         536374,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,12345,United Kingdom\n\
         X536375,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,13047,United Kingdom\n",
    );
    assert_eq!(
        reasons(&data),
        vec![
            (2, "missing CustomerID".to_owned()),
            (3, "invalid field: invalid Quantity \"x\"".to_owned()),
            (
                4,
                "invalid field: invalid InvoiceDate \"01/12/2010 08:28\"".to_owned()
            ),
            (5, "invalid CustomerID: \"13047.0\"".to_owned()),
            (6, "adjustment invoice".to_owned()),
            (7, "zero Quantity".to_owned()),
            (8, "negative Quantity on a sales invoice: -6".to_owned()),
            (
                9,
                "positive Quantity on a cancellation invoice: 6".to_owned()
            ),
            (10, "negative UnitPrice".to_owned()),
            (
                12,
                "invalid StockCode: \"BANK_CHARGES\" becomes product id \"BANK_CHARGES\", \
                 already used by \"BANK CHARGES\""
                    .to_owned()
            ),
            (
                13,
                "CustomerID differs within the invoice: 12345 vs 13047".to_owned()
            ),
            (14, "unrecognised InvoiceNo: \"X536375\"".to_owned()),
        ]
    );
    assert!(data.rejects.iter().all(|r| r.action == Action::Skipped));
    assert_eq!(data.skipped.values().sum::<u64>(), 12);
    assert_eq!(data.skipped[&SkipReason::MissingCustomerId], 1);
    assert_eq!(data.invoices.len(), 1);
    assert_eq!(data.invoices[0].lines[0].product_id, "BANK_CHARGES");
    assert_eq!(data.totals.blank_customer_rows, 1);
    assert_eq!(data.totals.rows, 13);
}

#[test]
fn rounds_sub_penny_prices_and_reports_them() {
    let data =
        parse_text("550193,PADS,PADS TO MATCH,1,2011-04-15 09:27:00,0.001,13952,United Kingdom\n");
    assert_eq!(data.invoices[0].lines[0].unit_price_minor, 0);
    assert_eq!(data.prices_rounded, 1);
    assert_eq!(data.rejects.len(), 1);
    assert_eq!(data.rejects[0].action, Action::Rounded);
    assert_eq!(data.rows_imported, 1);
}

#[test]
fn products_and_customer_countries() {
    let data = parse_text(
        "1,22633,,6,2010-12-01 08:28:00,1.85,,United Kingdom\n\
         2,22633,HAND WARMER,6,2010-12-02 08:28:00,1.95,12431,Australia\n\
         3,22633,HAND WARMER NEW,6,2010-12-03 08:28:00,0,12431,Belgium\n\
         C4,22633,HAND WARMER,-6,2010-12-04 08:28:00,2.95,12431,Belgium\n\
         5,99999,,1,2010-12-04 08:28:00,0,,Unspecified\n",
    );
    assert_eq!(
        data.products,
        vec![
            ProductInfo {
                product_id: "22633".into(),
                stock_code: "22633".into(),
                title: "HAND WARMER".into(),
                price_minor: Some(195),
            },
            ProductInfo {
                product_id: "99999".into(),
                stock_code: "99999".into(),
                title: "99999".into(),
                price_minor: None,
            },
        ]
    );
    // Australia 1 invoice, Belgium 2 (the cancellation counts too).
    assert_eq!(
        data.customers,
        vec![CustomerInfo {
            customer_id: "12431".into(),
            country: "Belgium".into(),
        }]
    );
    assert_eq!(data.totals.countries, 4);
    assert_eq!(data.totals.stock_codes, 2);
}

#[test]
fn a_missing_column_is_an_error() {
    let text = "InvoiceNo,StockCode\n1,2\n";
    let err = parse(text.as_bytes(), Path::new("x.csv"), london(), |_| {}).expect_err("no columns");
    assert!(err.to_string().contains("no Description column"), "{err}");
}

fn real_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/online_retail/online_retail.csv.gz")
}

/// The whole UCI file against the known totals of its README.
#[test]
fn the_real_file_matches_the_known_totals() {
    let path = real_file();
    let file = std::fs::File::open(&path).expect("the Online Retail file is in data/online_retail");
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file))
        .read_to_end(&mut text)
        .expect("gunzip");
    let data = parse(text.as_slice(), &path, london(), |_| {}).expect("parses");

    assert_eq!(
        data.totals,
        FileTotals {
            rows: 541_909,
            invoices: 25_900,
            stock_codes: 4_070,
            customers: 4_372,
            countries: 38,
            cancellation_rows: 9_288,
            quantity_sum: 5_176_450,
            blank_customer_rows: 135_080,
        }
    );
    // Every row with a blank CustomerID is skipped for that reason, and nothing else is:
    // the other anomalies of the file (negative quantities on sales invoices, the `A`
    // bad-debt adjustments) all sit on rows without a CustomerID.
    assert_eq!(
        data.skipped.iter().collect::<Vec<_>>(),
        vec![(&SkipReason::MissingCustomerId, &135_080)]
    );
    assert_eq!(data.rows_imported, 541_909 - 135_080);
    assert_eq!(data.orders(), 18_536);
    assert_eq!(data.cancellations(), 3_654);
    assert_eq!(data.invoices.len(), 22_190);
    assert_eq!(data.customers.len(), 4_372);
    assert_eq!(data.products.len(), 4_070);
    assert!(data.products.iter().any(|p| p.product_id == "BANK_CHARGES"));
    // Four 0.001 prices (PADS, BANK CHARGES) round to 0 pence.
    assert_eq!(data.prices_rounded, 4);
    assert_eq!(data.rejects.len(), 135_080 + 4);
    let lines: usize = data.invoices.iter().map(|i| i.lines.len()).sum();
    assert_eq!(lines, 406_829);
    let signed: i64 = data
        .invoices
        .iter()
        .flat_map(|i| {
            i.lines.iter().map(move |l| {
                if i.cancellation {
                    -l.quantity
                } else {
                    l.quantity
                }
            })
        })
        .sum();
    assert_eq!(
        signed, 4_906_888,
        "sum of Quantity over the rows with a CustomerID"
    );
}

#[test]
fn countries_without_a_code_are_counted_and_unknown_ones_reported() {
    let data = parse_text(
        "540001,22633,HAND WARMER,6,2011-01-04 10:00:00,1.85,12700,Korea\n\
         540002,22633,HAND WARMER,6,2011-01-04 10:00:00,1.85,12701,West Indies\n\
         540003,22633,HAND WARMER,6,2011-01-04 10:00:00,1.85,12702,Atlantis\n\
         540003,71053,LANTERN,2,2011-01-04 10:00:00,3.39,12702,Atlantis\n\
         540004,22633,HAND WARMER,1,2011-01-05 10:00:00,1.85,12702,Atlantis\n",
    );
    assert_eq!(data.rows_imported, 5, "nothing is dropped");
    assert_eq!(
        data.uncoded_countries,
        BTreeMap::from([
            (
                "Atlantis".to_owned(),
                UncodedCountry {
                    known: false,
                    invoices: 2
                }
            ),
            (
                "West Indies".to_owned(),
                UncodedCountry {
                    known: true,
                    invoices: 1
                }
            ),
        ])
    );
    let without: Vec<_> = data
        .rejects
        .iter()
        .filter(|r| r.action == Action::WithoutCountry)
        .map(|r| (r.line, r.key.as_str()))
        .collect();
    assert_eq!(without, vec![(4, "540003"), (6, "540004")]);
    assert!(reasons(&data)[0].1.contains("\"Atlantis\""));
}

#[test]
fn malformed_lines_are_skipped_with_their_line_and_never_merged() {
    let good =
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n";
    let mut text = HEADER.as_bytes().to_vec();
    text.extend_from_slice(good.as_bytes());
    text.extend_from_slice(
        b"536366,22633,\"HAND WARMER,6,2010-12-01 08:28:00,1.85,17850,United Kingdom\n",
    );
    text.extend_from_slice(
        b"536367,84879,ASSORTED BIRD,32,2010-12-01 08:34:00,1.69,13047,United Kingdom\n",
    );
    text.extend_from_slice(
        b"536368,22960,JAM \xff SET,6,2010-12-01 08:34:00,4.25,13047,United Kingdom\n",
    );
    text.extend_from_slice(
        b"536369,21756,BATH,3,2010-12-01 08:35:00,5.95,13047,United Kingdom,x\n",
    );
    text.extend_from_slice(b"536370,22728,");
    text.extend(std::iter::repeat_n(b'A', 20 << 20));
    text.extend_from_slice(b",24,2010-12-01 08:45:00,3.75,12583,France\n");
    let data = parse(text.as_slice(), Path::new("test.csv"), london(), |_| {}).expect("parses");
    let reasons: Vec<(u64, String)> = reasons(&data)
        .into_iter()
        .map(|(line, r)| (line, r.split(';').next().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (3, "malformed line: unbalanced quote".to_owned()),
            (
                6,
                "malformed line: 9 fields where the header has 8".to_owned()
            ),
            (7, "malformed line: line longer than 65536 bytes".to_owned()),
        ]
    );
    assert!(
        data.rejects[0]
            .reason
            .contains("the line starts \"536366,22633,"),
        "{}",
        data.rejects[0].reason
    );
    let numbers: Vec<&str> = data.invoices.iter().map(|i| i.number.as_str()).collect();
    assert_eq!(
        numbers,
        ["536365", "536367", "536368"],
        "the row after the bad quote is whole; invalid UTF-8 in a description is replaced"
    );
    assert_eq!(data.invoices[1].lines[0].quantity, 32);
    assert_eq!(data.totals.rows, 6);
    assert_eq!(data.invoices[2].lines.len(), 1);
}
