//! Where scoring gets customer profiles: the profiling service, over gRPC, with the caller's
//! trace carried along (the channel's interceptor) and a deadline per call.

use caravan_platform::client::ServiceChannel;
use caravan_proto::caravan::profiling::v1 as profiling;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use tonic::Code;

use crate::error::MarketingError;

#[derive(Clone)]
pub struct ProfileSource {
    client: ProfilingServiceClient<ServiceChannel>,
}

impl ProfileSource {
    pub fn new(client: ProfilingServiceClient<ServiceChannel>) -> Self {
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

/// One page of profiles with the token of the next page and the total count.
pub struct ProfilePage {
    pub profiles: Vec<profiling::Profile>,
    pub next_page_token: String,
    pub total_size: i64,
}

/// Page size used when paging through profiling (its maximum for ListProfiles).
pub const PROFILE_PAGE_SIZE: i32 = 500;

impl ProfileSource {
    /// One page of the merchant's profiles matching an AIP-160 `filter` (ListProfiles).
    #[tracing::instrument(skip(self))]
    pub async fn list_profiles(
        &self,
        parent: &str,
        filter: &str,
        page_token: &str,
    ) -> Result<ProfilePage, MarketingError> {
        let request = profiling::ListProfilesRequest {
            parent: parent.to_owned(),
            page_size: PROFILE_PAGE_SIZE,
            page_token: page_token.to_owned(),
            filter: filter.to_owned(),
            order_by: String::new(),
            view: profiling::ProfileView::Full as i32,
        };
        let mut client = self.client.clone();
        let page = client
            .list_profiles(request)
            .await
            .map_err(|status| filter_refused(&status).unwrap_or_else(|| classify(status)))?
            .into_inner();
        Ok(ProfilePage {
            profiles: page.profiles,
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        })
    }

    /// One page of a segment's members with their profiles (ListSegmentMembers).
    #[tracing::instrument(skip(self))]
    pub async fn segment_members(
        &self,
        segment: &str,
        page_token: &str,
    ) -> Result<ProfilePage, MarketingError> {
        let request = profiling::ListSegmentMembersRequest {
            parent: segment.to_owned(),
            page_size: PROFILE_PAGE_SIZE,
            page_token: page_token.to_owned(),
            view: profiling::ProfileView::Full as i32,
            order_by: String::new(),
        };
        let mut client = self.client.clone();
        let page = client
            .list_segment_members(request)
            .await
            .map_err(classify)?
            .into_inner();
        Ok(ProfilePage {
            profiles: page
                .members
                .into_iter()
                .filter_map(|m| {
                    m.profile.map(|mut p| {
                        if p.customer.is_empty() {
                            p.customer = m.customer;
                        }
                        p
                    })
                })
                .collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size,
        })
    }
}

/// How long to wait when profiling refused a read under load without saying how long.
const BUSY_RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Profiling's verdict on a filter the caller wrote (field types, unknown fields), as the
/// caller's own `filter` violation.
fn filter_refused(status: &tonic::Status) -> Option<MarketingError> {
    let violations = caravan_platform::status::violations_of(status)?;
    let only_filter = violations.iter().all(|v| v.field == "filter");
    only_filter.then_some(MarketingError::Invalid(violations))
}

/// Availability problems become `ProfilingUnavailable` (so callers get UNAVAILABLE with
/// retry information), a refusal under load `ProfilingBusy` (RESOURCE_EXHAUSTED with
/// profiling's own retry delay); anything else (e.g. NOT_FOUND for a customer without a
/// profile) keeps its code and profiling's message.
fn classify(status: tonic::Status) -> MarketingError {
    match status.code() {
        Code::ResourceExhausted => MarketingError::ProfilingBusy {
            message: status.message().to_owned(),
            retry_after: caravan_platform::status::retry_delay_of(&status)
                .unwrap_or(BUSY_RETRY_AFTER),
        },
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            MarketingError::ProfilingUnavailable(status.message().to_owned())
        }
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
        let shed = caravan_platform::status::resource_exhausted(
            "too many calls",
            std::time::Duration::from_millis(40),
        );
        let busy = tonic::Status::from(classify(shed));
        assert_eq!(busy.code(), Code::ResourceExhausted);
        assert_eq!(
            caravan_platform::status::retry_delay_of(&busy),
            Some(std::time::Duration::from_millis(40))
        );
        assert!(matches!(
            classify(tonic::Status::invalid_argument("bad")),
            MarketingError::Profiling {
                code: Code::InvalidArgument,
                ..
            }
        ));
    }

    #[test]
    fn profilings_filter_verdict_is_the_callers_filter_violation() {
        let mut v = caravan_platform::FieldViolations::new();
        v.add("filter", "unknown field 'x'");
        let status = caravan_platform::status::invalid_argument(&v);
        match filter_refused(&status) {
            Some(MarketingError::Invalid(got)) => assert_eq!(got, v),
            other => panic!("{other:?}"),
        }
        let mut parent = caravan_platform::FieldViolations::new();
        parent.add("parent", "bad");
        assert!(filter_refused(&caravan_platform::status::invalid_argument(&parent)).is_none());
        assert!(filter_refused(&tonic::Status::invalid_argument("no details")).is_none());
    }

    #[tokio::test]
    async fn an_unreachable_profiling_service_is_unavailable() {
        // Port 1 on loopback refuses connections.
        let settings = caravan_platform::settings::ClientSettings {
            profiling_addr: Some("http://127.0.0.1:1".to_owned()),
            call_timeout_ms: Some(1_000),
            ..Default::default()
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
