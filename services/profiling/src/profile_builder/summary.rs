//! What a portrait keeps of a customer's events: one tally per dimension, each updated one
//! event at a time and read when the portrait is built. A portrait is a function of its
//! tallies (plus the customer record, contacts and orders, which are read whole), so the
//! events a build needs are those not yet applied, not the customer's whole history.
//!
//! Tallies are applied in event time order: some facts depend on it (a favourite removed
//! after it was added, the first cart addition of a session), so an event older than the
//! latest applied one means the tallies must be built again from all events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::basic::BasicTally;
use super::behaviour::{BehaviourTally, CartsAndOrders};
use super::content::ContentTally;
use super::feedback::FeedbackTally;
use super::opportunity::OpportunityTally;
use super::social::SocialTally;
use super::stage_tally::StageTally;
use super::transactions::TransactionTally;
use super::{ProductInfo, StoredEvent};

/// Every dimension's tally of one customer's events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub event_count: i64,
    pub last_event_time: Option<DateTime<Utc>>,
    pub basic: BasicTally,
    pub behaviour: BehaviourTally,
    pub funnel: CartsAndOrders,
    pub content: ContentTally,
    pub stage: StageTally,
    pub feedback: FeedbackTally,
    pub social: SocialTally,
    pub opportunity: OpportunityTally,
    pub transactions: TransactionTally,
}

impl EventSummary {
    /// The summary of `events` (sorted by occurrence time); `products` names the category
    /// and brand of the products they mention.
    pub fn of(events: &[StoredEvent], products: &HashMap<String, ProductInfo>) -> Self {
        let mut summary = Self::default();
        for e in events {
            summary.apply(e, products);
        }
        summary
    }

    /// Adds one event, which must not be older than [`Self::last_event_time`].
    pub fn apply(&mut self, e: &StoredEvent, products: &HashMap<String, ProductInfo>) {
        self.event_count = self.event_count.saturating_add(1);
        self.last_event_time = self.last_event_time.max(Some(e.occur_time));
        self.basic.apply(e);
        self.behaviour.apply(e);
        self.funnel.apply(e);
        self.content.apply(e, products);
        self.stage.apply(e);
        self.feedback.apply(e);
        self.social.apply(e);
        self.opportunity.apply(e);
        self.transactions.apply(e);
    }

    /// Forgets what no build at or after `now` can use: stage evidence older than the
    /// window before the earlier of `now` and the latest event, less a day. A build's
    /// `as_of` (the merchant's latest event, capped at the clock, read a moment before) is
    /// never earlier than that.
    pub fn forget_before_window(&mut self, now: DateTime<Utc>) {
        let Some(last) = self.last_event_time else {
            return;
        };
        let from = last.min(now) - chrono::Duration::days(super::decision_stage::WINDOW_DAYS + 1);
        self.stage.forget_before(from);
    }
}
