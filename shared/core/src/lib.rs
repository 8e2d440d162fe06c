//! Caravan's shared vocabulary, free of gRPC and SQL: ISO country and currency codes
//! ([`iso`]), AIP-122 resource names ([`names`]), AIP-158 page tokens ([`paging`]) and the
//! AIP-160 filter language with its limits ([`filter`]) and its equality subset
//! ([`equality_filter`]), AIP-132 `order_by` ([`order_by`]), sums of money that cannot wrap ([`money`]), the
//! process-wide stopping flag for long computations ([`shutdown`]), a merchant's calendar
//! ([`time_zone`]).

pub mod equality_filter;
pub mod filter;
pub mod iso;
mod iso_codes;
pub mod money;
pub mod names;
pub mod order_by;
pub mod paging;
pub mod pii_mask;
pub mod shutdown;
pub mod time_zone;
