//! Seeded, reproducible fault injection.
//!
//! One ChaCha8 stream, seeded from [`FaultConfig::seed`], decides every fault. The same
//! seed and the same sequence of requests give the same faults: a request draws once for
//! a dropped connection (when `rate_drop > 0`), once for a 5xx (when `rate_5xx > 0`), and
//! every record that would otherwise be written draws once for a lock error (when
//! `rate_lock > 0`). Concurrent clients interleave draws in arrival order, so
//! reproducibility holds for a sequential client.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What to inject. Rates are probabilities in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// RNG seed; the same seed replays the same faults.
    pub seed: u64,
    /// Share of API requests answered `503 Service Unavailable` without being processed.
    pub rate_5xx: f64,
    /// Share of API requests whose connection is closed without any response, before the
    /// request is processed (nothing is written, nothing counted against the limit).
    pub rate_drop: f64,
    /// Share of record writes failing with `UNABLE_TO_LOCK_ROW` (REST, Collections, Bulk).
    pub rate_lock: f64,
    /// Every access token expires after this many authenticated data calls: call `N + 1`
    /// answers 401 `INVALID_SESSION_ID` and the client must refresh.
    pub expire_token_every: Option<u64>,
    /// Latency added before every API request is handled, in milliseconds.
    pub latency_ms: u64,
}

/// A request-level fault decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFault {
    /// Handle the request normally.
    None,
    /// Close the connection without answering.
    Drop,
    /// Answer 503.
    ServerUnavailable,
}

/// The live fault state: configuration, RNG stream, token-expiry counter.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: ChaCha8Rng,
    calls_since_expiry: u64,
}

impl Faults {
    /// Starts a stream for `config`.
    pub fn new(config: FaultConfig) -> Faults {
        Faults {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            calls_since_expiry: 0,
        }
    }

    /// Replaces the configuration and restarts the stream from its seed.
    pub fn set(&mut self, config: FaultConfig) {
        *self = Faults::new(config);
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    fn chance(&mut self, rate: f64) -> bool {
        if rate <= 0.0 || rate.is_nan() {
            return false;
        }
        self.rng.random::<f64>() < rate
    }

    /// Decides a request-level fault.
    pub fn roll_request(&mut self) -> RequestFault {
        let (drop, unavailable) = (self.config.rate_drop, self.config.rate_5xx);
        if self.chance(drop) {
            RequestFault::Drop
        } else if self.chance(unavailable) {
            RequestFault::ServerUnavailable
        } else {
            RequestFault::None
        }
    }

    /// Decides whether one record write hits a lock error.
    pub fn roll_lock(&mut self) -> bool {
        let rate = self.config.rate_lock;
        self.chance(rate)
    }

    /// Counts an authenticated data call; true when the tokens expire before this one.
    pub fn token_expiry_due(&mut self) -> bool {
        match self.config.expire_token_every {
            Some(n) if n > 0 => {
                if self.calls_since_expiry >= n {
                    self.calls_since_expiry = 0;
                    true
                } else {
                    self.calls_since_expiry += 1;
                    false
                }
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let cfg = FaultConfig {
            seed: 7,
            rate_5xx: 0.3,
            rate_drop: 0.2,
            rate_lock: 0.5,
            ..FaultConfig::default()
        };
        let run = |cfg: &FaultConfig| {
            let mut f = Faults::new(cfg.clone());
            (0..200)
                .map(|_| (f.roll_request(), f.roll_lock()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&cfg), run(&cfg));
        let other = FaultConfig {
            seed: 8,
            ..cfg.clone()
        };
        assert_ne!(run(&cfg), run(&other));
    }

    #[test]
    fn token_expiry_every_n() {
        let mut f = Faults::new(FaultConfig {
            expire_token_every: Some(3),
            ..FaultConfig::default()
        });
        let due: Vec<bool> = (0..8).map(|_| f.token_expiry_due()).collect();
        assert_eq!(due, [false, false, false, true, false, false, false, true]);
    }
}
