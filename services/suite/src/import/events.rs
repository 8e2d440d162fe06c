//! Proto messages built from parsed Online Retail data (pure).

use std::collections::HashMap;

use caravan_proto::caravan::common::v1::{CustomerKind, Money};
use caravan_proto::caravan::ingestion::v1::{
    Customer, Event, LogisticsInfo, OrderEvent, OrderLine, OrderStatus, PersonDetails, Product,
    customer, event,
};

use super::country_names;
use super::online_retail::{CURRENCY, CustomerInfo, Invoice, ProductInfo};

/// `source` of every event and customer from Online Retail.
pub const SOURCE: &str = "uci-online-retail";

/// The idempotency key of an invoice's event.
pub fn event_id(invoice: &Invoice) -> String {
    if invoice.cancellation {
        format!("uci-cancel-{}", invoice.number)
    } else {
        format!("uci-order-{}", invoice.number)
    }
}

fn gbp(amount_minor: i64) -> Money {
    Money {
        currency_code: CURRENCY.to_owned(),
        amount_minor,
    }
}

/// One order event per invoice: PLACED for a sale; a `C` invoice is a credit note, CANCELLED,
/// which revenue nets against the customer's earlier orders of the same products.
pub fn order_event(invoice: &Invoice) -> Event {
    let status = if invoice.cancellation {
        OrderStatus::Cancelled
    } else {
        OrderStatus::Placed
    };
    let logistics = country_names::lookup(&invoice.country)
        .code()
        .map(|code| LogisticsInfo {
            destination_country_code: code,
            ..LogisticsInfo::default()
        });
    Event {
        event_id: event_id(invoice),
        customer: invoice.customer_id.clone(),
        occur_time: Some(prost_types::Timestamp {
            seconds: invoice.occur_utc,
            nanos: 0,
        }),
        source: SOURCE.to_owned(),
        payload: Some(event::Payload::Order(OrderEvent {
            order_id: invoice.number.clone(),
            status: status as i32,
            lines: invoice
                .lines
                .iter()
                .map(|line| OrderLine {
                    product: line.product_id.clone(),
                    quantity: line.quantity,
                    unit_price: Some(gbp(line.unit_price_minor)),
                })
                .collect(),
            total: Some(gbp(invoice.total_minor())),
            logistics,
            credit_note: invoice.cancellation,
            ..OrderEvent::default()
        })),
        ..Event::default()
    }
}

/// A catalogue entry; the original StockCode is kept as an attribute when it had to change.
pub fn product(merchant: &str, info: &ProductInfo) -> Product {
    let mut attributes = HashMap::new();
    if info.product_id != info.stock_code {
        attributes.insert("stock_code".to_owned(), info.stock_code.clone());
    }
    Product {
        name: format!("merchants/{merchant}/products/{}", info.product_id),
        title: info.title.clone(),
        price: info.price_minor.map(gbp),
        active: true,
        attributes,
        ..Product::default()
    }
}

/// A PERSON customer with the ISO code of their main country (none when unmappable).
pub fn customer(info: &CustomerInfo) -> Customer {
    Customer {
        kind: CustomerKind::Person as i32,
        details: Some(customer::Details::Person(PersonDetails {
            country_code: country_names::lookup(&info.country)
                .code()
                .unwrap_or_default(),
            ..PersonDetails::default()
        })),
        source: SOURCE.to_owned(),
        ..Customer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::online_retail::Line;

    fn invoice(number: &str, country: &str) -> Invoice {
        Invoice {
            number: number.into(),
            cancellation: number.starts_with('C'),
            customer_id: "12346".into(),
            country: country.into(),
            occur_utc: 1_291_191_960,
            lines: vec![
                Line {
                    source_line: 2,
                    product_id: "23166".into(),
                    quantity: 3,
                    unit_price_minor: 104,
                },
                Line {
                    source_line: 3,
                    product_id: "POST".into(),
                    quantity: 1,
                    unit_price_minor: 1800,
                },
            ],
        }
    }

    #[test]
    fn an_invoice_becomes_a_placed_order() {
        let event = order_event(&invoice("541431", "EIRE"));
        assert_eq!(event.event_id, "uci-order-541431");
        assert_eq!(event.customer, "12346");
        assert_eq!(event.source, SOURCE);
        assert_eq!(event.occur_time.map(|t| t.seconds), Some(1_291_191_960));
        let Some(event::Payload::Order(order)) = event.payload else {
            panic!("an order payload");
        };
        assert_eq!(order.order_id, "541431");
        assert_eq!(order.status, OrderStatus::Placed as i32);
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.lines[0].unit_price, Some(gbp(104)));
        assert_eq!(order.total, Some(gbp(3 * 104 + 1800)));
        assert_eq!(
            order.logistics.map(|l| l.destination_country_code),
            Some("IE".to_owned())
        );
    }

    #[test]
    fn a_c_invoice_becomes_a_cancelled_order_without_unknown_country() {
        let event = order_event(&invoice("C541433", "European Community"));
        assert_eq!(event.event_id, "uci-cancel-C541433");
        let Some(event::Payload::Order(order)) = event.payload else {
            panic!("an order payload");
        };
        assert_eq!(order.status, OrderStatus::Cancelled as i32);
        assert!(order.credit_note, "a C invoice is a credit note");
        assert_eq!(order.order_id, "C541433");
        assert!(order.lines.iter().all(|l| l.quantity > 0));
        assert_eq!(order.logistics, None);
    }

    #[test]
    fn products_and_customers() {
        let p = product(
            "acme",
            &ProductInfo {
                product_id: "BANK_CHARGES".into(),
                stock_code: "BANK CHARGES".into(),
                title: "Bank Charges".into(),
                price_minor: Some(1500),
            },
        );
        assert_eq!(p.name, "merchants/acme/products/BANK_CHARGES");
        assert_eq!(
            p.attributes.get("stock_code").map(String::as_str),
            Some("BANK CHARGES")
        );
        assert!(p.active);
        let c = customer(&CustomerInfo {
            customer_id: "12346".into(),
            country: "RSA".into(),
        });
        assert_eq!(c.kind, CustomerKind::Person as i32);
        let Some(customer::Details::Person(person)) = c.details else {
            panic!("a person");
        };
        assert_eq!(person.country_code, "ZA");
    }
}
