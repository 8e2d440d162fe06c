//! The gRPC face of access administration: translate, call a [`crate::key_admin`] use case
//! or the access log, translate back.

use caravan_core::names::{MerchantId, parse_merchant_name};
use caravan_core::paging;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::{from_timestamp, to_timestamp};
use caravan_platform::status::{invalid_argument, not_found, store_failure};
use caravan_proto::caravan::access::v1 as pb;
use caravan_proto::caravan::access::v1::access_service_server::{
    AccessService, AccessServiceServer,
};
use caravan_store::StoreError;
use caravan_store::entity::access_log;
use caravan_store::sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use crate::access_log::{self as access_log_store, AccessAction};
use crate::api_key::KeyId;
use crate::key_admin::{self, KeyAdminError, KeySpec};
use crate::key_store::KeyRecord;
use crate::principal::{MerchantGrant, Principal};
use crate::scope::{Scope, Scopes};

#[derive(Clone)]
pub struct AccessApi {
    db: DatabaseConnection,
}

impl AccessApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn into_server(self) -> AccessServiceServer<Self> {
        AccessServiceServer::new(self)
    }
}

fn status(error: KeyAdminError) -> Status {
    match error {
        KeyAdminError::Invalid(violations) => invalid_argument(&violations),
        KeyAdminError::NotFound(name) => not_found(&name),
        KeyAdminError::Store(e) => store_failure("access store", &StoreError::Db(e)),
    }
}

fn field(field: &str, description: impl Into<String>) -> Status {
    let mut violations = FieldViolations::new();
    violations.add(field, description);
    invalid_argument(&violations)
}

pub(crate) fn key_to_proto(key: &KeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        name: key.id.name(),
        display_name: key.display_name.clone(),
        merchant_ids: key.merchants.ids(),
        scopes: key.scopes.iter().map(|s| s.to_proto() as i32).collect(),
        create_time: Some(to_timestamp(key.created_at)),
        expire_time: key.expires_at.map(to_timestamp),
        revoke_time: key.revoked_at.map(to_timestamp),
        rate_limit_per_second: key.rate_limit_per_second.unwrap_or(0),
        creator: key.creator.clone(),
    }
}

fn spec_from_proto(key: pb::ApiKey) -> Result<KeySpec, Status> {
    let mut violations = FieldViolations::new();
    let merchants = MerchantGrant::from_ids(&key.merchant_ids)
        .map_err(|e| violations.add("api_key.merchant_ids", e.to_string()))
        .ok();
    let scopes: Result<Scopes, _> = key.scopes.iter().map(|s| Scope::from_proto(*s)).collect();
    let scopes = scopes
        .map_err(|e| violations.add("api_key.scopes", e.to_string()))
        .ok();
    let expires_at = match &key.expire_time {
        None => None,
        Some(t) => {
            let at = from_timestamp(t);
            if at.is_none() {
                violations.add("api_key.expire_time", "is not a valid timestamp");
            }
            at
        }
    };
    violations.into_result().map_err(|v| invalid_argument(&v))?;
    Ok(KeySpec {
        display_name: key.display_name.trim().to_owned(),
        merchants: merchants.unwrap_or(MerchantGrant::All),
        scopes: scopes.unwrap_or_default(),
        expires_at,
        rate_limit_per_second: (key.rate_limit_per_second > 0).then_some(key.rate_limit_per_second),
    })
}

fn key_id(name: &str) -> Result<KeyId, Status> {
    KeyId::parse_name(name).map_err(|e| field("name", e.to_string()))
}

#[tonic::async_trait]
impl AccessService for AccessApi {
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let creator = request
            .extensions()
            .get::<Principal>()
            .map_or_else(|| "local".to_owned(), Principal::name);
        let key = request
            .into_inner()
            .api_key
            .ok_or_else(|| field("api_key", "is required"))?;
        let spec = spec_from_proto(key)?;
        let (new_key, record) = key_admin::create_key(&self.db, spec, &creator, chrono::Utc::now())
            .await
            .map_err(|e| match e {
                KeyAdminError::Invalid(v) => invalid_argument(&prefixed("api_key", v)),
                other => status(other),
            })?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(key_to_proto(&record)),
            key: new_key.reveal().to_owned(),
        }))
    }

    async fn get_api_key(
        &self,
        request: Request<pb::GetApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let id = key_id(&request.get_ref().name)?;
        let key = key_admin::get_key(&self.db, &id).await.map_err(status)?;
        Ok(Response::new(key_to_proto(&key)))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let request = request.into_inner();
        let size =
            paging::page_size(request.page_size).map_err(|e| field("page_size", e.to_string()))?;
        let fingerprint = paging::request_fingerprint(&["apiKeys"]);
        let after = paging::decode_token(&request.page_token, fingerprint)
            .map_err(|e| field("page_token", e.to_string()))?;
        let after = match after {
            None => None,
            Some(id) => {
                let id = KeyId::parse(&id)
                    .map_err(|_| field("page_token", "is not a token of this list"))?;
                Some(key_admin::get_key(&self.db, &id).await.map_err(status)?)
            }
        };
        let mut keys = key_admin::list_keys(&self.db, after.as_ref(), size + 1)
            .await
            .map_err(status)?;
        let next_page_token = if keys.len() as u64 > size {
            keys.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            keys.last()
                .map(|k| paging::encode_token(k.id.as_str(), fingerprint))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: keys.iter().map(key_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let id = key_id(&request.get_ref().name)?;
        let key = key_admin::revoke_key(&self.db, &id, chrono::Utc::now())
            .await
            .map_err(status)?;
        Ok(Response::new(key_to_proto(&key)))
    }

    async fn list_access_log_entries(
        &self,
        request: Request<pb::ListAccessLogEntriesRequest>,
    ) -> Result<Response<pb::ListAccessLogEntriesResponse>, Status> {
        let request = request.into_inner();
        let merchant =
            parse_merchant_name(&request.parent).map_err(|e| field("parent", e.to_string()))?;
        let size =
            paging::page_size(request.page_size).map_err(|e| field("page_size", e.to_string()))?;
        let fingerprint = paging::request_fingerprint(&["accessLogEntries", &request.parent]);
        let before = paging::decode_token(&request.page_token, fingerprint)
            .map_err(|e| field("page_token", e.to_string()))?
            .map(|id| {
                id.parse::<i64>()
                    .map_err(|_| field("page_token", "is not a token of this list"))
            })
            .transpose()?;
        let mut rows = access_log_store::page(&self.db, &merchant, before, size + 1)
            .await
            .map_err(|e| store_failure("access log", &StoreError::Db(e)))?;
        let next_page_token = if rows.len() as u64 > size {
            rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            rows.last()
                .map(|r| paging::encode_token(&r.id.to_string(), fingerprint))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let entries = rows
            .into_iter()
            .map(|row| entry_to_proto(&merchant, row))
            .collect();
        Ok(Response::new(pb::ListAccessLogEntriesResponse {
            entries,
            next_page_token,
        }))
    }
}

/// The wire form of an access log row.
pub fn entry_to_proto(merchant: &MerchantId, row: access_log::Model) -> pb::AccessLogEntry {
    pb::AccessLogEntry {
        name: format!("{}/accessLogEntries/{}", merchant.name(), row.id),
        time: Some(to_timestamp(row.occurred_at.get())),
        api_key: if row.key_id == "local" {
            "local".to_owned()
        } else {
            format!("apiKeys/{}", row.key_id)
        },
        rpc: row.rpc,
        customer: format!("{}/customers/{}", merchant.name(), row.customer_id),
        action: match AccessAction::from_code(&row.action) {
            Some(AccessAction::RevealPii) => pb::AccessAction::RevealPii,
            Some(AccessAction::Export) => pb::AccessAction::Export,
            None => pb::AccessAction::Unspecified,
        } as i32,
    }
}

fn prefixed(prefix: &str, violations: FieldViolations) -> FieldViolations {
    let mut out = FieldViolations::new();
    out.extend_prefixed(prefix, violations);
    out
}
