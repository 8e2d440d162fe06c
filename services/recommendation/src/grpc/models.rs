//! ListModels, GetModel (with the `serving` alias) and DeployModel.

use caravan_core::{equality_filter, paging};
use caravan_platform::FieldViolations;
use caravan_proto::caravan::recommendation::v1 as pb;

use super::convert::{model_name, model_to_proto};
use super::{RecommendationApi, validate};
use crate::engine::model::ModelKind;
use crate::error::RecommendationError;
use crate::model_store;

const DEFAULT_PAGE: u64 = 20;
const MAX_PAGE: u64 = 100;

pub async fn list(
    api: &RecommendationApi,
    r: pb::ListModelsRequest,
) -> Result<pb::ListModelsResponse, RecommendationError> {
    let mut v = FieldViolations::new();
    let merchant = validate::merchant(&r.parent, "parent", &mut v);
    let kind = match equality_filter::parse(&r.filter, &["kind"]) {
        Ok(clauses) => clauses.into_iter().next().and_then(|(_, k)| {
            let code = k.trim_start_matches("MODEL_KIND_");
            let known = ModelKind::from_code(code).map(ModelKind::code);
            if known.is_none() {
                v.add("filter", format!("{k:?} is not a ModelKind, e.g. EASE"));
            }
            known
        }),
        Err(why) => {
            v.add("filter", why);
            None
        }
    };
    let size = match r.page_size {
        n if n < 0 => {
            v.add("page_size", "must not be negative");
            0
        }
        0 => DEFAULT_PAGE,
        n => (n as u64).min(MAX_PAGE),
    };
    let fingerprint = paging::request_fingerprint(&[&r.parent, &r.filter]);
    let before = match paging::decode_token(&r.page_token, fingerprint) {
        Ok(None) => None,
        Ok(Some(key)) => match key.parse::<i64>() {
            Ok(b) => Some(b),
            Err(_) => {
                v.add("page_token", "is not valid for this request");
                None
            }
        },
        Err(e) => {
            v.add("page_token", e.to_string());
            None
        }
    };
    let (Some(merchant), true) = (merchant, v.is_empty()) else {
        return Err(v.into());
    };
    let mut rows = model_store::list_models(&api.db, &merchant, kind, before, size + 1).await?;
    let next = if rows.len() as u64 > size {
        rows.truncate(size as usize);
        rows.last()
            .map(|m| paging::encode_token(&m.version.to_string(), fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let serving = model_store::serving_version(&api.db, &merchant).await?;
    Ok(pb::ListModelsResponse {
        models: rows.iter().map(model_to_proto).collect(),
        next_page_token: next,
        serving_model: serving
            .map(|v| model_name(&merchant, v))
            .unwrap_or_default(),
    })
}

pub async fn get(
    api: &RecommendationApi,
    r: pb::GetModelRequest,
) -> Result<pb::Model, RecommendationError> {
    let mut v = FieldViolations::new();
    let Some((merchant, version)) = validate::model(&r.name, None, "name", &mut v) else {
        return Err(v.into());
    };
    let version = match version {
        Some(v) => v,
        None => model_store::serving_version(&api.db, &merchant)
            .await?
            .ok_or_else(|| RecommendationError::NotFound(r.name.clone()))?,
    };
    let meta = model_store::get_model(&api.db, &merchant, version)
        .await?
        .ok_or_else(|| RecommendationError::NotFound(r.name.clone()))?;
    Ok(model_to_proto(&meta))
}

pub async fn deploy(
    api: &RecommendationApi,
    r: pb::DeployModelRequest,
) -> Result<pb::Model, RecommendationError> {
    let mut v = FieldViolations::new();
    let parsed = validate::model(&r.name, None, "name", &mut v);
    let (merchant, version) = match parsed {
        Some((m, Some(version))) => (m, version),
        Some((_, None)) => {
            return Err(RecommendationError::invalid(
                "name",
                "name a model version; `serving` is already serving",
            ));
        }
        None => return Err(v.into()),
    };
    if !model_store::deploy(&api.db, &merchant, version).await? {
        return Err(RecommendationError::NotFound(r.name));
    }
    api.registry.activate(&merchant, version).await?;
    let meta = model_store::get_model(&api.db, &merchant, version)
        .await?
        .ok_or_else(|| RecommendationError::NotFound(r.name.clone()))?;
    Ok(model_to_proto(&meta))
}
