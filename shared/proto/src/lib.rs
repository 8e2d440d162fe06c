//! Generated Rust code for every Caravan v1 protobuf contract (`/proto` at the workspace
//! root): prost messages and enums, tonic clients (`*_client`) and servers (`*_server`).
//!
//! Module layout mirrors the protobuf packages:
//! - [`caravan::common::v1`] — Money, Date, CustomerIdentifier and shared enums.
//! - [`caravan::ingestion::v1`] — `IngestionService` (merchants, customers, contacts,
//!   products, events, exchange rates).
//! - [`caravan::profiling::v1`] — `ProfilingService` (profiles, tags, segments, value
//!   models, sentiment, analytics).
//! - [`caravan::recommendation::v1`] — `RecommendationService`.
//! - [`caravan::marketing::v1`] — `StrategyScoringService`.
//! - [`caravan::privacy::v1`] — `PrivacyService` (exports of a customer's data).
//! - [`caravan::access::v1`] — `AccessService` (API keys, access log); every RPC of every
//!   service carries its access rule (`caravan.common.v1.access`).
//!
//! [`FILE_DESCRIPTOR_SET`] holds the encoded `FileDescriptorSet` of all of them (for
//! `tonic-reflection`), and [`SERVICE_NAMES`] the fully-qualified service names (for
//! health checks and reflection).

pub mod stored_event;

/// Protobuf package `caravan`.
pub mod caravan {
    /// Protobuf packages `caravan.access.*`.
    pub mod access {
        /// Protobuf package `caravan.access.v1`: API keys and the access log.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.access.v1");
        }
    }

    /// Protobuf packages `caravan.common.*`.
    pub mod common {
        /// Protobuf package `caravan.common.v1`: shared messages and enums.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.common.v1");
        }
    }

    /// Protobuf packages `caravan.ingestion.*`.
    pub mod ingestion {
        /// Protobuf package `caravan.ingestion.v1`: the ingestion service contract.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.ingestion.v1");
        }
    }

    /// Protobuf packages `caravan.profiling.*`.
    pub mod profiling {
        /// Protobuf package `caravan.profiling.v1`: the profiling service contract.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.profiling.v1");
        }
    }

    /// Protobuf packages `caravan.privacy.*`.
    pub mod privacy {
        /// Protobuf package `caravan.privacy.v1`: exports of a customer's data.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.privacy.v1");
        }
    }

    /// Protobuf packages `caravan.recommendation.*`.
    pub mod recommendation {
        /// Protobuf package `caravan.recommendation.v1`: the recommendation service contract.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.recommendation.v1");
        }
    }

    /// Protobuf packages `caravan.marketing.*`.
    pub mod marketing {
        /// Protobuf package `caravan.marketing.v1`: the strategy scoring service contract.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
        pub mod v1 {
            tonic::include_proto!("caravan.marketing.v1");
        }
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of every Caravan proto file (and the
/// well-known types they import), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/caravan_descriptor.bin"));

/// Fully-qualified names of the four Caravan gRPC services.
pub const SERVICE_NAMES: [&str; 4] = [
    "caravan.ingestion.v1.IngestionService",
    "caravan.profiling.v1.ProfilingService",
    "caravan.recommendation.v1.RecommendationService",
    "caravan.marketing.v1.StrategyScoringService",
];

/// The access administration service (API keys, access log), served beside ingestion.
pub const ACCESS_SERVICE_NAME: &str = "caravan.access.v1.AccessService";

/// Exports of a customer's data, served beside ingestion.
pub const PRIVACY_SERVICE_NAME: &str = "caravan.privacy.v1.PrivacyService";

/// Every Caravan gRPC service: the four above, [`ACCESS_SERVICE_NAME`] and
/// [`PRIVACY_SERVICE_NAME`].
pub const ALL_SERVICE_NAMES: [&str; 6] = [
    SERVICE_NAMES[0],
    SERVICE_NAMES[1],
    SERVICE_NAMES[2],
    SERVICE_NAMES[3],
    ACCESS_SERVICE_NAME,
    PRIVACY_SERVICE_NAME,
];

#[cfg(test)]
mod tests {
    use super::{ALL_SERVICE_NAMES, FILE_DESCRIPTOR_SET};
    use prost::Message;
    use prost_types::FileDescriptorSet;

    #[test]
    fn descriptor_set_contains_every_service() {
        let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("valid descriptor set");
        let mut services = Vec::new();
        for file in &set.file {
            for service in &file.service {
                services.push(format!("{}.{}", file.package(), service.name()));
            }
        }
        services.sort();
        let mut expected: Vec<String> = ALL_SERVICE_NAMES.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        assert_eq!(services, expected);
    }

    #[test]
    fn generated_names_are_stable() {
        use super::caravan::ingestion::v1 as ingestion;
        // Oneofs become nested enums named after the oneof; the `return` event kind is
        // called `return_goods` in the contract because `return` is a keyword.
        let event = ingestion::Event {
            payload: Some(ingestion::event::Payload::ReturnGoods(
                ingestion::ReturnEvent::default(),
            )),
            ..Default::default()
        };
        assert!(event.payload.is_some());
        let customer = ingestion::Customer {
            details: Some(ingestion::customer::Details::Person(
                ingestion::PersonDetails {
                    age: Some(ingestion::person_details::Age::BirthYear(1990)),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        assert!(customer.details.is_some());
        assert_eq!(
            super::caravan::common::v1::AgeBand::AgeBand18To24.as_str_name(),
            "AGE_BAND_18_TO_24"
        );
    }
}
