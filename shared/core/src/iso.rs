//! Lookups in the ISO 3166-1 and ISO 4217 tables.

use crate::iso_codes::{COUNTRIES, CURRENCIES};

/// The short name of an ISO 3166-1 alpha-2 code (upper case, exactly as assigned).
pub fn country_name(code: &str) -> Option<&'static str> {
    COUNTRIES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| COUNTRIES[i].1)
}

/// Every ISO 3166-1 country as `(alpha-2 code, short name)`, sorted by code.
pub fn countries() -> impl Iterator<Item = (&'static str, &'static str)> {
    COUNTRIES.iter().copied()
}

pub fn is_country(code: &str) -> bool {
    country_name(code).is_some()
}

/// Digits after the decimal point of an ISO 4217 currency: 2 for EUR, 0 for JPY, 3 for KWD.
pub fn currency_exponent(code: &str) -> Option<u8> {
    CURRENCIES
        .binary_search_by(|(c, _, _)| (*c).cmp(code))
        .ok()
        .map(|i| CURRENCIES[i].1)
}

pub fn is_currency(code: &str) -> bool {
    currency_exponent(code).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn countries() {
        assert_eq!(country_name("DE"), Some("Germany"));
        assert!(is_country("GB"));
        assert!(!is_country("UK"), "UK is not an ISO 3166-1 code");
        assert!(!is_country("de"), "codes are upper case");
        assert!(!is_country("XX"));
    }

    #[test]
    fn currency_minor_units() {
        assert_eq!(currency_exponent("EUR"), Some(2));
        assert_eq!(currency_exponent("JPY"), Some(0));
        assert_eq!(currency_exponent("KWD"), Some(3));
        assert_eq!(currency_exponent("CNY"), Some(2));
        assert_eq!(currency_exponent("XXX"), None);
        assert_eq!(currency_exponent("usd"), None);
    }
}
