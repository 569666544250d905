//! Summaries of latency samples.

use std::time::Duration;

/// Percentiles of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarizes samples in milliseconds; `None` when there are none.
    pub fn of_ms(samples: &[f64]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            count: sorted.len(),
            p50: percentile(&sorted, 50.0)?,
            p90: percentile(&sorted, 90.0)?,
            p99: percentile(&sorted, 99.0)?,
            max: *sorted.last()?,
        })
    }

    /// Summarizes durations.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        Summary::of_ms(&samples.iter().map(|d| ms(*d)).collect::<Vec<_>>())
    }
}

/// Milliseconds in `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`th percentile of sorted samples, interpolating linearly between the closest ranks
/// (so the median of an even count is the mean of the middle two).
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p / 100.0 * last as f64;
    // `rank` lies in 0..=last, so both indexes are in bounds.
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (*sorted.get(below)?, *sorted.get(above)?);
    Some(low + (high - low) * (rank - below as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = Summary::of_ms(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.p50, 2.5);
        assert_eq!(s.max, 4.0);
        let s = Summary::of_ms(&(1..=101).map(f64::from).collect::<Vec<_>>()).unwrap();
        assert_eq!((s.p50, s.p90, s.p99), (51.0, 91.0, 100.0));
        assert!(Summary::of_ms(&[]).is_none());
    }
}
