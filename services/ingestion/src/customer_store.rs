//! Customers, their identifiers and identity merges in the store.

// Per-batch maps (at most a batch's ids, dropped with it): foldhash, which is much cheaper
// than std's SipHash (seen in the service's profile). It is seeded per process but not
// meant to resist crafted collisions; a batch's 1,000 ids bound what those could cost.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use caravan_store::entity::{
    customer_contacts, customer_identifiers, customers, events, identity_merges, orders, outbox,
};
use caravan_store::sea_orm::sea_query::Expr;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use caravan_store::statement_shapes::padded_in_list;
use caravan_store::{UtcDateTime, is_unique_violation, pii};

use crate::customer_directory::{CustomerDirectory, Redirect};
use crate::customer_rules::CustomerFields;
use crate::error::IngestionError;
use crate::event_rules::{CustomerRef, ValidEvent};
use crate::identity_rules::{IdentifierKey, IdentityHasher};
use crate::merchant_store;

const LOOKUP_CHUNK: usize = 1000;

pub fn customer_name(merchant_id: &str, id: &str) -> String {
    format!("merchants/{merchant_id}/customers/{id}")
}

/// A server-assigned customer id (32 lowercase hex digits).
pub fn new_customer_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn stub(merchant_id: &str, id: &str, kind: &str, now: UtcDateTime) -> customers::ActiveModel {
    customers::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        id: Set(id.to_owned()),
        kind: Set(kind.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        source: Set(Some("event".to_owned())),
        ..Default::default()
    }
}

/// Who the events of a batch belong to, what was learned on the way, and which customers
/// and identifiers still have to be created ([`create_resolved`]).
#[derive(Debug)]
pub struct Resolution {
    /// The customer id of each event, in order.
    pub customer_ids: Vec<String>,
    /// The merchant's identity version, read under a shared lock held until commit.
    pub identity_version: i64,
    /// Customer ids this transaction found or created: for the [`CustomerDirectory`] once
    /// the transaction has committed (never before: a rollback undoes the creations).
    pub learned: Vec<(String, Redirect)>,
    /// Written by [`create_resolved`].
    new_customers: Vec<customers::ActiveModel>,
    new_identifiers: Vec<customer_identifiers::ActiveModel>,
    /// Customers named by id that were erased: their events are refused, not stored.
    pub erased: std::collections::HashSet<String>,
}

/// The customer id of each event: customers named by id are created when missing (kind
/// implied by the event), merged customers resolve to their survivor, identifiers resolve
/// through `customer_identifiers` (first match wins; unmatched identifiers of the event are
/// attached to the customer found; a new customer holding all of them is created when none
/// matches). Ids that `directory` knows at the merchant's current identity version are not
/// looked up again.
pub async fn resolve_for_events<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    batch: &[&ValidEvent],
    directory: &CustomerDirectory,
    hasher: &IdentityHasher,
) -> Result<Resolution, IngestionError> {
    let now = UtcDateTime::now();
    let identity_version = merchant_store::lock_identity_version(txn, merchant_id).await?;
    let mut learned: Vec<(String, Redirect)> = Vec::new();
    // 1. Ids.
    let mut wanted: HashMap<&str, &'static str> = HashMap::new();
    for event in batch {
        if let CustomerRef::Id(id) = &event.customer {
            wanted
                .entry(id.as_str())
                .or_insert(event.implied_customer_kind);
        }
    }
    let ids: Vec<&str> = wanted.keys().copied().collect();
    let mut lookup = directory.lookup(merchant_id, identity_version, &ids);
    // Sorted, so that concurrent batches lock (and create) overlapping customers in the same
    // order: InnoDB deadlocks when two transactions insert the same keys in different orders.
    // (Only the ids this replica does not know are looked up and possibly created.)
    lookup.unknown.sort_unstable();
    let mut redirect: HashMap<String, String> = lookup
        .merged
        .into_iter()
        .map(|(id, to)| (id.to_owned(), to))
        .collect();
    let mut found: HashSet<String> = HashSet::new();
    for chunk in lookup.unknown.chunks(LOOKUP_CHUNK) {
        let rows: Vec<(String, Option<String>)> = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .column(customers::Column::MergedInto)
            .filter(customers::Column::MerchantId.eq(merchant_id))
            .filter(customers::Column::Id.is_in(padded_in_list(chunk)))
            .into_tuple()
            .all(txn)
            .await?;
        for (id, merged_into) in rows {
            if let Some(target) = &merged_into {
                redirect.insert(id.clone(), target.clone());
            }
            found.insert(id.clone());
            learned.push((id, merged_into));
        }
    }
    let absent: Vec<&str> = lookup
        .unknown
        .iter()
        .copied()
        .filter(|id| !found.contains(*id))
        .collect();
    // Erased customers are not created again: their events are refused.
    let erased = erased_among(txn, hasher, merchant_id, &absent).await?;
    let mut missing: Vec<customers::ActiveModel> = absent
        .iter()
        .filter(|id| !erased.contains(**id))
        .map(|id| {
            learned.push(((*id).to_owned(), None));
            stub(merchant_id, id, wanted[id], now)
        })
        .collect();

    // 2. Identifiers.
    let mut keys: Vec<&IdentifierKey> = Vec::new();
    for event in batch {
        if let CustomerRef::Identifiers(k) = &event.customer {
            keys.extend(k.iter());
        }
    }
    let mut owner: HashMap<(String, String), String> = HashMap::new();
    if !keys.is_empty() {
        let hashes: Vec<String> = keys
            .iter()
            .map(|k| k.value_hash.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in hashes.chunks(LOOKUP_CHUNK) {
            let rows = customer_identifiers::Entity::find()
                .filter(customer_identifiers::Column::MerchantId.eq(merchant_id))
                .filter(customer_identifiers::Column::ValueHash.is_in(padded_in_list(chunk)))
                .all(txn)
                .await?;
            for row in rows {
                owner.insert((row.kind, row.value_hash), row.customer_id);
            }
        }
    }
    let mut new_customers = Vec::new();
    let mut new_identifiers = Vec::new();
    let mut out = Vec::with_capacity(batch.len());
    for event in batch {
        let id = match &event.customer {
            CustomerRef::Id(id) => redirect.get(id).cloned().unwrap_or_else(|| id.clone()),
            CustomerRef::Identifiers(keys) => {
                let found = keys.iter().find_map(|k| {
                    owner
                        .get(&(k.kind.to_owned(), k.value_hash.clone()))
                        .cloned()
                });
                let id = match found {
                    Some(id) => id,
                    None => {
                        let id = new_customer_id();
                        learned.push((id.clone(), None));
                        new_customers.push(stub(
                            merchant_id,
                            &id,
                            event.implied_customer_kind,
                            now,
                        ));
                        id
                    }
                };
                for k in keys {
                    let key = (k.kind.to_owned(), k.value_hash.clone());
                    if let std::collections::hash_map::Entry::Vacant(slot) = owner.entry(key) {
                        slot.insert(id.clone());
                        new_identifiers.push(customer_identifiers::ActiveModel {
                            merchant_id: Set(merchant_id.to_owned()),
                            kind: Set(k.kind.to_owned()),
                            value_hash: Set(k.value_hash.clone()),
                            customer_id: Set(id.clone()),
                            created_at: Set(now),
                        });
                    }
                }
                id
            }
        };
        out.push(id);
    }
    // Named ids first, in sorted order (see above); the new server ids cannot collide.
    missing.extend(new_customers);
    Ok(Resolution {
        customer_ids: out,
        identity_version,
        learned,
        new_customers: missing,
        new_identifiers,
        erased,
    })
}

/// The ids among `ids` (of customers that do not exist) that were erased.
async fn erased_among<C: ConnectionTrait>(
    db: &C,
    hasher: &IdentityHasher,
    merchant_id: &str,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>, IngestionError> {
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let by_hash: HashMap<String, &str> = ids
        .iter()
        .map(|id| (hasher.erased_customer(merchant_id, id), *id))
        .collect();
    let hashes: Vec<String> = by_hash.keys().cloned().collect();
    let erased = caravan_store::erasure::erased_among(db, merchant_id, &hashes).await?;
    Ok(erased
        .iter()
        .filter_map(|h| by_hash.get(h).map(|id| (*id).to_owned()))
        .collect())
}

/// Creates the customers and identifiers a [`Resolution`] found missing. Call it last in
/// the transaction, after the batch's other writes: creating a customer locks its key until
/// commit, and a concurrent batch naming the same new customer waits for that lock. Taken
/// last, the wait is one commit, not a whole batch. (Nothing else in the batch refers to
/// the new rows by foreign key; identifiers do, so they follow the customers.)
pub async fn create_resolved<C: ConnectionTrait>(
    txn: &C,
    resolution: &mut Resolution,
) -> Result<(), IngestionError> {
    insert_stubs(txn, std::mem::take(&mut resolution.new_customers)).await?;
    let mut rows = std::mem::take(&mut resolution.new_identifiers);
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(500));
        customer_identifiers::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec_without_returning(txn)
            .await?;
        rows = rest;
    }
    Ok(())
}

async fn insert_stubs<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<customers::ActiveModel>,
) -> Result<(), IngestionError> {
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(500));
        customers::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec_without_returning(txn)
            .await?;
        rows = rest;
    }
    Ok(())
}

fn apply_fields(row: &mut customers::ActiveModel, f: &CustomerFields) {
    row.kind = Set(f.kind.to_owned());
    row.given_name = Set(f.given_name.clone());
    row.family_name = Set(f.family_name.clone());
    row.email = Set(f.email.clone());
    row.phone = Set(f.phone.clone());
    row.country = Set(f.country.clone());
    row.region = Set(f.region.clone());
    row.city = Set(f.city.clone());
    row.city_tier = Set(f.city_tier);
    row.birth_year = Set(f.birth_year);
    row.age_band = Set(f.age_band.clone());
    row.gender = Set(f.gender.clone());
    row.language = Set(f.language.clone());
    row.preferred_currency = Set(f.preferred_currency.clone());
    row.acquisition_channel = Set(f.acquisition_channel.clone());
    row.company_name = Set(f.company_name.clone());
    row.industry = Set(f.industry.clone());
    row.size_band = Set(f.size_band.clone());
    row.revenue_band = Set(f.revenue_band.clone());
    row.website = Set(f.website.clone());
    row.business_type = Set(f.business_type.clone());
    row.year_founded = Set(f.year_founded);
    row.registration_number = Set(f.registration_number.clone());
    row.star_rating = Set(f.star_rating);
    row.source = Set(f.source.clone());
    row.import_tags = Set(Some(serde_json::json!(f.import_tags)));
    row.consents = Set(Some(f.consents.clone()));
}

/// Registers identifiers for a customer; ALREADY_EXISTS if one belongs to another customer.
async fn add_identifiers<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    customer_id: &str,
    keys: &[IdentifierKey],
) -> Result<(), IngestionError> {
    if keys.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = keys.iter().map(|k| k.value_hash.clone()).collect();
    let rows = customer_identifiers::Entity::find()
        .filter(customer_identifiers::Column::MerchantId.eq(merchant_id))
        .filter(customer_identifiers::Column::ValueHash.is_in(hashes))
        .all(db)
        .await?;
    let mut existing = HashSet::new();
    for row in rows {
        if keys
            .iter()
            .any(|k| k.kind == row.kind && k.value_hash == row.value_hash)
        {
            if row.customer_id != customer_id {
                return Err(IngestionError::AlreadyExists(format!(
                    "a {} identifier of this customer: it belongs to {}; merge the customers instead",
                    row.kind,
                    customer_name(merchant_id, &row.customer_id)
                )));
            }
            existing.insert((row.kind, row.value_hash));
        }
    }
    let now = UtcDateTime::now();
    let new: Vec<_> = keys
        .iter()
        .filter(|k| !existing.contains(&(k.kind.to_owned(), k.value_hash.clone())))
        .map(|k| customer_identifiers::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            kind: Set(k.kind.to_owned()),
            value_hash: Set(k.value_hash.clone()),
            customer_id: Set(customer_id.to_owned()),
            created_at: Set(now),
        })
        .collect();
    if !new.is_empty() {
        match customer_identifiers::Entity::insert_many(new)
            .exec_without_returning(db)
            .await
        {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(IngestionError::AlreadyExists(
                    "an identifier of this customer (registered concurrently by another customer)"
                        .to_owned(),
                ));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// The outbox kind of a change to a customer's own record (details, consents, identifiers,
/// contacts): profiling rebuilds that customer's portrait, as for an event.
pub const CUSTOMER_CHANGED_KIND: &str = caravan_store::outbox_entries::CUSTOMER_CHANGED_KIND;

/// Tells profiling, in the transaction of the change, that `customer_id`'s record changed.
async fn record_change<C: ConnectionTrait>(
    txn: &C,
    merchant_id: &str,
    customer_id: &str,
) -> Result<(), IngestionError> {
    outbox::Entity::insert(outbox::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        event_id: Set(format!("change-{}", uuid::Uuid::now_v7().simple())),
        customer_id: Set(customer_id.to_owned()),
        kind: Set(CUSTOMER_CHANGED_KIND.to_owned()),
        created_at: Set(UtcDateTime::now()),
        entry_count: Set(1),
        trace_parent: Set(caravan_platform::trace_context::current_traceparent()),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

pub async fn insert(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    fields: &CustomerFields,
) -> Result<customers::Model, IngestionError> {
    let txn = db.begin().await?;
    let now = UtcDateTime::now();
    let mut row = stub(merchant_id, id, fields.kind, now);
    apply_fields(&mut row, fields);
    pii::seal_customer(&mut row);
    match customers::Entity::insert(row)
        .exec_without_returning(&txn)
        .await
    {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => {
            return Err(IngestionError::AlreadyExists(customer_name(
                merchant_id,
                id,
            )));
        }
        Err(err) => return Err(err.into()),
    }
    add_identifiers(&txn, merchant_id, id, &fields.identifiers).await?;
    record_change(&txn, merchant_id, id).await?;
    txn.commit().await?;
    get(db, merchant_id, id).await
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    id: &str,
) -> Result<Option<customers::Model>, IngestionError> {
    customers::Entity::find_by_id((merchant_id.to_owned(), id.to_owned()))
        .filter(customers::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .map(opened)
        .transpose()
}

/// A loaded customer with its personal data unsealed.
pub fn opened(mut row: customers::Model) -> Result<customers::Model, IngestionError> {
    pii::open_customer(&mut row).map_err(caravan_store::sea_orm::DbErr::from)?;
    Ok(row)
}

/// A loaded contact with its personal data unsealed.
fn opened_contact(
    mut row: customer_contacts::Model,
) -> Result<customer_contacts::Model, IngestionError> {
    pii::open_contact(&mut row).map_err(caravan_store::sea_orm::DbErr::from)?;
    Ok(row)
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    id: &str,
) -> Result<customers::Model, IngestionError> {
    find(db, merchant_id, id)
        .await?
        .ok_or_else(|| IngestionError::NotFound(customer_name(merchant_id, id)))
}

/// `(kind, value_hash)` of a customer's identifiers.
pub async fn identifiers_of<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    id: &str,
) -> Result<Vec<(String, String)>, IngestionError> {
    Ok(customer_identifiers::Entity::find()
        .select_only()
        .column(customer_identifiers::Column::Kind)
        .column(customer_identifiers::Column::ValueHash)
        .filter(customer_identifiers::Column::MerchantId.eq(merchant_id))
        .filter(customer_identifiers::Column::CustomerId.eq(id))
        .order_by_asc(customer_identifiers::Column::CreatedAt)
        .order_by_asc(customer_identifiers::Column::Kind)
        .into_tuple()
        .all(db)
        .await?)
}

/// Replaces a customer's fields; adds new identifiers, and with `replace_identifiers`
/// removes those not in `fields.identifiers`.
pub async fn update(
    db: &DatabaseConnection,
    merchant_id: &str,
    id: &str,
    fields: &CustomerFields,
    replace_identifiers: bool,
) -> Result<customers::Model, IngestionError> {
    let txn = db.begin().await?;
    let current = get(&txn, merchant_id, id).await?;
    let mut row: customers::ActiveModel = current.into();
    apply_fields(&mut row, fields);
    pii::seal_customer(&mut row);
    row.updated_at = Set(UtcDateTime::now());
    row.update(&txn).await?;
    add_identifiers(&txn, merchant_id, id, &fields.identifiers).await?;
    if replace_identifiers {
        let keep: HashSet<(String, String)> = fields
            .identifiers
            .iter()
            .map(|k| (k.kind.to_owned(), k.value_hash.clone()))
            .collect();
        for (kind, hash) in identifiers_of(&txn, merchant_id, id).await? {
            if !keep.contains(&(kind.clone(), hash.clone())) {
                customer_identifiers::Entity::delete_by_id((merchant_id.to_owned(), kind, hash))
                    .exec(&txn)
                    .await?;
            }
        }
    }
    record_change(&txn, merchant_id, id).await?;
    txn.commit().await?;
    get(db, merchant_id, id).await
}

/// A simple equality filter over customer columns.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub conditions: Vec<(customers::Column, String)>,
}

#[derive(Debug, Clone, Copy)]
pub enum CustomerOrder {
    CreateTime { desc: bool },
    UpdateTime { desc: bool },
    Name { desc: bool },
}

pub async fn list(
    db: &DatabaseConnection,
    merchant_id: &str,
    filter: &CustomerFilter,
    order: CustomerOrder,
    show_merged: bool,
    offset: u64,
    limit: u64,
) -> Result<(Vec<customers::Model>, u64), IngestionError> {
    let mut query = customers::Entity::find()
        .filter(customers::Column::MerchantId.eq(merchant_id))
        .filter(customers::Column::DeletedAt.is_null());
    if !show_merged {
        query = query.filter(customers::Column::MergedInto.is_null());
    }
    for (column, value) in &filter.conditions {
        query = query.filter(column.eq(value.as_str()));
    }
    let total = query.clone().count(db).await?;
    let (column, desc) = match order {
        CustomerOrder::CreateTime { desc } => (customers::Column::CreatedAt, desc),
        CustomerOrder::UpdateTime { desc } => (customers::Column::UpdatedAt, desc),
        CustomerOrder::Name { desc } => (customers::Column::Id, desc),
    };
    query = if desc {
        query
            .order_by_desc(column)
            .order_by_desc(customers::Column::Id)
    } else {
        query
            .order_by_asc(column)
            .order_by_asc(customers::Column::Id)
    };
    let rows = query.offset(offset).limit(limit).all(db).await?;
    let rows = rows.into_iter().map(opened).collect::<Result<_, _>>()?;
    Ok((rows, total))
}

/// One merged source: the audit row, the identifiers moved and the events re-attributed.
pub struct MergedSource {
    pub audit: identity_merges::Model,
    pub moved_identifiers: Vec<(String, String)>,
    pub moved_events: u64,
}

/// Merges `sources` into `target` in one transaction: identifiers, contacts, events and
/// orders move to the target; the sources point to it (`merged_into`, also for customers
/// merged into a source earlier); one audit row per source; an outbox row of kind
/// `customer_merged` per source (`event_id` = `merge-{audit id}`, `customer_id` = target)
/// tells profiling to rebuild the target and drop the source.
pub async fn merge(
    db: &DatabaseConnection,
    merchant_id: &str,
    target: &str,
    sources: &[String],
    reason: &str,
    actor: &str,
) -> Result<(customers::Model, Vec<MergedSource>), IngestionError> {
    let txn = db.begin().await?;
    merchant_store::bump_identity_version(&txn, merchant_id).await?;
    let target_row = get(&txn, merchant_id, target).await?;
    if let Some(into) = &target_row.merged_into {
        return Err(IngestionError::FailedPrecondition(format!(
            "target {} was merged into {} and is read-only",
            customer_name(merchant_id, target),
            customer_name(merchant_id, into)
        )));
    }
    let now = UtcDateTime::now();
    let mut merged = Vec::new();
    for source in sources {
        let source_row = get(&txn, merchant_id, source).await?;
        if source_row.merged_into.is_some() {
            return Err(IngestionError::FailedPrecondition(format!(
                "{} is already merged",
                customer_name(merchant_id, source)
            )));
        }
        if source_row.kind != target_row.kind {
            return Err(IngestionError::FailedPrecondition(format!(
                "{} is a {} and the target a {}; only customers of the same kind merge",
                customer_name(merchant_id, source),
                source_row.kind,
                target_row.kind
            )));
        }
        let moved_identifiers = identifiers_of(&txn, merchant_id, source).await?;
        customer_identifiers::Entity::update_many()
            .col_expr(
                customer_identifiers::Column::CustomerId,
                Expr::value(target),
            )
            .filter(customer_identifiers::Column::MerchantId.eq(merchant_id))
            .filter(customer_identifiers::Column::CustomerId.eq(source.as_str()))
            .exec(&txn)
            .await?;
        let moved_events = events::Entity::update_many()
            .col_expr(events::Column::CustomerId, Expr::value(target))
            .filter(events::Column::MerchantId.eq(merchant_id))
            .filter(events::Column::CustomerId.eq(source.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        orders::Entity::update_many()
            .col_expr(orders::Column::CustomerId, Expr::value(target))
            .filter(orders::Column::MerchantId.eq(merchant_id))
            .filter(orders::Column::CustomerId.eq(source.as_str()))
            .exec(&txn)
            .await?;
        // Contacts keep their ids; a clash with a target contact id fails the merge.
        match customer_contacts::Entity::update_many()
            .col_expr(customer_contacts::Column::CustomerId, Expr::value(target))
            .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
            .filter(customer_contacts::Column::CustomerId.eq(source.as_str()))
            .exec(&txn)
            .await
        {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(IngestionError::FailedPrecondition(
                    "a contact id of a source customer is also used by the target".to_owned(),
                ));
            }
            Err(err) => return Err(err.into()),
        }
        customers::Entity::update_many()
            .col_expr(customers::Column::MergedInto, Expr::value(target))
            .col_expr(customers::Column::UpdatedAt, Expr::value(now))
            .filter(customers::Column::MerchantId.eq(merchant_id))
            .filter(
                Condition::any()
                    .add(customers::Column::Id.eq(source.as_str()))
                    .add(customers::Column::MergedInto.eq(source.as_str())),
            )
            .exec(&txn)
            .await?;
        let audit = identity_merges::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            source_customer_id: Set(source.clone()),
            target_customer_id: Set(target.to_owned()),
            reason: Set(reason.to_owned()),
            actor: Set(actor.to_owned()),
            merged_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        outbox::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            event_id: Set(format!("merge-{}", audit.id)),
            customer_id: Set(target.to_owned()),
            kind: Set("customer_merged".to_owned()),
            created_at: Set(now),
            trace_parent: Set(caravan_platform::trace_context::current_traceparent()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        merged.push(MergedSource {
            audit,
            moved_identifiers,
            moved_events,
        });
    }
    customers::Entity::update_many()
        .col_expr(customers::Column::UpdatedAt, Expr::value(now))
        .filter(customers::Column::MerchantId.eq(merchant_id))
        .filter(customers::Column::Id.eq(target))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let target_row = get(db, merchant_id, target).await?;
    Ok((target_row, merged))
}

/// Identity-merge audit rows, newest first, after the row id `before` (keyset).
pub async fn list_merges(
    db: &DatabaseConnection,
    merchant_id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<identity_merges::Model>, IngestionError> {
    let mut query = identity_merges::Entity::find()
        .filter(identity_merges::Column::MerchantId.eq(merchant_id))
        .order_by_desc(identity_merges::Column::Id);
    if let Some(before) = before {
        query = query.filter(identity_merges::Column::Id.lt(before));
    }
    Ok(query.limit(limit).all(db).await?)
}

/// The customer owning the first matching identifier, following merges.
pub async fn resolve(
    db: &DatabaseConnection,
    merchant_id: &str,
    keys: &[IdentifierKey],
) -> Result<Option<(usize, customers::Model)>, IngestionError> {
    for (i, key) in keys.iter().enumerate() {
        let row = customer_identifiers::Entity::find_by_id((
            merchant_id.to_owned(),
            key.kind.to_owned(),
            key.value_hash.clone(),
        ))
        .one(db)
        .await?;
        if let Some(row) = row {
            let mut customer = get(db, merchant_id, &row.customer_id).await?;
            if let Some(target) = customer.merged_into.clone() {
                customer = get(db, merchant_id, &target).await?;
            }
            return Ok(Some((i, customer)));
        }
    }
    Ok(None)
}

/// Contacts of an enterprise customer.
pub mod contacts {
    use super::*;
    use crate::contact_rules::ContactFields;

    pub fn contact_name(merchant_id: &str, customer_id: &str, id: &str) -> String {
        format!("merchants/{merchant_id}/customers/{customer_id}/contacts/{id}")
    }

    /// The parent must exist, not be merged, and be an ENTERPRISE.
    pub async fn check_parent(
        db: &DatabaseConnection,
        merchant_id: &str,
        customer_id: &str,
    ) -> Result<(), IngestionError> {
        let parent = get(db, merchant_id, customer_id).await?;
        if parent.kind != "ENTERPRISE" {
            return Err(IngestionError::FailedPrecondition(format!(
                "{} is a PERSON; contacts belong to ENTERPRISE customers",
                customer_name(merchant_id, customer_id)
            )));
        }
        if let Some(into) = parent.merged_into {
            return Err(IngestionError::FailedPrecondition(format!(
                "{} was merged into {}",
                customer_name(merchant_id, customer_id),
                customer_name(merchant_id, &into)
            )));
        }
        Ok(())
    }

    fn apply(row: &mut customer_contacts::ActiveModel, f: &ContactFields) {
        row.name = Set(Some(f.name.clone()));
        row.job_title = Set(f.job_title.clone());
        row.decision_maker = Set(f.decision_maker);
        row.email = Set(f.email.clone());
        row.phone = Set(f.phone.clone());
        row.preferred_channel = Set(f.preferred_channel.clone());
    }

    pub async fn insert(
        db: &DatabaseConnection,
        merchant_id: &str,
        customer_id: &str,
        id: &str,
        fields: &ContactFields,
    ) -> Result<customer_contacts::Model, IngestionError> {
        let now = UtcDateTime::now();
        let mut row = customer_contacts::ActiveModel {
            merchant_id: Set(merchant_id.to_owned()),
            customer_id: Set(customer_id.to_owned()),
            id: Set(id.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        apply(&mut row, fields);
        pii::seal_contact(&mut row);
        let txn = db.begin().await?;
        match customer_contacts::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(IngestionError::AlreadyExists(contact_name(
                    merchant_id,
                    customer_id,
                    id,
                )));
            }
            Err(err) => return Err(err.into()),
        }
        super::record_change(&txn, merchant_id, customer_id).await?;
        txn.commit().await?;
        get_contact(db, merchant_id, customer_id, id).await
    }

    pub async fn get_contact(
        db: &DatabaseConnection,
        merchant_id: &str,
        customer_id: &str,
        id: &str,
    ) -> Result<customer_contacts::Model, IngestionError> {
        customer_contacts::Entity::find_by_id((
            merchant_id.to_owned(),
            customer_id.to_owned(),
            id.to_owned(),
        ))
        .one(db)
        .await?
        .map(opened_contact)
        .transpose()?
        .ok_or_else(|| IngestionError::NotFound(contact_name(merchant_id, customer_id, id)))
    }

    pub async fn update(
        db: &DatabaseConnection,
        current: customer_contacts::Model,
        fields: &ContactFields,
    ) -> Result<customer_contacts::Model, IngestionError> {
        let (merchant_id, customer_id) = (current.merchant_id.clone(), current.customer_id.clone());
        let mut row: customer_contacts::ActiveModel = current.into();
        apply(&mut row, fields);
        pii::seal_contact(&mut row);
        row.updated_at = Set(UtcDateTime::now());
        let txn = db.begin().await?;
        let updated = row.update(&txn).await?;
        super::record_change(&txn, &merchant_id, &customer_id).await?;
        txn.commit().await?;
        opened_contact(updated)
    }

    pub async fn list(
        db: &DatabaseConnection,
        merchant_id: &str,
        customer_id: &str,
        decision_maker: Option<bool>,
        channel: Option<String>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<customer_contacts::Model>, IngestionError> {
        let mut query = customer_contacts::Entity::find()
            .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
            .filter(customer_contacts::Column::CustomerId.eq(customer_id))
            .order_by_asc(customer_contacts::Column::Id);
        if let Some(d) = decision_maker {
            query = query.filter(customer_contacts::Column::DecisionMaker.eq(d));
        }
        if let Some(c) = channel {
            query = query.filter(customer_contacts::Column::PreferredChannel.eq(c));
        }
        if let Some(after) = after {
            query = query.filter(customer_contacts::Column::Id.gt(after));
        }
        query
            .limit(limit)
            .all(db)
            .await?
            .into_iter()
            .map(opened_contact)
            .collect()
    }

    pub async fn delete(
        db: &DatabaseConnection,
        merchant_id: &str,
        customer_id: &str,
        id: &str,
    ) -> Result<(), IngestionError> {
        let txn = db.begin().await?;
        let deleted = customer_contacts::Entity::delete_by_id((
            merchant_id.to_owned(),
            customer_id.to_owned(),
            id.to_owned(),
        ))
        .exec(&txn)
        .await?;
        if deleted.rows_affected > 0 {
            super::record_change(&txn, merchant_id, customer_id).await?;
        }
        txn.commit().await?;
        if deleted.rows_affected == 0 {
            return Err(IngestionError::NotFound(contact_name(
                merchant_id,
                customer_id,
                id,
            )));
        }
        Ok(())
    }
}
