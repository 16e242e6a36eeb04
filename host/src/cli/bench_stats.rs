//! Summary statistics of a benchmark's timings, shared by every benchmark.

use std::time::Duration;

/// Summary statistics of one series, in microseconds.
#[derive(serde::Serialize, Debug, Clone)]
pub struct Series {
    /// What was measured.
    pub name: String,
    /// Samples.
    pub samples: usize,
    /// Median.
    pub median_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// Median, p90, p99 and mean of `d` (sorted here).
pub fn series(name: &str, mut d: Vec<Duration>) -> Series {
    d.sort();
    let us = |x: Duration| x.as_secs_f64() * 1e6;
    let pick = |q: f64| us(d[((d.len() as f64 - 1.0) * q).round() as usize]);
    Series {
        name: name.into(),
        samples: d.len(),
        median_us: pick(0.5),
        p90_us: pick(0.9),
        p99_us: pick(0.99),
        mean_us: d.iter().map(|x| us(*x)).sum::<f64>() / d.len() as f64,
    }
}
