//! Scopes: what an API key may do for its merchants (`read`, `write`, `pii`, `admin`).
//!
//! The contract's `caravan.common.v1.Scope` is the wire form; this is the one place that
//! maps it to the names used on the command line, in the store and in messages.

use std::fmt;

use caravan_proto::caravan::common::v1::Scope as ScopeProto;

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Write,
    Pii,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Pii, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Pii => "pii",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Result<Self, ScopeError> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                ScopeError(format!(
                    "unknown scope {name:?}: use read, write, pii or admin"
                ))
            })
    }

    pub fn from_proto(value: i32) -> Result<Self, ScopeError> {
        match ScopeProto::try_from(value) {
            Ok(ScopeProto::Read) => Ok(Scope::Read),
            Ok(ScopeProto::Write) => Ok(Scope::Write),
            Ok(ScopeProto::Pii) => Ok(Scope::Pii),
            Ok(ScopeProto::Admin) => Ok(Scope::Admin),
            Ok(ScopeProto::Unspecified) | Err(_) => Err(ScopeError(format!(
                "scope {value} is not one of READ, WRITE, PII, ADMIN"
            ))),
        }
    }

    pub fn to_proto(self) -> ScopeProto {
        match self {
            Scope::Read => ScopeProto::Read,
            Scope::Write => ScopeProto::Write,
            Scope::Pii => ScopeProto::Pii,
            Scope::Admin => ScopeProto::Admin,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a scope was refused; the text is meant for a field violation or the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopeError(pub String);

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Parses `read,write` (the command line and the store's form); empty parts are refused.
    pub fn parse_list(list: &str) -> Result<Self, ScopeError> {
        let scopes = list
            .split(',')
            .map(|s| Scope::parse(s.trim()))
            .collect::<Result<Scopes, _>>()?;
        if scopes.is_empty() {
            return Err(ScopeError("at least one scope is required".to_owned()));
        }
        Ok(scopes)
    }

    /// `read,write`, in the fixed order read, write, pii, admin.
    pub fn to_list(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_in_a_fixed_order() {
        let scopes = Scopes::parse_list("admin, read").expect("valid");
        assert_eq!(scopes.to_list(), "read,admin");
        assert!(scopes.contains(Scope::Admin) && !scopes.contains(Scope::Write));
        assert_eq!(
            Scopes::parse_list(&Scopes::all().to_list()),
            Ok(Scopes::all())
        );
    }

    #[test]
    fn unknown_and_empty_scopes_are_refused() {
        assert!(Scopes::parse_list("read,root").is_err());
        assert!(Scopes::parse_list("").is_err());
        assert!(Scopes::parse_list("read,").is_err());
        assert!(Scopes::parse_list("READ").is_err(), "names are lower case");
    }

    #[test]
    fn proto_values_map_both_ways() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_proto(scope.to_proto() as i32), Ok(scope));
        }
        assert!(Scope::from_proto(0).is_err());
        assert!(Scope::from_proto(99).is_err());
    }
}
