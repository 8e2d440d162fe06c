//! Caravan's shared vocabulary, free of gRPC and SQL: ISO country and currency codes
//! ([`iso`]), AIP-122 resource names ([`names`]), AIP-158 page tokens ([`paging`]) and the
//! equality subset of AIP-160 filters ([`equality_filter`]), sums of money that cannot wrap
//! ([`money`]).

pub mod equality_filter;
pub mod iso;
mod iso_codes;
pub mod money;
pub mod names;
pub mod paging;
pub mod pii_mask;
