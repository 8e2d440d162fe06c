//! Country names as they appear in merchant exports (the UCI Online Retail `Country` column,
//! seller-backend customer lists) to ISO 3166-1 alpha-2 codes.
//!
//! Deliberate non-mappings (the name is known, but no single ISO code is right):
//! * `Channel Islands`: Jersey (`JE`) and Guernsey (`GG`) are separate ISO 3166-1 entries and
//!   the data does not say which; mapping to either (or to `GB`, which they are not part of)
//!   would be invented, so no country code is set.
//! * `European Community`: a group of countries, not a country.
//! * `Unspecified`: no country given.

use caravan_core::iso;

/// What a country name maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Country {
    /// An ISO 3166-1 alpha-2 code.
    Code(String),
    /// A known name that deliberately maps to no code (see the module docs).
    NoCode,
    /// A name this table does not know.
    Unknown,
}

impl Country {
    pub fn code(self) -> Option<String> {
        match self {
            Self::Code(code) => Some(code),
            Self::NoCode | Self::Unknown => None,
        }
    }
}

/// Names (lower case) and their codes; `None` marks the deliberate non-mappings.
const NAMES: &[(&str, Option<&str>)] = &[
    ("australia", Some("AU")),
    ("austria", Some("AT")),
    ("bahrain", Some("BH")),
    ("belgium", Some("BE")),
    ("brazil", Some("BR")),
    ("canada", Some("CA")),
    ("channel islands", None),
    ("china", Some("CN")),
    ("cyprus", Some("CY")),
    ("czech republic", Some("CZ")),
    ("czechia", Some("CZ")),
    ("denmark", Some("DK")),
    ("eire", Some("IE")),
    ("european community", None),
    ("finland", Some("FI")),
    ("france", Some("FR")),
    ("germany", Some("DE")),
    ("greece", Some("GR")),
    ("hong kong", Some("HK")),
    ("iceland", Some("IS")),
    ("india", Some("IN")),
    ("ireland", Some("IE")),
    ("israel", Some("IL")),
    ("italy", Some("IT")),
    ("japan", Some("JP")),
    ("lebanon", Some("LB")),
    ("lithuania", Some("LT")),
    ("malta", Some("MT")),
    ("mexico", Some("MX")),
    ("netherlands", Some("NL")),
    ("norway", Some("NO")),
    ("poland", Some("PL")),
    ("portugal", Some("PT")),
    ("rsa", Some("ZA")),
    ("saudi arabia", Some("SA")),
    ("singapore", Some("SG")),
    ("south africa", Some("ZA")),
    ("spain", Some("ES")),
    ("sweden", Some("SE")),
    ("switzerland", Some("CH")),
    ("uk", Some("GB")),
    ("united arab emirates", Some("AE")),
    ("united kingdom", Some("GB")),
    ("united states", Some("US")),
    ("unspecified", None),
    ("usa", Some("US")),
];

/// Maps a country name (case-insensitive) or an ISO 3166-1 alpha-2 code.
pub fn lookup(name: &str) -> Country {
    let name = name.trim();
    if name.len() == 2 {
        let upper = name.to_ascii_uppercase();
        if iso::is_country(&upper) {
            return Country::Code(upper);
        }
    }
    let lower = name.to_lowercase();
    match NAMES.binary_search_by(|(n, _)| (*n).cmp(lower.as_str())) {
        Ok(i) => match NAMES[i].1 {
            Some(code) => Country::Code(code.to_owned()),
            None => Country::NoCode,
        },
        Err(_) => Country::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `Country` value of the UCI Online Retail file.
    const UCI: [&str; 38] = [
        "Australia",
        "Austria",
        "Bahrain",
        "Belgium",
        "Brazil",
        "Canada",
        "Channel Islands",
        "Cyprus",
        "Czech Republic",
        "Denmark",
        "EIRE",
        "European Community",
        "Finland",
        "France",
        "Germany",
        "Greece",
        "Hong Kong",
        "Iceland",
        "Israel",
        "Italy",
        "Japan",
        "Lebanon",
        "Lithuania",
        "Malta",
        "Netherlands",
        "Norway",
        "Poland",
        "Portugal",
        "RSA",
        "Saudi Arabia",
        "Singapore",
        "Spain",
        "Sweden",
        "Switzerland",
        "USA",
        "United Arab Emirates",
        "United Kingdom",
        "Unspecified",
    ];

    fn c(code: &str) -> String {
        code.to_owned()
    }

    #[test]
    fn table_is_sorted_and_every_code_is_iso() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, code) in NAMES {
            if let Some(code) = code {
                assert!(iso::is_country(code), "{name} -> {code}");
            }
        }
    }

    #[test]
    fn every_uci_country_is_known() {
        let no_code = ["Channel Islands", "European Community", "Unspecified"];
        for name in UCI {
            let mapped = lookup(name);
            if no_code.contains(&name) {
                assert_eq!(mapped, Country::NoCode, "{name}");
            } else {
                assert!(matches!(mapped, Country::Code(_)), "{name}: {mapped:?}");
            }
        }
        assert_eq!(lookup("EIRE"), Country::Code(c("IE")));
        assert_eq!(lookup("RSA"), Country::Code(c("ZA")));
        assert_eq!(lookup("USA"), Country::Code(c("US")));
        assert_eq!(lookup("United Kingdom"), Country::Code(c("GB")));
        assert_eq!(lookup("Switzerland"), Country::Code(c("CH")));
    }

    #[test]
    fn iso_codes_and_unknown_names() {
        assert_eq!(lookup("de"), Country::Code(c("DE")));
        assert_eq!(lookup(" KR "), Country::Code(c("KR")));
        assert_eq!(lookup("Atlantis"), Country::Unknown);
        assert_eq!(lookup("XX"), Country::Unknown);
        assert_eq!(lookup("Country").code(), None);
    }
}
