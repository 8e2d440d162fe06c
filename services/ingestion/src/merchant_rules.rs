//! What a valid merchant is: pure checks, no I/O.

use caravan_core::iso;
use caravan_core::names::MerchantId;
use caravan_platform::FieldViolations;

const MAX_DISPLAY_NAME: usize = 200;

/// A merchant as the caller asked to create it, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMerchant {
    pub id: MerchantId,
    pub display_name: String,
    pub base_currency: String,
}

pub fn check_new_merchant(
    merchant_id: &str,
    display_name: &str,
    base_currency: &str,
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
    violations.into_result()?;
    Ok(NewMerchant {
        id: id.ok_or_else(FieldViolations::new)?,
        display_name: display_name.trim().to_owned(),
        base_currency: base_currency.to_owned(),
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
        let merchant = check_new_merchant("acme-shop", "  ACME Shop ", "EUR").expect("valid");
        assert_eq!(merchant.id.as_str(), "acme-shop");
        assert_eq!(merchant.display_name, "ACME Shop");
    }

    #[test]
    fn names_every_bad_field() {
        let violations = check_new_merchant("A", "", "EURO").expect_err("invalid");
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "merchant_id",
                "merchant.display_name",
                "merchant.base_currency_code"
            ]
        );
        let long_name = "x".repeat(201);
        let violations = check_new_merchant("acme", &long_name, "EUR").expect_err("too long");
        assert!(violations.summary().contains("at most 200"));
    }
}
