//! Country names as they appear in merchant exports (the UCI Online Retail `Country` column,
//! seller-backend customer lists) to ISO 3166-1 alpha-2 codes.
//!
//! Deliberate non-mappings (the name is known, but no single ISO code is right):
//! * `Channel Islands`: Jersey (`JE`) and Guernsey (`GG`) are separate ISO 3166-1 entries and
//!   the data does not say which; mapping to either (or to `GB`, which they are not part of)
//!   would be invented, so no country code is set.
//! * `European Community`: a group of countries, not a country.
//! * `Unspecified`: no country given.
//! * `West Indies`: the Caribbean islands, a dozen ISO countries.
//!
//! A name not in the table of merchant-export names is looked up among the ISO 3166-1 short
//! names (`caravan_core::iso::countries`, e.g. `Korea, Republic of`, `Nigeria`) and a
//! list of common aliases (`South Korea`, `Russia`, `Holland`), ignoring case and
//! punctuation. A name none of them knows is [`Country::Unknown`]: the importers report it,
//! never drop it silently.

use std::collections::HashMap;
use std::sync::LazyLock;

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

/// Common names that are neither the ISO short name nor in [`NAMES`]: the short forms
/// people write for ISO's long official names, and older or local names.
const ALIASES: &[(&str, &str)] = &[
    ("america", "US"),
    ("bolivia", "BO"),
    ("britain", "GB"),
    ("brunei", "BN"),
    ("burma", "MM"),
    ("cape verde", "CV"),
    ("congo kinshasa", "CD"),
    ("democratic republic of the congo", "CD"),
    ("east timor", "TL"),
    ("england", "GB"),
    ("great britain", "GB"),
    ("holland", "NL"),
    ("iran", "IR"),
    ("ivory coast", "CI"),
    ("korea", "KR"),
    ("laos", "LA"),
    ("macau", "MO"),
    ("macedonia", "MK"),
    ("micronesia", "FM"),
    ("moldova", "MD"),
    ("north korea", "KP"),
    ("northern ireland", "GB"),
    ("palestine", "PS"),
    ("republic of korea", "KR"),
    ("russia", "RU"),
    ("scotland", "GB"),
    ("south korea", "KR"),
    ("swaziland", "SZ"),
    ("syria", "SY"),
    ("taiwan", "TW"),
    ("tanzania", "TZ"),
    ("the netherlands", "NL"),
    ("turkey", "TR"),
    ("united states of america", "US"),
    ("vatican", "VA"),
    ("venezuela", "VE"),
    ("vietnam", "VN"),
    ("wales", "GB"),
    ("west indies", ""),
];

/// Lower case, letters and digits only, single spaces: `Korea, Republic of` and
/// `korea republic of` are the same name, and so are `U.S.A.` and `usa` (dots and
/// apostrophes join, other punctuation separates).
fn normalise(name: &str) -> String {
    let joined: String = name.chars().filter(|c| !matches!(c, '.' | '\'')).collect();
    let mut out = String::with_capacity(name.len());
    for word in joined
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Maps a country name (case and punctuation ignored) or an ISO 3166-1 alpha-2 code.
pub fn lookup(name: &str) -> Country {
    let name = name.trim();
    if name.len() == 2 {
        let upper = name.to_ascii_uppercase();
        if iso::is_country(&upper) {
            return Country::Code(upper);
        }
    }
    match KNOWN.get(&normalise(name)).copied() {
        Some("") => Country::NoCode,
        Some(code) => Country::Code(code.to_owned()),
        None => Country::Unknown,
    }
}

/// Every known name, normalised, and its code (`""`: known, deliberately no code). Export
/// names win over aliases, aliases over ISO short names.
static KNOWN: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let iso_names = iso::countries().map(|(code, name)| (name, code));
    let aliases = ALIASES.iter().copied();
    let export_names = NAMES.iter().map(|&(name, code)| (name, code.unwrap_or("")));
    // Later inserts overwrite earlier ones.
    iso_names
        .chain(aliases)
        .chain(export_names)
        .map(|(name, code)| (normalise(name), code))
        .collect()
});

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
    fn iso_short_names_and_common_aliases_are_known() {
        // Names of another year of the same retailer that the first table did not know.
        assert_eq!(lookup("Korea"), Country::Code(c("KR")));
        assert_eq!(lookup("Nigeria"), Country::Code(c("NG")));
        assert_eq!(lookup("Thailand"), Country::Code(c("TH")));
        assert_eq!(lookup("West Indies"), Country::NoCode);
        assert_eq!(lookup("Korea, Republic of"), Country::Code(c("KR")));
        assert_eq!(lookup("korea republic of"), Country::Code(c("KR")));
        assert_eq!(lookup("U.S.A."), Country::Code(c("US")));
        assert_eq!(lookup("  RUSSIA "), Country::Code(c("RU")));
        assert_eq!(lookup("Côte d'Ivoire"), Country::Code(c("CI")));
        assert_eq!(lookup("Viet Nam"), Country::Code(c("VN")));
    }

    #[test]
    fn every_alias_and_iso_name_maps_to_an_iso_code() {
        assert!(ALIASES.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        for (alias, code) in ALIASES {
            assert_eq!(normalise(alias), *alias, "stored normalised");
            assert!(
                code.is_empty() || iso::is_country(code),
                "{alias} -> {code}"
            );
        }
        for (code, name) in iso::countries() {
            assert_eq!(lookup(name), Country::Code(c(code)), "{name}");
        }
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
