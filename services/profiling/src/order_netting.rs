//! Netting credit notes: a cancellation that arrives as an order of its own, without naming
//! the order it reverses (UCI Online Retail's `C` invoices; `OrderEvent.credit_note`), is
//! matched to the customer's orders it can only have reversed: the latest orders placed at
//! or before it that hold the same products, quantity by quantity. The revenue of every
//! figure (profile, RFM, value models) is net of what was matched, and an order whose every
//! unit was reversed is no purchase at all. This module is the one owner of that rule; the
//! readers ask it (`order_netting_store` loads what it needs).
//!
//! Quantities a credit note cannot match (its order was placed before the data begins) are
//! left unmatched: they reverse nothing the data holds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// One order of a customer with its lines, as the netting needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLines {
    pub order_id: String,
    pub placed_at: DateTime<Utc>,
    /// A credit note (reverses others) rather than a sale.
    pub credit_note: bool,
    /// A sale that counts (not cancelled); only those can be reversed.
    pub counts: bool,
    /// `(sku, quantity, unit price in minor units)`.
    pub lines: Vec<(String, i64, i64)>,
}

/// What credit notes reversed of one order.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reversal {
    /// Share of the order's line value reversed, 0..=1.
    pub share: f64,
    /// Every unit of the order was reversed: it is no purchase.
    pub entire: bool,
}

impl Reversal {
    /// `amount` (the order's total, in any currency) net of the reversed share.
    pub fn net(&self, amount: i64) -> i64 {
        if self.entire {
            return 0;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let net = (amount as f64 * (1.0 - self.share)).round() as i64;
        net.clamp(0.min(amount), amount.max(0))
    }
}

/// Units of one product still unreversed on one sale, at the sale's unit price.
struct Open {
    sku: String,
    units: i64,
    unit_price: i64,
}

/// The reversals of one customer's `orders` (any order), by order id; orders nothing
/// reversed are absent.
pub fn reversals(orders: &[OrderLines]) -> HashMap<String, Reversal> {
    let mut sales: Vec<&OrderLines> = orders.iter().filter(|o| o.counts).collect();
    sales.sort_by_key(|o| o.placed_at);
    let mut open: Vec<Vec<Open>> = sales.iter().map(|o| open_lines(o)).collect();
    let mut reversed_value = vec![0i128; sales.len()];
    let mut touched = vec![false; sales.len()];
    let mut notes: Vec<&OrderLines> = orders.iter().filter(|o| o.credit_note).collect();
    notes.sort_by_key(|o| o.placed_at);
    for note in notes {
        for (sku, quantity, _) in &note.lines {
            let mut wanted = (*quantity).max(0);
            // Latest sale first: a cancellation most often follows the order it cancels.
            for k in (0..sales.len()).rev() {
                if wanted == 0 {
                    break;
                }
                if sales[k].placed_at > note.placed_at {
                    continue;
                }
                for line in open[k].iter_mut().filter(|l| &l.sku == sku) {
                    let taken = wanted.min(line.units);
                    line.units -= taken;
                    wanted -= taken;
                    touched[k] |= taken > 0;
                    reversed_value[k] += i128::from(taken) * i128::from(line.unit_price);
                }
            }
        }
    }
    let mut out = HashMap::new();
    for (k, sale) in sales.iter().enumerate() {
        if !touched[k] {
            continue;
        }
        let total: i128 = sale
            .lines
            .iter()
            .map(|(_, q, p)| i128::from((*q).max(0)) * i128::from(*p))
            .sum();
        let entire = !sale.lines.is_empty() && open[k].iter().all(|l| l.units == 0);
        #[allow(clippy::cast_precision_loss)]
        let share = if total > 0 {
            (reversed_value[k] as f64 / total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        out.insert(sale.order_id.clone(), Reversal { share, entire });
    }
    out
}

fn open_lines(order: &OrderLines) -> Vec<Open> {
    order
        .lines
        .iter()
        .map(|(sku, quantity, unit_price)| Open {
            sku: sku.clone(),
            units: (*quantity).max(0),
            unit_price: *unit_price,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_291_161_600 + day * 86_400, 0).expect("time")
    }

    fn sale(id: &str, day: i64, lines: &[(&str, i64, i64)]) -> OrderLines {
        order(id, day, lines, false)
    }

    fn note(id: &str, day: i64, lines: &[(&str, i64, i64)]) -> OrderLines {
        order(id, day, lines, true)
    }

    fn order(id: &str, day: i64, lines: &[(&str, i64, i64)], credit_note: bool) -> OrderLines {
        OrderLines {
            order_id: id.to_owned(),
            placed_at: at(day),
            credit_note,
            counts: !credit_note,
            lines: lines
                .iter()
                .map(|(s, q, p)| ((*s).to_owned(), *q, *p))
                .collect(),
        }
    }

    /// Customer 12346 of Online Retail: 74,215 units of 23166 at £1.04, cancelled in full
    /// minutes later by C541433.
    #[test]
    fn a_whole_order_cancelled_by_a_credit_note_is_no_purchase() {
        let orders = [
            sale("541431", 0, &[("23166", 74_215, 104)]),
            note("C541433", 0, &[("23166", 74_215, 104)]),
        ];
        let r = reversals(&orders);
        assert_eq!(
            r["541431"],
            Reversal {
                share: 1.0,
                entire: true
            }
        );
        assert_eq!(r["541431"].net(7_718_360), 0);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_partial_return_in_a_later_period_reduces_the_revenue() {
        let orders = [
            sale("a", 0, &[("mug", 10, 200), ("lamp", 1, 3_000)]),
            note("c", 40, &[("mug", 4, 200)]),
        ];
        let r = reversals(&orders)["a"];
        assert!(!r.entire);
        assert!((r.share - 800.0 / 5_000.0).abs() < 1e-12);
        assert_eq!(r.net(5_000), 4_200);
    }

    #[test]
    fn the_latest_earlier_sale_is_reversed_first_and_later_sales_never() {
        let orders = [
            sale("old", 0, &[("mug", 5, 100)]),
            sale("recent", 10, &[("mug", 5, 100)]),
            note("c", 12, &[("mug", 7, 100)]),
            sale("after", 20, &[("mug", 5, 100)]),
        ];
        let r = reversals(&orders);
        assert!(r["recent"].entire);
        assert!(!r["old"].entire && (r["old"].share - 0.4).abs() < 1e-12);
        assert!(
            !r.contains_key("after"),
            "a credit note cannot reverse a later sale"
        );
    }

    #[test]
    fn what_cannot_be_matched_reverses_nothing() {
        // The cancelled order was placed before the data begins; another product.
        let orders = [
            sale("a", 5, &[("mug", 2, 100)]),
            note("c", 6, &[("plate", 3, 400)]),
            note("d", 1, &[("mug", 2, 100)]),
        ];
        assert!(reversals(&orders).is_empty());
    }

    #[test]
    fn cancelled_sales_are_not_reversed_again() {
        // An unpaid order cancelled with its own id (status CANCELLED): not a sale.
        let mut unpaid = sale("unpaid", 0, &[("mug", 2, 100)]);
        unpaid.counts = false;
        let orders = [
            unpaid,
            sale("paid", 1, &[("mug", 2, 100)]),
            note("c", 2, &[("mug", 2, 100)]),
        ];
        let r = reversals(&orders);
        assert!(r["paid"].entire && !r.contains_key("unpaid"));
    }

    #[test]
    fn the_same_product_on_several_lines_is_reversed_line_by_line() {
        let orders = [
            sale("a", 0, &[("mug", 2, 100), ("mug", 3, 90)]),
            note("c", 1, &[("mug", 4, 100)]),
        ];
        let r = reversals(&orders)["a"];
        assert!(!r.entire);
        // 2 × 100 + 2 × 90 of 470.
        assert!((r.share - 380.0 / 470.0).abs() < 1e-12);
    }
}
