//! The access check in front of every RPC: authenticate the key, apply its rate limit, check
//! the RPC's scope, read the merchant the request names and check it is granted. Nothing of
//! the RPC runs, and nothing is read or written, until all of that passed.

use std::sync::Arc;

use caravan_core::names::MerchantId;
use caravan_platform::guard::{Admission, RequestGuard};
use futures::future::BoxFuture;
use governor::clock::{Clock as _, DefaultClock};
use tonic::body::Body;

use crate::api_key::PresentedKey;
use crate::error::AccessError;
use crate::first_message::peek_first_message;
use crate::key_ring::KeyRing;
use crate::policy::{AccessPolicy, MethodRule};
use crate::principal::{Denial, MerchantGrant, Principal};
use crate::scope::Scope;
use crate::wire;

pub struct AccessGuard {
    policy: AccessPolicy,
    /// `None`: authentication is switched off (loopback only; checked at start-up).
    keys: Option<Arc<KeyRing>>,
    max_message_bytes: usize,
}

impl AccessGuard {
    pub fn new(policy: AccessPolicy, keys: Option<Arc<KeyRing>>, max_message_bytes: usize) -> Self {
        Self {
            policy,
            keys,
            max_message_bytes,
        }
    }

    async fn check(
        &self,
        mut request: http::Request<Body>,
    ) -> Result<http::Request<Body>, AccessError> {
        let path = request.uri().path().to_owned();
        if AccessPolicy::is_open(&path) {
            return Ok(request);
        }
        let Some(keys) = &self.keys else {
            request
                .extensions_mut()
                .insert(Principal::unauthenticated_local());
            return Ok(request);
        };
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or(AccessError::NoCredentials)?;
        let presented = PresentedKey::from_authorization(header.as_bytes())?;
        let caller = keys.authenticate(&presented, chrono::Utc::now()).await?;
        let principal = caller.principal;
        if let Some(limiter) = &caller.limiter
            && let Err(not_until) = limiter.check()
        {
            return Err(AccessError::RateLimited {
                key: principal.name(),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            });
        }
        // A path no service here serves goes on to answer UNIMPLEMENTED.
        if let Some(rule) = self.policy.rule(&path) {
            let denied = |denial| AccessError::Denied {
                key: principal.name(),
                denial,
            };
            if !principal.scopes.contains(rule.scope) {
                return Err(denied(Denial::Scope(rule.scope)));
            }
            if rule.merchant.is_none() && rule.reveal.is_none() {
                principal.permit(None, rule.scope).map_err(denied)?;
            } else {
                let body = std::mem::take(request.body_mut());
                let peeked = peek_first_message(body, self.max_message_bytes).await?;
                *request.body_mut() = peeked.body;
                if let Some(message) = peeked.message {
                    authorize_message(rule, &principal, &message)?;
                } else if !rule.client_streaming {
                    return Err(AccessError::field(
                        "",
                        "the request carries no complete message",
                    ));
                }
                // A stream without any message names nothing and can do nothing.
            }
        }
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// Checks the merchant (and the personal-data switch) of one request message.
fn authorize_message(
    rule: &MethodRule,
    principal: &Principal,
    message: &[u8],
) -> Result<(), AccessError> {
    let denied = |denial| AccessError::Denied {
        key: principal.name(),
        denial,
    };
    // A key for every merchant is granted whatever the request names, so the RPC itself
    // validates the name (and reports it beside every other bad field).
    let merchant = match (&rule.merchant, &principal.merchants) {
        (Some(field), MerchantGrant::Only(_)) => {
            Some(merchant_named(message, &field.name, &field.numbers)?)
        }
        _ => None,
    };
    principal
        .permit(merchant.as_ref(), rule.scope)
        .map_err(denied)?;
    if let Some(reveal) = &rule.reveal {
        let asked = wire::last_bool(message, &reveal.numbers)
            .map_err(|e| AccessError::field(&reveal.name, format!("cannot be read: {e}")))?;
        if asked {
            principal
                .permit(merchant.as_ref(), Scope::Pii)
                .map_err(denied)?;
        }
    }
    Ok(())
}

/// The merchant of a resource name under `merchants/{merchant}`, or of a bare merchant id.
fn merchant_named(message: &[u8], field: &str, numbers: &[u32]) -> Result<MerchantId, AccessError> {
    let value = wire::last_string(message, numbers)
        .map_err(|e| AccessError::field(field, format!("cannot be read: {e}")))?
        .unwrap_or_default();
    if value.is_empty() {
        return Err(AccessError::field(field, "is required"));
    }
    let id = match value.strip_prefix("merchants/") {
        Some(rest) => rest.split('/').next().unwrap_or_default(),
        None => value,
    };
    MerchantId::parse(id).map_err(|e| AccessError::field(field, e.to_string()))
}

impl RequestGuard for AccessGuard {
    fn admit(self: Arc<Self>, request: http::Request<Body>) -> BoxFuture<'static, Admission> {
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            self.check(request).await.map_err(|error| {
                tracing::info!(rpc = %path, reason = %error, "call refused");
                error.into_status().into_http()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::scope::Scopes;

    fn policy() -> AccessPolicy {
        AccessPolicy::load(
            caravan_proto::FILE_DESCRIPTOR_SET,
            &caravan_proto::ALL_SERVICE_NAMES,
        )
        .expect("rules load")
    }

    fn principal(merchants: &str, scopes: &str) -> Principal {
        Principal {
            key: None,
            merchants: MerchantGrant::parse_list(merchants).expect("grant"),
            scopes: Scopes::parse_list(scopes).expect("scopes"),
        }
    }

    #[test]
    fn the_merchant_comes_from_the_rule_field_in_every_name_shape() {
        use caravan_proto::caravan::ingestion::v1 as pb;
        let policy = policy();
        let rule = policy
            .rule("/caravan.ingestion.v1.IngestionService/UpdateCustomer")
            .expect("rule");
        let request = pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: "merchants/acme/customers/c-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(authorize_message(rule, &principal("acme", "write"), &request).is_ok());
        assert!(matches!(
            authorize_message(rule, &principal("beta", "write"), &request),
            Err(AccessError::Denied {
                denial: Denial::Merchant(_),
                ..
            })
        ));
        let create = policy
            .rule("/caravan.ingestion.v1.IngestionService/CreateMerchant")
            .expect("rule");
        let request = pb::CreateMerchantRequest {
            merchant_id: "acme".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(authorize_message(create, &principal("acme", "admin"), &request).is_ok());
        assert!(authorize_message(create, &principal("beta", "admin"), &request).is_err());
    }

    #[test]
    fn a_platform_key_leaves_the_name_to_the_rpc() {
        use caravan_proto::caravan::ingestion::v1 as pb;
        let policy = policy();
        let create = policy
            .rule("/caravan.ingestion.v1.IngestionService/CreateMerchant")
            .expect("rule");
        let malformed = pb::CreateMerchantRequest {
            merchant_id: "Bad Id".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(authorize_message(create, &principal("*", "admin"), &malformed).is_ok());
        assert!(matches!(
            authorize_message(create, &principal("acme", "admin"), &malformed),
            Err(AccessError::InvalidRequest(_))
        ));
        assert!(matches!(
            authorize_message(create, &principal("*", "read"), &malformed),
            Err(AccessError::Denied { .. })
        ));
    }

    #[test]
    fn revealing_personal_data_needs_the_pii_scope() {
        use caravan_proto::caravan::ingestion::v1 as pb;
        let policy = policy();
        let rule = policy
            .rule("/caravan.ingestion.v1.IngestionService/GetCustomer")
            .expect("rule");
        let masked = pb::GetCustomerRequest {
            name: "merchants/acme/customers/c-1".into(),
            reveal_pii: false,
        };
        let revealed = pb::GetCustomerRequest {
            reveal_pii: true,
            ..masked.clone()
        };
        let reader = principal("acme", "read");
        assert!(authorize_message(rule, &reader, &masked.encode_to_vec()).is_ok());
        assert!(matches!(
            authorize_message(rule, &reader, &revealed.encode_to_vec()),
            Err(AccessError::Denied {
                denial: Denial::Scope(Scope::Pii),
                ..
            })
        ));
        assert!(
            authorize_message(
                rule,
                &principal("acme", "read,pii"),
                &revealed.encode_to_vec()
            )
            .is_ok()
        );
    }

    #[test]
    fn missing_or_malformed_merchants_are_invalid_arguments() {
        for (value, expected) in [
            ("", "is required"),
            ("merchants/ACME/customers/1", "must match"),
            ("merchants//customers/1", "must match"),
        ] {
            let message = caravan_proto::caravan::ingestion::v1::GetCustomerRequest {
                name: value.into(),
                reveal_pii: false,
            }
            .encode_to_vec();
            match merchant_named(&message, "name", &[1]) {
                Err(AccessError::InvalidRequest(v)) => {
                    assert!(v.summary().contains(expected), "{v}")
                }
                other => panic!("{value:?}: {other:?}"),
            }
        }
    }
}
