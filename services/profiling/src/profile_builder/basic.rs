//! Dimension 1: basic information, copied from the customer record and enriched from
//! behaviour where the record is silent. Personal data (names, e-mail, phone) is never
//! stored in the profile; the read path fills it in, masked unless revealed.

use std::collections::HashMap;

use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::entity::customers;

use serde::{Deserialize, Serialize};

use super::{CustomerData, StoredEvent, share, top_counts};

/// The enum value stored as `code` (the proto name without `prefix`), 0 when unknown.
pub(crate) fn enum_value(code: Option<&str>, prefix: &str, parse: fn(&str) -> Option<i32>) -> i32 {
    code.and_then(|c| parse(&format!("{prefix}{c}")))
        .unwrap_or(0)
}

fn age_band(row: &customers::Model, now_year: i32) -> i32 {
    let band = match (row.birth_year, row.age_band.as_deref()) {
        (Some(year), _) => match now_year - year {
            ..18 => None,
            18..=24 => Some("18-24"),
            25..=34 => Some("25-34"),
            35..=44 => Some("35-44"),
            45..=54 => Some("45-54"),
            55..=64 => Some("55-64"),
            _ => Some("65+"),
        },
        (None, band) => band,
    };
    let value = match band {
        Some("18-24") => common::AgeBand::AgeBand18To24,
        Some("25-34") => common::AgeBand::AgeBand25To34,
        Some("35-44") => common::AgeBand::AgeBand35To44,
        Some("45-54") => common::AgeBand::AgeBand45To54,
        Some("55-64") => common::AgeBand::AgeBand55To64,
        Some("65+") => common::AgeBand::AgeBand65Plus,
        _ => common::AgeBand::Unspecified,
    };
    value as i32
}

fn most_frequent<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for v in values.filter(|v| !v.is_empty()) {
        *counts.entry(v.to_owned()).or_default() += 1;
    }
    top(&counts)
}

fn top(counts: &HashMap<String, i64>) -> Option<String> {
    top_counts(counts, 1).into_iter().next().map(|(k, _)| k)
}

fn count(counts: &mut HashMap<String, i64>, value: &str) {
    if !value.is_empty() {
        *counts.entry(value.to_owned()).or_default() += 1;
    }
}

/// What basic information keeps of a customer's events: where and in which language their
/// sessions and reviews come from, for when the record does not say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BasicTally {
    session_countries: HashMap<String, i64>,
    session_languages: HashMap<String, i64>,
    review_languages: HashMap<String, i64>,
}

impl BasicTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        match &e.payload {
            Payload::SessionStart(s) => {
                count(&mut self.session_countries, &s.ip_country_code);
                count(&mut self.session_languages, &s.language_code);
            }
            Payload::Review(r) => count(&mut self.review_languages, &r.language_code),
            _ => {}
        }
    }
}

fn consented_channels(row: &customers::Model) -> Vec<i32> {
    let Some(items) = row.consents.as_ref().and_then(|c| c.as_array()) else {
        return Vec::new();
    };
    let mut channels: Vec<i32> = items
        .iter()
        .filter(|c| c.get("granted").and_then(serde_json::Value::as_bool) == Some(true))
        .filter_map(|c| c.get("channel").and_then(|x| x.as_str()))
        .filter_map(|c| common::ConsentChannel::from_str_name(&format!("CONSENT_CHANNEL_{c}")))
        .map(|c| c as i32)
        .collect();
    channels.sort_unstable();
    channels.dedup();
    channels
}

pub fn import_tags(row: &customers::Model) -> Vec<String> {
    row.import_tags
        .as_ref()
        .and_then(|t| t.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn known(flags: &[bool]) -> f64 {
    share(flags.iter().filter(|f| **f).count(), flags.len())
}

pub fn person(data: &CustomerData) -> pb::BasicPersonDimension {
    let row = &data.customer;
    let tally = &data.events.basic;
    let country = row.country.clone().or_else(|| {
        top(&tally.session_countries).or_else(|| {
            most_frequent(
                data.orders
                    .iter()
                    .filter_map(|o| o.order.destination_country.as_deref()),
            )
        })
    });
    let language = row
        .language
        .clone()
        .or_else(|| top(&tally.session_languages).or_else(|| top(&tally.review_languages)));
    let currency = row
        .preferred_currency
        .clone()
        .or_else(|| most_frequent(data.orders.iter().map(|o| o.order.currency.as_str())));
    let now_year = chrono::Datelike::year(&chrono::Utc::now());
    let consented = consented_channels(row);
    let dim = pb::BasicPersonDimension {
        completeness: 0.0,
        display_name: String::new(),
        email: String::new(),
        phone: String::new(),
        country_code: country.unwrap_or_default(),
        region: row.region.clone().unwrap_or_default(),
        city: row.city.clone().unwrap_or_default(),
        city_tier: row.city_tier.map(i32::from).unwrap_or(0),
        age_band: age_band(row, now_year),
        gender: enum_value(row.gender.as_deref(), "GENDER_", |n| {
            common::Gender::from_str_name(n).map(|e| e as i32)
        }),
        language_code: language.unwrap_or_default(),
        preferred_currency_code: currency.unwrap_or_default(),
        acquisition_channel: enum_value(
            row.acquisition_channel.as_deref(),
            "ACQUISITION_CHANNEL_",
            |n| common::AcquisitionChannel::from_str_name(n).map(|e| e as i32),
        ),
        consented_channels: consented,
        star_rating: row.star_rating.map(i32::from).unwrap_or(0),
        import_tags: import_tags(row),
    };
    pb::BasicPersonDimension {
        completeness: known(&[
            row.given_name.is_some() || row.family_name.is_some(),
            row.email.is_some() || row.phone.is_some(),
            !dim.country_code.is_empty(),
            !dim.region.is_empty() || !dim.city.is_empty(),
            dim.city_tier != 0,
            dim.age_band != 0,
            dim.gender != 0,
            !dim.language_code.is_empty(),
            !dim.preferred_currency_code.is_empty(),
            dim.acquisition_channel != 0,
            row.consents.is_some(),
        ]),
        ..dim
    }
}

pub fn enterprise(row: &customers::Model) -> pb::BasicEnterpriseDimension {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let dim = pb::BasicEnterpriseDimension {
        completeness: 0.0,
        company_name: s(&row.company_name),
        industry: s(&row.industry),
        size_band: enum_value(row.size_band.as_deref(), "COMPANY_SIZE_BAND_", |n| {
            common::CompanySizeBand::from_str_name(n).map(|e| e as i32)
        }),
        annual_revenue_band: enum_value(row.revenue_band.as_deref(), "ANNUAL_REVENUE_BAND_", |n| {
            common::AnnualRevenueBand::from_str_name(n).map(|e| e as i32)
        }),
        country_code: s(&row.country),
        website_uri: s(&row.website),
        business_type: enum_value(row.business_type.as_deref(), "BUSINESS_TYPE_", |n| {
            common::BusinessType::from_str_name(n).map(|e| e as i32)
        }),
        year_founded: row.year_founded.unwrap_or(0),
        registration_number: s(&row.registration_number),
        star_rating: row.star_rating.map(i32::from).unwrap_or(0),
        import_tags: import_tags(row),
    };
    pb::BasicEnterpriseDimension {
        completeness: known(&[
            !dim.company_name.is_empty(),
            !dim.industry.is_empty(),
            dim.size_band != 0,
            dim.annual_revenue_band != 0,
            !dim.country_code.is_empty(),
            !dim.website_uri.is_empty(),
            dim.business_type != 0,
            dim.year_founded != 0,
            !dim.registration_number.is_empty(),
        ]),
        ..dim
    }
}
