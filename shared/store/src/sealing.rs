//! Personal data at rest: AES-256-GCM with the deployment's keys, the key id stored beside
//! every ciphertext so keys can rotate (`caravan privacy reseal` re-encrypts under the
//! active key; old keys stay configured until it has run).
//!
//! Sealed bytes: `0xC5 0x01`, the key id's length (1 byte) and the key id, a 12-byte random
//! nonce, then the ciphertext with its 16-byte tag. The associated data is the place the
//! value belongs to (`customers.pii` and the merchant id), so a value copied into another
//! column or another merchant's row does not open. Text columns hold `enc:v1:` and the
//! sealed bytes in unpadded base64url.
//!
//! Values written before sealing existed (no marker) are read as they are, and resealed by
//! `caravan privacy reseal`.
//!
//! The keys are process-wide, installed once at start-up ([`install`]) from the
//! configuration, the way a logger is: every store module of every service reads and writes
//! through them. A process that installed none (unit tests) uses a random key of its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

const MAGIC: [u8; 2] = [0xC5, 0x01];
const NONCE_LEN: usize = 12;
const TEXT_PREFIX: &str = "enc:v1:";
/// Longest key id (it is stored in every ciphertext).
pub const MAX_KEY_ID: usize = 32;

/// Why a key set was refused or a value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("encryption key {0:?}: {1}")]
    BadKey(String, String),
    #[error("the active encryption key {0:?} is not among the configured keys")]
    NoActiveKey(String),
    #[error("a value is sealed with key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value does not open: wrong key, or it was moved or tampered with")]
    Tampered,
    #[error("encryption keys were installed already")]
    AlreadyInstalled,
}

/// The deployment's keys: the active one seals, all of them open.
#[derive(Clone)]
pub struct SealKeys {
    active: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKeys")
            .field("active", &self.active)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SealKeys {
    /// Keys by id, each 32 bytes in base64 (standard or url-safe, padded or not).
    pub fn new(active: &str, keys: &BTreeMap<String, String>) -> Result<Self, SealError> {
        let mut parsed = BTreeMap::new();
        for (id, encoded) in keys {
            if id.is_empty()
                || id.len() > MAX_KEY_ID
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(SealError::BadKey(
                    id.clone(),
                    format!("ids are 1-{MAX_KEY_ID} of A-Z a-z 0-9 - _"),
                ));
            }
            let bytes = decode_key(encoded.trim())
                .ok_or_else(|| SealError::BadKey(id.clone(), "is not base64".to_owned()))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| {
                SealError::BadKey(
                    id.clone(),
                    format!("is {} bytes; AES-256 needs 32", bytes.len()),
                )
            })?;
            parsed.insert(id.clone(), cipher);
        }
        if !parsed.contains_key(active) {
            return Err(SealError::NoActiveKey(active.to_owned()));
        }
        Ok(Self {
            active: active.to_owned(),
            keys: parsed,
        })
    }

    /// A fresh random key, as `(id, base64)`, for a key file.
    pub fn generate() -> (String, String) {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let mut id = [0u8; 4];
        rand::rng().fill_bytes(&mut id);
        (
            format!("local-{}", hex::encode(id)),
            URL_SAFE_NO_PAD.encode(key),
        )
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    fn seal(&self, context: &str, merchant: &str, plain: &[u8]) -> Vec<u8> {
        let Some(cipher) = self.keys.get(&self.active) else {
            return plain.to_vec();
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated(context, merchant);
        let Ok(sealed) = cipher.encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plain,
                aad: &aad,
            },
        ) else {
            // Encryption of an in-memory buffer fails only beyond GCM's length limit (64 GiB).
            return Vec::new();
        };
        let id = self.active.as_bytes();
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + id.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(&MAGIC);
        out.push(u8::try_from(id.len()).unwrap_or(0));
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open<'a>(
        &self,
        context: &str,
        merchant: &str,
        data: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, SealError> {
        let Some(rest) = data.strip_prefix(&MAGIC) else {
            return Ok(Cow::Borrowed(data));
        };
        let (&id_len, rest) = rest.split_first().ok_or(SealError::Malformed)?;
        let (id, rest) = rest
            .split_at_checked(usize::from(id_len))
            .ok_or(SealError::Malformed)?;
        let (nonce, sealed) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(SealError::Malformed)?;
        let id = std::str::from_utf8(id).map_err(|_| SealError::Malformed)?;
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| SealError::Malformed)?;
        let aad = associated(context, merchant);
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(Cow::Owned)
            .map_err(|_| SealError::Tampered)
    }
}

fn decode_key(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

fn associated(context: &str, merchant: &str) -> Vec<u8> {
    format!("{context}\u{1f}{merchant}").into_bytes()
}

static KEYS: OnceLock<SealKeys> = OnceLock::new();

/// Installs the process's keys; once, before the store is used.
pub fn install(keys: SealKeys) -> Result<(), SealError> {
    KEYS.set(keys).map_err(|_| SealError::AlreadyInstalled)
}

fn keys() -> &'static SealKeys {
    KEYS.get_or_init(|| {
        let (id, key) = SealKeys::generate();
        let mut keys = BTreeMap::new();
        keys.insert(id.clone(), key);
        tracing::warn!(
            "no encryption keys installed: sealing with a random key of this process only"
        );
        SealKeys::new(&id, &keys).unwrap_or_else(|_| unreachable_keys())
    })
}

#[allow(clippy::panic)]
fn unreachable_keys() -> SealKeys {
    // A generated key is always 32 bytes of valid base64 with a valid id.
    panic!("a generated encryption key was refused")
}

/// Seals `plain` for `context` (`table.column`) of `merchant`.
pub fn seal(context: &str, merchant: &str, plain: &[u8]) -> Vec<u8> {
    keys().seal(context, merchant, plain)
}

/// Opens a value sealed by [`seal`]; a value without the marker (written before sealing)
/// is returned as it is.
pub fn open<'a>(context: &str, merchant: &str, data: &'a [u8]) -> Result<Cow<'a, [u8]>, SealError> {
    keys().open(context, merchant, data)
}

/// [`seal_text`] unless `value` is sealed already (a stored value written back unchanged).
pub fn seal_text_once(context: &str, merchant: &str, value: &str) -> String {
    if value.starts_with(TEXT_PREFIX) {
        value.to_owned()
    } else {
        seal_text(context, merchant, value)
    }
}

/// [`seal`] for a text column.
pub fn seal_text(context: &str, merchant: &str, plain: &str) -> String {
    seal_bytes_to_text(context, merchant, plain.as_bytes())
}

/// [`seal`] of bytes, as text (`enc:v1:` and base64url), for text and JSON columns.
pub fn seal_bytes_to_text(context: &str, merchant: &str, plain: &[u8]) -> String {
    format!(
        "{TEXT_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(seal(context, merchant, plain))
    )
}

/// [`open`] for a text column.
pub fn open_text(context: &str, merchant: &str, stored: &str) -> Result<String, SealError> {
    if !stored.starts_with(TEXT_PREFIX) {
        return Ok(stored.to_owned());
    }
    String::from_utf8(open_text_to_bytes(context, merchant, stored)?)
        .map_err(|_| SealError::Malformed)
}

/// Opens text written by [`seal_bytes_to_text`]; it must be sealed.
pub fn open_text_to_bytes(
    context: &str,
    merchant: &str,
    stored: &str,
) -> Result<Vec<u8>, SealError> {
    let encoded = stored
        .strip_prefix(TEXT_PREFIX)
        .ok_or(SealError::Malformed)?;
    let sealed = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SealError::Malformed)?;
    if !sealed.starts_with(&MAGIC) {
        return Err(SealError::Malformed);
    }
    Ok(open(context, merchant, &sealed)?.into_owned())
}

/// Whether a stored value is sealed under the active key (else `reseal` rewrites it).
pub fn is_current(stored: &[u8]) -> bool {
    let bytes: Cow<'_, [u8]> = match std::str::from_utf8(stored)
        .ok()
        .and_then(|t| t.strip_prefix(TEXT_PREFIX))
    {
        Some(encoded) => match URL_SAFE_NO_PAD.decode(encoded) {
            Ok(b) => Cow::Owned(b),
            Err(_) => return false,
        },
        None => Cow::Borrowed(stored),
    };
    let active = keys().active.as_bytes();
    bytes.strip_prefix(&MAGIC).is_some_and(|rest| {
        rest.split_first().is_some_and(|(&len, rest)| {
            usize::from(len) == active.len() && rest.starts_with(active)
        })
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keyset(active: &str, ids: &[&str]) -> (SealKeys, BTreeMap<String, String>) {
        let keys: BTreeMap<String, String> = ids
            .iter()
            .map(|id| {
                let (_, key) = SealKeys::generate();
                ((*id).to_owned(), key)
            })
            .collect();
        (SealKeys::new(active, &keys).expect("valid"), keys)
    }

    #[test]
    fn sealed_values_open_in_their_place_only() {
        let (keys, _) = keyset("k1", &["k1"]);
        let sealed = keys.seal("customers.pii", "acme", b"ada@example.com");
        assert!(!sealed.windows(3).any(|w| w == b"ada"));
        assert_eq!(
            keys.open("customers.pii", "acme", &sealed)
                .expect("opens")
                .as_ref(),
            b"ada@example.com"
        );
        assert_eq!(
            keys.open("customers.pii", "beta", &sealed),
            Err(SealError::Tampered)
        );
        assert_eq!(
            keys.open("events.payload", "acme", &sealed),
            Err(SealError::Tampered)
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            keys.open("customers.pii", "acme", &flipped),
            Err(SealError::Tampered)
        );
        assert_ne!(
            sealed,
            keys.seal("customers.pii", "acme", b"ada@example.com"),
            "random nonces"
        );
    }

    #[test]
    fn old_keys_open_after_rotation_and_unknown_keys_are_named() {
        let (old, material) = keyset("k1", &["k1"]);
        let sealed = old.seal("c", "m", b"x");
        let mut both = material.clone();
        both.insert("k2".into(), SealKeys::generate().1);
        let rotated = SealKeys::new("k2", &both).expect("valid");
        assert_eq!(
            rotated
                .open("c", "m", &sealed)
                .expect("old key still opens")
                .as_ref(),
            b"x"
        );
        let (other, _) = keyset("k9", &["k9"]);
        assert_eq!(
            other.open("c", "m", &sealed),
            Err(SealError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn values_from_before_sealing_are_read_as_they_are() {
        let (keys, _) = keyset("k1", &["k1"]);
        assert_eq!(
            keys.open("c", "m", b"\x01plain").expect("legacy").as_ref(),
            b"\x01plain"
        );
    }

    #[test]
    fn bad_key_sets_are_refused_with_a_reason() {
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_owned(), "too-short".to_owned());
        assert!(matches!(
            SealKeys::new("k1", &keys),
            Err(SealError::BadKey(..))
        ));
        keys.insert("k1".to_owned(), SealKeys::generate().1);
        assert_eq!(
            SealKeys::new("k2", &keys).err(),
            Some(SealError::NoActiveKey("k2".into()))
        );
        keys.insert("bad id!".to_owned(), SealKeys::generate().1);
        assert!(matches!(
            SealKeys::new("k1", &keys),
            Err(SealError::BadKey(..))
        ));
        assert!(
            !format!(
                "{:?}",
                SealKeys::new(
                    "k1",
                    &BTreeMap::from([("k1".to_owned(), keys["k1"].clone())])
                )
                .expect("valid")
            )
            .contains(&keys["k1"])
        );
    }

    #[test]
    fn text_values_round_trip_through_the_process_keys() {
        let stored = seal_text("customer_tags.note", "acme", "call Ada after 6pm");
        assert!(stored.starts_with(TEXT_PREFIX) && !stored.contains("Ada"));
        assert!(is_current(stored.as_bytes()));
        assert_eq!(
            open_text("customer_tags.note", "acme", &stored).expect("opens"),
            "call Ada after 6pm"
        );
        assert_eq!(
            open_text("customer_tags.note", "acme", "legacy text").expect("legacy"),
            "legacy text"
        );
        assert!(!is_current(b"legacy text"));
    }

    proptest! {
        /// Arbitrary stored bytes never panic the reader.
        #[test]
        fn any_stored_bytes_open_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = open("c", "m", &bytes);
            let _ = open_text("c", "m", &String::from_utf8_lossy(&bytes));
            let mut marked = MAGIC.to_vec();
            marked.extend_from_slice(&bytes);
            prop_assert!(open("c", "m", &marked).is_err());
        }
    }
}
