//! `caravan privacy reseal`, profiling's part: re-encrypts stored profiles, event summaries,
//! tag notes and tag-history reasons under the active key (and seals those written before sealing).
//! Page by page, one statement per row, safe to run beside the service and to repeat.

use caravan_store::entity::{customer_tags, profile_event_summaries, profiles, tag_history};
use caravan_store::sea_orm::sea_query::{Expr, ExprTrait as _};
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use caravan_store::sealing;

use crate::error::ProfilingError;
use crate::profile_store::{decode_profile, encode_profile, profile_needs_reseal};
use crate::summary_store;
use crate::tag_store::{HISTORY_REASONS, NOTES};

const PAGE: u64 = 500;

/// Rows rewritten, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub profiles: u64,
    pub event_summaries: u64,
    pub tags: u64,
    pub tag_history: u64,
}

pub async fn reseal(db: &DatabaseConnection) -> Result<Resealed, ProfilingError> {
    Ok(Resealed {
        profiles: profiles_(db).await?,
        event_summaries: summaries_(db).await?,
        tags: tags_(db).await?,
        tag_history: history_(db).await?,
    })
}

fn needs(stored: Option<&String>) -> bool {
    stored.is_some_and(|s| !sealing::is_current(s.as_bytes()))
}

fn resealed(context: &str, merchant: &str, stored: &str) -> Result<String, ProfilingError> {
    let plain = sealing::open_text(context, merchant, stored)
        .map_err(|e| ProfilingError::Corrupt(format!("{context}: {e}")))?;
    Ok(sealing::seal_text(context, merchant, &plain))
}

async fn profiles_(db: &DatabaseConnection) -> Result<u64, ProfilingError> {
    let mut after: Option<(String, String)> = None;
    let mut changed = 0;
    loop {
        let mut query = profiles::Entity::find()
            .order_by_asc(profiles::Column::MerchantId)
            .order_by_asc(profiles::Column::CustomerId)
            .limit(PAGE);
        if let Some((m, c)) = &after {
            query = query.filter(
                profiles::Column::MerchantId
                    .gt(m.as_str())
                    .or(profiles::Column::MerchantId
                        .eq(m.as_str())
                        .and(profiles::Column::CustomerId.gt(c.as_str()))),
            );
        }
        let page = query.all(db).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.merchant_id.clone(), last.customer_id.clone()));
        for row in page
            .into_iter()
            .filter(|r| profile_needs_reseal(&r.dimensions))
        {
            let Some(profile) = decode_profile(&row.merchant_id, &row.dimensions) else {
                return Err(ProfilingError::Corrupt(format!(
                    "profile of merchants/{}/customers/{} does not decode",
                    row.merchant_id, row.customer_id
                )));
            };
            let dimensions = encode_profile(&row.merchant_id, &profile);
            // Only if the profile was not rebuilt since it was read.
            changed += profiles::Entity::update_many()
                .col_expr(profiles::Column::Dimensions, Expr::value(dimensions))
                .filter(profiles::Column::MerchantId.eq(row.merchant_id))
                .filter(profiles::Column::CustomerId.eq(row.customer_id))
                .filter(profiles::Column::UpdatedAt.eq(row.updated_at))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(changed)
}

async fn summaries_(db: &DatabaseConnection) -> Result<u64, ProfilingError> {
    use profile_event_summaries::{Column, Entity};
    let mut after: Option<(String, String)> = None;
    let mut changed = 0;
    loop {
        let mut query = Entity::find()
            .order_by_asc(Column::MerchantId)
            .order_by_asc(Column::CustomerId)
            .limit(PAGE);
        if let Some((m, c)) = &after {
            query = query.filter(
                Column::MerchantId.gt(m.as_str()).or(Column::MerchantId
                    .eq(m.as_str())
                    .and(Column::CustomerId.gt(c.as_str()))),
            );
        }
        let page = query.all(db).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.merchant_id.clone(), last.customer_id.clone()));
        for row in page
            .into_iter()
            .filter(|r| !sealing::is_current(&r.summary))
        {
            let summary = summary_store::resealed(&row.merchant_id, &row.summary)?;
            // Only if the summary was not updated since it was read.
            changed += Entity::update_many()
                .col_expr(Column::Summary, Expr::value(summary))
                .filter(Column::MerchantId.eq(row.merchant_id))
                .filter(Column::CustomerId.eq(row.customer_id))
                .filter(Column::UpdatedAt.eq(row.updated_at))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(changed)
}

async fn tags_(db: &DatabaseConnection) -> Result<u64, ProfilingError> {
    let rows = customer_tags::Entity::find()
        .filter(customer_tags::Column::Note.is_not_null())
        .all(db)
        .await?;
    let mut changed = 0;
    for row in rows.into_iter().filter(|r| needs(r.note.as_ref())) {
        let note = resealed(
            NOTES,
            &row.merchant_id,
            row.note.as_deref().unwrap_or_default(),
        )?;
        // Only if the note is still the one read.
        changed += customer_tags::Entity::update_many()
            .col_expr(customer_tags::Column::Note, Expr::value(Some(note)))
            .filter(customer_tags::Column::MerchantId.eq(row.merchant_id))
            .filter(customer_tags::Column::CustomerId.eq(row.customer_id))
            .filter(customer_tags::Column::TagId.eq(row.tag_id))
            .filter(customer_tags::Column::Note.eq(row.note))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(changed)
}

async fn history_(db: &DatabaseConnection) -> Result<u64, ProfilingError> {
    let mut after = 0i64;
    let mut changed = 0;
    loop {
        let page = tag_history::Entity::find()
            .filter(tag_history::Column::Id.gt(after))
            .order_by_asc(tag_history::Column::Id)
            .limit(PAGE)
            .all(db)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for row in page.into_iter().filter(|r| needs(r.reason.as_ref())) {
            let reason = resealed(
                HISTORY_REASONS,
                &row.merchant_id,
                row.reason.as_deref().unwrap_or_default(),
            )?;
            changed += tag_history::Entity::update_many()
                .col_expr(tag_history::Column::Reason, Expr::value(Some(reason)))
                .filter(tag_history::Column::Id.eq(row.id))
                .filter(tag_history::Column::Reason.eq(row.reason))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(changed)
}
