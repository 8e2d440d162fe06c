//! AIP-158 pagination: page sizes and opaque, tamper-evident page tokens.
//!
//! A token carries the key after which the next page starts (keyset pagination: stable under
//! concurrent inserts, no OFFSET scans) and a fingerprint of the request's other parameters,
//! so a token cannot be replayed with a different filter.

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Longest page token accepted: the tokens minted here carry keys of at most a few hundred
/// bytes, so anything longer was not minted here.
pub const MAX_PAGE_TOKEN_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("page_size must not be negative")]
    NegativeSize,
    #[error("page_token is not valid for this request (malformed, or the request changed)")]
    BadToken,
}

/// The page size to use: the default for 0, capped at [`MAX_PAGE_SIZE`].
pub fn page_size(requested: i32) -> Result<u64, PageError> {
    match requested {
        n if n < 0 => Err(PageError::NegativeSize),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(u64::try_from(n).map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE))),
    }
}

/// Fingerprint of the request parameters a token is bound to (filter, order, parent...).
/// FNV-1a rather than std's hasher: a token minted by one replica must verify on another,
/// also across a rolling upgrade to a new build.
pub fn request_fingerprint(parts: &[&str]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in parts {
        // The length prefix keeps ["ab", "c"] and ["a", "bc"] apart.
        for byte in (part.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(part.as_bytes())
        {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// Encodes the last key of a page into a token for the next one.
pub fn encode_token(after_key: &str, fingerprint: u64) -> String {
    let mut out = format!("{fingerprint:016x}");
    for byte in after_key.as_bytes() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Decodes a token; `Ok(None)` for the first page (empty token).
pub fn decode_token(token: &str, fingerprint: u64) -> Result<Option<String>, PageError> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() < 16
        || token.len() > MAX_PAGE_TOKEN_BYTES
        || !token.len().is_multiple_of(2)
        || !token.is_ascii()
    {
        return Err(PageError::BadToken);
    }
    let (print, key) = token.split_at(16);
    if u64::from_str_radix(print, 16) != Ok(fingerprint) {
        return Err(PageError::BadToken);
    }
    let bytes = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| PageError::BadToken)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| PageError::BadToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(10), Ok(10));
        assert_eq!(page_size(1_000_000), Ok(MAX_PAGE_SIZE));
        assert_eq!(page_size(-1), Err(PageError::NegativeSize));
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_request() {
        let print = request_fingerprint(&["merchants/acme", "country = \"DE\""]);
        let token = encode_token("customer/ü-42", print);
        assert_eq!(
            decode_token(&token, print),
            Ok(Some("customer/ü-42".to_owned()))
        );
        let other = request_fingerprint(&["merchants/acme", "country = \"FR\""]);
        assert_eq!(decode_token(&token, other), Err(PageError::BadToken));
        assert_eq!(decode_token("zz", print), Err(PageError::BadToken));
        assert_eq!(decode_token("", print), Ok(None));
        assert_ne!(
            request_fingerprint(&["ab", "c"]),
            request_fingerprint(&["a", "bc"])
        );
        // Pinned: the fingerprint must not change between builds.
        assert_eq!(request_fingerprint(&[]), 0xcbf2_9ce4_8422_2325);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_token_is_answered(token in any::<String>(), print in any::<u64>()) {
                let _ = decode_token(&token, print);
            }

            #[test]
            fn minted_tokens_decode_to_their_key(key in ".{1,250}", print in any::<u64>()) {
                let token = encode_token(&key, print);
                prop_assume!(token.len() <= MAX_PAGE_TOKEN_BYTES);
                prop_assert_eq!(decode_token(&token, print), Ok(Some(key)));
                prop_assert_eq!(decode_token(&token, print ^ 1), Err(PageError::BadToken));
            }
        }

        #[test]
        fn oversized_tokens_are_refused() {
            let token = encode_token(&"k".repeat(600), 7);
            assert_eq!(decode_token(&token, 7), Err(PageError::BadToken));
        }
    }
}
