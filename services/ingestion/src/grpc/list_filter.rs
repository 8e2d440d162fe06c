//! The filters of ingestion's List RPCs: comparisons joined by AND, parsed by the shared
//! AIP-160 parser (so its length, depth and size limits hold), each RPC mapping the fields
//! it supports and refusing the rest by name.

use caravan_core::filter::{Comparison, parse_conjunction};

use crate::error::IngestionError;

/// The comparisons of `filter`, or `INVALID_ARGUMENT` on `filter` saying what is wrong.
pub(crate) fn comparisons(filter: &str) -> Result<Vec<Comparison>, IngestionError> {
    parse_conjunction(filter).map_err(|why| IngestionError::invalid("filter", why))
}

/// `true`/`false` of a boolean field.
pub(crate) fn boolean(c: &Comparison) -> Result<bool, IngestionError> {
    match c.value.text.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(IngestionError::invalid(
            "filter",
            format!("{c}: '{}' is a boolean, true or false", c.field),
        )),
    }
}
