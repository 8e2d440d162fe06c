//! SetCountryExclusions and ListCountryExclusions.

use std::collections::BTreeSet;

use caravan_core::{equality_filter, paging};
use caravan_platform::FieldViolations;
use caravan_proto::caravan::recommendation::v1 as pb;

use super::convert::exclusion_to_proto;
use super::training::require_merchant;
use super::{RecommendationApi, validate};
use crate::error::RecommendationError;
use crate::exclusion_store;

const MAX_PREFIX: usize = 512;
const MAX_REASON: usize = 255;

pub async fn set(
    api: &RecommendationApi,
    r: pb::SetCountryExclusionsRequest,
) -> Result<pb::SetCountryExclusionsResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    if r.country_codes.is_empty() {
        v.add(
            "country_codes",
            "is required (the countries whose lists are replaced)",
        );
    }
    let mut countries = BTreeSet::new();
    for (i, c) in r.country_codes.iter().enumerate() {
        if let Some(c) = validate::country(c, &format!("country_codes[{i}]"), &mut v) {
            countries.insert(c);
        } else if c.is_empty() {
            v.add(format!("country_codes[{i}]"), "must not be empty");
        }
    }
    // (country, prefix) → reason; an exact repeat of a pair keeps the first reason.
    let mut rows = std::collections::BTreeMap::new();
    for (i, e) in r.exclusions.iter().enumerate() {
        let f = |n: &str| format!("exclusions[{i}].{n}");
        match validate::country(&e.country_code, &f("country_code"), &mut v) {
            Some(c) if !countries.contains(&c) => {
                v.add(f("country_code"), "must be one of `country_codes`")
            }
            Some(c) => {
                let prefix = e.category_prefix.trim();
                if prefix.is_empty() || prefix.len() > MAX_PREFIX {
                    v.add(
                        f("category_prefix"),
                        format!("must have 1 to {MAX_PREFIX} characters"),
                    );
                } else if e.reason.chars().count() > MAX_REASON {
                    v.add(f("reason"), format!("at most {MAX_REASON} characters"));
                } else {
                    let reason = e.reason.trim();
                    rows.entry((c, prefix.to_owned()))
                        .or_insert_with(|| (!reason.is_empty()).then(|| reason.to_owned()));
                }
            }
            None if e.country_code.is_empty() => v.add(f("country_code"), "is required"),
            None => {}
        }
    }
    let (Some(merchant), true) = (merchant, v.is_empty()) else {
        return Err(v.into());
    };
    require_merchant(api, &merchant).await?;
    let stored = exclusion_store::replace(
        &api.db,
        &merchant,
        countries.into_iter().collect(),
        rows.into_iter().map(|((c, p), r)| (c, p, r)).collect(),
    )
    .await?;
    // This replica applies them now; the others on their next poll.
    api.registry.refresh_catalogue(&merchant).await?;
    Ok(pb::SetCountryExclusionsResponse {
        exclusions: stored.iter().map(exclusion_to_proto).collect(),
    })
}

pub async fn list(
    api: &RecommendationApi,
    r: pb::ListCountryExclusionsRequest,
) -> Result<pb::ListCountryExclusionsResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let country = match equality_filter::parse(&r.filter, &["country_code"]) {
        Ok(clauses) => clauses
            .into_iter()
            .next()
            .and_then(|(_, c)| validate::country(&c, "filter", &mut v)),
        Err(why) => {
            v.add("filter", why);
            None
        }
    };
    let size = match paging::page_size(r.page_size) {
        Ok(s) => s.min(1000),
        Err(e) => {
            v.add("page_size", e.to_string());
            0
        }
    };
    let size = if r.page_size == 0 { 100 } else { size };
    let fingerprint = paging::request_fingerprint(&[&r.parent, &r.filter]);
    let after = match paging::decode_token(&r.page_token, fingerprint) {
        Ok(None) => None,
        Ok(Some(key)) => match key.split_once('\n') {
            Some((c, p)) => Some((c.to_owned(), p.to_owned())),
            None => {
                v.add("page_token", "is not valid for this request");
                None
            }
        },
        Err(e) => {
            v.add("page_token", e.to_string());
            None
        }
    };
    let (Some(merchant), true) = (merchant, v.is_empty()) else {
        return Err(v.into());
    };
    let mut rows =
        exclusion_store::list(&api.db, &merchant, country.as_deref(), after, size + 1).await?;
    let next = if rows.len() as u64 > size {
        rows.truncate(size as usize);
        rows.last()
            .map(|e| {
                paging::encode_token(
                    &format!("{}\n{}", e.country, e.category_prefix),
                    fingerprint,
                )
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::ListCountryExclusionsResponse {
        exclusions: rows.iter().map(exclusion_to_proto).collect(),
        next_page_token: next,
    })
}
