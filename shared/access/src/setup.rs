//! Start-up: refuse unsafe configurations, load the rules, fill the key ring, keep it fresh,
//! and put the guard in front of a binary's services.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use caravan_platform::Settings;
use caravan_platform::server::ServiceSet;
use caravan_platform::settings::DEVELOPMENT_IDENTITY_KEY;
use caravan_store::sea_orm::{DatabaseConnection, DbErr};

use crate::api_key::NewKey;
use crate::guard::AccessGuard;
use crate::key_ring::KeyRing;
use crate::policy::{AccessPolicy, PolicyError};

#[derive(Debug, thiserror::Error)]
pub enum AccessSetupError {
    #[error(
        "refusing to serve on {0} with auth.enabled = false: without authentication only a loopback address (127.0.0.1, ::1) is allowed"
    )]
    UnauthenticatedOffLoopback(SocketAddr),
    #[error(
        "refusing to serve on {0} with the development identity-hash key: set ingestion.identity_hash_key (CARAVAN__INGESTION__IDENTITY_HASH_KEY) to a secret of this deployment"
    )]
    DevelopmentKeyOffLoopback(SocketAddr),
    #[error(
        "refusing to serve on {0} without configured encryption keys: set privacy.encryption_keys and privacy.active_encryption_key (CARAVAN__PRIVACY__ENCRYPTION_KEYS__<ID>, CARAVAN__PRIVACY__ACTIVE_ENCRYPTION_KEY)"
    )]
    LocalEncryptionKeyOffLoopback(SocketAddr),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot read the API keys: {0}")]
    Keys(#[from] DbErr),
    #[error(
        "clients.api_key (CARAVAN__CLIENTS__API_KEY) is required with authentication on: this service calls profiling with it (create one with `caravan keys create --merchant '*' --scope read`)"
    )]
    NoClientKey,
}

/// A service that calls profiling needs a key to present when authentication is on.
pub fn check_client_key(settings: &Settings) -> Result<(), AccessSetupError> {
    if settings.auth.enabled
        && settings
            .clients
            .api_key
            .as_ref()
            .is_none_or(|k| k.is_empty())
    {
        return Err(AccessSetupError::NoClientKey);
    }
    Ok(())
}

/// Refuses configurations that would expose data on an address other machines can reach:
/// no authentication, the identity-hash key everybody can read in the source, or personal
/// data encrypted with a key file made on the spot instead of a managed secret.
pub fn check_exposure(settings: &Settings) -> Result<(), AccessSetupError> {
    let addr = settings.server.listen_addr;
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !settings.auth.enabled {
        return Err(AccessSetupError::UnauthenticatedOffLoopback(addr));
    }
    if settings.ingestion.identity_hash_key.expose() == DEVELOPMENT_IDENTITY_KEY {
        return Err(AccessSetupError::DevelopmentKeyOffLoopback(addr));
    }
    if settings.privacy.encryption_keys.is_empty() {
        return Err(AccessSetupError::LocalEncryptionKeyOffLoopback(addr));
    }
    Ok(())
}

/// The access check of one binary.
pub struct AccessControl {
    guard: Arc<AccessGuard>,
    refresh: Option<tokio::task::JoinHandle<()>>,
}

impl AccessControl {
    /// Checks the configuration, loads the access rules of every Caravan service and, with
    /// authentication on, reads the keys and starts re-reading them. With `internal_key`,
    /// also makes the in-memory key the services of this process present to each other.
    pub async fn start(
        settings: &Settings,
        db: &DatabaseConnection,
        internal_key: bool,
    ) -> Result<(Self, Option<NewKey>), AccessSetupError> {
        check_exposure(settings)?;
        let policy = AccessPolicy::load(
            caravan_proto::FILE_DESCRIPTOR_SET,
            &caravan_proto::ALL_SERVICE_NAMES,
        )?;
        if !settings.auth.enabled {
            tracing::warn!("auth.enabled = false: every caller may do everything (loopback only)");
            let guard = AccessGuard::new(policy, None, settings.server.max_message_bytes);
            return Ok((
                Self {
                    guard: Arc::new(guard),
                    refresh: None,
                },
                None,
            ));
        }
        let mut ring = KeyRing::new(db.clone(), settings.auth.rate_limit_per_second);
        let internal = internal_key.then(|| ring.add_internal_key());
        ring.reload().await?;
        let ring = Arc::new(ring);
        let refresh = ring.spawn_refresh(Duration::from_millis(settings.auth.key_refresh_ms));
        let guard = AccessGuard::new(policy, Some(ring), settings.server.max_message_bytes);
        Ok((
            Self {
                guard: Arc::new(guard),
                refresh: Some(refresh),
            },
            internal,
        ))
    }

    /// [`AccessControl::start`] then [`AccessControl::install`], for a single-service binary.
    pub async fn guard(
        settings: &Settings,
        db: &DatabaseConnection,
        services: &mut ServiceSet,
    ) -> Result<(), AccessSetupError> {
        let (control, _) = Self::start(settings, db, false).await?;
        control.install(services);
        Ok(())
    }

    /// Puts the guard in front of `services`; the key refresh stops with the server.
    pub fn install(self, services: &mut ServiceSet) {
        services.guard(self.guard);
        if let Some(refresh) = self.refresh {
            services.after_stop(async move { refresh.abort() });
        }
    }
}

#[cfg(test)]
mod tests {
    use caravan_platform::Secret;

    use super::*;

    fn settings(addr: &str, auth: bool, identity_key: &str) -> Settings {
        let mut settings = Settings::default();
        settings.server.listen_addr = addr.parse().expect("addr");
        settings.auth.enabled = auth;
        settings.ingestion.identity_hash_key = Secret::new(identity_key);
        settings
            .privacy
            .encryption_keys
            .insert("k1".into(), Secret::new("a-key"));
        settings
    }

    #[test]
    fn exposure_needs_authentication_and_a_real_identity_key() {
        let real = "a-real-secret-of-this-deployment";
        assert!(
            check_exposure(&settings(
                "127.0.0.1:50051",
                false,
                DEVELOPMENT_IDENTITY_KEY
            ))
            .is_ok()
        );
        assert!(check_exposure(&settings("[::1]:50051", false, real)).is_ok());
        assert!(check_exposure(&settings("0.0.0.0:50051", true, real)).is_ok());
        let err = check_exposure(&settings("0.0.0.0:50051", false, real)).expect_err("no auth");
        assert!(err.to_string().contains("auth.enabled"), "{err}");
        let err = check_exposure(&settings("10.0.0.5:50051", true, DEVELOPMENT_IDENTITY_KEY))
            .expect_err("development key");
        assert!(err.to_string().contains("identity_hash_key"), "{err}");
        let mut local_key = settings("10.0.0.5:50051", true, real);
        local_key.privacy.encryption_keys.clear();
        let err = check_exposure(&local_key).expect_err("key file");
        assert!(err.to_string().contains("privacy.encryption_keys"), "{err}");
    }
}
