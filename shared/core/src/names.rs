//! AIP-122 resource names: every Caravan resource lives under `merchants/{merchant}`.

use std::fmt;

/// Why a resource name or id was refused; the text is meant for a field violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A merchant (tenant) id: a slug `[a-z][a-z0-9-]{2,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MerchantId(String);

impl MerchantId {
    pub fn parse(id: &str) -> Result<Self, NameError> {
        let valid_chars = id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let starts_with_letter = id.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if !(3..=63).contains(&id.len()) || !valid_chars || !starts_with_letter {
            return Err(NameError(format!(
                "merchant id {id:?} must match [a-z][a-z0-9-]{{2,62}}"
            )));
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `merchants/{merchant}`.
    pub fn name(&self) -> String {
        format!("merchants/{}", self.0)
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `merchants/{merchant}`.
pub fn parse_merchant_name(name: &str) -> Result<MerchantId, NameError> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["merchants", id] => MerchantId::parse(id),
        _ => Err(NameError(format!(
            "{name:?} is not a merchant name of the form merchants/{{merchant}}"
        ))),
    }
}

/// Parses `merchants/{merchant}/{collection}/{id}` (e.g. `collection = "customers"`) and
/// checks the child id with [`check_child_id`].
pub fn parse_child_name(name: &str, collection: &str) -> Result<(MerchantId, String), NameError> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["merchants", merchant, c, id] if *c == collection => {
            let merchant = MerchantId::parse(merchant)?;
            check_child_id(id)?;
            Ok((merchant, (*id).to_owned()))
        }
        _ => Err(NameError(format!(
            "{name:?} is not of the form merchants/{{merchant}}/{collection}/{{id}}"
        ))),
    }
}

/// Ids below a merchant (customers, products = SKUs, segments, strategies...): 1 to 128
/// characters from `A-Z a-z 0-9 - _ . ~`, so that merchants' own keys (UCI customer ids
/// `12346`, SKUs `85123A`) are usable as they are and names stay URL-safe.
pub fn check_child_id(id: &str) -> Result<(), NameError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    if id.is_empty() || id.len() > 128 || !id.chars().all(allowed) {
        return Err(NameError(format!(
            "id {id:?} must be 1-128 characters of A-Z, a-z, 0-9, '-', '_', '.', '~'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchant_ids() {
        assert!(MerchantId::parse("acme-shop").is_ok());
        assert!(MerchantId::parse("ab").is_err(), "too short");
        assert!(MerchantId::parse("Acme").is_err(), "upper case");
        assert!(MerchantId::parse("1acme").is_err(), "starts with a digit");
        assert!(MerchantId::parse(&"a".repeat(64)).is_err(), "too long");
        assert_eq!(
            parse_merchant_name("merchants/acme").map(|m| m.name()),
            Ok("merchants/acme".to_owned())
        );
        assert!(parse_merchant_name("merchant/acme").is_err());
        assert!(parse_merchant_name("merchants/acme/customers/1").is_err());
    }

    #[test]
    fn child_names() {
        let (merchant, id) =
            parse_child_name("merchants/acme/customers/12346", "customers").expect("valid");
        assert_eq!((merchant.as_str(), id.as_str()), ("acme", "12346"));
        assert!(parse_child_name("merchants/acme/products/85123A", "products").is_ok());
        assert!(parse_child_name("merchants/acme/products/85123A", "customers").is_err());
        assert!(parse_child_name("merchants/acme/customers/a b", "customers").is_err());
        assert!(parse_child_name("merchants/acme/customers/", "customers").is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_name_is_answered(name in any::<String>()) {
                let _ = parse_merchant_name(&name);
                let _ = parse_child_name(&name, "customers");
            }

            #[test]
            fn valid_names_parse_back(m in "[a-z][a-z0-9-]{2,62}", c in "[A-Za-z0-9._~-]{1,128}") {
                let merchant = MerchantId::parse(&m).expect("valid merchant id");
                prop_assert_eq!(parse_merchant_name(&merchant.name()), Ok(merchant.clone()));
                let child = format!("{}/customers/{c}", merchant.name());
                prop_assert_eq!(parse_child_name(&child, "customers"), Ok((merchant, c)));
            }
        }
    }
}
