//! A replica's memory of which customer ids exist and where merged ones point, so that an
//! ingestion batch does not look up every customer it names again.
//!
//! Looking up the ~1,000 customers of a batch cost a quarter of the ingestion time. What it
//! finds changes only when customers are merged or erased, and both bump the merchant's
//! `identity_version` (see `merchant_store`). A batch reads that version under a shared lock
//! first, so the version is fixed until the batch commits. Entries are therefore kept with
//! the version they were learned at and used only while it is the version the batch read.
//! Customers created elsewhere meanwhile are simply unknown here: they are looked up.
//! Entries are added only after the transaction that read or created them committed.

// std's SipHash, not foldhash as for the per-batch maps: this map lives long and holds up to
// `customer_cache_entries` ids that callers choose, so it must resist crafted collisions.
use std::collections::HashMap;
use std::sync::Mutex;

/// Where a known customer id resolves to: itself (`None`) or the customer it was merged into.
pub type Redirect = Option<String>;

#[derive(Debug, Default)]
struct Known {
    version: i64,
    ids: HashMap<String, Redirect>,
}

/// Known customer ids per merchant, at most `capacity` in all (0 turns it off).
#[derive(Debug)]
pub struct CustomerDirectory {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    merchants: HashMap<String, Known>,
    total: usize,
}

/// The answer for the ids of a batch: where the known ones that were merged away point, and
/// the ids to look up in the store. (Known ids that are not merged need nothing: they stay.)
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lookup<'a> {
    pub merged: Vec<(&'a str, String)>,
    pub unknown: Vec<&'a str>,
}

impl CustomerDirectory {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves at worst a partial map of true facts.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Splits `ids` into the ones known at `version` and the rest.
    pub fn lookup<'a>(&self, merchant: &str, version: i64, ids: &[&'a str]) -> Lookup<'a> {
        let inner = self.lock();
        let known = inner
            .merchants
            .get(merchant)
            .filter(|k| k.version == version);
        let mut out = Lookup::default();
        for &id in ids {
            match known.and_then(|k| k.ids.get(id)) {
                Some(Some(target)) => out.merged.push((id, target.clone())),
                Some(None) => {}
                None => out.unknown.push(id),
            }
        }
        out
    }

    /// Remembers what a committed transaction found or created at `version`. Facts from an
    /// older version than the one already held are dropped; a newer version replaces all.
    pub fn remember(&self, merchant: &str, version: i64, learned: Vec<(String, Redirect)>) {
        if self.capacity == 0 || learned.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let Inner { merchants, total } = &mut *inner;
        let entry = merchants.entry(merchant.to_owned()).or_default();
        if entry.version > version {
            return;
        }
        if entry.version < version {
            *total -= entry.ids.len();
            entry.ids.clear();
            entry.version = version;
        }
        let new = learned
            .iter()
            .filter(|(id, _)| !entry.ids.contains_key(id))
            .count();
        if *total + new > self.capacity {
            // Simple and bounded: start over rather than track recency per id.
            merchants.clear();
            *total = 0;
            if learned.len() > self.capacity {
                return;
            }
            merchants.insert(
                merchant.to_owned(),
                Known {
                    version,
                    ids: HashMap::new(),
                },
            );
        }
        let Some(entry) = merchants.get_mut(merchant) else {
            return;
        };
        for (id, redirect) in learned {
            if entry.ids.insert(id, redirect).is_none() {
                *total += 1;
            }
        }
    }

    /// How many ids are remembered in all.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().total
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learned(ids: &[(&str, Option<&str>)]) -> Vec<(String, Redirect)> {
        ids.iter()
            .map(|(id, to)| ((*id).to_owned(), to.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn remembers_ids_and_redirects_at_their_version() {
        let d = CustomerDirectory::new(100);
        d.remember("m", 3, learned(&[("a", None), ("b", Some("a"))]));
        let found = d.lookup("m", 3, &["a", "b", "c"]);
        assert_eq!(found.merged, vec![("b", "a".to_owned())]);
        assert_eq!(found.unknown, vec!["c"]);
        // Another merchant shares nothing.
        assert_eq!(d.lookup("n", 3, &["a"]).unknown, vec!["a"]);
    }

    #[test]
    fn a_new_version_forgets_everything_learned_before_it() {
        let d = CustomerDirectory::new(100);
        d.remember("m", 3, learned(&[("a", None), ("b", None)]));
        // A merge happened: the batch read version 4.
        assert_eq!(d.lookup("m", 4, &["a", "b"]).unknown, vec!["a", "b"]);
        d.remember("m", 4, learned(&[("b", Some("a"))]));
        assert_eq!(d.len(), 1);
        let found = d.lookup("m", 4, &["a", "b"]);
        assert_eq!(found.unknown, vec!["a"]);
        assert_eq!(found.merged, vec![("b", "a".to_owned())]);
        // A slow batch that read version 3 commits late: its facts are stale, dropped.
        d.remember("m", 3, learned(&[("a", None)]));
        assert_eq!(d.lookup("m", 4, &["a"]).unknown, vec!["a"]);
        assert_eq!(d.lookup("m", 3, &["b"]).unknown, vec!["b"]);
    }

    #[test]
    fn stays_within_its_capacity() {
        let d = CustomerDirectory::new(3);
        d.remember("m", 0, learned(&[("a", None), ("b", None)]));
        d.remember("n", 0, learned(&[("x", None)]));
        assert_eq!(d.len(), 3);
        // Re-learning a known id does not count twice.
        d.remember("n", 0, learned(&[("x", None)]));
        assert_eq!(d.len(), 3);
        d.remember("m", 0, learned(&[("c", None)]));
        assert_eq!(d.len(), 1, "full: start over with the newest facts");
        assert!(d.lookup("m", 0, &["c"]).unknown.is_empty());
        assert_eq!(d.lookup("n", 0, &["x"]).unknown, vec!["x"]);
        d.remember(
            "m",
            0,
            learned(&[("p", None), ("q", None), ("r", None), ("s", None)]),
        );
        assert!(d.len() <= 3);
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let d = CustomerDirectory::new(0);
        d.remember("m", 0, learned(&[("a", None)]));
        assert!(d.is_empty());
        assert_eq!(d.lookup("m", 0, &["a"]).unknown, vec!["a"]);
    }
}
