//! The daily API request allocation and the `Sforce-Limit-Info` header.
//!
//! Every data request under `/services/data/vNN.0/` counts 1, including each Bulk API 2.0
//! request. Whether Bulk 2.0 requests decrement `DailyApiRequests` is UNCONFIRMED
//! (plugin/SALESFORCE.md §6.6); Bulk 1.0 docs say every HTTP request counts, and
//! counting them is the conservative choice for a client that budgets its calls. The
//! versions list and the OAuth token endpoint do not count (§7.4; token UNCONFIRMED).

/// Usage counter of the rolling daily allocation (the window never rolls here).
#[derive(Debug, Clone)]
pub struct Limits {
    max: u64,
    used: u64,
}

impl Limits {
    /// A fresh allocation of `max` calls.
    pub fn new(max: u64) -> Limits {
        Limits { max, used: 0 }
    }

    /// Takes one call from the allocation. `Err` when it is spent (answer 403).
    pub fn consume(&mut self) -> Result<(), ()> {
        if self.used >= self.max {
            return Err(());
        }
        self.used += 1;
        Ok(())
    }

    /// Calls used.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// `Max`.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// `Remaining`.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// Sets `Remaining` (clamped to `Max`).
    pub fn set_remaining(&mut self, remaining: u64) {
        self.used = self.max.saturating_sub(remaining.min(self.max));
    }

    /// The `Sforce-Limit-Info` header value: `api-usage=USED/MAX`.
    pub fn header(&self) -> String {
        format!("api-usage={}/{}", self.used, self.max)
    }

    /// The `GET /limits` body (§7.1). Only `DailyApiRequests` moves; the other entries
    /// are the documented example values.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "DailyApiRequests": { "Max": self.max, "Remaining": self.remaining() },
            "DailyBulkApiBatches": { "Max": 15000, "Remaining": 15000 },
            "DailyBulkV2QueryJobs": { "Max": 10000, "Remaining": 10000 },
            "DailyBulkV2QueryFileStorageMB": { "Max": 976562, "Remaining": 976562 },
            "DataStorageMB": { "Max": 1024, "Remaining": 1010 }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_and_refuses() {
        let mut l = Limits::new(2);
        assert!(l.consume().is_ok());
        assert_eq!(l.header(), "api-usage=1/2");
        assert!(l.consume().is_ok());
        assert!(l.consume().is_err());
        assert_eq!(l.remaining(), 0);
        l.set_remaining(1);
        assert_eq!(l.header(), "api-usage=1/2");
    }
}
