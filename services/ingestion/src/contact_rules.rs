//! What a valid B2B contact is. Pure, no I/O.

use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_store::entity::customer_contacts;

use crate::identity_rules::{mask_email, mask_name, mask_phone, normalise_email, normalise_phone};

/// A contact's column values after validation.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactFields {
    pub name: String,
    pub job_title: Option<String>,
    pub decision_maker: bool,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferred_channel: Option<String>,
}

impl std::fmt::Debug for ContactFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactFields(..personal data hidden)")
    }
}

pub fn check_contact(contact: &pb::Contact) -> Result<ContactFields, FieldViolations> {
    let mut v = FieldViolations::new();
    let name = contact.display_name.trim();
    if name.is_empty() {
        v.add("contact.display_name", "is required");
    } else if name.chars().count() > 255 {
        v.add("contact.display_name", "must be at most 255 characters");
    }
    let job_title = contact.job_title.trim();
    if job_title.chars().count() > 255 {
        v.add("contact.job_title", "must be at most 255 characters");
    }
    let email = if contact.email.trim().is_empty() {
        None
    } else {
        normalise_email(&contact.email)
            .map_err(|why| v.add("contact.email", why))
            .ok()
    };
    let phone = if contact.phone.trim().is_empty() {
        None
    } else {
        normalise_phone(&contact.phone)
            .map_err(|why| v.add("contact.phone", why))
            .ok()
    };
    let preferred_channel = match common::ContactChannel::try_from(contact.preferred_channel) {
        Err(_) => {
            v.add(
                "contact.preferred_channel",
                format!("{} is not a known value", contact.preferred_channel),
            );
            None
        }
        Ok(common::ContactChannel::Unspecified) => None,
        Ok(channel) => Some(
            channel
                .as_str_name()
                .trim_start_matches("CONTACT_CHANNEL_")
                .to_owned(),
        ),
    };
    v.into_result()?;
    Ok(ContactFields {
        name: name.to_owned(),
        job_title: (!job_title.is_empty()).then(|| job_title.to_owned()),
        decision_maker: contact.decision_maker,
        email,
        phone,
        preferred_channel,
    })
}

pub fn contact_to_proto(row: &customer_contacts::Model, reveal: bool) -> pb::Contact {
    let masked = |value: &Option<String>, mask: fn(&str) -> String| {
        value
            .as_deref()
            .map(|x| if reveal { x.to_owned() } else { mask(x) })
            .unwrap_or_default()
    };
    pb::Contact {
        name: format!(
            "merchants/{}/customers/{}/contacts/{}",
            row.merchant_id, row.customer_id, row.id
        ),
        display_name: masked(&row.name, mask_name),
        job_title: row.job_title.clone().unwrap_or_default(),
        decision_maker: row.decision_maker,
        email: masked(&row.email, mask_email),
        phone: masked(&row.phone, mask_phone),
        preferred_channel: row
            .preferred_channel
            .as_deref()
            .and_then(|c| common::ContactChannel::from_str_name(&format!("CONTACT_CHANNEL_{c}")))
            .map(|c| c as i32)
            .unwrap_or(0),
        // Not kept by the store (no column); see the report.
        language_code: String::new(),
        create_time: Some(to_timestamp(row.created_at.get())),
        update_time: Some(to_timestamp(row.updated_at.get())),
    }
}

/// Applies masked fields (AIP-134; empty mask = all).
pub fn apply_contact_mask(
    current: &mut pb::Contact,
    update: &pb::Contact,
    paths: &[String],
) -> Result<(), FieldViolations> {
    let mut v = FieldViolations::new();
    if paths.is_empty() {
        let name = current.name.clone();
        *current = update.clone();
        current.name = name;
        return Ok(());
    }
    for path in paths {
        match path.as_str() {
            "display_name" => current.display_name = update.display_name.clone(),
            "job_title" => current.job_title = update.job_title.clone(),
            "decision_maker" => current.decision_maker = update.decision_maker,
            "email" => current.email = update.email.clone(),
            "phone" => current.phone = update.phone.clone(),
            "preferred_channel" => current.preferred_channel = update.preferred_channel,
            "language_code" => current.language_code = update.language_code.clone(),
            other => v.add(
                "update_mask",
                format!("{other:?} is not a mutable contact field"),
            ),
        }
    }
    v.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_validated_and_normalised() {
        let contact = pb::Contact {
            display_name: " Li Wei ".to_owned(),
            job_title: "Purchasing manager".to_owned(),
            decision_maker: true,
            email: "LI.WEI@Example.cn".to_owned(),
            phone: "+86 138 0013 8000".to_owned(),
            preferred_channel: common::ContactChannel::Wechat as i32,
            ..Default::default()
        };
        let fields = check_contact(&contact).expect("valid");
        assert_eq!(fields.name, "Li Wei");
        assert_eq!(fields.email.as_deref(), Some("li.wei@example.cn"));
        assert_eq!(fields.phone.as_deref(), Some("+8613800138000"));
        assert_eq!(fields.preferred_channel.as_deref(), Some("WECHAT"));
        assert!(!format!("{fields:?}").contains("Li"));

        let bad = pb::Contact {
            email: "x".to_owned(),
            preferred_channel: 99,
            ..Default::default()
        };
        let err = check_contact(&bad).expect_err("invalid");
        let fields: Vec<_> = err.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "contact.display_name",
                "contact.email",
                "contact.preferred_channel"
            ]
        );
    }
}
