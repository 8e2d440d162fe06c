//! Exporting everything held about a customer (GDPR Art. 15 and 20): the customer and the
//! customers merged into it, contacts, events, orders, identity merges, marketing contacts
//! and the access log from the store; the profile and tags from the profiling service,
//! which owns how they look. Parts go out one by one through a bounded channel, so a
//! customer with a long history is streamed, not held in memory.

use caravan_access::{AccessAction, AccessRecord, Principal, access_log};
use caravan_core::names::MerchantId;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1::Money;
use caravan_proto::caravan::marketing::v1::ContactRecord;
use caravan_proto::caravan::privacy::v1 as pb;
use caravan_proto::caravan::privacy::v1::export_customer_data_response::Part;
use caravan_proto::caravan::profiling::v1 as profiling_pb;
use caravan_store::entity::{contact_log, order_lines, orders};
use tokio::sync::mpsc;
use tonic::Code;

use super::export_store;
use crate::contact_rules::contact_to_proto;
use crate::customer_store;
use crate::error::IngestionError;
use crate::grpc::IngestionApi;
use crate::grpc::customers::{merge_to_proto, to_proto};
use crate::grpc::events::event_to_proto;
use crate::merchant_store;

/// The RPC whose uses the access log records.
const EXPORT_RPC: &str = "/caravan.privacy.v1.PrivacyService/ExportCustomerData";

/// One export: whose data, for whom, in clear or masked.
pub struct ExportRequest {
    pub merchant: MerchantId,
    pub customer_id: String,
    pub reveal: bool,
    pub caller: Principal,
    /// The caller's own `authorization`, for the calls to profiling: they act for the
    /// caller (its scopes, its access log entries), not for this service.
    pub credential: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

/// Where the parts go; `Err` when the receiver (the caller) is gone.
pub type PartSink = mpsc::Sender<Result<pb::ExportCustomerDataResponse, tonic::Status>>;

struct Parts<'a> {
    sink: &'a PartSink,
    summary: pb::ExportSummary,
}

impl Parts<'_> {
    async fn send(&mut self, part: Part) -> Result<(), IngestionError> {
        let count = match &part {
            Part::Customer(_) => &mut self.summary.customer_count,
            Part::Contact(_) => &mut self.summary.contact_count,
            Part::Event(_) => &mut self.summary.event_count,
            Part::Order(_) => &mut self.summary.order_count,
            Part::Profile(_) => &mut self.summary.profile_count,
            Part::Tag(_) => &mut self.summary.tag_count,
            Part::TagHistoryEntry(_) => &mut self.summary.tag_history_entry_count,
            Part::IdentityMerge(_) => &mut self.summary.identity_merge_count,
            Part::MarketingContact(_) => &mut self.summary.marketing_contact_count,
            Part::AccessLogEntry(_) => &mut self.summary.access_log_entry_count,
            Part::FailedEvent(_) => &mut self.summary.failed_event_count,
            Part::Summary(_) => &mut self.summary.customer_count,
        };
        if !matches!(part, Part::Summary(_)) {
            *count += 1;
        }
        self.sink
            .send(Ok(pb::ExportCustomerDataResponse { part: Some(part) }))
            .await
            .map_err(|_| {
                IngestionError::Unavailable("the caller went away during the export".to_owned())
            })
    }
}

/// Streams the export into `sink`. The access log entry is written before anything is sent.
pub async fn export(
    api: &IngestionApi,
    request: ExportRequest,
    sink: &PartSink,
) -> Result<(), IngestionError> {
    let merchant_id = request.merchant.as_str();
    let merchant = merchant_store::get(&api.db, merchant_id).await?;
    let customer = customer_store::get(&api.db, merchant_id, &request.customer_id).await?;
    let profiling = api.profiling.clone().ok_or_else(|| {
        IngestionError::Unavailable(
            "exports need the profiling service (clients.profiling_addr)".to_owned(),
        )
    })?;
    access_log::record(
        &api.db,
        AccessRecord {
            principal: &request.caller,
            merchant: &request.merchant,
            customer_id: &request.customer_id,
            rpc: EXPORT_RPC,
            action: AccessAction::Export,
        },
    )
    .await?;
    let mut parts = Parts {
        sink,
        summary: pb::ExportSummary::default(),
    };
    let merged = export_store::merged_into(&api.db, merchant_id, &customer.id).await?;
    let mut ids = vec![customer.id.clone()];
    ids.extend(merged.iter().map(|c| c.id.clone()));
    for row in std::iter::once(&customer).chain(&merged) {
        parts
            .send(Part::Customer(to_proto(api, row, request.reveal).await?))
            .await?;
    }
    for row in export_store::contacts(&api.db, merchant_id, &ids).await? {
        parts
            .send(Part::Contact(contact_to_proto(&row, request.reveal)))
            .await?;
    }
    let mut after = 0;
    loop {
        let page = export_store::events_after(&api.db, merchant_id, &ids, after).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for row in page {
            parts
                .send(Part::Event(event_to_proto(api, &merchant, row).await?))
                .await?;
        }
    }
    for failed in crate::grpc::failed_events::for_customers(api, merchant_id, &ids).await? {
        parts.send(Part::FailedEvent(failed)).await?;
    }
    for (order, lines) in export_store::orders(&api.db, merchant_id, &ids).await? {
        parts
            .send(Part::Order(order_to_proto(order, lines)))
            .await?;
    }
    send_profile_and_tags(profiling, &request, &mut parts).await?;
    for row in export_store::identity_merges(&api.db, merchant_id, &ids).await? {
        parts
            .send(Part::IdentityMerge(merge_to_proto(&row, &[], 0)))
            .await?;
    }
    for row in export_store::marketing_contacts(&api.db, merchant_id, &ids).await? {
        parts
            .send(Part::MarketingContact(contact_record(row)))
            .await?;
    }
    for row in access_log::for_customers(&api.db, &request.merchant, &ids).await? {
        let entry = caravan_access::admin_api::entry_to_proto(&request.merchant, row);
        parts.send(Part::AccessLogEntry(entry)).await?;
    }
    let mut summary = parts.summary;
    summary.export_time = Some(to_timestamp(chrono::Utc::now()));
    parts.send(Part::Summary(summary)).await
}

/// The profile (FULL view), tags and tag history, as profiling serves them.
async fn send_profile_and_tags(
    mut profiling: crate::grpc::ProfilingClient,
    request: &ExportRequest,
    parts: &mut Parts<'_>,
) -> Result<(), IngestionError> {
    let customer = customer_store::customer_name(request.merchant.as_str(), &request.customer_id);
    let unavailable = |what: &str, status: tonic::Status| {
        IngestionError::Unavailable(format!(
            "profiling could not provide the {what}: {}",
            status.message()
        ))
    };
    match profiling
        .get_profile(delegated(
            &request.credential,
            profiling_pb::GetProfileRequest {
                name: format!("{customer}/profile"),
                view: profiling_pb::ProfileView::Full as i32,
                reveal_pii: request.reveal,
            },
        ))
        .await
    {
        Ok(profile) => parts.send(Part::Profile(profile.into_inner())).await?,
        // Not built yet (a customer without events, or one a moment old).
        Err(status) if status.code() == Code::NotFound => {}
        Err(status) => return Err(unavailable("profile", status)),
    }
    let mut token = String::new();
    loop {
        let page = profiling
            .list_tags(delegated(
                &request.credential,
                profiling_pb::ListTagsRequest {
                    parent: customer.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .map_err(|s| unavailable("tags", s))?
            .into_inner();
        for tag in page.tags {
            parts.send(Part::Tag(tag)).await?;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut token = String::new();
    loop {
        let page = profiling
            .list_tag_history(delegated(
                &request.credential,
                profiling_pb::ListTagHistoryRequest {
                    parent: customer.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .map_err(|s| unavailable("tag history", s))?
            .into_inner();
        for entry in page.entries {
            parts.send(Part::TagHistoryEntry(entry)).await?;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(())
}

/// A call to profiling that presents the exporting caller's own credential.
fn delegated<T>(
    credential: &Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    message: T,
) -> tonic::Request<T> {
    let mut call = tonic::Request::new(message);
    if let Some(credential) = credential {
        call.metadata_mut()
            .insert("authorization", credential.clone());
    }
    call
}

fn money(currency: &str, amount_minor: i64) -> Money {
    Money {
        currency_code: currency.to_owned(),
        amount_minor,
    }
}

fn order_to_proto(order: orders::Model, lines: Vec<order_lines::Model>) -> pb::ExportedOrder {
    let product = |sku: &str| format!("merchants/{}/products/{sku}", order.merchant_id);
    pb::ExportedOrder {
        lines: lines
            .iter()
            .map(|l| pb::ExportedOrderLine {
                line_number: l.line_no,
                product: product(&l.sku),
                quantity: l.quantity,
                unit_price: Some(money(&order.currency, l.unit_price_minor)),
            })
            .collect(),
        order_id: order.order_id.clone(),
        status: order.status.clone(),
        place_time: Some(to_timestamp(order.placed_at.get())),
        update_time: Some(to_timestamp(order.updated_at.get())),
        total: Some(money(&order.currency, order.total_minor)),
        base_total: order
            .base_total_minor
            .zip(order.base_currency.as_deref())
            .map(|(amount, currency)| money(currency, amount)),
        discount: order.discount_minor.map(|d| money(&order.currency, d)),
        coupon_code: order.coupon_code.clone().unwrap_or_default(),
        payment_method: order.payment_method.clone().unwrap_or_default(),
        payment_outcome: order.payment_outcome.clone().unwrap_or_default(),
        carrier: order.carrier.clone().unwrap_or_default(),
        promised_days: order.promised_days.unwrap_or(0),
        actual_days: order.actual_days.unwrap_or(0),
        shipping_cost: order.shipping_cost_minor.map(|c| money(&order.currency, c)),
        tracking_offered: order.tracking_offered.unwrap_or(false),
        destination_country_code: order.destination_country.clone().unwrap_or_default(),
    }
}

fn contact_record(row: contact_log::Model) -> ContactRecord {
    let merchant = &row.merchant_id;
    ContactRecord {
        customer: customer_store::customer_name(merchant, &row.customer_id),
        strategy: format!("merchants/{merchant}/strategies/{}", row.strategy_id),
        campaign: row
            .campaign_id
            .map(|c| format!("merchants/{merchant}/campaigns/{c}"))
            .unwrap_or_default(),
        contact_time: Some(to_timestamp(row.contacted_at.get())),
    }
}
