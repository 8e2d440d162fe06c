//! Who is calling: the key's merchants and scopes, and the one check every RPC goes through.

use std::collections::BTreeSet;
use std::fmt;

use caravan_core::names::MerchantId;

use crate::api_key::KeyId;
use crate::scope::{Scope, Scopes};

/// The merchants a key may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerchantGrant {
    /// Every merchant (`*`): platform keys.
    All,
    /// Exactly these merchants.
    Only(BTreeSet<MerchantId>),
}

impl MerchantGrant {
    pub const ALL_TEXT: &'static str = "*";

    /// Parses the command line's and the store's form: `*`, or merchant ids separated by
    /// commas. Ids must be valid merchant ids (lower case), so `ACME` never stands for
    /// `acme`.
    pub fn parse_list(list: &str) -> Result<Self, GrantError> {
        let ids: Vec<&str> = list.split(',').map(str::trim).collect();
        Self::from_ids(&ids)
    }

    pub fn from_ids<S: AsRef<str>>(ids: &[S]) -> Result<Self, GrantError> {
        match ids {
            [] => Err(GrantError(
                "at least one merchant (or `*`) is required".to_owned(),
            )),
            [one] if one.as_ref() == Self::ALL_TEXT => Ok(MerchantGrant::All),
            _ => ids
                .iter()
                .map(|id| {
                    let id = id.as_ref();
                    if id == Self::ALL_TEXT {
                        return Err(GrantError(
                            "`*` cannot be combined with merchant ids".to_owned(),
                        ));
                    }
                    MerchantId::parse(id).map_err(|e| GrantError(e.to_string()))
                })
                .collect::<Result<BTreeSet<_>, _>>()
                .map(MerchantGrant::Only),
        }
    }

    pub fn includes(&self, merchant: &MerchantId) -> bool {
        match self {
            MerchantGrant::All => true,
            MerchantGrant::Only(ids) => ids.contains(merchant),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        match self {
            MerchantGrant::All => vec![Self::ALL_TEXT.to_owned()],
            MerchantGrant::Only(ids) => ids.iter().map(|m| m.as_str().to_owned()).collect(),
        }
    }

    /// `*` or `acme,beta`.
    pub fn to_list(&self) -> String {
        self.ids().join(",")
    }
}

/// Why a merchant list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GrantError(pub String);

/// Who made a call, attached to the request for the RPC (`request.extensions()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key used; `None` when authentication is switched off (loopback only).
    pub key: Option<KeyId>,
    pub merchants: MerchantGrant,
    pub scopes: Scopes,
}

impl Principal {
    /// The caller when `auth.enabled = false`: everything, on loopback only.
    pub fn unauthenticated_local() -> Self {
        Self {
            key: None,
            merchants: MerchantGrant::All,
            scopes: Scopes::all(),
        }
    }

    /// Checks one scope, for the merchant the request names or (`None`) for an RPC that
    /// names no merchant, which needs a key for every merchant.
    pub fn permit(&self, merchant: Option<&MerchantId>, scope: Scope) -> Result<(), Denial> {
        match merchant {
            Some(merchant) if !self.merchants.includes(merchant) => {
                return Err(Denial::Merchant(merchant.clone()));
            }
            None if self.merchants != MerchantGrant::All => return Err(Denial::PlatformOnly),
            _ => {}
        }
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(Denial::Scope(scope))
        }
    }

    /// How the caller is named in logs and the access log: `apiKeys/{id}` or `local`.
    pub fn name(&self) -> String {
        self.key
            .as_ref()
            .map_or_else(|| "local".to_owned(), KeyId::name)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why an authenticated caller may not make a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("the API key is not granted merchant {0:?}")]
    Merchant(MerchantId),
    #[error("this RPC names no merchant: it needs an API key for every merchant (`*`)")]
    PlatformOnly,
    #[error("the API key lacks the {0} scope")]
    Scope(Scope),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant(id: &str) -> MerchantId {
        MerchantId::parse(id).expect("valid merchant id")
    }

    fn principal(merchants: &str, scopes: &str) -> Principal {
        Principal {
            key: Some(KeyId::parse("abcdefghijkl").expect("valid")),
            merchants: MerchantGrant::parse_list(merchants).expect("valid grant"),
            scopes: Scopes::parse_list(scopes).expect("valid scopes"),
        }
    }

    #[test]
    fn a_merchant_key_acts_for_its_merchants_only() {
        let key = principal("acme,beta", "read");
        assert_eq!(key.permit(Some(&merchant("acme")), Scope::Read), Ok(()));
        assert_eq!(
            key.permit(Some(&merchant("gamma")), Scope::Read),
            Err(Denial::Merchant(merchant("gamma")))
        );
        assert_eq!(
            key.permit(Some(&merchant("acme")), Scope::Write),
            Err(Denial::Scope(Scope::Write))
        );
        assert_eq!(key.permit(None, Scope::Read), Err(Denial::PlatformOnly));
    }

    #[test]
    fn a_platform_key_acts_for_every_merchant() {
        let key = principal("*", "read,admin");
        assert_eq!(key.permit(Some(&merchant("anyone")), Scope::Admin), Ok(()));
        assert_eq!(key.permit(None, Scope::Read), Ok(()));
        assert_eq!(key.permit(None, Scope::Pii), Err(Denial::Scope(Scope::Pii)));
    }

    #[test]
    fn merchant_lists_are_strict() {
        assert!(
            MerchantGrant::parse_list("ACME").is_err(),
            "ids are lower case"
        );
        assert!(MerchantGrant::parse_list("acme,*").is_err());
        assert!(MerchantGrant::parse_list("").is_err());
        assert_eq!(
            MerchantGrant::parse_list("beta, acme").map(|g| g.to_list()),
            Ok("acme,beta".to_owned())
        );
    }
}
