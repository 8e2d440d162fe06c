//! Why an item was recommended.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReasonKind {
    /// Co-purchased with an item in the customer's history.
    BoughtTogether,
    /// Similar to the customer's taste (latent-factor model).
    SimilarCustomers,
    PopularInCountry,
    PopularInSegment,
    PopularOverall,
    TrendingNow,
    /// Matches a category/brand preference.
    MatchesInterest,
    /// Complements the product being viewed or in the cart.
    Complement,
    /// A replenishable product the customer bought before.
    Replenishment,
}

/// Reason kind, a human-readable text and (when relevant) the related item id or attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub text: String,
    pub related: Option<String>,
}

impl Reason {
    pub fn bought_together(item: &str) -> Self {
        Self {
            kind: ReasonKind::BoughtTogether,
            text: format!("bought together with {item}"),
            related: Some(item.into()),
        }
    }
    pub fn similar_customers(anchor: Option<&str>) -> Self {
        match anchor {
            Some(a) => Self {
                kind: ReasonKind::SimilarCustomers,
                text: format!("customers who bought {a} also bought this"),
                related: Some(a.into()),
            },
            None => Self {
                kind: ReasonKind::SimilarCustomers,
                text: "customers like you bought this".into(),
                related: None,
            },
        }
    }
    pub fn popular_in_country(country: &str) -> Self {
        Self {
            kind: ReasonKind::PopularInCountry,
            text: format!("popular in {country} this month"),
            related: Some(country.into()),
        }
    }
    pub fn popular_in_segment(segment: &str) -> Self {
        Self {
            kind: ReasonKind::PopularInSegment,
            text: format!("popular with {segment} customers"),
            related: Some(segment.into()),
        }
    }
    pub fn popular_overall() -> Self {
        Self {
            kind: ReasonKind::PopularOverall,
            text: "popular right now".into(),
            related: None,
        }
    }
    pub fn trending() -> Self {
        Self {
            kind: ReasonKind::TrendingNow,
            text: "trending this month".into(),
            related: None,
        }
    }
    pub fn complements(item: &str) -> Self {
        Self {
            kind: ReasonKind::Complement,
            text: format!("goes with {item}"),
            related: Some(item.into()),
        }
    }
    pub fn replenishment(item: &str) -> Self {
        Self {
            kind: ReasonKind::Replenishment,
            text: format!("time to restock {item}"),
            related: Some(item.into()),
        }
    }
    pub fn matches_interest(what: &str) -> Self {
        Self {
            kind: ReasonKind::MatchesInterest,
            text: format!("matches your interest in {what}"),
            related: Some(what.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(
            Reason::bought_together("Mug").text,
            "bought together with Mug"
        );
        assert_eq!(
            Reason::popular_in_country("Germany").text,
            "popular in Germany this month"
        );
        assert_eq!(
            Reason::matches_interest("candles").text,
            "matches your interest in candles"
        );
    }
}
