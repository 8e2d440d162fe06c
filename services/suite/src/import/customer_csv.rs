//! The seller-backend customer list (pure): one customer per row.
//!
//! Columns (header names are matched case-insensitively, ignoring spaces, `_` and `-`; any
//! order; unknown columns are ignored): `customer_id`, `company`, `contact`, `email`,
//! `phone`, `country`, `tags`, `star_rating`, `source`. At least `company` or `contact` must
//! be present. See `docs/import.md` for the rules each row is checked against.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

use super::country_names::{self, Country};
use super::csv_lines::{Line, Lines};
use super::error::ImportError;
use super::online_retail::valid_customer_id;
use super::rejects::{Action, RejectLine};

/// The longest import tag the contract allows.
const MAX_TAG: usize = 64;

/// A customer from one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRecord {
    pub line: u64,
    pub customer_id: String,
    /// Set for a B2B customer (ENTERPRISE); empty for a PERSON.
    pub company: String,
    pub contact: String,
    pub email: String,
    pub phone: String,
    pub country_code: Option<String>,
    pub tags: Vec<String>,
    /// 0 = not rated.
    pub star_rating: i32,
    /// Empty: the `--source` default applies.
    pub source: String,
}

impl CustomerRecord {
    pub fn is_enterprise(&self) -> bool {
        !self.company.is_empty()
    }

    /// `(given, family)`: the contact split at its first space.
    pub fn person_names(&self) -> (String, String) {
        match self.contact.split_once(char::is_whitespace) {
            Some((given, family)) => (given.to_owned(), family.trim().to_owned()),
            None => (self.contact.clone(), String::new()),
        }
    }
}

/// The parsed list.
#[derive(Debug, Default)]
pub struct CustomerList {
    pub rows: u64,
    pub customers: Vec<CustomerRecord>,
    pub rejects: Vec<RejectLine>,
}

#[derive(Clone, Copy)]
enum Column {
    CustomerId,
    Company,
    Contact,
    Email,
    Phone,
    Country,
    Tags,
    StarRating,
    Source,
}

fn column(name: &str) -> Option<Column> {
    let key: String = name
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match key.as_str() {
        "customerid" | "id" => Column::CustomerId,
        "company" | "companyname" => Column::Company,
        "contact" | "contactname" | "contactperson" | "name" => Column::Contact,
        "email" | "emailaddress" => Column::Email,
        "phone" | "phonenumber" | "mobile" => Column::Phone,
        "country" | "countrycode" | "countryregion" => Column::Country,
        "tags" | "tag" | "labels" => Column::Tags,
        "starrating" | "stars" | "rating" => Column::StarRating,
        "source" => Column::Source,
        _ => return None,
    })
}

/// Reads the list one line at a time (`csv_lines`): a malformed line (unbalanced quote,
/// invalid UTF-8, too long, more fields than the header) is a reject with its reason, and
/// never runs into the next.
pub fn parse(input: impl Read, path: &Path) -> Result<CustomerList, ImportError> {
    let io_error = |e: std::io::Error| ImportError::io("read", path, e);
    let mut lines = Lines::new(BufReader::new(input));
    let header = match lines.next().transpose().map_err(io_error)? {
        Some(Line::Record { fields, .. }) => fields,
        Some(Line::Bad { reason, .. }) => {
            return Err(ImportError::Header {
                path: path.to_path_buf(),
                message: format!("the header line: {reason}"),
            });
        }
        None => Vec::new(),
    };
    let positions: Vec<(usize, Column)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, name)| column(name).map(|c| (i, c)))
        .collect();
    let has = |wanted: fn(&Column) -> bool| positions.iter().any(|(_, c)| wanted(c));
    if !has(|c| matches!(c, Column::Company)) && !has(|c| matches!(c, Column::Contact)) {
        return Err(ImportError::Header {
            path: path.to_path_buf(),
            message: "needs a company or a contact column (see docs/import.md)".into(),
        });
    }
    let mut list = CustomerList::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for read in lines {
        list.rows += 1;
        let (line, record) = match read.map_err(io_error)? {
            Line::Record { line, fields } => (line, fields),
            Line::Bad {
                line,
                reason,
                start,
            } => {
                list.rejects.push(RejectLine {
                    line,
                    key: String::new(),
                    detail: start,
                    action: Action::Skipped,
                    reason,
                });
                continue;
            }
        };
        let mut fields: [&str; 9] = [""; 9];
        for (i, col) in &positions {
            fields[*col as usize] = record.get(*i).map_or("", |f| f.trim());
        }
        let key = if fields[Column::CustomerId as usize].is_empty() {
            fields[Column::Company as usize]
        } else {
            fields[Column::CustomerId as usize]
        };
        let reject = |reason: String| RejectLine {
            line,
            key: key.to_owned(),
            detail: fields[Column::Contact as usize].to_owned(),
            action: Action::Skipped,
            reason,
        };
        match check_row(line, &fields) {
            Ok(customer) => {
                if let Some(first) = seen.get(&customer.customer_id) {
                    list.rejects.push(reject(format!(
                        "duplicate customer_id {} (first on line {first})",
                        customer.customer_id
                    )));
                } else {
                    seen.insert(customer.customer_id.clone(), line);
                    list.customers.push(customer);
                }
            }
            Err(reason) => list.rejects.push(reject(reason)),
        }
    }
    Ok(list)
}

fn check_row(line: u64, f: &[&str; 9]) -> Result<CustomerRecord, String> {
    let get = |c: Column| f[c as usize];
    let company = get(Column::Company);
    let contact = get(Column::Contact);
    if company.is_empty() && contact.is_empty() {
        return Err("neither company nor contact".into());
    }
    let customer_id = match get(Column::CustomerId) {
        "" => derived_id(company, contact, get(Column::Email)),
        given => {
            let id = given.to_lowercase();
            if !valid_customer_id(&id) {
                return Err(format!(
                    "invalid customer_id {given:?} (expected [a-z0-9][a-z0-9_-]{{0,62}})"
                ));
            }
            id
        }
    };
    let country_code = match get(Column::Country) {
        "" => None,
        name => match country_names::lookup(name) {
            Country::Code(code) => Some(code),
            Country::NoCode => None,
            Country::Unknown => return Err(format!("unknown country {name:?}")),
        },
    };
    Ok(CustomerRecord {
        line,
        customer_id,
        company: company.to_owned(),
        contact: contact.to_owned(),
        email: get(Column::Email).to_owned(),
        phone: get(Column::Phone).to_owned(),
        country_code,
        tags: tags(get(Column::Tags))?,
        star_rating: star_rating(get(Column::StarRating))?,
        source: get(Column::Source).to_owned(),
    })
}

/// Tags separated by `;`, `|` or `,`; trimmed, empty ones dropped, duplicates removed.
fn tags(text: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split([';', '|', ',']).map(str::trim) {
        if tag.is_empty() || tags.iter().any(|t| t == tag) {
            continue;
        }
        if tag.chars().count() > MAX_TAG {
            return Err(format!("tag longer than {MAX_TAG} characters: {tag:?}"));
        }
        tags.push(tag.to_owned());
    }
    Ok(tags)
}

/// `1`-`5`, `0` or empty (not rated), or stars as a seller backend shows them (`★★★☆☆`).
fn star_rating(text: &str) -> Result<i32, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let stars = text.chars().filter(|c| *c == '★').count();
    let value = if text.chars().all(|c| c == '★' || c == '☆') {
        i32::try_from(stars).ok()
    } else {
        text.parse::<i32>().ok()
    };
    value
        .filter(|v| (0..=5).contains(v))
        .ok_or_else(|| format!("invalid star_rating {text:?} (expected 0-5 or ★ stars)"))
}

/// A stable id for a row without customer_id: `sb-` and the FNV-1a hash (64-bit, hex) of
/// the lower-cased `company|contact|email`, so that a re-import finds the same customer.
fn derived_id(company: &str, contact: &str, email: &str) -> String {
    let key = format!("{company}|{contact}|{email}").to_lowercase();
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("sb-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> CustomerList {
        parse(text.as_bytes(), Path::new("c.csv")).expect("parses")
    }

    /// `(line, reason)` of each reject.
    fn reasons(list: &CustomerList) -> Vec<(u64, &str)> {
        list.rejects
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect()
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../../docs/examples/customers.csv");
        let list = parse_text(text);
        assert!(list.rejects.is_empty(), "{:?}", list.rejects);
        assert_eq!(list.rows, list.customers.len() as u64);
        let first = &list.customers[0];
        assert!(first.is_enterprise());
        assert_eq!(first.country_code.as_deref(), Some("DE"));
        assert!(list.customers.iter().any(|c| !c.is_enterprise()));
    }

    #[test]
    fn maps_columns_and_values() {
        let list = parse_text(
            "Customer ID,Company Name,Contact Person,Email,Country,Tags,Star Rating,Source,Extra\n\
             ACME-1,Acme GmbH,Anna Schmidt,anna@acme.de,Germany,\"vip; trade-show-2024 |vip\",★★★★☆,alibaba,x\n\
             ,,Li Wei,li@example.cn,CN,,3,,\n",
        );
        assert_eq!(list.rejects, vec![]);
        let acme = &list.customers[0];
        assert_eq!(acme.customer_id, "acme-1");
        assert_eq!(acme.company, "Acme GmbH");
        assert_eq!(acme.country_code.as_deref(), Some("DE"));
        assert_eq!(acme.tags, vec!["vip", "trade-show-2024"]);
        assert_eq!(acme.star_rating, 4);
        assert_eq!(acme.source, "alibaba");
        assert_eq!(acme.line, 2);
        let li = &list.customers[1];
        assert!(!li.is_enterprise());
        assert_eq!(li.person_names(), ("Li".to_owned(), "Wei".to_owned()));
        assert!(li.customer_id.starts_with("sb-"));
        assert_eq!(li.customer_id, derived_id("", "Li Wei", "li@example.cn"));
        assert_eq!(li.star_rating, 3);
    }

    #[test]
    fn rejects_bad_rows_with_reasons() {
        let list = parse_text(
            "customer_id,company,contact,country,star_rating,tags\n\
             a1,Acme,,DE,,\n\
             a1,Acme again,,DE,,\n\
             ,,,DE,,\n\
             Bad Id!,Acme,,DE,,\n\
             a2,Acme,,Atlantis,,\n\
             a3,Acme,,DE,7,\n\
             a4,Acme,,Unspecified,,\n",
        );
        let reasons = reasons(&list);
        assert_eq!(
            reasons,
            vec![
                (3, "duplicate customer_id a1 (first on line 2)"),
                (4, "neither company nor contact"),
                (
                    5,
                    "invalid customer_id \"Bad Id!\" (expected [a-z0-9][a-z0-9_-]{0,62})"
                ),
                (6, "unknown country \"Atlantis\""),
                (7, "invalid star_rating \"7\" (expected 0-5 or ★ stars)"),
            ]
        );
        assert_eq!(list.customers.len(), 2);
        assert_eq!(
            list.customers[1].country_code, None,
            "Unspecified has no code"
        );
        assert!(tags(&"x".repeat(65)).is_err());
    }

    #[test]
    fn malformed_lines_are_rejected_with_their_line_and_the_rest_imported() {
        let mut input = b"customer_id,contact,email\n\
            c1,\"Ann Smith,ann@example.com\n\
            c2,Bob Jones,bob@example.com\n\
            c3,Chlo\xe9 Martin,chloe@example.fr\n\
            c4,Dan,dan@example.com,extra\n"
            .to_vec();
        input.extend_from_slice(b"c5,");
        input.extend(std::iter::repeat_n(b'x', 20 << 20));
        input.extend_from_slice(b",eve@example.com\nc6,Fay,fay@example.com\n");
        let list = parse(input.as_slice(), Path::new("c.csv")).expect("parses");
        let reasons = reasons(&list);
        assert_eq!(
            reasons,
            [
                (2, "unbalanced quote"),
                (4, "not UTF-8 (invalid byte at byte 8)"),
                (5, "4 fields where the header has 3"),
                (6, "line longer than 65536 bytes"),
            ]
        );
        let imported: Vec<(&str, &str, &str)> = list
            .customers
            .iter()
            .map(|c| (c.customer_id.as_str(), c.contact.as_str(), c.email.as_str()))
            .collect();
        assert_eq!(
            imported,
            [
                ("c2", "Bob Jones", "bob@example.com"),
                ("c6", "Fay", "fay@example.com")
            ],
            "no row is merged into another"
        );
        assert_eq!(list.rows, 6);
    }

    #[test]
    fn a_header_that_does_not_read_is_an_error() {
        let err = parse(b"id,\"contact\n".as_slice(), Path::new("c.csv")).expect_err("header");
        assert!(err.to_string().contains("unbalanced quote"), "{err}");
    }

    #[test]
    fn needs_company_or_contact() {
        let err = parse("email\na@b.c\n".as_bytes(), Path::new("c.csv")).expect_err("header");
        assert!(matches!(err, ImportError::Header { .. }));
    }
}
