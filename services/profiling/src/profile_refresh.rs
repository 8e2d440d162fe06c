//! Recomputing profiles: load the customers' data, build, save, then refresh the
//! merchant-wide RFM scores. Shared by the outbox consumer and rebuild jobs. Recomputing
//! a customer from all their events makes every update idempotent, so at-least-once
//! delivery from the outbox is safe.

use std::collections::HashSet;

use caravan_store::sea_orm::DatabaseConnection;

use crate::error::ProfilingError;
use crate::fitted_value_model::DEFAULT_HORIZON_DAYS;
use crate::merchant_refresh::refresh_rfm;
use crate::profile_builder::{BuildContext, BuiltProfile, CustomerData, build};
use crate::profile_store::{delete_derived, existing, load_customers, merchant_context, save_many};
use crate::value_model_store;

/// Customers rebuilt per load (one round of batched queries). A chunk's events are in
/// memory at once, decoded (about 300 per customer after a while of streaming): with 50
/// instead of 200 the process's RSS under a steady stream was about 15 MiB lower
/// (BENCHMARKS.md, mixed load, second round), for a few more queries per poll.
pub const CHUNK: usize = 50;

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub rebuilt: u64,
    /// Customers that no longer exist (erased or merged away) whose derived data was removed.
    pub removed: u64,
}

/// Rebuilds `ids` of a merchant, calling `progress` after each chunk with the number of
/// customers done. Does not refresh RFM; see [`refresh_merchant`].
pub async fn rebuild_customers(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
    progress: impl FnMut(u64),
) -> Result<RefreshOutcome, ProfilingError> {
    let ctx = context_of(db, merchant_id).await?;
    rebuild_with(db, merchant_id, ids, &ctx, progress).await
}

async fn context_of(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<BuildContext, ProfilingError> {
    merchant_context(db, merchant_id)
        .await?
        .ok_or_else(|| ProfilingError::NotFound(format!("merchants/{merchant_id}")))
}

async fn rebuild_with(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
    ctx: &BuildContext,
    mut progress: impl FnMut(u64),
) -> Result<RefreshOutcome, ProfilingError> {
    // Profiles carry the current value model's predictions from the moment they are built.
    let model = value_model_store::load_current(db, merchant_id).await?;
    let predict_as_of = match &model {
        Some(_) => value_model_store::observation_end(db, merchant_id).await?,
        None => None,
    }
    .unwrap_or(ctx.as_of);
    let mut outcome = RefreshOutcome::default();
    let mut done = 0u64;
    for chunk in ids.chunks(CHUNK) {
        let erasure_mark = caravan_store::erasure::last_erasure(db).await?;
        let data = load_customers(db, merchant_id, chunk).await?;
        let live: HashSet<&str> = data.iter().map(|d| d.customer.id.as_str()).collect();
        for gone in chunk.iter().filter(|id| !live.contains(id.as_str())) {
            delete_derived(db, merchant_id, gone).await?;
            outcome.removed += 1;
        }
        let (data, profiles) = build_in_background(data, ctx.clone()).await;
        let built: Vec<_> = data.iter().map(|d| &d.customer).zip(profiles).collect();
        save_many(db, merchant_id, &built).await?;
        outcome.rebuilt += built.len() as u64;
        if let Some(model) = &model {
            let live: Vec<String> = data.iter().map(|d| d.customer.id.clone()).collect();
            let orders = value_model_store::customer_orders(db, merchant_id, &live).await?;
            let predictions: Vec<_> = live
                .into_iter()
                .map(|id| {
                    let history = orders.get(&id).map_or(&[][..], Vec::as_slice);
                    let p = model.predict(history, predict_as_of, DEFAULT_HORIZON_DAYS);
                    (id, p)
                })
                .collect();
            value_model_store::write_profile_predictions(db, merchant_id, &predictions).await?;
        }
        outcome.removed += remove_erased_meanwhile(db, merchant_id, &data, erasure_mark).await?;
        done += chunk.len() as u64;
        progress(done);
    }
    Ok(outcome)
}

/// Builds the portraits on the low-priority thread ([`crate::background_cpu`]), handing the
/// data back for saving.
async fn build_in_background(
    data: Vec<CustomerData>,
    ctx: BuildContext,
) -> (Vec<CustomerData>, Vec<BuiltProfile>) {
    crate::background_cpu::run(move || {
        let profiles = data.iter().map(|d| build(d, &ctx)).collect();
        (data, profiles)
    })
    .await
}

/// A customer erased after its data was loaded would otherwise get back the profile the
/// erasure deleted: when an erasure of the merchant happened since `mark`, the profiles just
/// saved for customers that no longer exist are deleted again.
async fn remove_erased_meanwhile(
    db: &DatabaseConnection,
    merchant_id: &str,
    data: &[crate::profile_builder::CustomerData],
    mark: i64,
) -> Result<u64, ProfilingError> {
    if !caravan_store::erasure::erased_since(db, merchant_id, mark).await? {
        return Ok(0);
    }
    let saved: Vec<String> = data.iter().map(|d| d.customer.id.clone()).collect();
    let existing = existing(db, merchant_id, &saved).await?;
    let mut removed = 0;
    for gone in saved.iter().filter(|id| !existing.contains(*id)) {
        delete_derived(db, merchant_id, gone).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Rebuilds `ids` and then the merchant's RFM scores.
pub async fn refresh_merchant(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
) -> Result<RefreshOutcome, ProfilingError> {
    // One read of the merchant's context serves the rebuild and the RFM refresh.
    let ctx = context_of(db, merchant_id).await?;
    let outcome = rebuild_with(db, merchant_id, ids, &ctx, |_| {}).await?;
    refresh_rfm(db, merchant_id, ctx.as_of).await?;
    Ok(outcome)
}
