//! k6's trend histograms (the cloud output's trend periods) turned into Volley's [`TrendSink`].
//!
//! What k6 v1.1.0 sends, learned from its pushes of known values
//! ([docs/k6-cloud-client.md](../../../../docs/k6-cloud-client.md#trends)): each value `v ≥ 0`
//! becomes the integer `u = ceil(v / resolution)` (`resolution` is 0.001 ms), and `u`
//! its bucket: `u` itself below 256, else 128 equal buckets per power of two
//! (`index = 128·(e − 6) + (u − 2^e) / 2^(e−7)` for `2^e ≤ u < 2^(e+1)`). Values below zero and
//! values whose `u` does not fit 64 bits are only counted; count, sum, min and max are exact.
//!
//! So a bucket holds the values in `((lo − 1)·res, (hi − 1)·res]` for its `u` range `[lo, hi)`,
//! and Volley records each bucket's count at the middle of that range: off by at most half a
//! resolution step (0.0005 ms) below 0.256 ms, by at most 1/256 (0.39 %) of the value above.
//! Negative values are recorded at the exact min, too-large ones at the exact max. Count, sum,
//! avg, min and max stay exact; `med` and `p(N)` are within those bounds of k6's own numbers
//! (Volley's histogram adds at most 0.05 %).

use volley_common::metrics::histogram::Histogram;
use volley_common::metrics::TrendSink;
use volley_proto::cloud_push::Histogram as PushedHistogram;

/// Indexes below this are one `u` each.
const LINEAR_BUCKETS: u32 = 256;
/// Buckets per power of two above the linear part (7 bits).
const SUB_BUCKETS: u32 = 128;
/// One past the largest index: `u < 2^64`.
pub const INDEX_LIMIT: u32 = SUB_BUCKETS * (63 - 6) + SUB_BUCKETS;

/// The `u` range `[lo, hi)` of bucket `index` (`index < INDEX_LIMIT`).
fn u_range(index: u32) -> (f64, f64) {
    if index < LINEAR_BUCKETS {
        let u = f64::from(index);
        return (u, u + 1.0);
    }
    let e = index / SUB_BUCKETS + 6;
    let sub = index % SUB_BUCKETS;
    let width = 2f64.powi(e as i32 - 7);
    let lo = 2f64.powi(e as i32) + f64::from(sub) * width;
    (lo, lo + width)
}

/// The value Volley records for bucket `index` at resolution `res`: the middle of the values
/// that fall into it (0 for bucket 0, which only `v = 0` reaches).
pub fn bucket_value(index: u32, res: f64) -> f64 {
    if index == 0 {
        return 0.0;
    }
    let (lo, hi) = u_range(index);
    ((lo - 1.0) + (hi - 1.0)) / 2.0 * res
}

/// Why a trend sample was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendError {
    #[error("resolution is {0}; it must be a positive number (k6 sends 0.001)")]
    Resolution(f64),
    #[error("the runs cover {spans} buckets but {counters} bucket counts were sent")]
    RunMismatch { spans: u64, counters: usize },
    #[error(
        "a run of buckets reaches bucket {index}, past the last bucket ({limit}) of a 64-bit value"
    )]
    IndexOutOfRange { index: u64, limit: u32 },
    #[error(
        "count is {count} but the buckets ({bucketed}), values below zero ({low}) and beyond range ({high}) add up to {total}"
    )]
    CountMismatch {
        count: u32,
        bucketed: u64,
        low: u32,
        high: u32,
        total: u64,
    },
    #[error("min {min}, max {max} and sum {sum} must be numbers with min ≤ max")]
    Bounds { min: f64, max: f64, sum: f64 },
    #[error("{0}")]
    Sink(String),
}

/// One aggregation period of a k6 trend as a Volley trend sink.
pub fn trend_sink(v: &PushedHistogram) -> Result<TrendSink, TrendError> {
    let res = v.resolution;
    if !(res.is_finite() && res > 0.0) {
        return Err(TrendError::Resolution(res));
    }
    let (min, max, sum) = (v.lowest, v.highest, v.sum);
    if !(min.is_finite() && max.is_finite() && sum.is_finite() && min <= max) {
        return Err(TrendError::Bounds { min, max, sum });
    }
    let spans: u64 = v.runs.iter().map(|s| u64::from(s.len)).sum();
    if spans != v.bucket_counts.len() as u64 {
        return Err(TrendError::RunMismatch {
            spans,
            counters: v.bucket_counts.len(),
        });
    }
    let mut hist = Histogram::new();
    let mut counters = v.bucket_counts.iter();
    let mut index: u64 = 0;
    let mut bucketed: u64 = 0;
    for run in &v.runs {
        index += u64::from(run.skip);
        for _ in 0..run.len {
            if index >= u64::from(INDEX_LIMIT) {
                return Err(TrendError::IndexOutOfRange {
                    index,
                    limit: INDEX_LIMIT - 1,
                });
            }
            let n = u64::from(*counters.next().unwrap_or(&0));
            let value = bucket_value(index as u32, res).clamp(v.lowest, v.highest);
            hist.record_n(value, n);
            bucketed += n;
            index += 1;
        }
    }
    let (low, high) = (v.below_zero, v.beyond_range);
    let total = bucketed + u64::from(low) + u64::from(high);
    if total != u64::from(v.samples) {
        return Err(TrendError::CountMismatch {
            count: v.samples,
            bucketed,
            low,
            high,
            total,
        });
    }
    hist.record_n(v.lowest, u64::from(low));
    hist.record_n(v.highest, u64::from(high));
    TrendSink::from_histogram(u64::from(v.samples), v.sum, v.lowest, v.highest, hist)
        .map_err(|e| TrendError::Sink(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_proto::cloud_push::BucketRun;

    /// k6's bucket of a value, as observed (see the module doc).
    fn k6_index(v: f64, res: f64) -> u32 {
        let u = (v / res).ceil() as u64;
        if u < u64::from(LINEAR_BUCKETS) {
            return u as u32;
        }
        let e = 63 - u.leading_zeros();
        SUB_BUCKETS * (e - 6) + ((u - (1u64 << e)) >> (e - 7)) as u32
    }

    /// Indexes k6 v1.1.0 sent for these values (recorded from its pushes).
    #[test]
    fn bucket_indexes_match_what_k6_sent() {
        let seen = [
            (0.0, 0),
            (0.001, 1),
            (0.0005, 1),
            (0.0015, 2),
            (0.0021, 3),
            (1.0, 506),
            (1.5, 571),
            (2.0, 634),
            (3.0, 699),
            (123.456, 1393),
            (255.0, 1529),
            (256.0, 1530),
            (257.0, 1530),
            (300.0, 1554),
            (1000.0, 1780),
            (4294967.295, 3327),
            (4294967.296, 3328),
            (1e9, 4328),
            (1e12, 5603),
            (1e15, 6878),
        ];
        for (v, want) in seen {
            assert_eq!(k6_index(v, 0.001), want, "value {v}");
            // And the value recorded for that bucket is within its bound of v.
            let back = bucket_value(want, 0.001);
            let bound = if want < LINEAR_BUCKETS {
                0.0005 + 1e-12
            } else {
                v / 256.0
            };
            assert!(
                (back - v).abs() <= bound,
                "value {v}: bucket {want} -> {back}"
            );
        }
    }

    #[test]
    fn every_bucket_value_falls_in_its_bucket() {
        for index in 1..INDEX_LIMIT {
            let v = bucket_value(index, 0.001);
            assert_eq!(k6_index(v, 0.001), index, "bucket {index} value {v}");
        }
    }

    fn sample(values: &[f64]) -> PushedHistogram {
        // Encodes as k6 does: sorted buckets, spans of consecutive ones.
        let mut idx: Vec<u32> = values
            .iter()
            .filter(|v| **v >= 0.0)
            .map(|v| k6_index(*v, 0.001))
            .collect();
        idx.sort();
        let mut counters: Vec<u32> = Vec::new();
        let mut spans: Vec<BucketRun> = Vec::new();
        let mut last_end = 0u32;
        let mut prev: Option<u32> = None;
        for i in idx {
            if prev == Some(i) {
                *counters.last_mut().unwrap() += 1;
                continue;
            }
            if prev == Some(i.wrapping_sub(1)) {
                spans.last_mut().unwrap().len += 1;
            } else {
                spans.push(BucketRun {
                    skip: i - last_end,
                    len: 1,
                });
            }
            counters.push(1);
            last_end = i + 1;
            prev = Some(i);
        }
        PushedHistogram {
            start: None,
            bucket_counts: counters,
            runs: spans,
            sum: values.iter().sum(),
            samples: values.len() as u32,
            lowest: values.iter().cloned().fold(f64::INFINITY, f64::min),
            highest: values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            below_zero: values.iter().filter(|v| **v < 0.0).count() as u32,
            beyond_range: 0,
            resolution: 0.001,
        }
    }

    #[test]
    fn a_k6_trend_becomes_a_sink_with_exact_totals() {
        let values = [0.0, 1.0, 1.5, 2.0, 3.0, 1000.0, 0.001, 123.456, -5.0];
        let sink = trend_sink(&sample(&values)).unwrap();
        assert_eq!(sink.count(), 9);
        assert_eq!(sink.min(), -5.0);
        assert_eq!(sink.max(), 1000.0);
        assert!((sink.avg() - 1125.957 / 9.0).abs() < 1e-9);
        let med = sink.percentile(50.0);
        assert!((med - 1.5).abs() <= 1.5 / 256.0, "med {med}");
    }

    #[test]
    fn percentiles_of_many_values_stay_within_the_bound() {
        let values: Vec<f64> = (1..=5000).map(|i| f64::from(i) * 0.37).collect();
        let sink = trend_sink(&sample(&values)).unwrap();
        for p in [50.0, 90.0, 95.0, 99.0] {
            let exact = {
                let i = p / 100.0 * (values.len() - 1) as f64;
                values[i.floor() as usize]
                    + (values[i.ceil() as usize] - values[i.floor() as usize]) * i.fract()
            };
            let got = sink.percentile(p);
            assert!(
                (got - exact).abs() <= exact / 256.0 + exact * 0.0005 + 0.37,
                "p({p}): {got} vs {exact}"
            );
        }
    }

    #[test]
    fn malformed_samples_are_refused_with_the_reason() {
        let mut s = sample(&[1.0, 2.0]);
        s.samples = 3;
        assert!(matches!(
            trend_sink(&s),
            Err(TrendError::CountMismatch { .. })
        ));
        let mut s = sample(&[1.0, 2.0]);
        s.bucket_counts.push(1);
        assert!(matches!(
            trend_sink(&s),
            Err(TrendError::RunMismatch { .. })
        ));
        let mut s = sample(&[1.0]);
        s.runs[0].skip = u32::MAX;
        assert!(matches!(
            trend_sink(&s),
            Err(TrendError::IndexOutOfRange { .. })
        ));
        let mut s = sample(&[1.0]);
        s.resolution = 0.0;
        assert!(matches!(trend_sink(&s), Err(TrendError::Resolution(_))));
        let mut s = sample(&[1.0, 2.0]);
        s.lowest = 3.0;
        assert!(matches!(trend_sink(&s), Err(TrendError::Bounds { .. })));
        let mut s = sample(&[1.0, 2.0]);
        s.highest = f64::NAN;
        assert!(matches!(trend_sink(&s), Err(TrendError::Bounds { .. })));
    }
}
