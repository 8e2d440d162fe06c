//! What every Caravan service shares: configuration ([`settings`]), secrets ([`secret`]),
//! logs and traces ([`telemetry`], [`trace_context`]), the gRPC server ([`server`]) and
//! clients ([`client`]), `google.rpc` error details ([`status`]), Prometheus metrics
//! ([`metrics`]), and the `main` of a single-service binary ([`binary`]).

pub mod binary;
pub mod client;
pub mod database;
mod decode_errors;
pub mod encryption;
pub mod guard;
pub mod load_shed;
pub mod metrics;
pub mod middleware;
pub mod proto_time;
mod readiness;
pub mod repeated_limit;
pub mod secret;
pub mod server;
pub mod settings;
pub mod status;
pub mod telemetry;
pub mod trace_context;

pub use secret::Secret;
pub use settings::Settings;
pub use status::FieldViolations;
