//! Which stored facts count as interactions, and how (pure; the SQL is in
//! `interaction_store`).
//!
//! - Order lines (the `orders` projection): a purchase per line, at the order's time.
//!   A RETURNED order adds a return per line (net zero: bought, then sent back). A CANCELLED
//!   order counts against its items (a return per line): this is also how Online Retail's
//!   `C` cancellation invoices arrive, so the store-fed models see the same cells as the
//!   offline benchmark.
//! - Events: product views, cart adds and favourites (added, not removed) are positive
//!   signals; a `return_goods` event and a review rated 1 or 2 stars count against the item.
//!   Order events are skipped (the projection already has them); other kinds carry no item.
//! - The per-kind weights and the time decay are applied later
//!   ([`crate::engine::interactions::WeightConfig`]).

use caravan_proto::caravan::ingestion::v1::event::Payload;

use crate::engine::interactions::{Interaction, InteractionKind};

/// Event kinds (`events.kind` codes) that can yield an interaction; the loader reads only
/// these.
pub const EVENT_KINDS: [&str; 5] = ["product_view", "cart_add", "favourite", "review", "return"];

/// Highest review rating that counts as negative.
pub const NEGATIVE_RATING: i32 = 2;

/// The SKU of `merchants/{merchant}/products/{sku}` (ingestion stores normalised names).
fn sku(product: &str) -> Option<String> {
    let sku = product.rsplit('/').next()?;
    (!sku.is_empty()).then(|| sku.to_owned())
}

/// The interaction a stored event stands for, if any.
pub fn from_event(customer: &str, time: i64, payload: &Payload) -> Option<Interaction> {
    let (product, kind) = match payload {
        Payload::ProductView(p) => (&p.product, InteractionKind::View),
        Payload::CartAdd(p) => (&p.product, InteractionKind::Cart),
        Payload::Favourite(p) if !p.removed => (&p.product, InteractionKind::Favourite),
        Payload::Review(p) if p.rating >= 1 && p.rating <= NEGATIVE_RATING => {
            (&p.product, InteractionKind::NegativeReview)
        }
        Payload::ReturnGoods(p) => (&p.product, InteractionKind::Return),
        _ => return None,
    };
    Some(Interaction {
        customer: customer.to_owned(),
        item: sku(product)?,
        kind,
        weight: 1.0,
        time,
    })
}

/// The interactions of one order line, by the order's (latest) status.
pub fn from_order_line(customer: &str, sku: &str, status: &str, time: i64) -> Vec<Interaction> {
    let it = |kind| Interaction {
        customer: customer.to_owned(),
        item: sku.to_owned(),
        kind,
        weight: 1.0,
        time,
    };
    match status {
        "CANCELLED" => vec![it(InteractionKind::Return)],
        "RETURNED" => vec![it(InteractionKind::Purchase), it(InteractionKind::Return)],
        _ => vec![it(InteractionKind::Purchase)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravan_proto::caravan::ingestion::v1::{
        CartChangeEvent, FavouriteEvent, OrderEvent, ProductViewEvent, ReturnEvent, ReviewEvent,
    };

    const P: &str = "merchants/acme/products/SKU-1";

    fn kind(p: Payload) -> Option<InteractionKind> {
        from_event("c1", 5, &p).map(|i| {
            assert_eq!(i.item, "SKU-1");
            assert_eq!((i.customer.as_str(), i.time), ("c1", 5));
            i.kind
        })
    }

    #[test]
    fn events_map_to_kinds() {
        let view = Payload::ProductView(ProductViewEvent {
            product: P.into(),
            ..Default::default()
        });
        assert_eq!(kind(view), Some(InteractionKind::View));
        let cart = Payload::CartAdd(CartChangeEvent {
            product: P.into(),
            ..Default::default()
        });
        assert_eq!(kind(cart), Some(InteractionKind::Cart));
        let fav = |removed| {
            Payload::Favourite(FavouriteEvent {
                product: P.into(),
                removed,
            })
        };
        assert_eq!(kind(fav(false)), Some(InteractionKind::Favourite));
        assert_eq!(kind(fav(true)), None, "an unfavourite is no signal");
        let review = |rating| {
            Payload::Review(ReviewEvent {
                product: P.into(),
                rating,
                ..Default::default()
            })
        };
        assert_eq!(kind(review(1)), Some(InteractionKind::NegativeReview));
        assert_eq!(kind(review(2)), Some(InteractionKind::NegativeReview));
        assert_eq!(
            kind(review(4)),
            None,
            "good reviews add nothing beyond the purchase"
        );
        assert_eq!(kind(review(0)), None, "no rating");
        let ret = Payload::ReturnGoods(ReturnEvent {
            product: P.into(),
            ..Default::default()
        });
        assert_eq!(kind(ret), Some(InteractionKind::Return));
        assert_eq!(kind(Payload::Order(OrderEvent::default())), None);
        let empty = Payload::ProductView(ProductViewEvent::default());
        assert!(
            from_event("c1", 5, &empty).is_none(),
            "no product, no signal"
        );
    }

    #[test]
    fn order_status_decides_the_sign() {
        let kinds = |s| {
            from_order_line("c", "s", s, 1)
                .into_iter()
                .map(|i| i.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds("DELIVERED"), vec![InteractionKind::Purchase]);
        assert_eq!(kinds("PLACED"), vec![InteractionKind::Purchase]);
        assert_eq!(kinds("CANCELLED"), vec![InteractionKind::Return]);
        assert_eq!(
            kinds("RETURNED"),
            vec![InteractionKind::Purchase, InteractionKind::Return]
        );
    }
}
