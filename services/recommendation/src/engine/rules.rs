//! Cross-border serving rules, applied as a filter after scoring (with over-fetch, see
//! [`super::scoring::top_k`]):
//! - never recommend an item that does not ship to the customer's country (an item with a
//!   ships-to list is refused when the country is unknown) or is out of stock;
//! - never recommend again a non-replenishable item the customer already bought;
//! - respect the merchant's per-country category exclusions (category prefix matched level
//!   by level, so `"Health > Supplements"` excludes `"Health > Supplements > Vitamins"` but
//!   not `"Health > Supplements2"`; `/` is accepted as a level separator too);
//! - never recommend an inactive (or unknown) product.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct ItemFacts {
    /// Countries the item ships to; `None` = everywhere.
    pub ships_to: Option<Vec<String>>,
    pub in_stock: bool,
    pub replenishable: bool,
    pub category: Option<String>,
    /// Inactive products (and products missing from the catalogue) are never recommended.
    pub active: bool,
}

impl Default for ItemFacts {
    fn default() -> Self {
        Self {
            ships_to: None,
            in_stock: true,
            replenishable: true,
            category: None,
            active: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Inactive,
    DoesNotShip,
    OutOfStock,
    AlreadyBought,
    ExcludedCategory,
}

/// Item facts indexed by item index (items without facts pass) and per-country exclusions.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub facts: Vec<ItemFacts>,
    /// Country → excluded category prefixes.
    pub exclusions: HashMap<String, Vec<String>>,
}

impl Rules {
    /// `purchased` must be sorted (a matrix row's indices are).
    pub fn check(
        &self,
        item: u32,
        country: Option<&str>,
        purchased: &[u32],
    ) -> Result<(), Violation> {
        let Some(f) = self.facts.get(item as usize) else {
            return Ok(());
        };
        if !f.active {
            return Err(Violation::Inactive);
        }
        if let Some(ships) = &f.ships_to
            && !country.is_some_and(|c| ships.iter().any(|s| s == c))
        {
            return Err(Violation::DoesNotShip);
        }
        if !f.in_stock {
            return Err(Violation::OutOfStock);
        }
        if !f.replenishable && purchased.binary_search(&item).is_ok() {
            return Err(Violation::AlreadyBought);
        }
        if let (Some(c), Some(cat)) = (country, &f.category)
            && self
                .exclusions
                .get(c)
                .is_some_and(|ex| ex.iter().any(|p| category_matches(p, cat)))
        {
            return Err(Violation::ExcludedCategory);
        }
        Ok(())
    }

    pub fn allows(&self, item: u32, country: Option<&str>, purchased: &[u32]) -> bool {
        self.check(item, country, purchased).is_ok()
    }
}

/// Whether `category` is `prefix` or below it, level by level (`" > "` or `/` separated).
pub fn category_matches(prefix: &str, category: &str) -> bool {
    let prefix = prefix.trim().trim_end_matches(['>', '/']).trim_end();
    match category.strip_prefix(prefix) {
        Some(rest) => {
            let rest = rest.trim_start();
            rest.is_empty() || rest.starts_with('>') || rest.starts_with('/')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            facts: vec![
                ItemFacts {
                    ships_to: Some(vec!["Germany".into()]),
                    ..ItemFacts::default()
                },
                ItemFacts {
                    in_stock: false,
                    ..ItemFacts::default()
                },
                ItemFacts {
                    replenishable: false,
                    ..ItemFacts::default()
                },
                ItemFacts {
                    category: Some("alcohol/wine".into()),
                    ..ItemFacts::default()
                },
                ItemFacts::default(),
            ],
            exclusions: HashMap::from([("Saudi Arabia".to_string(), vec!["alcohol".to_string()])]),
        }
    }

    #[test]
    fn ships_to() {
        let r = rules();
        assert_eq!(r.check(0, Some("Germany"), &[]), Ok(()));
        assert_eq!(r.check(0, Some("France"), &[]), Err(Violation::DoesNotShip));
        assert_eq!(r.check(0, None, &[]), Err(Violation::DoesNotShip));
    }

    #[test]
    fn stock() {
        assert_eq!(
            rules().check(1, Some("Germany"), &[]),
            Err(Violation::OutOfStock)
        );
    }

    #[test]
    fn non_replenishable_repeat() {
        let r = rules();
        assert_eq!(
            r.check(2, Some("Germany"), &[0, 2]),
            Err(Violation::AlreadyBought)
        );
        assert_eq!(r.check(2, Some("Germany"), &[0, 3]), Ok(()));
        assert_eq!(
            r.check(4, Some("Germany"), &[4]),
            Ok(()),
            "replenishable items may repeat"
        );
    }

    #[test]
    fn country_category_exclusion() {
        let r = rules();
        assert_eq!(
            r.check(3, Some("Saudi Arabia"), &[]),
            Err(Violation::ExcludedCategory)
        );
        assert_eq!(r.check(3, Some("Germany"), &[]), Ok(()));
        assert!(r.allows(99, None, &[]), "items without facts pass");
    }

    #[test]
    fn category_prefix_is_matched_level_by_level() {
        let cat = "Health > Supplements > Vitamins";
        assert!(category_matches("Health > Supplements", cat));
        assert!(category_matches("Health", cat));
        assert!(category_matches("Health > Supplements > Vitamins", cat));
        assert!(!category_matches(
            "Health > Supplements",
            "Health > Supplements2"
        ));
        assert!(!category_matches("Health > Supp", cat));
        assert!(category_matches("alcohol", "alcohol/wine"));
        assert!(!category_matches("Garden", cat));
    }

    #[test]
    fn inactive_items_never_pass() {
        let r = Rules {
            facts: vec![ItemFacts {
                active: false,
                ..ItemFacts::default()
            }],
            ..Rules::default()
        };
        assert_eq!(r.check(0, Some("DE"), &[]), Err(Violation::Inactive));
    }
}
