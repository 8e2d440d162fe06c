//! A value that must never reach a log line, a `Debug` dump or an error message.
//!
//! Database URLs carry passwords and identity-hash keys are secrets: both are wrapped in
//! [`Secret`] as soon as they are read from configuration, and unwrapped only at the one place
//! that needs the raw value ([`Secret::expose`]).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A string whose `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value. Call it only where the value is handed to the thing that needs it
    /// (a driver, a hasher), never to format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Replaces the password of a URL such as `mysql://user:pw@host/db` with `***`; the store's
/// implementation, so there is one definition of what is redacted.
pub use caravan_store::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("mysql://caravan:s3cr3t@db:3306/caravan"),
            "mysql://caravan:***@db:3306/caravan"
        );
        assert_eq!(
            redact_url("mysql://caravan@db/caravan"),
            "mysql://caravan@db/caravan"
        );
        assert_eq!(
            redact_url("sqlite://.caravan/caravan.sqlite?mode=rwc"),
            "sqlite://.caravan/caravan.sqlite?mode=rwc"
        );
        assert_eq!(
            redact_url("mysql://u:p@ss@h/db?x=@"),
            "mysql://u:***@h/db?x=@"
        );
    }
}
