//! Loader for the UCI Online Retail file (`online_retail.csv.gz`).
//!
//! Rows without `CustomerID` are dropped; so are non-product stock codes (those not starting
//! with a digit: POST, M, DOT, BANK CHARGES, AMAZONFEE, C2, gift vouchers...). A row of an
//! invoice starting with `C` is a [`InteractionKind::Return`]; other rows with positive
//! quantity are [`InteractionKind::Purchase`]s (one per invoice line, weight 1; quantity is
//! ignored because wholesale quantities would swamp the signal). Item = `StockCode`,
//! customer = `CustomerID`, country = `Country` (last seen per customer). Times are the
//! file's local times read as UTC.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use chrono::NaiveDateTime;

use super::interactions::{Interaction, InteractionKind};

#[derive(Debug, Clone, Default)]
pub struct RetailData {
    pub interactions: Vec<Interaction>,
    /// Customer → country.
    pub countries: HashMap<String, String>,
    /// Stock code → description (first seen).
    pub descriptions: HashMap<String, String>,
}

/// `"2010-12-01 08:26:00"` → Unix seconds.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    Ok(NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("bad InvoiceDate {s:?}"))?
        .and_utc()
        .timestamp())
}

pub fn load(path: &Path) -> anyhow::Result<RetailData> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    parse(reader)
}

pub fn parse(reader: impl Read) -> anyhow::Result<RetailData> {
    let mut rdr = csv::Reader::from_reader(reader);
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("missing column {name}"))
    };
    let (c_inv, c_code, c_desc, c_qty, c_date, c_cust, c_country) = (
        col("InvoiceNo")?,
        col("StockCode")?,
        col("Description")?,
        col("Quantity")?,
        col("InvoiceDate")?,
        col("CustomerID")?,
        col("Country")?,
    );
    let mut data = RetailData::default();
    let mut record = csv::StringRecord::new();
    while rdr.read_record(&mut record)? {
        let customer = record.get(c_cust).unwrap_or("").trim();
        let code = record.get(c_code).unwrap_or("").trim();
        if customer.is_empty() || !code.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let qty: f64 = record
            .get(c_qty)
            .unwrap_or("")
            .trim()
            .parse()
            .with_context(|| format!("bad Quantity in {record:?}"))?;
        let cancelled = record.get(c_inv).unwrap_or("").starts_with('C');
        let kind = if cancelled {
            InteractionKind::Return
        } else if qty > 0.0 {
            InteractionKind::Purchase
        } else {
            continue;
        };
        let time = parse_time(record.get(c_date).unwrap_or(""))?;
        let customer = customer.strip_suffix(".0").unwrap_or(customer).to_string();
        if let Some(country) = record.get(c_country) {
            data.countries
                .insert(customer.clone(), country.trim().to_string());
        }
        if !data.descriptions.contains_key(code) {
            data.descriptions.insert(
                code.to_string(),
                record.get(c_desc).unwrap_or("").trim().to_string(),
            );
        }
        data.interactions.push(Interaction {
            customer,
            item: code.to_string(),
            kind,
            weight: 1.0,
            time,
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_purchases_returns_and_filters() {
        let csv = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
536365,85123A,\"WHITE HANGING HEART, T-LIGHT\",6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n\
536366,POST,POSTAGE,1,2010-12-01 08:28:00,18,17850,United Kingdom\n\
536367,22633,HAND WARMER,6,2010-12-01 08:34:00,1.85,,United Kingdom\n\
C536379,85123A,WHITE HANGING HEART,-1,2010-12-01 09:41:00,2.55,17850,France\n\
536380,22633,HAND WARMER,-3,2010-12-01 09:41:00,1.85,12583,France\n";
        let d = parse(csv.as_bytes()).expect("parse");
        assert_eq!(d.interactions.len(), 2);
        assert_eq!(d.interactions[0].kind, InteractionKind::Purchase);
        assert_eq!(d.interactions[0].item, "85123A");
        assert_eq!(
            d.interactions[0].time,
            parse_time("2010-12-01 08:26:00").expect("t")
        );
        assert_eq!(d.interactions[1].kind, InteractionKind::Return);
        assert_eq!(d.countries["17850"], "France");
        assert_eq!(d.descriptions["85123A"], "WHITE HANGING HEART, T-LIGHT");
    }
}
