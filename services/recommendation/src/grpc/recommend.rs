//! Recommend and SimilarItems.

use std::sync::Arc;

use caravan_platform::FieldViolations;
use caravan_proto::caravan::recommendation::v1 as pb;

use super::convert::{item_to_proto, model_name};
use super::training::require_merchant;
use super::{RecommendationApi, validate};
use crate::engine::serving::Query;
use crate::error::RecommendationError;
use crate::interaction_store;
use crate::registry::{COLD_START_VERSION, Loaded};

/// The requested version, else the serving model, else the merchant's cold-start
/// popularity model (never trained). `None`: never trained and no interactions at all.
async fn model_for(
    api: &RecommendationApi,
    merchant: &str,
    requested: Option<Option<i64>>,
    name: &str,
) -> Result<Option<Arc<Loaded>>, RecommendationError> {
    match requested.flatten() {
        Some(version) => api
            .registry
            .version(merchant, version)
            .await?
            .ok_or_else(|| RecommendationError::NotFound(name.to_owned()))
            .map(Some),
        None => {
            if let Some(l) = api.registry.current(merchant) {
                return Ok(Some(l));
            }
            // Checked before `serving`, which reads the store under the load lock: a
            // never-trained merchant costs no query per call while its model is fresh.
            if let Some(l) = api.registry.fresh_cold_start(merchant) {
                return Ok(Some(l));
            }
            match api.registry.serving(merchant).await? {
                Some(l) => Ok(Some(l)),
                None => {
                    require_merchant(api, merchant).await?;
                    api.registry.cold_start(merchant).await
                }
            }
        }
    }
}

/// The `model` of a response: empty for a cold-start model, which is not stored.
fn served_by(merchant: &str, loaded: &Loaded) -> String {
    if loaded.version == COLD_START_VERSION {
        String::new()
    } else {
        model_name(merchant, loaded.version)
    }
}

/// A unique, time-ordered id for the list (attribution of later clicks and orders).
fn recommendation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub async fn recommend(
    api: &RecommendationApi,
    r: pb::RecommendRequest,
) -> Result<pb::RecommendResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let m = merchant.as_deref();
    let customer = (!r.customer.is_empty())
        .then(|| validate::child(&r.customer, "customers", m, "customer", &mut v))
        .flatten()
        .map(|c| c.1);
    let count = validate::count(r.count, "count", &mut v);
    let ctx = r.context.unwrap_or_default();
    let current = (!ctx.current_product.is_empty())
        .then(|| {
            validate::child(
                &ctx.current_product,
                "products",
                m,
                "context.current_product",
                &mut v,
            )
        })
        .flatten()
        .map(|p| p.1);
    let cart: Vec<String> = ctx
        .cart_products
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            validate::child(
                p,
                "products",
                m,
                &format!("context.cart_products[{i}]"),
                &mut v,
            )
            .map(|p| p.1)
        })
        .collect();
    if ctx.cart_products.len() > 100 {
        v.add("context.cart_products", "at most 100 products");
    }
    if ctx.category_path.len() > 512 {
        v.add("context.category_path", "at most 512 characters");
    }
    let country = validate::country(&ctx.country_code, "context.country_code", &mut v);
    let requested = (!r.model.is_empty())
        .then(|| validate::model(&r.model, m, "model", &mut v))
        .flatten()
        .map(|x| x.1);
    let (Some(merchant), true) = (merchant, v.is_empty()) else {
        return Err(v.into());
    };
    let Some(loaded) = model_for(api, &merchant, requested, &r.model).await? else {
        // Never trained and nothing ever interacted with: nothing to rank by.
        return Ok(pb::RecommendResponse {
            items: Vec::new(),
            model: String::new(),
            recommendation_id: recommendation_id(),
            fallback: true,
        });
    };
    // The country: the request's, else the customer's at training time, else the store's.
    let country = match (country, customer.as_deref()) {
        (Some(c), _) => Some(c),
        (None, Some(c)) => match loaded.model.customer_country(c) {
            Some(known) => Some(known.to_owned()),
            None => interaction_store::customer_country(&api.db, &merchant, c).await?,
        },
        (None, None) => None,
    };
    let signals = match customer.as_deref() {
        Some(c) => api.profiles.signals(&merchant, c).await,
        None => None,
    };
    let preferences = signals.as_ref().map(|s| &s.preferences);
    let category = ctx.category_path.trim();
    let query = Query {
        customer: customer.as_deref(),
        country: country.as_deref(),
        count,
        current_product: current.as_deref(),
        cart: &cart,
        category_prefix: (!category.is_empty()).then_some(category),
        include_purchased: r.include_purchased,
        preferences,
        segments: signals.as_ref().map_or(&[], |s| s.segments.as_slice()),
    };
    let served = loaded.model.recommend(&loaded.catalog, &query);
    tracing::debug!(
        version = loaded.version,
        items = served.items.len(),
        fallback = served.fallback,
        content = preferences.is_some(),
        "recommended"
    );
    Ok(pb::RecommendResponse {
        items: served
            .items
            .iter()
            .map(|i| item_to_proto(&merchant, i))
            .collect(),
        model: served_by(&merchant, &loaded),
        recommendation_id: recommendation_id(),
        fallback: served.fallback || loaded.version == COLD_START_VERSION,
    })
}

pub async fn similar_items(
    api: &RecommendationApi,
    r: pb::SimilarItemsRequest,
) -> Result<pb::SimilarItemsResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let m = merchant.as_deref();
    let product = if r.product.is_empty() {
        v.add("product", "is required");
        None
    } else {
        validate::child(&r.product, "products", m, "product", &mut v).map(|p| p.1)
    };
    let count = validate::count(r.count, "count", &mut v);
    let country = validate::country(&r.country_code, "country_code", &mut v);
    let requested = (!r.model.is_empty())
        .then(|| validate::model(&r.model, m, "model", &mut v))
        .flatten()
        .map(|x| x.1);
    let (Some(merchant), Some(product), true) = (merchant, product, v.is_empty()) else {
        return Err(v.into());
    };
    let Some(loaded) = model_for(api, &merchant, requested, &r.model).await? else {
        return Ok(pb::SimilarItemsResponse {
            items: Vec::new(),
            model: String::new(),
        });
    };
    let items = match loaded
        .model
        .similar(&loaded.catalog, &product, count, country.as_deref())
    {
        Some(items) => items,
        // In the catalogue but not in the model (no interactions yet): nothing similar known.
        None if loaded.catalog.knows(&product) => Vec::new(),
        None => return Err(RecommendationError::NotFound(r.product)),
    };
    Ok(pb::SimilarItemsResponse {
        items: items.iter().map(|i| item_to_proto(&merchant, i)).collect(),
        model: served_by(&merchant, &loaded),
    })
}
