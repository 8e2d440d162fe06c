//! What a valid merchant is: pure checks, no I/O.

use caravan_core::iso;
use caravan_core::names::MerchantId;
use caravan_core::time_zone::MerchantTimeZone;
use caravan_platform::FieldViolations;

const MAX_DISPLAY_NAME: usize = 200;

/// A merchant as the caller asked to create it, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMerchant {
    pub id: MerchantId,
    pub display_name: String,
    pub base_currency: String,
    /// `None`: UTC.
    pub time_zone: Option<MerchantTimeZone>,
}

/// What UpdateMerchant changes: `None` leaves a field as it is; a time zone of `Some(None)`
/// goes back to UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantUpdate {
    pub display_name: Option<String>,
    pub time_zone: Option<Option<MerchantTimeZone>>,
}

/// An optional time zone field: empty is none (UTC).
fn check_time_zone(
    time_zone: &str,
    field: &str,
    violations: &mut FieldViolations,
) -> Option<MerchantTimeZone> {
    if time_zone.is_empty() {
        return None;
    }
    MerchantTimeZone::parse(time_zone)
        .map_err(|e| violations.add(field, e))
        .ok()
}

/// The fields an update mask names, checked. Without a mask (AIP-134), the fields the
/// request fills in: so a client that only renames, or one built before `time_zone` existed,
/// never resets the zone; going back to UTC takes the `time_zone` path with an empty value.
pub fn check_merchant_update(
    display_name: &str,
    time_zone: &str,
    paths: &[String],
) -> Result<MerchantUpdate, FieldViolations> {
    let mut violations = FieldViolations::new();
    for path in paths {
        if !matches!(path.as_str(), "display_name" | "time_zone") {
            violations.add(
                "update_mask",
                format!("{path:?} cannot be updated; \"display_name\" and \"time_zone\" can"),
            );
        }
    }
    let filled = |field: &str| match field {
        "display_name" => !display_name.is_empty(),
        _ => !time_zone.is_empty(),
    };
    if paths.is_empty() && !filled("display_name") && !filled("time_zone") {
        violations.add(
            "update_mask",
            "is empty and the merchant sets no field to update (display_name, time_zone)",
        );
    }
    let masked = |field: &str| {
        if paths.is_empty() {
            filled(field)
        } else {
            paths.iter().any(|p| p == field)
        }
    };
    let mut update = MerchantUpdate {
        display_name: None,
        time_zone: None,
    };
    if masked("display_name") {
        check_display_name(display_name, "merchant.display_name", &mut violations);
        update.display_name = Some(display_name.trim().to_owned());
    }
    if masked("time_zone") {
        update.time_zone = Some(check_time_zone(
            time_zone,
            "merchant.time_zone",
            &mut violations,
        ));
    }
    violations.into_result()?;
    Ok(update)
}

pub fn check_new_merchant(
    merchant_id: &str,
    display_name: &str,
    base_currency: &str,
    time_zone: &str,
) -> Result<NewMerchant, FieldViolations> {
    let mut violations = FieldViolations::new();
    let id = MerchantId::parse(merchant_id)
        .map_err(|e| violations.add("merchant_id", e.to_string()))
        .ok();
    check_display_name(display_name, "merchant.display_name", &mut violations);
    if !iso::is_currency(base_currency) {
        violations.add(
            "merchant.base_currency_code",
            format!("{base_currency:?} is not an ISO 4217 currency code (e.g. \"EUR\")"),
        );
    }
    let time_zone = check_time_zone(time_zone, "merchant.time_zone", &mut violations);
    violations.into_result()?;
    Ok(NewMerchant {
        id: id.ok_or_else(FieldViolations::new)?,
        display_name: display_name.trim().to_owned(),
        base_currency: base_currency.to_owned(),
        time_zone,
    })
}

pub fn check_display_name(display_name: &str, field: &str, violations: &mut FieldViolations) {
    let trimmed = display_name.trim();
    if trimmed.is_empty() {
        violations.add(field, "is required");
    } else if trimmed.chars().count() > MAX_DISPLAY_NAME {
        violations.add(
            field,
            format!("must be at most {MAX_DISPLAY_NAME} characters"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_well_formed_merchant() {
        let merchant = check_new_merchant("acme-shop", "  ACME Shop ", "EUR", "").expect("valid");
        assert_eq!(merchant.id.as_str(), "acme-shop");
        assert_eq!(merchant.display_name, "ACME Shop");
        assert_eq!(merchant.time_zone, None);
        let london = check_new_merchant("acme-uk", "ACME UK", "GBP", "Europe/London")
            .expect("valid")
            .time_zone;
        assert_eq!(london.map(MerchantTimeZone::name), Some("Europe/London"));
    }

    #[test]
    fn names_every_bad_field() {
        let violations = check_new_merchant("A", "", "EURO", "Mars/Olympus").expect_err("invalid");
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "merchant_id",
                "merchant.display_name",
                "merchant.base_currency_code",
                "merchant.time_zone"
            ]
        );
        let long_name = "x".repeat(201);
        let violations = check_new_merchant("acme", &long_name, "EUR", "").expect_err("too long");
        assert!(violations.summary().contains("at most 200"));
    }

    #[test]
    fn an_update_changes_what_its_mask_names() {
        let paths = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let zone_only = check_merchant_update("", "America/Los_Angeles", &paths(&["time_zone"]))
            .expect("valid");
        assert_eq!(zone_only.display_name, None);
        assert_eq!(
            zone_only.time_zone.map(|z| z.map(MerchantTimeZone::name)),
            Some(Some("America/Los_Angeles"))
        );
        // No mask: what is filled in. A rename keeps the zone.
        let rename = check_merchant_update("ACME", "", &[]).expect("valid");
        assert_eq!(rename.time_zone, None);
        assert_eq!(rename.display_name.as_deref(), Some("ACME"));
        let zone = check_merchant_update("", "Asia/Tokyo", &[]).expect("valid");
        assert_eq!(
            (
                zone.display_name,
                zone.time_zone.map(|z| z.map(MerchantTimeZone::name))
            ),
            (None, Some(Some("Asia/Tokyo")))
        );
        let nothing = check_merchant_update("", "", &[]).expect_err("nothing to update");
        assert_eq!(
            nothing.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(),
            ["update_mask"]
        );
        // Back to UTC: the path, with an empty value.
        let back_to_utc = check_merchant_update("", "", &paths(&["time_zone"])).expect("valid");
        assert_eq!(back_to_utc.time_zone, Some(None));
        let bad = check_merchant_update(
            "",
            "Mars/Olympus",
            &paths(&["time_zone", "base_currency_code"]),
        )
        .expect_err("invalid");
        let fields: Vec<_> = bad.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask", "merchant.time_zone"]);
    }
}
