//! RebuildProfiles and GetRebuildJob: recompute profiles in the background.

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::UtcDateTime;
use caravan_store::entity::{customers, profiles, rebuild_jobs};
use caravan_store::sea_orm::sea_query::Expr;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
};
use tonic::Response;

use super::selection::{customer_ids, merchant_id};
use super::{ProfilingApi, RpcResult};
use crate::error::ProfilingError;
use crate::merchant_refresh::refresh_rfm;
use crate::profile_refresh::rebuild_customers;
use crate::profile_store::merchant_context;

const MAX_CUSTOMERS: usize = 10_000;

fn job_to_proto(row: &rebuild_jobs::Model) -> pb::RebuildJob {
    let options = row.options.clone().unwrap_or_default();
    pb::RebuildJob {
        name: format!("merchants/{}/rebuildJobs/{}", row.merchant_id, row.id),
        state: pb::JobState::from_str_name(&format!("JOB_STATE_{}", row.state))
            .map_or(0, |s| s as i32),
        customers: options
            .get("customers")
            .and_then(|c| c.as_array())
            .map(|c| {
                c.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        full: options
            .get("full")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        total_count: row.total.unwrap_or(0),
        processed_count: row.processed,
        failed_count: row.failed.unwrap_or(0),
        progress: row.progress,
        error_message: row.error.clone().unwrap_or_default(),
        create_time: Some(to_timestamp(row.created_at.get())),
        start_time: row.started_at.map(|t| to_timestamp(t.get())),
        end_time: row.finished_at.map(|t| to_timestamp(t.get())),
    }
}

async fn set_state(
    db: &DatabaseConnection,
    merchant: &str,
    id: &str,
    f: impl FnOnce(&mut rebuild_jobs::ActiveModel),
) -> Result<(), ProfilingError> {
    let Some(row) = rebuild_jobs::Entity::find_by_id((merchant.to_owned(), id.to_owned()))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let mut am: rebuild_jobs::ActiveModel = row.into();
    f(&mut am);
    am.updated_at = Set(UtcDateTime::now());
    am.update(db).await?;
    Ok(())
}

/// The customers a job covers: those asked for, or all live customers; without `full`,
/// only those whose profile is missing or older than their latest data.
async fn targets(
    db: &DatabaseConnection,
    merchant: &str,
    asked: Vec<String>,
    full: bool,
) -> Result<Vec<String>, ProfilingError> {
    let mut ids = if asked.is_empty() {
        customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .filter(customers::Column::MerchantId.eq(merchant))
            .filter(customers::Column::MergedInto.is_null())
            .filter(customers::Column::DeletedAt.is_null())
            .into_tuple()
            .all(db)
            .await?
    } else {
        asked
    };
    if !full {
        let built: std::collections::HashMap<String, UtcDateTime> = profiles::Entity::find()
            .select_only()
            .column(profiles::Column::CustomerId)
            .column(profiles::Column::UpdatedAt)
            .filter(profiles::Column::MerchantId.eq(merchant))
            .into_tuple::<(String, UtcDateTime)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let changed: std::collections::HashMap<String, UtcDateTime> = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .column(customers::Column::UpdatedAt)
            .filter(customers::Column::MerchantId.eq(merchant))
            .into_tuple::<(String, UtcDateTime)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        // Events reach profiles through the consumer; a customer record edited after its
        // profile was built, or a customer never built, is what an incremental run fixes.
        ids.retain(|id| match (built.get(id), changed.get(id)) {
            (None, _) => true,
            (Some(b), Some(c)) => c.get() > b.get(),
            (Some(_), None) => false,
        });
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn run_job(
    db: DatabaseConnection,
    merchant: String,
    id: String,
    asked: Vec<String>,
    full: bool,
) -> Result<(), ProfilingError> {
    let ids = targets(&db, &merchant, asked, full).await?;
    let total = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    set_state(&db, &merchant, &id, |am| {
        am.state = Set("RUNNING".to_owned());
        am.total = Set(Some(total));
        am.started_at = Set(Some(UtcDateTime::now()));
    })
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let progress_db = db.clone();
    let (pm, pid) = (merchant.clone(), id.clone());
    let reporter = tokio::spawn(async move {
        while let Some(done) = rx.recv().await {
            #[allow(clippy::cast_precision_loss)]
            let progress = done as f64 / total.max(1) as f64;
            let _ = rebuild_jobs::Entity::update_many()
                .col_expr(
                    rebuild_jobs::Column::Processed,
                    Expr::value(i64::try_from(done).unwrap_or(i64::MAX)),
                )
                .col_expr(
                    rebuild_jobs::Column::Progress,
                    Expr::value(progress.min(1.0)),
                )
                .filter(rebuild_jobs::Column::MerchantId.eq(&pm))
                .filter(rebuild_jobs::Column::Id.eq(&pid))
                .exec(&progress_db)
                .await;
        }
    });
    let result = rebuild_customers(&db, &merchant, &ids, |done| {
        let _ = tx.send(done);
    })
    .await;
    drop(tx);
    let _ = reporter.await;
    result?;
    if let Some(ctx) = merchant_context(&db, &merchant).await? {
        refresh_rfm(&db, &merchant, ctx.as_of).await?;
    }
    set_state(&db, &merchant, &id, |am| {
        am.state = Set("SUCCEEDED".to_owned());
        am.processed = Set(total);
        am.progress = Set(1.0);
        am.finished_at = Set(Some(UtcDateTime::now()));
    })
    .await
}

pub async fn start(
    api: &ProfilingApi,
    request: pb::RebuildProfilesRequest,
) -> RpcResult<pb::RebuildJob> {
    let merchant = merchant_id(&request.parent, "parent")?;
    if request.customers.len() > MAX_CUSTOMERS {
        return Err(ProfilingError::invalid(
            "customers",
            format!("at most {MAX_CUSTOMERS}; leave empty for all"),
        )
        .into());
    }
    let mut asked = Vec::new();
    let mut v = caravan_platform::FieldViolations::new();
    for (i, c) in request.customers.iter().enumerate() {
        match customer_ids(c, "customers") {
            Ok((m, id)) if m == merchant => asked.push(id),
            Ok(_) => v.add(format!("customers[{i}]"), "belongs to another merchant"),
            Err(_) => v.add(
                format!("customers[{i}]"),
                "must be merchants/{merchant}/customers/{customer}",
            ),
        }
    }
    v.into_result().map_err(ProfilingError::from)?;
    super::selection::as_of(api, &merchant).await?;
    let now = UtcDateTime::now();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let row = rebuild_jobs::Model {
        merchant_id: merchant.clone(),
        id: id.clone(),
        state: "QUEUED".to_owned(),
        progress: 0.0,
        processed: 0,
        total: None,
        error: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        updated_at: now,
        options: Some(serde_json::json!({ "customers": request.customers, "full": request.full })),
        failed: Some(0),
    };
    rebuild_jobs::ActiveModel::from(row.clone())
        .insert(&api.db)
        .await
        .map_err(ProfilingError::from)?;
    let db = api.db.clone();
    let (m, job) = (merchant.clone(), id.clone());
    tokio::spawn(async move {
        if let Err(e) = run_job(db.clone(), m.clone(), job.clone(), asked, request.full).await {
            tracing::warn!(job = %job, error = %e, "profile rebuild failed");
            let message = e.to_string();
            let _ = set_state(&db, &m, &job, |am| {
                am.state = Set("FAILED".to_owned());
                am.error = Set(Some(message));
                am.finished_at = Set(Some(UtcDateTime::now()));
            })
            .await;
        }
    });
    Ok(Response::new(job_to_proto(&row)))
}

pub async fn get(
    api: &ProfilingApi,
    request: pb::GetRebuildJobRequest,
) -> RpcResult<pb::RebuildJob> {
    let bad = || {
        ProfilingError::invalid(
            "name",
            "must be merchants/{merchant}/rebuildJobs/{rebuild_job}",
        )
    };
    let (m, id) = request.name.split_once("/rebuildJobs/").ok_or_else(bad)?;
    if id.is_empty() || id.contains('/') {
        return Err(bad().into());
    }
    let merchant = merchant_id(m, "name")?;
    let row = rebuild_jobs::Entity::find_by_id((merchant, id.to_owned()))
        .one(&api.db)
        .await
        .map_err(ProfilingError::from)?
        .ok_or_else(|| ProfilingError::NotFound(request.name.clone()))?;
    Ok(Response::new(job_to_proto(&row)))
}
