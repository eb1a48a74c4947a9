//! Latency statistics: nearest-rank percentiles, means and rates.

use serde::Serialize;

/// Latency figures of one kind of operation.
#[derive(Debug, Serialize)]
pub(super) struct OpStats {
    pub(super) count: u64,
    pub(super) ops_s: f64,
    pub(super) mean_ms: f64,
    pub(super) p50_ms: f64,
    pub(super) p90_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

/// The nearest-rank percentile `p` of sorted nanoseconds, in ms.
pub(super) fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    ns_to_ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub(super) fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl OpStats {
    pub(super) fn of(mut latencies: Vec<u64>, wall_s: f64) -> OpStats {
        latencies.sort_unstable();
        let count = latencies.len() as u64;
        let total: u128 = latencies.iter().map(|&n| u128::from(n)).sum();
        OpStats {
            count,
            ops_s: rate(count, wall_s),
            mean_ms: if count == 0 {
                0.0
            } else {
                total as f64 / count as f64 / 1e6
            },
            p50_ms: percentile_ms(&latencies, 50.0),
            p90_ms: percentile_ms(&latencies, 90.0),
            p99_ms: percentile_ms(&latencies, 99.0),
            max_ms: latencies.last().copied().map_or(0.0, ns_to_ms),
        }
    }
}

pub(super) fn rate(count: u64, wall_s: f64) -> f64 {
    if wall_s > 0.0 {
        count as f64 / wall_s
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_ordered() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile_ms(&ns, 50.0), 50.0);
        assert_eq!(percentile_ms(&ns, 90.0), 90.0);
        assert_eq!(percentile_ms(&ns, 99.0), 99.0);
        assert_eq!(percentile_ms(&[7_000_000], 99.0), 7.0);
        let s = OpStats::of(vec![3_000_000, 1_000_000, 2_000_000], 1.0);
        assert_eq!((s.count, s.p50_ms, s.max_ms, s.mean_ms), (3, 2.0, 3.0, 2.0));
    }
}
