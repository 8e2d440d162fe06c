//! Masks for personal data shown to callers who may not see it in full. Every service
//! that returns names, e-mails or phones masks them the same way.

/// `j***@example.com` for an e-mail, `+49******78` for a phone, `***` otherwise.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 5 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// `J***` for a name.
pub fn mask_name(name: &str) -> String {
    let first: String = name.chars().take(1).collect();
    if first.is_empty() {
        String::new()
    } else {
        format!("{first}***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_hint() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_phone("+4915112345678"), "+49*********78");
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_name("Jane"), "J***");
        assert_eq!(mask_name(""), "");
    }
}
