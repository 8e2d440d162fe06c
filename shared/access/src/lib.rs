//! `caravan-access`: who may call what.
//!
//! * [`api_key`]: the key format (`cvn_{id}_{secret}`), generation, parsing, hashing.
//! * [`scope`], [`principal`]: what a key may do, for which merchants, and the check.
//! * [`policy`]: every RPC's access rule, read from the contracts' `access` option.
//! * [`wire`], [`first_message`]: reading the merchant a request names before the RPC runs.
//! * [`key_store`], [`key_ring`], [`key_admin`]: keys in the store, in memory, and managed.
//! * [`guard`], [`error`]: the check in front of every RPC and its statuses.
//! * [`access_log`]: who saw a customer's personal data, and when.
//! * [`admin_api`]: the `caravan.access.v1.AccessService` RPCs.
//! * [`setup`], [`bootstrap`]: start-up.
//!
//! See docs/security.md for the model as operators see it.

pub mod access_log;
pub mod admin_api;
pub mod api_key;
pub mod bootstrap;
pub mod error;
pub mod first_message;
pub mod guard;
pub mod key_admin;
pub mod key_ring;
pub mod key_store;
pub mod policy;
pub mod principal;
pub mod scope;
pub mod setup;
pub mod wire;

pub use access_log::{AccessAction, AccessRecord};
pub use api_key::{KeyId, NewKey};
pub use principal::{MerchantGrant, Principal};
pub use scope::{Scope, Scopes};
pub use setup::AccessControl;

/// The caller of an RPC, as the guard attached it. A loopback server built without a guard
/// (in-process tests) has none: its caller is [`Principal::unauthenticated_local`].
pub fn caller<T>(request: &tonic::Request<T>) -> Principal {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::unauthenticated_local)
}
