//! Customer identifiers: normalisation and keyed hashing. Pure, no I/O.
//!
//! What is stored in `customer_identifiers.value_hash`:
//! * EMAIL: trimmed and lower-cased, then HMAC-SHA256 with `ingestion.identity_hash_key`,
//!   lowercase hex (64 characters);
//! * PHONE: normalised to E.164 (`+` and 8-15 digits; spaces, dots, dashes and brackets
//!   removed, a leading `00` read as `+`), then the same HMAC;
//! * every other kind (platform buyer id, device id, registration number, external id):
//!   the trimmed raw value (these are not personal data), as the store schema documents.
//!
//! The `issuer` of an identifier is not part of the match key.

use caravan_platform::FieldViolations;
use caravan_proto::caravan::common::v1::{CustomerIdentifier, IdentifierKind};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAX_RAW_IDENTIFIER: usize = 255;
const MAX_EMAIL: usize = 254;

/// The HMAC key for PII identifiers.
#[derive(Clone)]
pub struct IdentityHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for IdentityHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityHasher(***)")
    }
}

impl IdentityHasher {
    pub fn new(key: &str) -> Self {
        Self {
            key: key.as_bytes().to_vec(),
        }
    }

    /// Lowercase hex HMAC-SHA256 of `value`.
    pub fn hash(&self, value: &str) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The failed-event store's key of a rejected event: the keyed hash of its encoding
    /// within its merchant, in a domain of its own. Keyed, because a plain hash of a small
    /// event could be matched against guesses of the personal data in it.
    pub fn failed_event(&self, merchant_id: &str, encoded: &[u8]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(format!("failed-event\u{1f}{merchant_id}\u{1f}").as_bytes());
        mac.update(encoded);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The tombstone of an erased customer: the keyed hash of its id within its merchant,
    /// in a domain of its own so it never equals an identifier's hash.
    pub fn erased_customer(&self, merchant_id: &str, customer_id: &str) -> String {
        self.hash(&format!(
            "erased-customer\u{1f}{merchant_id}\u{1f}{customer_id}"
        ))
    }
}

/// An identifier ready to be matched or stored: its kind code and its match key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdentifierKey {
    /// `PLATFORM_BUYER_ID`, `EMAIL`, `PHONE`, `DEVICE_ID`, `REGISTRATION_NUMBER`, `EXTERNAL_ID`.
    pub kind: &'static str,
    /// The value stored in `customer_identifiers.value_hash`.
    pub value_hash: String,
}

impl std::fmt::Debug for IdentifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Raw ids are not PII, hashes are safe; still keep it short.
        write!(f, "{}:{}", self.kind, self.value_hash)
    }
}

pub fn kind_code(kind: IdentifierKind) -> Option<&'static str> {
    Some(match kind {
        IdentifierKind::Unspecified => return None,
        IdentifierKind::PlatformBuyerId => "PLATFORM_BUYER_ID",
        IdentifierKind::Email => "EMAIL",
        IdentifierKind::Phone => "PHONE",
        IdentifierKind::DeviceId => "DEVICE_ID",
        IdentifierKind::RegistrationNumber => "REGISTRATION_NUMBER",
        IdentifierKind::ExternalId => "EXTERNAL_ID",
    })
}

pub fn kind_from_code(code: &str) -> IdentifierKind {
    match code {
        "PLATFORM_BUYER_ID" => IdentifierKind::PlatformBuyerId,
        "EMAIL" => IdentifierKind::Email,
        "PHONE" => IdentifierKind::Phone,
        "DEVICE_ID" => IdentifierKind::DeviceId,
        "REGISTRATION_NUMBER" => IdentifierKind::RegistrationNumber,
        "EXTERNAL_ID" => IdentifierKind::ExternalId,
        _ => IdentifierKind::Unspecified,
    }
}

/// Trimmed, lower-cased e-mail address, or why it is not one.
pub fn normalise_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("is required".to_owned());
    }
    if email.len() > MAX_EMAIL {
        return Err(format!("must be at most {MAX_EMAIL} characters"));
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("is not an e-mail address (expected exactly one '@')".to_owned());
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok || email.chars().any(char::is_whitespace) {
        return Err("is not an e-mail address (e.g. \"name@example.com\")".to_owned());
    }
    Ok(email)
}

/// E.164 phone number (`+` and 8-15 digits), or why it cannot be made one.
pub fn normalise_phone(raw: &str) -> Result<String, String> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest
    } else {
        return Err("must be in international format, starting with + and the country code (E.164, e.g. \"+4915112345678\")".to_owned());
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) || !(8..=15).contains(&digits.len()) {
        return Err("is not a phone number in E.164 format (+ and 8 to 15 digits)".to_owned());
    }
    if digits.starts_with('0') {
        return Err("country code cannot start with 0 (E.164)".to_owned());
    }
    Ok(format!("+{digits}"))
}

/// Validates and normalises one identifier; violations are reported relative to it.
pub fn identifier_key(
    identifier: &CustomerIdentifier,
    hasher: &IdentityHasher,
    violations: &mut FieldViolations,
    prefix: &str,
) -> Option<IdentifierKey> {
    let kind = IdentifierKind::try_from(identifier.kind).unwrap_or(IdentifierKind::Unspecified);
    let Some(code) = kind_code(kind) else {
        violations.add(
            format!("{prefix}.kind"),
            "is required (a known IdentifierKind)",
        );
        return None;
    };
    let value_hash = match kind {
        IdentifierKind::Email => match normalise_email(&identifier.value) {
            Ok(email) => hasher.hash(&email),
            Err(why) => {
                violations.add(format!("{prefix}.value"), why);
                return None;
            }
        },
        IdentifierKind::Phone => match normalise_phone(&identifier.value) {
            Ok(phone) => hasher.hash(&phone),
            Err(why) => {
                violations.add(format!("{prefix}.value"), why);
                return None;
            }
        },
        _ => {
            let value = identifier.value.trim();
            if value.is_empty() {
                violations.add(format!("{prefix}.value"), "is required");
                return None;
            }
            if value.chars().count() > MAX_RAW_IDENTIFIER {
                violations.add(
                    format!("{prefix}.value"),
                    format!("must be at most {MAX_RAW_IDENTIFIER} characters"),
                );
                return None;
            }
            value.to_owned()
        }
    };
    Some(IdentifierKey {
        kind: code,
        value_hash,
    })
}

pub use caravan_core::pii_mask::{mask_email, mask_name, mask_phone};

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: IdentifierKind, value: &str) -> CustomerIdentifier {
        CustomerIdentifier {
            kind: kind as i32,
            value: value.to_owned(),
            issuer: String::new(),
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_email("  Jane.Doe@Example.COM "),
            Ok("jane.doe@example.com".to_owned())
        );
        assert!(normalise_email("jane").is_err());
        assert!(normalise_email("a@b@c.de").is_err());
        assert!(normalise_email("@example.com").is_err());
        assert!(normalise_email("jane@localhost").is_err());
        assert!(normalise_email("ja ne@example.com").is_err());
        assert!(normalise_email("").is_err());
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            normalise_phone("+49 (151) 123-456.78"),
            Ok("+4915112345678".to_owned())
        );
        assert_eq!(
            normalise_phone("0086 138 0013 8000"),
            Ok("+8613800138000".to_owned())
        );
        assert!(normalise_phone("0151 1234567").is_err(), "national format");
        assert!(normalise_phone("+12").is_err(), "too short");
        assert!(normalise_phone("+1234567890123456").is_err(), "too long");
        assert!(normalise_phone("+49abc1234567").is_err());
    }

    #[test]
    fn hmac_is_deterministic_and_keyed() {
        let a = IdentityHasher::new("key-a");
        let b = IdentityHasher::new("key-b");
        assert_eq!(a.hash("x@example.com"), a.hash("x@example.com"));
        assert_ne!(a.hash("x@example.com"), b.hash("x@example.com"));
        assert_eq!(a.hash("x").len(), 64);
        // RFC 4231 test case 2.
        assert_eq!(
            IdentityHasher::new("Jefe").hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{a:?}"), "IdentityHasher(***)");
    }

    #[test]
    fn equivalent_pii_spellings_share_a_key() {
        let hasher = IdentityHasher::new("k");
        let mut violations = FieldViolations::new();
        let one = identifier_key(
            &id(IdentifierKind::Email, "Jane@Example.com"),
            &hasher,
            &mut violations,
            "i",
        );
        let two = identifier_key(
            &id(IdentifierKind::Email, " jane@example.com"),
            &hasher,
            &mut violations,
            "i",
        );
        assert!(one.is_some());
        assert_eq!(one, two);
        let phone = identifier_key(
            &id(IdentifierKind::Phone, "+49 151 1234 5678"),
            &hasher,
            &mut violations,
            "i",
        )
        .expect("phone");
        assert_eq!(phone.kind, "PHONE");
        assert_ne!(phone.value_hash, "+4915112345678", "phones are hashed");
        let buyer = identifier_key(
            &id(IdentifierKind::PlatformBuyerId, " ali-123 "),
            &hasher,
            &mut violations,
            "i",
        )
        .expect("buyer id");
        assert_eq!(buyer.value_hash, "ali-123", "non-PII ids are kept raw");
        assert!(violations.is_empty(), "{violations}");
    }

    #[test]
    fn bad_identifiers_are_named() {
        let hasher = IdentityHasher::new("k");
        let mut violations = FieldViolations::new();
        assert!(
            identifier_key(
                &id(IdentifierKind::Unspecified, "x"),
                &hasher,
                &mut violations,
                "customer_identifiers[0]"
            )
            .is_none()
        );
        assert!(
            identifier_key(
                &id(IdentifierKind::Email, "nope"),
                &hasher,
                &mut violations,
                "customer_identifiers[1]"
            )
            .is_none()
        );
        assert!(
            identifier_key(
                &id(IdentifierKind::DeviceId, "  "),
                &hasher,
                &mut violations,
                "customer_identifiers[2]"
            )
            .is_none()
        );
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customer_identifiers[0].kind",
                "customer_identifiers[1].value",
                "customer_identifiers[2].value"
            ]
        );
    }

    #[test]
    fn masking_hides_most_of_the_value() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_phone("+4915112345678"), "+49*********78");
        assert_eq!(mask_name("Jane"), "J***");
        assert_eq!(mask_name(""), "");
    }
}
