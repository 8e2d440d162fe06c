//! What a valid customer is (person or enterprise), its column values, and how it is
//! shown (masked unless personal data is revealed). Pure, no I/O.

use std::collections::BTreeSet;

use caravan_core::iso;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::{from_timestamp, to_timestamp};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use chrono::{DateTime, Datelike, Utc};
use pb::customer::Details;
use pb::person_details::Age;

use crate::identity_rules::{
    IdentifierKey, IdentityHasher, identifier_key, mask_email, mask_name, mask_phone,
    normalise_email, normalise_phone,
};

const MAX_TAGS: usize = 100;
const MAX_TAG: usize = 64;
const MAX_IDENTIFIERS: usize = 50;

/// The column values of a customer after validation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CustomerFields {
    pub kind: &'static str,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub city_tier: Option<i16>,
    pub birth_year: Option<i32>,
    pub age_band: Option<String>,
    pub gender: Option<String>,
    pub language: Option<String>,
    pub preferred_currency: Option<String>,
    pub acquisition_channel: Option<String>,
    pub company_name: Option<String>,
    pub industry: Option<String>,
    pub size_band: Option<String>,
    pub revenue_band: Option<String>,
    pub website: Option<String>,
    pub business_type: Option<String>,
    pub year_founded: Option<i32>,
    pub registration_number: Option<String>,
    pub star_rating: Option<i16>,
    pub source: Option<String>,
    pub import_tags: Vec<String>,
    pub consents: serde_json::Value,
    /// Identifiers from `identifiers` plus those derived from email, phone and
    /// registration number.
    pub identifiers: Vec<IdentifierKey>,
}

impl std::fmt::Debug for CustomerFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerFields(kind=")?;
        f.write_str(self.kind)?;
        f.write_str(", ..personal data hidden)")
    }
}

/// Enum value -> stored code (the proto name without its prefix, e.g. `FEMALE`).
pub fn enum_code(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

fn opt_enum<E: TryFrom<i32> + Copy + Into<i32>>(
    value: i32,
    field: &str,
    name: impl Fn(E) -> &'static str,
    prefix: &str,
    v: &mut FieldViolations,
) -> Option<String> {
    match E::try_from(value) {
        Err(_) => {
            v.add(field, format!("{value} is not a known value"));
            None
        }
        Ok(_) if value == 0 => None,
        Ok(e) => Some(enum_code(name(e), prefix)),
    }
}

fn text(value: &str, field: &str, max: usize, v: &mut FieldViolations) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn country(value: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if !iso::is_country(value) {
        v.add(
            field,
            format!(
                "{value:?} is not an ISO 3166-1 alpha-2 country code (upper case, e.g. \"DE\")"
            ),
        );
        return None;
    }
    Some(value.to_owned())
}

fn language(value: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let ok = value.len() <= 35
        && value.split('-').all(|part| {
            (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
        && value
            .split('-')
            .next()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_alphabetic()));
    if !ok {
        v.add(
            field,
            format!("{value:?} is not a BCP-47 language tag (e.g. \"en-GB\")"),
        );
        return None;
    }
    Some(value.to_owned())
}

/// The age band of a person born in `birth_year`, in `now`'s year.
pub fn age_band_for(birth_year: i32, now: DateTime<Utc>) -> Option<&'static str> {
    let age = now.year() - birth_year;
    Some(match age {
        ..18 => return None,
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    })
}

fn age_band_code(band: common::AgeBand) -> Option<&'static str> {
    Some(match band {
        common::AgeBand::Unspecified => return None,
        common::AgeBand::AgeBand18To24 => "18-24",
        common::AgeBand::AgeBand25To34 => "25-34",
        common::AgeBand::AgeBand35To44 => "35-44",
        common::AgeBand::AgeBand45To54 => "45-54",
        common::AgeBand::AgeBand55To64 => "55-64",
        common::AgeBand::AgeBand65Plus => "65+",
    })
}

fn age_band_from_code(code: &str) -> common::AgeBand {
    match code {
        "18-24" => common::AgeBand::AgeBand18To24,
        "25-34" => common::AgeBand::AgeBand25To34,
        "35-44" => common::AgeBand::AgeBand35To44,
        "45-54" => common::AgeBand::AgeBand45To54,
        "55-64" => common::AgeBand::AgeBand55To64,
        "65+" => common::AgeBand::AgeBand65Plus,
        _ => common::AgeBand::Unspecified,
    }
}

/// Validates a customer. `require_company_name`: on create (and when the company name is
/// updated) an enterprise must have one; customers created implicitly by events have none.
pub fn check_customer(
    customer: &pb::Customer,
    hasher: &IdentityHasher,
    now: DateTime<Utc>,
    require_company_name: bool,
) -> Result<CustomerFields, FieldViolations> {
    let mut v = FieldViolations::new();
    let mut out = CustomerFields::default();
    let kind =
        common::CustomerKind::try_from(customer.kind).unwrap_or(common::CustomerKind::Unspecified);
    match (kind, &customer.details) {
        (common::CustomerKind::Unspecified, _) => {
            v.add("customer.kind", "is required (PERSON or ENTERPRISE)");
        }
        (common::CustomerKind::Person, Some(Details::Enterprise(_))) => {
            v.add(
                "customer.enterprise",
                "is set but kind is PERSON; set customer.person instead",
            );
        }
        (common::CustomerKind::Enterprise, Some(Details::Person(_))) => {
            v.add(
                "customer.person",
                "is set but kind is ENTERPRISE; set customer.enterprise instead",
            );
        }
        _ => {}
    }
    out.kind = if kind == common::CustomerKind::Enterprise {
        "ENTERPRISE"
    } else {
        "PERSON"
    };
    match &customer.details {
        Some(Details::Person(p)) => check_person(p, hasher, now, &mut out, &mut v),
        Some(Details::Enterprise(e)) => {
            check_enterprise(e, now, require_company_name, &mut out, &mut v)
        }
        None if kind == common::CustomerKind::Enterprise && require_company_name => {
            v.add("customer.enterprise.company_name", "is required");
        }
        None => {}
    }
    if customer.identifiers.len() > MAX_IDENTIFIERS {
        v.add(
            "customer.identifiers",
            format!("at most {MAX_IDENTIFIERS} identifiers"),
        );
    } else {
        for (i, identifier) in customer.identifiers.iter().enumerate() {
            if let Some(key) = identifier_key(
                identifier,
                hasher,
                &mut v,
                &format!("customer.identifiers[{i}]"),
            ) {
                out.identifiers.push(key);
            }
        }
    }
    if let Some(email) = &out.email {
        out.identifiers.push(IdentifierKey {
            kind: "EMAIL",
            value_hash: hasher.hash(email),
        });
    }
    if let Some(phone) = &out.phone {
        out.identifiers.push(IdentifierKey {
            kind: "PHONE",
            value_hash: hasher.hash(phone),
        });
    }
    if let Some(reg) = &out.registration_number {
        out.identifiers.push(IdentifierKey {
            kind: "REGISTRATION_NUMBER",
            value_hash: reg.clone(),
        });
    }
    let mut unique = BTreeSet::new();
    out.identifiers
        .retain(|k| unique.insert((k.kind, k.value_hash.clone())));

    let mut consents = Vec::new();
    let mut channels = BTreeSet::new();
    for (i, consent) in customer.consents.iter().enumerate() {
        let field = format!("customer.consents[{i}]");
        let channel = opt_enum::<common::ConsentChannel>(
            consent.channel,
            &format!("{field}.channel"),
            |e| e.as_str_name(),
            "CONSENT_CHANNEL_",
            &mut v,
        );
        let Some(channel) = channel else {
            if consent.channel == 0 {
                v.add(format!("{field}.channel"), "is required");
            }
            continue;
        };
        if !channels.insert(channel.clone()) {
            v.add(
                format!("{field}.channel"),
                "appears twice; give the latest decision per channel once",
            );
        }
        let time = consent.update_time.as_ref().and_then(from_timestamp);
        let Some(time) = time else {
            v.add(
                format!("{field}.update_time"),
                "is required (when consent was given or withdrawn)",
            );
            continue;
        };
        let source = text(&consent.source, &format!("{field}.source"), 64, &mut v);
        consents.push(serde_json::json!({
            "channel": channel,
            "granted": consent.granted,
            "update_time": time.to_rfc3339(),
            "source": source,
        }));
    }
    out.consents = serde_json::Value::Array(consents);

    if customer.import_tags.len() > MAX_TAGS {
        v.add("customer.import_tags", format!("at most {MAX_TAGS} tags"));
    }
    for (i, tag) in customer.import_tags.iter().enumerate() {
        if let Some(tag) = text(tag, &format!("customer.import_tags[{i}]"), MAX_TAG, &mut v) {
            out.import_tags.push(tag);
        }
    }
    if !(0..=5).contains(&customer.star_rating) {
        v.add(
            "customer.star_rating",
            "must be between 1 and 5 (0 = not rated)",
        );
    } else if customer.star_rating > 0 {
        out.star_rating = i16::try_from(customer.star_rating).ok();
    }
    out.source = text(&customer.source, "customer.source", 64, &mut v);
    v.into_result()?;
    Ok(out)
}

fn check_person(
    p: &pb::PersonDetails,
    _hasher: &IdentityHasher,
    now: DateTime<Utc>,
    out: &mut CustomerFields,
    v: &mut FieldViolations,
) {
    let f = |name: &str| format!("customer.person.{name}");
    out.given_name = text(&p.given_name, &f("given_name"), 255, v);
    out.family_name = text(&p.family_name, &f("family_name"), 255, v);
    if !p.email.trim().is_empty() {
        match normalise_email(&p.email) {
            Ok(email) => out.email = Some(email),
            Err(why) => v.add(f("email"), why),
        }
    }
    if !p.phone.trim().is_empty() {
        match normalise_phone(&p.phone) {
            Ok(phone) => out.phone = Some(phone),
            Err(why) => v.add(f("phone"), why),
        }
    }
    out.country = country(&p.country_code, &f("country_code"), v);
    out.region = text(&p.region, &f("region"), 128, v);
    out.city = text(&p.city, &f("city"), 128, v);
    match common::CityTier::try_from(p.city_tier) {
        Ok(common::CityTier::Unspecified) => {}
        Ok(tier) => out.city_tier = i16::try_from(tier as i32).ok(),
        Err(_) => v.add(
            f("city_tier"),
            format!("{} is not a known value", p.city_tier),
        ),
    }
    match p.age {
        Some(Age::BirthYear(year)) => {
            if year < 1900 || year > now.year() {
                v.add(
                    f("birth_year"),
                    format!("must be between 1900 and {}", now.year()),
                );
            } else {
                out.birth_year = Some(year);
                out.age_band = age_band_for(year, now).map(str::to_owned);
            }
        }
        Some(Age::AgeBand(band)) => match common::AgeBand::try_from(band) {
            Ok(band) => out.age_band = age_band_code(band).map(str::to_owned),
            Err(_) => v.add(f("age_band"), format!("{band} is not a known value")),
        },
        None => {}
    }
    out.gender =
        opt_enum::<common::Gender>(p.gender, &f("gender"), |e| e.as_str_name(), "GENDER_", v);
    out.language = language(&p.language_code, &f("language_code"), v);
    if !p.preferred_currency_code.is_empty() {
        if iso::is_currency(&p.preferred_currency_code) {
            out.preferred_currency = Some(p.preferred_currency_code.clone());
        } else {
            v.add(
                f("preferred_currency_code"),
                format!(
                    "{:?} is not an ISO 4217 currency code",
                    p.preferred_currency_code
                ),
            );
        }
    }
    out.acquisition_channel = opt_enum::<common::AcquisitionChannel>(
        p.acquisition_channel,
        &f("acquisition_channel"),
        |e| e.as_str_name(),
        "ACQUISITION_CHANNEL_",
        v,
    );
}

fn check_enterprise(
    e: &pb::EnterpriseDetails,
    now: DateTime<Utc>,
    require_company_name: bool,
    out: &mut CustomerFields,
    v: &mut FieldViolations,
) {
    let f = |name: &str| format!("customer.enterprise.{name}");
    out.company_name = text(&e.company_name, &f("company_name"), 255, v);
    if out.company_name.is_none() && require_company_name {
        v.add(f("company_name"), "is required");
    }
    out.industry = text(&e.industry, &f("industry"), 128, v);
    out.size_band = opt_enum::<common::CompanySizeBand>(
        e.size_band,
        &f("size_band"),
        |x| x.as_str_name(),
        "COMPANY_SIZE_BAND_",
        v,
    );
    out.revenue_band = opt_enum::<common::AnnualRevenueBand>(
        e.annual_revenue_band,
        &f("annual_revenue_band"),
        |x| x.as_str_name(),
        "ANNUAL_REVENUE_BAND_",
        v,
    );
    out.country = country(&e.country_code, &f("country_code"), v);
    out.website = text(&e.website_uri, &f("website_uri"), 512, v);
    out.business_type = opt_enum::<common::BusinessType>(
        e.business_type,
        &f("business_type"),
        |x| x.as_str_name(),
        "BUSINESS_TYPE_",
        v,
    );
    if e.year_founded != 0 {
        if e.year_founded < 1600 || e.year_founded > now.year() {
            v.add(
                f("year_founded"),
                format!("must be between 1600 and {} (0 = unknown)", now.year()),
            );
        } else {
            out.year_founded = Some(e.year_founded);
        }
    }
    out.registration_number = text(&e.registration_number, &f("registration_number"), 128, v);
    out.region = text(&e.region, &f("region"), 128, v);
    out.city = text(&e.city, &f("city"), 128, v);
}

/// What a stored customer looks like on the wire; personal data masked unless `reveal`.
/// `identifiers` are `(kind code, value_hash)` rows of the customer.
#[allow(clippy::too_many_arguments)]
pub fn customer_to_proto(
    row: &caravan_store::entity::customers::Model,
    identifiers: &[(String, String)],
    hasher: &IdentityHasher,
    reveal: bool,
) -> pb::Customer {
    let name = format!("merchants/{}/customers/{}", row.merchant_id, row.id);
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let masked = |o: &Option<String>, mask: fn(&str) -> String| {
        o.as_deref()
            .map(|x| if reveal { x.to_owned() } else { mask(x) })
            .unwrap_or_default()
    };
    let enum_value = |code: &Option<String>, prefix: &str, parse: fn(&str) -> Option<i32>| {
        code.as_deref()
            .and_then(|c| parse(&format!("{prefix}{c}")))
            .unwrap_or(0)
    };
    let details = if row.kind == "ENTERPRISE" {
        Details::Enterprise(pb::EnterpriseDetails {
            company_name: s(&row.company_name),
            industry: s(&row.industry),
            size_band: enum_value(&row.size_band, "COMPANY_SIZE_BAND_", |n| {
                common::CompanySizeBand::from_str_name(n).map(|e| e as i32)
            }),
            annual_revenue_band: enum_value(&row.revenue_band, "ANNUAL_REVENUE_BAND_", |n| {
                common::AnnualRevenueBand::from_str_name(n).map(|e| e as i32)
            }),
            country_code: s(&row.country),
            website_uri: s(&row.website),
            business_type: enum_value(&row.business_type, "BUSINESS_TYPE_", |n| {
                common::BusinessType::from_str_name(n).map(|e| e as i32)
            }),
            year_founded: row.year_founded.unwrap_or(0),
            registration_number: s(&row.registration_number),
            region: s(&row.region),
            city: s(&row.city),
        })
    } else {
        Details::Person(pb::PersonDetails {
            given_name: masked(&row.given_name, mask_name),
            family_name: masked(&row.family_name, mask_name),
            email: masked(&row.email, mask_email),
            phone: masked(&row.phone, mask_phone),
            country_code: s(&row.country),
            region: s(&row.region),
            city: s(&row.city),
            city_tier: row.city_tier.map(i32::from).unwrap_or(0),
            age: match (row.birth_year, &row.age_band) {
                (Some(year), _) => Some(Age::BirthYear(year)),
                (None, Some(band)) => Some(Age::AgeBand(age_band_from_code(band) as i32)),
                (None, None) => None,
            },
            gender: enum_value(&row.gender, "GENDER_", |n| {
                common::Gender::from_str_name(n).map(|e| e as i32)
            }),
            language_code: s(&row.language),
            preferred_currency_code: s(&row.preferred_currency),
            acquisition_channel: enum_value(
                &row.acquisition_channel,
                "ACQUISITION_CHANNEL_",
                |n| common::AcquisitionChannel::from_str_name(n).map(|e| e as i32),
            ),
        })
    };
    let email_hash = row.email.as_deref().map(|e| hasher.hash(e));
    let phone_hash = row.phone.as_deref().map(|p| hasher.hash(p));
    let identifiers = identifiers
        .iter()
        .map(|(kind, value_hash)| {
            let value = match kind.as_str() {
                "EMAIL" if email_hash.as_deref() == Some(value_hash) => {
                    masked(&row.email, mask_email)
                }
                "PHONE" if phone_hash.as_deref() == Some(value_hash) => {
                    masked(&row.phone, mask_phone)
                }
                // Only the keyed hash of this e-mail or phone is known.
                "EMAIL" | "PHONE" => "***".to_owned(),
                _ => value_hash.clone(),
            };
            common::CustomerIdentifier {
                kind: crate::identity_rules::kind_from_code(kind) as i32,
                value,
                issuer: String::new(),
            }
        })
        .collect();
    let consents = row
        .consents
        .as_ref()
        .and_then(|c| c.as_array())
        .map(|items| {
            items
                .iter()
                .map(|c| pb::MarketingConsent {
                    channel: c
                        .get("channel")
                        .and_then(|x| x.as_str())
                        .and_then(|x| {
                            common::ConsentChannel::from_str_name(&format!("CONSENT_CHANNEL_{x}"))
                        })
                        .map(|x| x as i32)
                        .unwrap_or(0),
                    granted: c
                        .get("granted")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                    update_time: c
                        .get("update_time")
                        .and_then(|x| x.as_str())
                        .and_then(|x| DateTime::parse_from_rfc3339(x).ok())
                        .map(|t| to_timestamp(t.to_utc())),
                    source: c
                        .get("source")
                        .and_then(|x| x.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let import_tags = row
        .import_tags
        .as_ref()
        .and_then(|t| t.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    pb::Customer {
        name,
        kind: if row.kind == "ENTERPRISE" {
            common::CustomerKind::Enterprise as i32
        } else {
            common::CustomerKind::Person as i32
        },
        details: Some(details),
        identifiers,
        consents,
        import_tags,
        star_rating: row.star_rating.map(i32::from).unwrap_or(0),
        source: s(&row.source),
        create_time: Some(to_timestamp(row.created_at.get())),
        update_time: Some(to_timestamp(row.updated_at.get())),
        merged_into: row
            .merged_into
            .as_ref()
            .map(|t| format!("merchants/{}/customers/{t}", row.merchant_id))
            .unwrap_or_default(),
    }
}

/// Applies the fields named in `paths` from `update` onto `current` (AIP-134). An empty
/// mask replaces every mutable field. Identifiers are handled by the caller.
pub fn apply_mask(
    current: &mut pb::Customer,
    update: &pb::Customer,
    paths: &[String],
) -> Result<(), FieldViolations> {
    let mut v = FieldViolations::new();
    if paths.is_empty() {
        let keep = (current.name.clone(), current.kind);
        *current = update.clone();
        current.name = keep.0;
        if update.kind != 0 && update.kind != keep.1 {
            v.add("customer.kind", "cannot be changed");
        }
        current.kind = keep.1;
        return v.into_result();
    }
    for path in paths {
        match path.as_str() {
            "kind" => {
                if update.kind != current.kind {
                    v.add("update_mask", "kind cannot be changed");
                }
            }
            "identifiers" => current.identifiers = update.identifiers.clone(),
            "consents" => current.consents = update.consents.clone(),
            "import_tags" => current.import_tags = update.import_tags.clone(),
            "star_rating" => current.star_rating = update.star_rating,
            "source" => current.source = update.source.clone(),
            "person" | "enterprise" => {
                if detail_kind(update.details.as_ref()) != Some(path.as_str())
                    && update.details.is_some()
                {
                    v.add(format!("customer.{path}"), "is not set in customer");
                } else {
                    current.details = update.details.clone();
                }
            }
            p if p.starts_with("person.") || p.starts_with("enterprise.") => {
                if let Err(why) = apply_detail_path(current, update, p) {
                    v.add("update_mask", why);
                }
            }
            other => v.add(
                "update_mask",
                format!("{other:?} is not a mutable customer field"),
            ),
        }
    }
    v.into_result()
}

fn detail_kind(details: Option<&Details>) -> Option<&'static str> {
    match details {
        Some(Details::Person(_)) => Some("person"),
        Some(Details::Enterprise(_)) => Some("enterprise"),
        None => None,
    }
}

fn apply_detail_path(
    current: &mut pb::Customer,
    update: &pb::Customer,
    path: &str,
) -> Result<(), String> {
    let (group, field) = path.split_once('.').unwrap_or((path, ""));
    match (group, &mut current.details, &update.details) {
        ("person", cur, upd) => {
            let empty = pb::PersonDetails::default();
            let src = match upd {
                Some(Details::Person(p)) => p,
                _ => &empty,
            };
            if matches!(cur, Some(Details::Enterprise(_))) {
                return Err(format!("{path:?} does not apply to an ENTERPRISE customer"));
            }
            if cur.is_none() {
                *cur = Some(Details::Person(pb::PersonDetails::default()));
            }
            let Some(Details::Person(dst)) = cur else {
                return Err(format!("{path:?} does not apply"));
            };
            match field {
                "given_name" => dst.given_name = src.given_name.clone(),
                "family_name" => dst.family_name = src.family_name.clone(),
                "email" => dst.email = src.email.clone(),
                "phone" => dst.phone = src.phone.clone(),
                "country_code" => dst.country_code = src.country_code.clone(),
                "region" => dst.region = src.region.clone(),
                "city" => dst.city = src.city.clone(),
                "city_tier" => dst.city_tier = src.city_tier,
                "birth_year" | "age_band" | "age" => dst.age = src.age,
                "gender" => dst.gender = src.gender,
                "language_code" => dst.language_code = src.language_code.clone(),
                "preferred_currency_code" => {
                    dst.preferred_currency_code = src.preferred_currency_code.clone()
                }
                "acquisition_channel" => dst.acquisition_channel = src.acquisition_channel,
                other => return Err(format!("person.{other} is not a person field")),
            }
        }
        ("enterprise", cur, upd) => {
            let empty = pb::EnterpriseDetails::default();
            let src = match upd {
                Some(Details::Enterprise(e)) => e,
                _ => &empty,
            };
            if matches!(cur, Some(Details::Person(_))) {
                return Err(format!("{path:?} does not apply to a PERSON customer"));
            }
            if cur.is_none() {
                *cur = Some(Details::Enterprise(pb::EnterpriseDetails::default()));
            }
            let Some(Details::Enterprise(dst)) = cur else {
                return Err(format!("{path:?} does not apply"));
            };
            match field {
                "company_name" => dst.company_name = src.company_name.clone(),
                "industry" => dst.industry = src.industry.clone(),
                "size_band" => dst.size_band = src.size_band,
                "annual_revenue_band" => dst.annual_revenue_band = src.annual_revenue_band,
                "country_code" => dst.country_code = src.country_code.clone(),
                "website_uri" => dst.website_uri = src.website_uri.clone(),
                "business_type" => dst.business_type = src.business_type,
                "year_founded" => dst.year_founded = src.year_founded,
                "registration_number" => dst.registration_number = src.registration_number.clone(),
                "region" => dst.region = src.region.clone(),
                "city" => dst.city = src.city.clone(),
                other => return Err(format!("enterprise.{other} is not an enterprise field")),
            }
        }
        _ => return Err(format!("{path:?} is not a customer field")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).expect("valid") // 2025
    }

    fn hasher() -> IdentityHasher {
        IdentityHasher::new("k")
    }

    fn person() -> pb::Customer {
        pb::Customer {
            kind: common::CustomerKind::Person as i32,
            details: Some(Details::Person(pb::PersonDetails {
                given_name: "Jane".to_owned(),
                email: "Jane@Example.com".to_owned(),
                phone: "+49 151 1234 5678".to_owned(),
                country_code: "DE".to_owned(),
                city_tier: common::CityTier::Tier2 as i32,
                age: Some(Age::BirthYear(1990)),
                gender: common::Gender::Female as i32,
                language_code: "de-DE".to_owned(),
                preferred_currency_code: "EUR".to_owned(),
                acquisition_channel: common::AcquisitionChannel::ShortVideo as i32,
                ..Default::default()
            })),
            consents: vec![pb::MarketingConsent {
                channel: common::ConsentChannel::Email as i32,
                granted: true,
                update_time: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                source: "checkout".to_owned(),
            }],
            import_tags: vec!["vip".to_owned()],
            star_rating: 4,
            ..Default::default()
        }
    }

    #[test]
    fn person_fields_are_normalised_and_identifiers_derived() {
        let fields = check_customer(&person(), &hasher(), now(), true).expect("valid");
        assert_eq!(fields.kind, "PERSON");
        assert_eq!(fields.email.as_deref(), Some("jane@example.com"));
        assert_eq!(fields.phone.as_deref(), Some("+4915112345678"));
        assert_eq!(fields.age_band.as_deref(), Some("35-44"));
        assert_eq!(fields.city_tier, Some(2));
        assert_eq!(fields.gender.as_deref(), Some("FEMALE"));
        assert_eq!(fields.acquisition_channel.as_deref(), Some("SHORT_VIDEO"));
        let kinds: Vec<_> = fields.identifiers.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, ["EMAIL", "PHONE"]);
        assert_eq!(
            fields.identifiers[0].value_hash,
            hasher().hash("jane@example.com")
        );
        assert!(!format!("{fields:?}").contains("jane"), "no PII in Debug");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut c = person();
        let Some(Details::Person(p)) = &mut c.details else {
            panic!("person");
        };
        p.country_code = "UK".to_owned();
        p.email = "nope".to_owned();
        p.preferred_currency_code = "EURO".to_owned();
        p.age = Some(Age::BirthYear(1800));
        c.star_rating = 7;
        let err = check_customer(&c, &hasher(), now(), true).expect_err("invalid");
        let fields: Vec<_> = err.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customer.person.email",
                "customer.person.country_code",
                "customer.person.birth_year",
                "customer.person.preferred_currency_code",
                "customer.star_rating",
            ]
        );
        let enterprise = pb::Customer {
            kind: common::CustomerKind::Enterprise as i32,
            details: Some(Details::Enterprise(pb::EnterpriseDetails::default())),
            ..Default::default()
        };
        let err = check_customer(&enterprise, &hasher(), now(), true).expect_err("no company");
        assert!(err.summary().contains("company_name: is required"), "{err}");
        assert!(check_customer(&enterprise, &hasher(), now(), false).is_ok());
        let mismatch = pb::Customer {
            kind: common::CustomerKind::Person as i32,
            details: Some(Details::Enterprise(pb::EnterpriseDetails::default())),
            ..Default::default()
        };
        assert!(check_customer(&mismatch, &hasher(), now(), false).is_err());
    }

    #[test]
    fn enterprise_registration_number_is_an_identifier() {
        let c = pb::Customer {
            kind: common::CustomerKind::Enterprise as i32,
            details: Some(Details::Enterprise(pb::EnterpriseDetails {
                company_name: "Müller GmbH".to_owned(),
                registration_number: "HRB 1234".to_owned(),
                size_band: common::CompanySizeBand::CompanySizeBand50To249 as i32,
                business_type: common::BusinessType::Wholesaler as i32,
                year_founded: 2008,
                country_code: "DE".to_owned(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let fields = check_customer(&c, &hasher(), now(), true).expect("valid");
        assert_eq!(fields.size_band.as_deref(), Some("50_TO_249"));
        assert_eq!(fields.business_type.as_deref(), Some("WHOLESALER"));
        assert_eq!(fields.identifiers[0].kind, "REGISTRATION_NUMBER");
        assert_eq!(fields.identifiers[0].value_hash, "HRB 1234");
    }

    #[test]
    fn age_bands() {
        assert_eq!(age_band_for(2000, now()), Some("25-34"));
        assert_eq!(age_band_for(2010, now()), None);
        assert_eq!(age_band_for(1950, now()), Some("65+"));
    }

    #[test]
    fn masks_apply_named_fields_only() {
        let mut current = person();
        let update = pb::Customer {
            kind: common::CustomerKind::Person as i32,
            details: Some(Details::Person(pb::PersonDetails {
                city: "Berlin".to_owned(),
                ..Default::default()
            })),
            star_rating: 5,
            ..Default::default()
        };
        apply_mask(
            &mut current,
            &update,
            &["person.city".to_owned(), "star_rating".to_owned()],
        )
        .expect("valid mask");
        let Some(Details::Person(p)) = &current.details else {
            panic!("person");
        };
        assert_eq!(p.city, "Berlin");
        assert_eq!(p.given_name, "Jane", "unmasked fields kept");
        assert_eq!(current.star_rating, 5);
        let err = apply_mask(
            &mut current,
            &update,
            &["enterprise.industry".to_owned(), "bogus".to_owned()],
        )
        .expect_err("bad paths");
        assert_eq!(err.len(), 2);
    }
}
