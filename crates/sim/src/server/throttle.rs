//! Per-budget counters for `EWSMaxConcurrency` and `HangingConnectionLimit`.
//!
//! A budget is what Exchange charges a request to: the calling account, or, when the service
//! account impersonates, a copy of the impersonated mailbox's budget (so a service account
//! gets the limit once per impersonated mailbox, as on Exchange 2013 and later).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Who a request is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    pub account: String,
    pub impersonated: Option<String>,
}

impl BudgetKey {
    pub fn new(account: &str, impersonated: Option<&str>) -> Self {
        BudgetKey { account: account.to_ascii_lowercase(), impersonated: impersonated.map(str::to_ascii_lowercase) }
    }
}

/// Counts what is open per budget and refuses more than `limit`.
#[derive(Debug, Clone)]
pub struct Limiter {
    limit: usize,
    open: Arc<Mutex<HashMap<BudgetKey, usize>>>,
}

/// Holds one unit of a budget; gives it back when dropped.
#[derive(Debug)]
pub struct Permit {
    key: BudgetKey,
    open: Arc<Mutex<HashMap<BudgetKey, usize>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl Limiter {
    pub fn new(limit: usize) -> Self {
        Limiter { limit, open: Arc::default() }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes a unit of `key`'s budget, or `None` when `limit` units are already taken.
    pub fn try_acquire(&self, key: &BudgetKey) -> Option<Permit> {
        let mut open = self.open.lock().unwrap();
        let n = open.entry(key.clone()).or_default();
        if *n >= self.limit {
            if *n == 0 {
                open.remove(key);
            }
            return None;
        }
        *n += 1;
        Some(Permit { key: key.clone(), open: self.open.clone() })
    }

    /// Units taken now, over all budgets.
    pub fn in_use(&self) -> usize {
        self.open.lock().unwrap().values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_per_budget() {
        let l = Limiter::new(2);
        let a = BudgetKey::new("svc", None);
        let b = BudgetKey::new("svc", Some("user1@contoso.test"));
        let p1 = l.try_acquire(&a).unwrap();
        let _p2 = l.try_acquire(&a).unwrap();
        assert!(l.try_acquire(&a).is_none());
        let _q = l.try_acquire(&b).unwrap();
        drop(p1);
        let _p3 = l.try_acquire(&a).unwrap();
        assert_eq!(l.in_use(), 3);
    }
}
