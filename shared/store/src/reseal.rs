//! `caravan privacy reseal`, the store's part: re-encrypts personal data under the active
//! key: customers' and contacts' `pii` (and seals rows written before sealing, clearing
//! their plaintext columns), event payloads and failed events' records. Profiling reseals its own tables. Runs
//! page by page, each row in its own statement, so it can run beside the services and be
//! run again after an interruption: a row is rewritten only if it is still what was read
//! (its `updated_at`, or its payload), so a service's write in between is never undone;
//! such a row is left for the next run.

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entity::{customer_contacts, customers, events, failed_events};
use crate::pii;
use crate::sealing::SealError;

const PAGE: u64 = 500;

/// Rows rewritten, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub customers: u64,
    pub contacts: u64,
    pub events: u64,
    pub failed_events: u64,
}

pub async fn reseal<C: ConnectionTrait>(db: &C) -> Result<Resealed, DbErr> {
    Ok(Resealed {
        customers: customers_(db).await?,
        contacts: contacts_(db).await?,
        events: events_(db).await?,
        failed_events: failed_events_(db).await?,
    })
}

async fn customers_<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let mut after: Option<(String, String)> = None;
    let mut changed = 0;
    loop {
        let mut query = customers::Entity::find()
            .order_by_asc(customers::Column::MerchantId)
            .order_by_asc(customers::Column::Id)
            .limit(PAGE);
        if let Some((m, id)) = &after {
            query = query.filter(
                customers::Column::MerchantId
                    .gt(m.as_str())
                    .or(customers::Column::MerchantId
                        .eq(m.as_str())
                        .and(customers::Column::Id.gt(id.as_str()))),
            );
        }
        let page = query.all(db).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.merchant_id.clone(), last.id.clone()));
        for mut row in page.into_iter().filter(pii::customer_needs_reseal) {
            let read_at = row.updated_at;
            let key = (row.merchant_id.clone(), row.id.clone());
            pii::open_customer(&mut row)?;
            let mut active = row.into_active_model();
            pii::seal_customer(&mut active);
            let sealed = match active.pii {
                sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v,
                sea_orm::ActiveValue::NotSet => None,
            };
            changed += customers::Entity::update_many()
                .col_expr(customers::Column::Pii, Expr::value(sealed))
                .col_expr(
                    customers::Column::GivenName,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    customers::Column::FamilyName,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    customers::Column::Email,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    customers::Column::Phone,
                    Expr::value(Option::<String>::None),
                )
                .filter(customers::Column::MerchantId.eq(key.0))
                .filter(customers::Column::Id.eq(key.1))
                .filter(customers::Column::UpdatedAt.eq(read_at))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(changed)
}

async fn contacts_<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let mut after: Option<(String, String, String)> = None;
    let mut changed = 0;
    loop {
        let mut query = customer_contacts::Entity::find()
            .order_by_asc(customer_contacts::Column::MerchantId)
            .order_by_asc(customer_contacts::Column::CustomerId)
            .order_by_asc(customer_contacts::Column::Id)
            .limit(PAGE);
        if let Some((m, c, id)) = &after {
            use customer_contacts::Column as Col;
            query = query.filter(
                Col::MerchantId
                    .gt(m.as_str())
                    .or(Col::MerchantId.eq(m.as_str()).and(
                        Col::CustomerId
                            .gt(c.as_str())
                            .or(Col::CustomerId.eq(c.as_str()).and(Col::Id.gt(id.as_str()))),
                    )),
            );
        }
        let page = query.all(db).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((
            last.merchant_id.clone(),
            last.customer_id.clone(),
            last.id.clone(),
        ));
        for mut row in page.into_iter().filter(pii::contact_needs_reseal) {
            let read_at = row.updated_at;
            let key = (
                row.merchant_id.clone(),
                row.customer_id.clone(),
                row.id.clone(),
            );
            pii::open_contact(&mut row)?;
            let mut active = row.into_active_model();
            pii::seal_contact(&mut active);
            let sealed = match active.pii {
                sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v,
                sea_orm::ActiveValue::NotSet => None,
            };
            changed += customer_contacts::Entity::update_many()
                .col_expr(customer_contacts::Column::Pii, Expr::value(sealed))
                .col_expr(
                    customer_contacts::Column::Name,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    customer_contacts::Column::Email,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    customer_contacts::Column::Phone,
                    Expr::value(Option::<String>::None),
                )
                .filter(customer_contacts::Column::MerchantId.eq(key.0))
                .filter(customer_contacts::Column::CustomerId.eq(key.1))
                .filter(customer_contacts::Column::Id.eq(key.2))
                .filter(customer_contacts::Column::UpdatedAt.eq(read_at))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(changed)
}

/// Opens a stored blob of a merchant (`pii::open_*`).
type OpenBlob = for<'a> fn(&str, &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, SealError>;

/// A table whose rows carry one sealed blob under their merchant's key, keyed by a growing
/// `BIGINT` id: event payloads and failed events' records.
struct SealedBlobs<E: EntityTrait> {
    id: E::Column,
    merchant: E::Column,
    blob: E::Column,
    open: OpenBlob,
    seal: fn(&str, &[u8]) -> Vec<u8>,
}

async fn events_<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let table = SealedBlobs::<events::Entity> {
        id: events::Column::Id,
        merchant: events::Column::MerchantId,
        blob: events::Column::Payload,
        open: pii::open_event_payload,
        seal: pii::seal_event_payload,
    };
    reseal_blobs(db, &table).await
}

async fn failed_events_<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let table = SealedBlobs::<failed_events::Entity> {
        id: failed_events::Column::Id,
        merchant: failed_events::Column::MerchantId,
        blob: failed_events::Column::Record,
        open: pii::open_failed_event,
        seal: pii::seal_failed_event,
    };
    reseal_blobs(db, &table).await
}

async fn reseal_blobs<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    table: &SealedBlobs<E>,
) -> Result<u64, DbErr> {
    let mut after = 0i64;
    let mut changed = 0;
    loop {
        let page: Vec<(i64, String, Vec<u8>)> = E::find()
            .select_only()
            .column(table.id)
            .column(table.merchant)
            .column(table.blob)
            .filter(table.id.gt(after))
            .order_by_asc(table.id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&(last, _, _)) = page.last() else {
            break;
        };
        after = last;
        for (id, merchant, stored) in page {
            if !pii::event_payload_needs_reseal(&stored) {
                continue;
            }
            let plain = (table.open)(&merchant, &stored)?;
            let sealed = (table.seal)(&merchant, &plain);
            changed += E::update_many()
                .col_expr(table.blob, Expr::value(sealed))
                .filter(table.id.eq(id))
                .filter(table.blob.eq(stored.clone()))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, Statement};

    use super::*;
    use crate::UtcDateTime;
    use crate::entity::merchants;

    #[tokio::test]
    async fn plaintext_rows_are_sealed_and_still_read_the_same() {
        let db = crate::testing::sqlite_memory().await.expect("store");
        let now = UtcDateTime::now();
        merchants::ActiveModel {
            id: Set("acme".into()),
            display_name: Set("ACME".into()),
            base_currency: Set("EUR".into()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("merchant");
        // A row as a version before sealing wrote it.
        db.execute_unprepared(
            "INSERT INTO customers (merchant_id, id, kind, given_name, email, created_at, updated_at) \
             VALUES ('acme', 'c1', 'PERSON', 'Ada', 'ada@example.com', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
        )
        .await
        .expect("legacy row");
        let first = reseal(&db).await.expect("reseal");
        assert_eq!(first.customers, 1);
        let raw = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT CAST(given_name AS TEXT) AS g, CAST(email AS TEXT) AS e, pii FROM customers",
            ))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(raw.try_get::<Option<String>>("", "g").expect("g"), None);
        assert_eq!(raw.try_get::<Option<String>>("", "e").expect("e"), None);
        let sealed: Vec<u8> = raw.try_get("", "pii").expect("pii");
        assert!(!sealed.windows(3).any(|w| w == b"Ada"));
        let mut row = customers::Entity::find()
            .one(&db)
            .await
            .expect("read")
            .expect("row");
        pii::open_customer(&mut row).expect("opens");
        assert_eq!(
            (row.given_name.as_deref(), row.email.as_deref()),
            (Some("Ada"), Some("ada@example.com"))
        );
        assert_eq!(
            reseal(&db).await.expect("again"),
            Resealed::default(),
            "nothing left to do"
        );
    }
}
