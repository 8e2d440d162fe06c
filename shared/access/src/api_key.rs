//! API keys: `cvn_{key_id}_{secret}`.
//!
//! * `key_id`: 12 characters of lower-case base32 (60 random bits), public: it names the key
//!   (`apiKeys/{key_id}`) in lists, logs and the access log, and finds its record.
//! * `secret`: 32 random bytes (256 bits) in unpadded base64url (43 characters).
//!
//! The store keeps only the SHA-256 of the whole key. A slow password hash is not needed:
//! the secret is random and long, so the hash cannot be reversed by guessing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

const PREFIX: &str = "cvn_";
const KEY_ID_LEN: usize = 12;
const SECRET_BYTES: usize = 32;
const SECRET_LEN: usize = 43;
/// Length of a whole key: `cvn_` + id + `_` + secret.
pub const KEY_LEN: usize = PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The public id of a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(id: &str) -> Result<Self, KeyFormatError> {
        if id.len() == KEY_ID_LEN && id.bytes().all(|b| BASE32.contains(&b)) {
            Ok(Self(id.to_owned()))
        } else {
            Err(KeyFormatError::MalformedId)
        }
    }

    /// Parses `apiKeys/{key_id}`.
    pub fn parse_name(name: &str) -> Result<Self, KeyFormatError> {
        name.strip_prefix("apiKeys/")
            .ok_or(KeyFormatError::MalformedName)
            .and_then(|id| Self::parse(id).map_err(|_| KeyFormatError::MalformedName))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `apiKeys/{key_id}`.
    pub fn name(&self) -> String {
        format!("apiKeys/{}", self.0)
    }

    fn random() -> Self {
        let mut bytes = [0u8; KEY_ID_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(
            bytes
                .iter()
                .map(|b| BASE32[usize::from(b & 31)] as char)
                .collect(),
        )
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of a whole key, as stored. Equality is in constant time.
#[derive(Clone, Copy)]
pub struct KeyHash([u8; 32]);

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for KeyHash {}

impl KeyHash {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Equality in constant time, so response times say nothing about how much matched.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(***)")
    }
}

/// A newly generated key: the text to hand out once, and what the store keeps.
pub struct NewKey {
    pub id: KeyId,
    pub hash: KeyHash,
    secret_text: String,
}

impl NewKey {
    pub fn generate() -> Self {
        let id = KeyId::random();
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let text = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        Self {
            hash: KeyHash::of(&text),
            id,
            secret_text: text,
        }
    }

    /// The key itself, for the one place that shows it (the create response, stdout of
    /// `caravan keys create`, the bootstrap key file).
    pub fn reveal(&self) -> &str {
        &self.secret_text
    }
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A key as a caller presented it, checked for shape only.
#[derive(Debug, Clone)]
pub struct PresentedKey {
    pub id: KeyId,
    pub hash: KeyHash,
}

impl PresentedKey {
    /// Parses a whole key `cvn_{key_id}_{secret}`.
    pub fn parse(key: &str) -> Result<Self, KeyFormatError> {
        if key.len() != KEY_LEN {
            return Err(KeyFormatError::Malformed);
        }
        let rest = key.strip_prefix(PREFIX).ok_or(KeyFormatError::Malformed)?;
        let (id, secret) = rest
            .split_at_checked(KEY_ID_LEN)
            .ok_or(KeyFormatError::Malformed)?;
        let secret = secret.strip_prefix('_').ok_or(KeyFormatError::Malformed)?;
        let id = KeyId::parse(id).map_err(|_| KeyFormatError::Malformed)?;
        let decoded = URL_SAFE_NO_PAD
            .decode(secret)
            .map_err(|_| KeyFormatError::Malformed)?;
        if decoded.len() != SECRET_BYTES {
            return Err(KeyFormatError::Malformed);
        }
        Ok(Self {
            id,
            hash: KeyHash::of(key),
        })
    }

    /// Parses an `authorization` metadata value: `Bearer <key>` (the scheme in any case).
    pub fn from_authorization(value: &[u8]) -> Result<Self, KeyFormatError> {
        // Anything much longer than a key is refused before it is looked at further.
        if value.len() > KEY_LEN + 64 {
            return Err(KeyFormatError::TooLong(value.len()));
        }
        let value = std::str::from_utf8(value).map_err(|_| KeyFormatError::NotBearer)?;
        let (scheme, key) = value
            .trim()
            .split_once(' ')
            .ok_or(KeyFormatError::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(KeyFormatError::NotBearer);
        }
        Self::parse(key.trim())
    }
}

/// Why a presented key was refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the authorization metadata must be `Bearer <API key>`")]
    NotBearer,
    #[error("the authorization metadata is {0} bytes long; an API key is {KEY_LEN} characters")]
    TooLong(usize),
    #[error("the API key is malformed: expected cvn_<12-character id>_<43-character secret>")]
    Malformed,
    #[error("the key id is malformed: expected 12 characters of a-z and 2-7")]
    MalformedId,
    #[error("the key name must be apiKeys/<12-character id>")]
    MalformedName,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_id_and_hash() {
        let key = NewKey::generate();
        assert_eq!(key.reveal().len(), KEY_LEN);
        let presented = PresentedKey::parse(key.reveal()).expect("own format");
        assert_eq!(presented.id, key.id);
        assert!(presented.hash.matches(&key.hash));
        let header = format!("bearer {}", key.reveal());
        assert!(PresentedKey::from_authorization(header.as_bytes()).is_ok());
    }

    #[test]
    fn keys_are_random() {
        let (a, b) = (NewKey::generate(), NewKey::generate());
        assert_ne!(a.id, b.id);
        assert_ne!(a.reveal(), b.reveal());
        assert!(!a.hash.matches(&b.hash));
    }

    #[test]
    fn the_key_never_reaches_debug_output() {
        let key = NewKey::generate();
        let debug = format!("{key:?} {:?}", key.hash);
        assert!(!debug.contains(key.reveal().rsplit('_').next().expect("secret")));
    }

    #[test]
    fn a_changed_secret_is_another_hash() {
        let key = NewKey::generate();
        // The first character of the secret carries 6 whole bits, so any change to it is
        // still a canonical encoding.
        let at = KEY_LEN - SECRET_LEN;
        let mut forged = key.reveal().to_owned();
        let first = if &forged[at..=at] == "A" { "B" } else { "A" };
        forged.replace_range(at..=at, first);
        let presented = PresentedKey::parse(&forged).expect("still well-formed");
        assert_eq!(presented.id, key.id);
        assert!(!presented.hash.matches(&key.hash));
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        let key = NewKey::generate();
        let cases: [(&[u8], KeyFormatError); 5] = [
            (key.reveal().as_bytes(), KeyFormatError::NotBearer),
            (b"Basic dXNlcjpwYXNz", KeyFormatError::NotBearer),
            (b"Bearer cvn_short", KeyFormatError::Malformed),
            (&[0xff, 0xfe], KeyFormatError::NotBearer),
            (&[b'x'; 1 << 20], KeyFormatError::TooLong(1 << 20)),
        ];
        for (header, expected) in cases {
            assert_eq!(
                PresentedKey::from_authorization(header).map(|_| ()),
                Err(expected)
            );
        }
        let truncated = format!("Bearer {}", &key.reveal()[..KEY_LEN - 1]);
        assert!(PresentedKey::from_authorization(truncated.as_bytes()).is_err());
    }

    #[test]
    fn key_names() {
        let id = KeyId::parse("abcdefghij23").expect("valid");
        assert_eq!(KeyId::parse_name(&id.name()), Ok(id));
        assert!(KeyId::parse_name("apiKeys/ABCDEFGHIJ23").is_err());
        assert!(KeyId::parse_name("keys/abcdefghij23").is_err());
    }

    proptest! {
        #[test]
        fn any_header_is_parsed_without_panicking(header in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = PresentedKey::from_authorization(&header);
        }

        #[test]
        fn only_well_formed_keys_parse(key in "cvn_[a-z2-7]{12}_[A-Za-z0-9_-]{43}|.{0,80}") {
            if let Ok(presented) = PresentedKey::parse(&key) {
                prop_assert_eq!(key.len(), KEY_LEN);
                prop_assert!(key.contains(presented.id.as_str()));
            }
        }
    }
}
