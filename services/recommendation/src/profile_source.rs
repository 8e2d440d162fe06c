//! Content affinities and segments from the profiling service (`GetProfile`, FULL view).
//!
//! The profile is an optional signal: any failure (profiling not deployed, not implemented,
//! no profile yet, slow) yields `None` and `Recommend` goes on without content affinity.
//! Expected failures are logged at debug, unexpected ones at warn. After profiling answers
//! UNIMPLEMENTED, UNAVAILABLE or RESOURCE_EXHAUSTED (or times out), reads are skipped for
//! [`BACKOFF`], so a service that is down or shedding load costs `Recommend` nothing instead
//! of a failed call per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use caravan_platform::client::ServiceChannel;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use tonic::Code;

use crate::engine::content::Preferences;

/// How long profile reads are skipped after profiling was unreachable or unimplemented.
pub const BACKOFF: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct ProfileSource {
    client: ProfilingServiceClient<ServiceChannel>,
    timeout: Duration,
    /// Unix milliseconds before which no read is attempted.
    skip_until_ms: Arc<AtomicI64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The affinities of a profile (scores are 0..1 per the profile contract).
pub fn preferences(profile: &pb::Profile) -> Preferences {
    let mut p = Preferences::default();
    if let Some(c) = &profile.content_preference {
        for a in &c.category_affinities {
            if !a.key.is_empty() && a.score.is_finite() && a.score > 0.0 {
                p.categories.insert(a.key.clone(), a.score.min(1.0) as f32);
            }
        }
        for a in &c.brand_affinities {
            if !a.key.is_empty() && a.score.is_finite() && a.score > 0.0 {
                p.brands.insert(a.key.clone(), a.score.min(1.0) as f32);
            }
        }
    }
    p
}

/// What `Recommend` takes from a profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileSignals {
    pub preferences: Preferences,
    /// Segment ids (the tails of `Profile.segments`), built-in first.
    pub segments: Vec<String>,
}

/// The signals of a profile.
pub fn signals(profile: &pb::Profile) -> ProfileSignals {
    ProfileSignals {
        preferences: preferences(profile),
        segments: profile
            .segments
            .iter()
            .filter_map(|name| name.rsplit_once("/segments/").map(|(_, id)| id.to_owned()))
            .collect(),
    }
}

/// How a failed profile read is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFailure {
    /// Profiling is absent, down, busy or slow: skip reads for [`BACKOFF`], quietly.
    /// tonic's channel enforces the request's own timeout and reports it as `CANCELLED`
    /// ("Timeout expired") before `tokio::time::timeout` fires, so CANCELLED is a timeout
    /// here; RESOURCE_EXHAUSTED is profiling shedding load, which reads must not add to.
    Unreachable,
    /// The customer has no profile yet: expected, nothing to back off from.
    NoProfile,
    /// Anything else is worth an operator's attention.
    Unexpected,
}

impl ReadFailure {
    fn of(code: Code) -> Self {
        match code {
            Code::Unimplemented
            | Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted => Self::Unreachable,
            Code::NotFound => Self::NoProfile,
            _ => Self::Unexpected,
        }
    }

    fn backs_off(self) -> bool {
        self == Self::Unreachable
    }
}

impl ProfileSource {
    pub fn new(client: ProfilingServiceClient<ServiceChannel>, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            skip_until_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    fn back_off(&self) {
        self.skip_until_ms
            .store(now_ms() + BACKOFF.as_millis() as i64, Ordering::Relaxed);
    }

    /// The customer's affinities and segments, or `None` when the profile cannot be had.
    pub async fn signals(&self, merchant: &str, customer: &str) -> Option<ProfileSignals> {
        if now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let mut request = tonic::Request::new(pb::GetProfileRequest {
            name: format!("merchants/{merchant}/customers/{customer}/profile"),
            view: pb::ProfileView::Full as i32,
            reveal_pii: false,
        });
        request.set_timeout(self.timeout);
        let mut client = self.client.clone();
        match tokio::time::timeout(self.timeout, client.get_profile(request)).await {
            Ok(Ok(response)) => Some(signals(&response.into_inner())),
            Ok(Err(status)) => {
                let failure = ReadFailure::of(status.code());
                if failure.backs_off() {
                    self.back_off();
                }
                if failure == ReadFailure::Unexpected {
                    tracing::warn!(
                        code = ?status.code(),
                        message = status.message(),
                        "profile read failed; recommending without content affinity"
                    );
                } else {
                    tracing::debug!(
                        code = ?status.code(),
                        "no profile for content affinity; recommending without it"
                    );
                }
                None
            }
            Err(_) => {
                self.back_off();
                tracing::debug!("profile read timed out; recommending without content affinity");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_busy_or_absent_profiling_backs_off_quietly() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Unavailable,
            Code::Unimplemented,
        ] {
            assert_eq!(ReadFailure::of(code), ReadFailure::Unreachable, "{code:?}");
            assert!(ReadFailure::of(code).backs_off());
        }
        assert!(!ReadFailure::of(Code::NotFound).backs_off());
        assert_eq!(ReadFailure::of(Code::Internal), ReadFailure::Unexpected);
        assert!(!ReadFailure::of(Code::PermissionDenied).backs_off());
    }

    #[test]
    fn affinities_become_preferences() {
        let profile = pb::Profile {
            content_preference: Some(pb::ContentPreferenceDimension {
                category_affinities: vec![
                    pb::Affinity {
                        key: "Home > Candles".into(),
                        score: 1.0,
                        ..Default::default()
                    },
                    pb::Affinity {
                        key: "".into(),
                        score: 0.5,
                        ..Default::default()
                    },
                ],
                brand_affinities: vec![pb::Affinity {
                    key: "Acme".into(),
                    score: 0.25,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = preferences(&profile);
        assert_eq!(p.categories.len(), 1);
        assert_eq!(p.categories["Home > Candles"], 1.0);
        assert_eq!(p.brands["Acme"], 0.25);
        assert_eq!(preferences(&pb::Profile::default()), Preferences::default());
        let listed = pb::Profile {
            segments: vec![
                "merchants/m/segments/at-risk".into(),
                "merchants/m/segments/vip".into(),
            ],
            ..profile
        };
        assert_eq!(signals(&listed).segments, vec!["at-risk", "vip"]);
    }
}
