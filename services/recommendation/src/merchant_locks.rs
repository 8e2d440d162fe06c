//! One async lock per merchant, so that slow work for one merchant (building a cold-start
//! model from a year of interactions) does not hold up the same work for the others, while
//! concurrent requests for the same merchant still wait for one build and share it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Debug, Default)]
pub struct MerchantLocks {
    // One entry per merchant ever locked: merchants are few and long-lived, so entries are
    // kept rather than reference-counted away.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MerchantLocks {
    /// Waits for and takes the merchant's lock.
    pub async fn lock(&self, merchant: &str) -> OwnedMutexGuard<()> {
        self.lock_of(merchant).lock_owned().await
    }

    fn lock_of(&self, merchant: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means a panic elsewhere while inserting; it is still whole.
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(merchant.to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_merchant_lock_blocks_that_merchant_only() {
        let locks = MerchantLocks::default();
        let held = locks.lock("acme").await;
        assert!(
            locks.lock_of("acme").try_lock().is_err(),
            "the same merchant waits"
        );
        assert!(
            locks.lock_of("globex").try_lock().is_ok(),
            "another merchant does not"
        );
        drop(held);
        assert!(locks.lock_of("acme").try_lock().is_ok(), "released");
    }
}
