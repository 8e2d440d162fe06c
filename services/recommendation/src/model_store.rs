//! Model versions (`rec_models`) and training jobs (`training_jobs`) in the store.
//!
//! Model states: `READY` (trained, not serving), `ACTIVE` (serving: the highest ACTIVE
//! version of a merchant), `RETIRED` (served before). Deploying a version retires every other
//! ACTIVE one in the same transaction, so rolling back to an older version works.
//! Job states are the proto's names without the prefix: QUEUED, RUNNING, SUCCEEDED, FAILED.

use caravan_store::entity::{rec_model_customers, rec_model_purges, rec_models, training_jobs};
use caravan_store::sea_orm::sea_query::Expr;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use caravan_store::{StoreError, UtcDateTime};

pub const ACTIVE: &str = "ACTIVE";
pub const READY: &str = "READY";
pub const RETIRED: &str = "RETIRED";

/// A model row without its parameter blob.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    pub merchant_id: String,
    pub version: i64,
    pub kind: String,
    pub blend_weights: Option<serde_json::Value>,
    pub metrics: serde_json::Value,
    pub state: String,
    pub training_job_id: Option<String>,
    pub created_at: UtcDateTime,
    pub activated_at: Option<UtcDateTime>,
    pub size_bytes: i64,
}

type MetaTuple = (
    String,
    i64,
    String,
    Option<serde_json::Value>,
    serde_json::Value,
    String,
    Option<String>,
    UtcDateTime,
    Option<UtcDateTime>,
    i64,
);

fn meta_query() -> caravan_store::sea_orm::Select<rec_models::Entity> {
    use rec_models::Column as C;
    rec_models::Entity::find()
        .select_only()
        .column(C::MerchantId)
        .column(C::Version)
        .column(C::Kind)
        .column(C::BlendWeights)
        .column(C::Metrics)
        .column(C::State)
        .column(C::TrainingJobId)
        .column(C::CreatedAt)
        .column(C::ActivatedAt)
        .column_as(Expr::cust("LENGTH(params)"), "size_bytes")
}

fn meta(t: MetaTuple) -> ModelMeta {
    ModelMeta {
        merchant_id: t.0,
        version: t.1,
        kind: t.2,
        blend_weights: t.3,
        metrics: t.4,
        state: t.5,
        training_job_id: t.6,
        created_at: t.7,
        activated_at: t.8,
        size_bytes: t.9,
    }
}

/// What a finished training run stores.
pub struct NewModel<'a> {
    pub merchant_id: &'a str,
    pub kind: &'a str,
    pub blend_weights: Option<serde_json::Value>,
    pub params: Vec<u8>,
    pub metrics: serde_json::Value,
    pub training_job_id: &'a str,
    /// The customers the model was trained on (recorded, so erasure finds the model).
    pub customers: &'a [String],
    /// `caravan_store::erasure::last_erasure` before the training data was read.
    pub erasure_mark: i64,
}

/// Why a model was not stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// A customer of the merchant was erased after the training data was read: the model
    /// may hold them, so it is not stored (train again).
    #[error("a customer was erased while the model trained")]
    ErasedMeanwhile,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<caravan_store::sea_orm::DbErr> for InsertError {
    fn from(e: caravan_store::sea_orm::DbErr) -> Self {
        InsertError::Store(e.into())
    }
}

/// The merchant's next model version. Versions never come back: erasure deletes the versions
/// trained on an erased customer, and a name like `models/3` must not come to mean another
/// model (jobs and pinned requests refer to it), so the highest version ever given, which
/// the training jobs keep, counts too.
async fn next_version<C: caravan_store::sea_orm::ConnectionTrait>(
    db: &C,
    merchant: &str,
) -> Result<i64, InsertError> {
    let stored: Option<Option<i64>> = rec_models::Entity::find()
        .select_only()
        .column_as(rec_models::Column::Version.max(), "v")
        .filter(rec_models::Column::MerchantId.eq(merchant))
        .into_tuple()
        .one(db)
        .await?;
    let given: Option<Option<i64>> = training_jobs::Entity::find()
        .select_only()
        .column_as(training_jobs::Column::ModelVersion.max(), "v")
        .filter(training_jobs::Column::MerchantId.eq(merchant))
        .into_tuple()
        .one(db)
        .await?;
    Ok(stored
        .flatten()
        .unwrap_or(0)
        .max(given.flatten().unwrap_or(0))
        + 1)
}

/// Customers per multi-row insert of `rec_model_customers`.
const CUSTOMER_ROWS: usize = 1000;

/// Stores a new version (`max + 1`, retried on a concurrent duplicate) in state READY, with
/// the customers it was trained on, unless an erasure happened since `erasure_mark`.
pub async fn insert_model(db: &DatabaseConnection, m: NewModel<'_>) -> Result<i64, InsertError> {
    let mut attempt = 0;
    loop {
        match try_insert_model(db, &m).await {
            Err(InsertError::Store(e)) if e.is_unique_violation() && attempt < 5 => attempt += 1,
            other => return other,
        }
    }
}

async fn try_insert_model(db: &DatabaseConnection, m: &NewModel<'_>) -> Result<i64, InsertError> {
    let txn = db.begin().await?;
    // Checked in the transaction that stores the model: an erasure committing after this
    // check finds the model (and its customers) and drops it.
    if caravan_store::erasure::erased_since(&txn, m.merchant_id, m.erasure_mark).await? {
        return Err(InsertError::ErasedMeanwhile);
    }
    let version = next_version(&txn, m.merchant_id).await?;
    let row = rec_models::ActiveModel {
        merchant_id: Set(m.merchant_id.to_owned()),
        version: Set(version),
        kind: Set(m.kind.to_owned()),
        blend_weights: Set(m.blend_weights.clone()),
        params: Set(m.params.clone()),
        metrics: Set(m.metrics.clone()),
        state: Set(READY.to_owned()),
        training_job_id: Set(Some(m.training_job_id.to_owned())),
        created_at: Set(caravan_store::now()),
        activated_at: Set(None),
    };
    rec_models::Entity::insert(row).exec(&txn).await?;
    for chunk in m.customers.chunks(CUSTOMER_ROWS) {
        let rows = chunk.iter().map(|c| rec_model_customers::ActiveModel {
            merchant_id: Set(m.merchant_id.to_owned()),
            version: Set(version),
            customer_id: Set(c.clone()),
        });
        rec_model_customers::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(version)
}

/// Makes `version` the serving model; `false` if it does not exist.
pub async fn deploy(
    db: &DatabaseConnection,
    merchant: &str,
    version: i64,
) -> Result<bool, StoreError> {
    let merchant = merchant.to_owned();
    let deployed = db
        .transaction::<_, bool, StoreError>(|txn| {
            Box::pin(async move {
                let exists = rec_models::Entity::find()
                    .select_only()
                    .column(rec_models::Column::Version)
                    .filter(rec_models::Column::MerchantId.eq(&merchant))
                    .filter(rec_models::Column::Version.eq(version))
                    .into_tuple::<i64>()
                    .one(txn)
                    .await?
                    .is_some();
                if !exists {
                    return Ok(false);
                }
                rec_models::Entity::update_many()
                    .col_expr(rec_models::Column::State, Expr::value(RETIRED))
                    .filter(rec_models::Column::MerchantId.eq(&merchant))
                    .filter(rec_models::Column::State.eq(ACTIVE))
                    .filter(rec_models::Column::Version.ne(version))
                    .exec(txn)
                    .await?;
                rec_models::Entity::update_many()
                    .col_expr(rec_models::Column::State, Expr::value(ACTIVE))
                    .col_expr(
                        rec_models::Column::ActivatedAt,
                        Expr::value(caravan_store::now()),
                    )
                    .filter(rec_models::Column::MerchantId.eq(&merchant))
                    .filter(rec_models::Column::Version.eq(version))
                    .filter(rec_models::Column::State.ne(ACTIVE))
                    .exec(txn)
                    .await?;
                Ok(true)
            })
        })
        .await?;
    Ok(deployed)
}

/// The serving version of every merchant that has one.
pub async fn serving_versions(db: &DatabaseConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(rec_models::Entity::find()
        .select_only()
        .column(rec_models::Column::MerchantId)
        .column_as(rec_models::Column::Version.max(), "v")
        .filter(rec_models::Column::State.eq(ACTIVE))
        .group_by(rec_models::Column::MerchantId)
        .into_tuple()
        .all(db)
        .await?)
}

/// The serving version of one merchant.
pub async fn serving_version(
    db: &DatabaseConnection,
    merchant: &str,
) -> Result<Option<i64>, StoreError> {
    let v: Option<Option<i64>> = rec_models::Entity::find()
        .select_only()
        .column_as(rec_models::Column::Version.max(), "v")
        .filter(rec_models::Column::MerchantId.eq(merchant))
        .filter(rec_models::Column::State.eq(ACTIVE))
        .into_tuple()
        .one(db)
        .await?;
    Ok(v.flatten())
}

pub async fn get_model(
    db: &DatabaseConnection,
    merchant: &str,
    version: i64,
) -> Result<Option<ModelMeta>, StoreError> {
    let row: Option<MetaTuple> = meta_query()
        .filter(rec_models::Column::MerchantId.eq(merchant))
        .filter(rec_models::Column::Version.eq(version))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map(meta))
}

/// Models newest first, below `before` (exclusive) when paging, of one kind (stored
/// code) when `kind` is given.
pub async fn list_models(
    db: &DatabaseConnection,
    merchant: &str,
    kind: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<ModelMeta>, StoreError> {
    let mut q = meta_query().filter(rec_models::Column::MerchantId.eq(merchant));
    if let Some(k) = kind {
        q = q.filter(rec_models::Column::Kind.eq(k));
    }
    if let Some(b) = before {
        q = q.filter(rec_models::Column::Version.lt(b));
    }
    let rows: Vec<MetaTuple> = q
        .order_by_desc(rec_models::Column::Version)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(meta).collect())
}

/// A version's parameter blob and when it was trained.
pub async fn get_params(
    db: &DatabaseConnection,
    merchant: &str,
    version: i64,
) -> Result<Option<(Vec<u8>, UtcDateTime)>, StoreError> {
    Ok(rec_models::Entity::find()
        .select_only()
        .column(rec_models::Column::Params)
        .column(rec_models::Column::CreatedAt)
        .filter(rec_models::Column::MerchantId.eq(merchant))
        .filter(rec_models::Column::Version.eq(version))
        .into_tuple()
        .one(db)
        .await?)
}

pub async fn insert_job(
    db: &DatabaseConnection,
    merchant: &str,
    id: &str,
    options: serde_json::Value,
) -> Result<training_jobs::Model, StoreError> {
    let now = caravan_store::now();
    let row = training_jobs::ActiveModel {
        merchant_id: Set(merchant.to_owned()),
        id: Set(id.to_owned()),
        state: Set("QUEUED".to_owned()),
        progress: Set(0.0),
        options: Set(Some(options)),
        model_version: Set(None),
        error: Set(None),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        updated_at: Set(now),
    };
    Ok(row.insert(db).await?)
}

/// A change to a job's progress.
#[derive(Debug, Clone, Default)]
pub struct JobUpdate {
    pub state: Option<&'static str>,
    pub progress: Option<f64>,
    pub model_version: Option<i64>,
    pub error: Option<String>,
    pub started: bool,
    pub finished: bool,
}

pub async fn update_job(
    db: &DatabaseConnection,
    merchant: &str,
    id: &str,
    u: JobUpdate,
) -> Result<(), StoreError> {
    let now = caravan_store::now();
    let mut row = training_jobs::ActiveModel {
        merchant_id: Set(merchant.to_owned()),
        id: Set(id.to_owned()),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(s) = u.state {
        row.state = Set(s.to_owned());
    }
    if let Some(p) = u.progress {
        row.progress = Set(p);
    }
    if let Some(v) = u.model_version {
        row.model_version = Set(Some(v));
    }
    if let Some(e) = u.error {
        row.error = Set(Some(e));
    }
    if u.started {
        row.started_at = Set(Some(now));
    }
    if u.finished {
        row.finished_at = Set(Some(now));
    }
    row.update(db).await?;
    Ok(())
}

/// Marks a QUEUED or RUNNING job FAILED with `error`; false when it had finished already.
pub async fn fail_unfinished_job(
    db: &DatabaseConnection,
    merchant: &str,
    id: &str,
    error: &str,
) -> Result<bool, StoreError> {
    use training_jobs::Column as C;
    let now = caravan_store::now();
    let result = training_jobs::Entity::update_many()
        .col_expr(C::State, Expr::value("FAILED"))
        .col_expr(C::Error, Expr::value(error.to_owned()))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .col_expr(C::FinishedAt, Expr::value(now))
        .filter(C::MerchantId.eq(merchant))
        .filter(C::Id.eq(id))
        .filter(C::State.is_in(["QUEUED", "RUNNING"]))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn get_job(
    db: &DatabaseConnection,
    merchant: &str,
    id: &str,
) -> Result<Option<training_jobs::Model>, StoreError> {
    Ok(
        training_jobs::Entity::find_by_id((merchant.to_owned(), id.to_owned()))
            .one(db)
            .await?,
    )
}

/// Jobs newest first (ids are time-ordered UUIDv7), below `before` when paging, in one
/// reported state when `state` is given (see [`is_stale`]: a stale QUEUED or RUNNING job
/// is reported, and so filtered, as FAILED).
pub async fn list_jobs(
    db: &DatabaseConnection,
    merchant: &str,
    state: Option<(&str, UtcDateTime)>,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<training_jobs::Model>, StoreError> {
    use training_jobs::Column as C;
    let mut q = training_jobs::Entity::find().filter(C::MerchantId.eq(merchant));
    if let Some((state, stale_before)) = state {
        let live = || C::State.is_in(["QUEUED", "RUNNING"]);
        q = q.filter(match state {
            "FAILED" => Condition::any().add(C::State.eq("FAILED")).add(
                Condition::all()
                    .add(live())
                    .add(C::UpdatedAt.lt(stale_before)),
            ),
            "QUEUED" | "RUNNING" => Condition::all()
                .add(C::State.eq(state))
                .add(C::UpdatedAt.gte(stale_before)),
            other => Condition::all().add(C::State.eq(other)),
        });
    }
    if let Some(b) = before {
        q = q.filter(training_jobs::Column::Id.lt(b));
    }
    Ok(q.order_by_desc(training_jobs::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Jobs left QUEUED or RUNNING by a process that stopped: marked FAILED at start-up of the
/// replica that owned them is not knowable, so any replica doing it would race; instead a
/// job's `updated_at` older than `stale_before` is reported as FAILED when read.
pub fn is_stale(job: &training_jobs::Model, stale_before: UtcDateTime) -> bool {
    matches!(job.state.as_str(), "QUEUED" | "RUNNING") && job.updated_at < stale_before
}

/// A serving model that erasure dropped, for retraining.
#[derive(Debug, Clone)]
pub struct Purge {
    pub merchant_id: String,
    pub version: i64,
    pub training_job_id: Option<String>,
}

/// Claims the dropped serving models no replica is retraining (or whose claim is older
/// than `stale_before`): each is returned to exactly one replica.
pub async fn claim_purges(
    db: &DatabaseConnection,
    owner: &str,
    stale_before: UtcDateTime,
) -> Result<Vec<Purge>, StoreError> {
    let candidates = rec_model_purges::Entity::find()
        .filter(
            Condition::any()
                .add(rec_model_purges::Column::ClaimedAt.is_null())
                .add(rec_model_purges::Column::ClaimedAt.lt(stale_before)),
        )
        .all(db)
        .await?;
    let mut claimed = Vec::new();
    for c in candidates {
        let taken = rec_model_purges::Entity::update_many()
            .col_expr(rec_model_purges::Column::ClaimedBy, Expr::value(owner))
            .col_expr(
                rec_model_purges::Column::ClaimedAt,
                Expr::value(caravan_store::now()),
            )
            .filter(rec_model_purges::Column::MerchantId.eq(&c.merchant_id))
            .filter(rec_model_purges::Column::Version.eq(c.version))
            .filter(match c.claimed_at {
                None => rec_model_purges::Column::ClaimedAt.is_null(),
                Some(at) => rec_model_purges::Column::ClaimedAt.eq(at),
            })
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if taken {
            claimed.push(Purge {
                merchant_id: c.merchant_id,
                version: c.version,
                training_job_id: c.training_job_id,
            });
        }
    }
    Ok(claimed)
}

/// Forgets a dropped model once its retraining has started (or cannot).
pub async fn finish_purge(
    db: &DatabaseConnection,
    merchant: &str,
    version: i64,
) -> Result<(), StoreError> {
    rec_model_purges::Entity::delete_by_id((merchant.to_owned(), version))
        .exec(db)
        .await?;
    Ok(())
}
