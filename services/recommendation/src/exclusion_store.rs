//! Country category exclusions (`country_exclusions`) in the store.

use caravan_store::StoreError;
use caravan_store::entity::country_exclusions;
use caravan_store::sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};

use crate::engine::serving::Exclusions;

/// One exclusion to store: country, category prefix and the optional reason.
pub type NewExclusion = (String, String, Option<String>);

/// Replaces the exclusions of `countries` with `rows` in one transaction; returns the rows
/// now in force for those countries.
pub async fn replace(
    db: &DatabaseConnection,
    merchant: &str,
    countries: Vec<String>,
    rows: Vec<NewExclusion>,
) -> Result<Vec<country_exclusions::Model>, StoreError> {
    let m = merchant.to_owned();
    let cs = countries.clone();
    db.transaction::<_, (), StoreError>(|txn| {
        Box::pin(async move {
            country_exclusions::Entity::delete_many()
                .filter(country_exclusions::Column::MerchantId.eq(&m))
                .filter(country_exclusions::Column::Country.is_in(cs))
                .exec(txn)
                .await?;
            if !rows.is_empty() {
                let now = caravan_store::now();
                country_exclusions::Entity::insert_many(rows.into_iter().map(|(c, p, r)| {
                    country_exclusions::ActiveModel {
                        merchant_id: Set(m.clone()),
                        country: Set(c),
                        category_prefix: Set(p),
                        created_at: Set(now),
                        reason: Set(r),
                    }
                }))
                .exec(txn)
                .await?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(country_exclusions::Entity::find()
        .filter(country_exclusions::Column::MerchantId.eq(merchant))
        .filter(country_exclusions::Column::Country.is_in(countries))
        .order_by_asc(country_exclusions::Column::Country)
        .order_by_asc(country_exclusions::Column::CategoryPrefix)
        .all(db)
        .await?)
}

/// Exclusions by country then prefix, after `(country, prefix)` when paging, of one
/// country when `country` is given.
pub async fn list(
    db: &DatabaseConnection,
    merchant: &str,
    country: Option<&str>,
    after: Option<(String, String)>,
    limit: u64,
) -> Result<Vec<country_exclusions::Model>, StoreError> {
    use country_exclusions::Column as C;
    let mut q = country_exclusions::Entity::find().filter(C::MerchantId.eq(merchant));
    if let Some(c) = country {
        q = q.filter(C::Country.eq(c));
    }
    if let Some((country, prefix)) = after {
        q = q.filter(
            Condition::any().add(C::Country.gt(country.clone())).add(
                Condition::all()
                    .add(C::Country.eq(country))
                    .add(C::CategoryPrefix.gt(prefix)),
            ),
        );
    }
    Ok(q.order_by_asc(C::Country)
        .order_by_asc(C::CategoryPrefix)
        .limit(limit)
        .all(db)
        .await?)
}

/// All of a merchant's exclusions, for serving.
pub async fn load(db: &DatabaseConnection, merchant: &str) -> Result<Exclusions, StoreError> {
    let rows: Vec<(String, String)> = country_exclusions::Entity::find()
        .select_only()
        .column(country_exclusions::Column::Country)
        .column(country_exclusions::Column::CategoryPrefix)
        .filter(country_exclusions::Column::MerchantId.eq(merchant))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Exclusions::new();
    for (c, p) in rows {
        out.entry(c).or_default().push(p);
    }
    Ok(out)
}
