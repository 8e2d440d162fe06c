//! Where scoring gets customer profiles: the profiling service, over gRPC, with the caller's
//! trace carried along (the channel's interceptor) and a deadline per call.

use caravan_platform::client::TracedChannel;
use caravan_proto::caravan::profiling::v1 as profiling;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use tonic::Code;

use crate::error::MarketingError;

#[derive(Clone)]
pub struct ProfileSource {
    client: ProfilingServiceClient<TracedChannel>,
}

impl ProfileSource {
    pub fn new(client: ProfilingServiceClient<TracedChannel>) -> Self {
        Self { client }
    }

    /// The full profile of `merchants/{m}/customers/{c}`.
    #[tracing::instrument(skip(self))]
    pub async fn profile(&self, customer_name: &str) -> Result<profiling::Profile, MarketingError> {
        let request = profiling::GetProfileRequest {
            name: format!("{customer_name}/profile"),
            view: profiling::ProfileView::Full as i32,
            reveal_pii: false,
        };
        let mut client = self.client.clone();
        client
            .get_profile(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(classify)
    }
}

/// Availability problems become `ProfilingUnavailable` (so callers get UNAVAILABLE with
/// retry information); anything else keeps its code.
fn classify(status: tonic::Status) -> MarketingError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Cancelled => {
            MarketingError::ProfilingUnavailable(status.message().to_owned())
        }
        Code::NotFound => MarketingError::NotFound(status.message().to_owned()),
        code => MarketingError::Profiling {
            code,
            message: status.message().to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_errors_are_retryable() {
        assert!(matches!(
            classify(tonic::Status::unavailable("down")),
            MarketingError::ProfilingUnavailable(_)
        ));
        assert!(matches!(
            classify(tonic::Status::deadline_exceeded("slow")),
            MarketingError::ProfilingUnavailable(_)
        ));
        assert!(matches!(
            classify(tonic::Status::invalid_argument("bad")),
            MarketingError::Profiling {
                code: Code::InvalidArgument,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn an_unreachable_profiling_service_is_unavailable() {
        // Port 1 on loopback refuses connections.
        let settings = caravan_platform::settings::ClientSettings {
            profiling_addr: Some("http://127.0.0.1:1".to_owned()),
            call_timeout_ms: Some(1_000),
        };
        let client = caravan_platform::client::profiling_client(&settings).expect("client");
        let err = ProfileSource::new(client)
            .profile("merchants/acme/customers/c1")
            .await
            .expect_err("nothing listens there");
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), Code::Unavailable);
    }
}
