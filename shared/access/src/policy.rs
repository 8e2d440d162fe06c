//! The access rule of every RPC, read from the `caravan.common.v1.access` option in the
//! descriptor set, so the contract is the one place that says who may call what.
//!
//! Loading checks every rule against its request message: the merchant field must be a
//! singular `string` reachable through singular message fields outside any oneof, the reveal
//! field a singular `bool`. A service with an RPC lacking a rule does not load, so a new RPC
//! cannot be forgotten.

use std::collections::HashMap;

use prost_reflect::{
    Cardinality, DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind,
    MessageDescriptor, MethodDescriptor, Value,
};

use crate::scope::Scope;

const ACCESS_OPTION: &str = "caravan.common.v1.access";

/// Services every caller may use without a key: health checks (Kubernetes probes) and
/// reflection (grpcurl's `list` and `describe`, which reveal the contract, never data).
pub const OPEN_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// A request field, by name (for messages) and by field numbers (for the wire reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub name: String,
    pub numbers: Vec<u32>,
}

/// The access rule of one RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodRule {
    /// `/package.Service/Method`, as in the HTTP/2 path.
    pub path: String,
    pub scope: Scope,
    /// The field naming the merchant; `None`: the RPC names none (platform keys only).
    pub merchant: Option<FieldPath>,
    /// The bool field asking for personal data in clear.
    pub reveal: Option<FieldPath>,
    /// Whether the caller streams requests (only the first message is read before the RPC
    /// runs; the RPC refuses later messages that name another merchant).
    pub client_streaming: bool,
}

/// Why the rules could not be loaded: a contract error, found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access rules: {0}")]
pub struct PolicyError(pub String);

/// Every RPC's rule, by path.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    rules: HashMap<String, MethodRule>,
}

impl AccessPolicy {
    /// Reads the rules of `services` (fully-qualified names) from an encoded descriptor set.
    pub fn load(descriptor_set: &[u8], services: &[&str]) -> Result<Self, PolicyError> {
        let pool = DescriptorPool::decode(descriptor_set)
            .map_err(|e| PolicyError(format!("descriptor set: {e}")))?;
        let option = pool
            .get_extension_by_name(ACCESS_OPTION)
            .ok_or_else(|| PolicyError(format!("{ACCESS_OPTION} is not in the descriptor set")))?;
        let mut rules = HashMap::new();
        for name in services {
            let service = pool.get_service_by_name(name).ok_or_else(|| {
                PolicyError(format!("service {name} is not in the descriptor set"))
            })?;
            for method in service.methods() {
                let rule = method_rule(&method, &option)?;
                rules.insert(rule.path.clone(), rule);
            }
        }
        Ok(Self { rules })
    }

    pub fn rule(&self, path: &str) -> Option<&MethodRule> {
        self.rules.get(path)
    }

    pub fn rules(&self) -> impl Iterator<Item = &MethodRule> {
        self.rules.values()
    }

    /// Whether `path` belongs to a service anyone may call.
    pub fn is_open(path: &str) -> bool {
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        OPEN_SERVICES.contains(&service)
    }
}

fn method_rule(
    method: &MethodDescriptor,
    option: &ExtensionDescriptor,
) -> Result<MethodRule, PolicyError> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let options = method.options();
    if !options.has_extension(option) {
        return Err(PolicyError(format!(
            "{path} has no ({ACCESS_OPTION}) option"
        )));
    }
    let rule = options.get_extension(option);
    let Value::Message(rule) = rule.as_ref() else {
        return Err(PolicyError(format!(
            "{path}: ({ACCESS_OPTION}) is not a message"
        )));
    };
    let scope = match rule.get_field_by_name("scope").as_deref() {
        Some(Value::EnumNumber(n)) => {
            Scope::from_proto(*n).map_err(|e| PolicyError(format!("{path}: {e}")))?
        }
        _ => return Err(PolicyError(format!("{path}: the access rule has no scope"))),
    };
    let input = method.input();
    let merchant = string_option(rule, "merchant_field")
        .map(|name| {
            resolve(&input, &name, Kind::String)
                .map_err(|e| PolicyError(format!("{path}: merchant_field {e}")))
        })
        .transpose()?;
    let reveal = string_option(rule, "reveal_field")
        .map(|name| {
            resolve(&input, &name, Kind::Bool)
                .map_err(|e| PolicyError(format!("{path}: reveal_field {e}")))
        })
        .transpose()?;
    Ok(MethodRule {
        path,
        scope,
        merchant,
        reveal,
        client_streaming: method.is_client_streaming(),
    })
}

fn string_option(rule: &DynamicMessage, field: &str) -> Option<String> {
    match rule.get_field_by_name(field).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Follows `a.b.c` through `message`, checking that the wire reader may read it.
fn resolve(message: &MessageDescriptor, dotted: &str, leaf: Kind) -> Result<FieldPath, String> {
    let mut numbers = Vec::new();
    let mut current = message.clone();
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let field = current
            .get_field_by_name(part)
            .ok_or_else(|| format!("{dotted:?}: {} has no field {part:?}", current.full_name()))?;
        check_singular(&field, dotted)?;
        numbers.push(field.number());
        let is_leaf = i + 1 == parts.len();
        match (is_leaf, field.kind()) {
            (true, kind) if kind == leaf => {}
            (false, Kind::Message(inner)) => current = inner,
            (_, kind) => {
                return Err(format!(
                    "{dotted:?}: {part} is {kind:?}, expected {leaf:?} at the end and messages before"
                ));
            }
        }
    }
    Ok(FieldPath {
        name: dotted.to_owned(),
        numbers,
    })
}

fn check_singular(field: &FieldDescriptor, dotted: &str) -> Result<(), String> {
    if field.cardinality() == Cardinality::Repeated {
        return Err(format!("{dotted:?}: {} is repeated", field.name()));
    }
    // proto3 `optional` is a synthetic oneof of one field and is fine; a real oneof is not:
    // a later member of the oneof would clear the field for prost but not for the reader.
    if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
        return Err(format!("{dotted:?}: {} is in a oneof", field.name()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AccessPolicy {
        AccessPolicy::load(
            caravan_proto::FILE_DESCRIPTOR_SET,
            &caravan_proto::ALL_SERVICE_NAMES,
        )
        .expect("every Caravan RPC has a valid access rule")
    }

    #[test]
    fn every_rpc_of_every_service_has_a_rule() {
        let pool = DescriptorPool::decode(caravan_proto::FILE_DESCRIPTOR_SET).expect("valid set");
        let policy = policy();
        for service in caravan_proto::ALL_SERVICE_NAMES {
            let service = pool.get_service_by_name(service).expect("known service");
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                assert!(policy.rule(&path).is_some(), "{path} has no rule");
            }
        }
    }

    #[test]
    fn rules_resolve_field_numbers() {
        let policy = policy();
        let get = policy
            .rule("/caravan.ingestion.v1.IngestionService/GetCustomer")
            .expect("rule");
        assert_eq!(get.scope, Scope::Read);
        assert_eq!(
            get.merchant.as_ref().map(|f| f.numbers.clone()),
            Some(vec![1])
        );
        assert!(get.reveal.is_some());
        let stream = policy
            .rule("/caravan.ingestion.v1.IngestionService/IngestEvents")
            .expect("rule");
        assert!(stream.client_streaming);
        assert_eq!(stream.scope, Scope::Write);
    }

    #[test]
    fn open_services_are_health_and_reflection_only() {
        assert!(AccessPolicy::is_open("/grpc.health.v1.Health/Check"));
        assert!(AccessPolicy::is_open(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!AccessPolicy::is_open(
            "/caravan.ingestion.v1.IngestionService/GetCustomer"
        ));
        assert!(!AccessPolicy::is_open("/grpc.health.v1.Healthy/Check"));
    }
}
