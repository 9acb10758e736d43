//! Metrics with k6's names and definitions, recorded into HDR histograms (µs, 3 significant
//! digits: memory is fixed up front, whatever the run length).
//!
//! Each worker thread records into its own [`Aggregate`] (no locks, no channel per request); the
//! aggregates are merged once at the end. Percentiles are read from the histogram: the value
//! returned is the highest value equivalent to the quantile's bucket, so it is within 0.1 % of
//! the exact sample (relative), never below it.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Largest value a histogram tracks: one hour in µs; larger values are clamped to it.
pub const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in µs.
pub type Hist = Histogram<u64>;

/// A new histogram with 3 significant digits.
pub fn new_hist() -> Hist {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// A coarser histogram (2 significant digits) for the per-second series.
pub fn new_interval_hist() -> Hist {
    Histogram::new_with_bounds(1, MAX_US, 2).expect("static histogram bounds are valid")
}

/// Records `us` (clamped to the tracked range).
pub fn record(hist: &mut Hist, us: u64) {
    hist.saturating_record(us.clamp(1, MAX_US));
}

/// k6 metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

impl MetricKind {
    /// The k6 type name (`counter`, `gauge`, `rate`, `trend`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Rate => "rate",
            MetricKind::Trend => "trend",
        }
    }
}

/// Samples of the HTTP metrics for one tag set: one request of the scenario and one status.
#[derive(Debug, Clone)]
pub struct TagsetAgg {
    /// Index of the request in the scenario.
    pub request: usize,
    /// HTTP status; 0 when there was no response.
    pub status: u16,
    pub count: u64,
    pub duration: Hist,
    pub waiting: Hist,
    pub receiving: Hist,
    pub connecting: Hist,
    /// Duration plus the iteration's start delay (arrival-rate executors only).
    pub duration_corrected: Hist,
    pub data_sent: u64,
    pub data_received: u64,
}

impl TagsetAgg {
    fn new(request: usize, status: u16) -> TagsetAgg {
        TagsetAgg {
            request,
            status,
            count: 0,
            duration: new_hist(),
            waiting: new_hist(),
            receiving: new_hist(),
            connecting: new_hist(),
            duration_corrected: new_hist(),
            data_sent: 0,
            data_received: 0,
        }
    }

    /// k6's `expected_response`: status 200–399.
    pub fn expected(&self) -> bool {
        (200..400).contains(&self.status)
    }

    fn merge(&mut self, other: &TagsetAgg) {
        self.count += other.count;
        let _ = self.duration.add(&other.duration);
        let _ = self.waiting.add(&other.waiting);
        let _ = self.receiving.add(&other.receiving);
        let _ = self.connecting.add(&other.connecting);
        let _ = self.duration_corrected.add(&other.duration_corrected);
        self.data_sent += other.data_sent;
        self.data_received += other.data_received;
    }
}

/// One finished HTTP request, as the VU measured it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSample {
    pub request: usize,
    pub status: u16,
    pub connecting_us: u64,
    pub waiting_us: u64,
    pub receiving_us: u64,
    /// The iteration's start delay behind schedule (arrival-rate executors).
    pub delay_us: Option<u64>,
    pub sent: u64,
    pub received: u64,
}

/// Everything one worker (or, merged, the whole run) recorded.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub tagsets: Vec<TagsetAgg>,
    /// `(passes, fails)` per check, indexed like the plan's check names.
    pub checks: Vec<(u64, u64)>,
    pub iterations: u64,
    pub iteration_duration: Hist,
    pub iteration_duration_corrected: Hist,
    /// How late iterations started behind schedule while a VU was free (arrival-rate only).
    pub iteration_start_delay: Hist,
    pub dropped_iterations: u64,
}

impl Aggregate {
    /// An empty aggregate for `checks` checks.
    pub fn new(checks: usize) -> Aggregate {
        Aggregate {
            tagsets: Vec::new(),
            checks: vec![(0, 0); checks],
            iterations: 0,
            iteration_duration: new_hist(),
            iteration_duration_corrected: new_hist(),
            iteration_start_delay: new_hist(),
            dropped_iterations: 0,
        }
    }

    fn tagset(&mut self, request: usize, status: u16) -> &mut TagsetAgg {
        let index = match self
            .tagsets
            .iter()
            .position(|t| t.request == request && t.status == status)
        {
            Some(index) => index,
            None => {
                self.tagsets.push(TagsetAgg::new(request, status));
                self.tagsets.len() - 1
            }
        };
        &mut self.tagsets[index]
    }

    /// Records one HTTP request.
    pub fn record_request(&mut self, sample: &RequestSample) {
        let tagset = self.tagset(sample.request, sample.status);
        tagset.count += 1;
        let duration = sample.waiting_us + sample.receiving_us;
        record(&mut tagset.duration, duration);
        record(&mut tagset.waiting, sample.waiting_us);
        record(&mut tagset.receiving, sample.receiving_us);
        record(&mut tagset.connecting, sample.connecting_us);
        if let Some(delay) = sample.delay_us {
            record(&mut tagset.duration_corrected, duration + delay);
        }
        tagset.data_sent += sample.sent;
        tagset.data_received += sample.received;
    }

    /// Records a check result.
    pub fn record_check(&mut self, id: usize, passed: bool) {
        if let Some(entry) = self.checks.get_mut(id) {
            if passed {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }

    /// Records a completed iteration.
    pub fn record_iteration(&mut self, duration_us: u64, delay_us: Option<u64>) {
        self.iterations += 1;
        record(&mut self.iteration_duration, duration_us);
        if let Some(delay) = delay_us {
            record(&mut self.iteration_duration_corrected, duration_us + delay);
            record(&mut self.iteration_start_delay, delay);
        }
    }

    /// Adds `other` into `self` (associative and commutative).
    pub fn merge(&mut self, other: &Aggregate) {
        for tagset in &other.tagsets {
            self.tagset(tagset.request, tagset.status).merge(tagset);
        }
        if self.checks.len() < other.checks.len() {
            self.checks.resize(other.checks.len(), (0, 0));
        }
        for (mine, theirs) in self.checks.iter_mut().zip(&other.checks) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        self.iterations += other.iterations;
        let _ = self.iteration_duration.add(&other.iteration_duration);
        let _ = self
            .iteration_duration_corrected
            .add(&other.iteration_duration_corrected);
        let _ = self.iteration_start_delay.add(&other.iteration_start_delay);
        self.dropped_iterations += other.dropped_iterations;
    }
}

/// A trend's samples (µs inside, ms outside, as k6 reports trends).
#[derive(Debug, Clone)]
pub struct Trend {
    hist: Hist,
}

impl Trend {
    pub fn from_hist(hist: Hist) -> Trend {
        Trend { hist }
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Mean in ms; 0 with no samples.
    pub fn avg(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.hist.mean() / 1000.0
        }
    }

    pub fn min(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.hist.min() as f64 / 1000.0
        }
    }

    pub fn max(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }

    pub fn med(&self) -> f64 {
        self.percentile(50.0)
    }

    /// `p(N)` in ms, `0 <= N <= 100`; 0 with no samples.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        self.hist.value_at_quantile((p / 100.0).clamp(0.0, 1.0)) as f64 / 1000.0
    }

    /// The underlying histogram (µs).
    pub fn hist(&self) -> &Hist {
        &self.hist
    }
}

/// A metric's values, by k6 type.
#[derive(Debug, Clone)]
pub enum MetricValues {
    /// `count` and `rate` (count per second of the load phase).
    Counter {
        count: f64,
        rate: f64,
    },
    /// Last value, with min and max seen.
    Gauge {
        value: f64,
        min: f64,
        max: f64,
    },
    /// `trues` / (`trues` + `falses`); k6 calls them `passes` and `fails`.
    Rate {
        trues: u64,
        falses: u64,
    },
    Trend(Trend),
}

impl MetricValues {
    pub fn kind(&self) -> MetricKind {
        match self {
            MetricValues::Counter { .. } => MetricKind::Counter,
            MetricValues::Gauge { .. } => MetricKind::Gauge,
            MetricValues::Rate { .. } => MetricKind::Rate,
            MetricValues::Trend(_) => MetricKind::Trend,
        }
    }

    /// Whether any sample was recorded.
    pub fn has_samples(&self) -> bool {
        match self {
            MetricValues::Counter { .. } | MetricValues::Gauge { .. } => true,
            MetricValues::Rate { trues, falses } => trues + falses > 0,
            MetricValues::Trend(trend) => trend.count() > 0,
        }
    }

    /// The rate of a rate metric (0 with no samples).
    pub fn rate(&self) -> f64 {
        match self {
            MetricValues::Rate { trues, falses } if trues + falses > 0 => {
                *trues as f64 / (trues + falses) as f64
            }
            MetricValues::Counter { rate, .. } => *rate,
            _ => 0.0,
        }
    }

    /// Named statistics as k6 exports them (`count`/`rate`, `value`/`min`/`max`,
    /// `rate`/`passes`/`fails`, `avg`/`min`/`med`/`max`/`p(90)`/`p(95)`/`p(99)`), plus the
    /// percentiles in `extra` (e.g. `99.9` for a `p(99.9)` threshold).
    pub fn stats(&self, extra_percentiles: &[f64]) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        match self {
            MetricValues::Counter { count, rate } => {
                out.insert("count".into(), *count);
                out.insert("rate".into(), *rate);
            }
            MetricValues::Gauge { value, min, max } => {
                out.insert("value".into(), *value);
                out.insert("min".into(), *min);
                out.insert("max".into(), *max);
            }
            MetricValues::Rate { trues, falses } => {
                out.insert("rate".into(), self.rate());
                out.insert("passes".into(), *trues as f64);
                out.insert("fails".into(), *falses as f64);
            }
            MetricValues::Trend(trend) => {
                out.insert("avg".into(), trend.avg());
                out.insert("min".into(), trend.min());
                out.insert("med".into(), trend.med());
                out.insert("max".into(), trend.max());
                for p in [90.0, 95.0, 99.0].iter().chain(extra_percentiles) {
                    out.insert(format!("p({})", format_number(*p)), trend.percentile(*p));
                }
            }
        }
        out
    }
}

/// `95` → `"95"`, `99.9` → `"99.9"` (how k6 writes percentile keys).
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_exact_values_within_the_documented_bound() {
        // 1..=100_000 µs: exact p(q) is q% of 100 ms.
        let mut hist = new_hist();
        for us in 1..=100_000u64 {
            record(&mut hist, us);
        }
        let trend = Trend::from_hist(hist);
        for (p, exact_ms) in [
            (50.0, 50.0),
            (90.0, 90.0),
            (95.0, 95.0),
            (99.0, 99.0),
            (99.9, 99.9),
        ] {
            let got = trend.percentile(p);
            assert!(got >= exact_ms - 1e-9, "p({p}) {got} < {exact_ms}");
            assert!(
                (got - exact_ms) / exact_ms <= 0.001,
                "p({p}) {got} vs {exact_ms}"
            );
        }
        assert!((trend.avg() - 50.0005).abs() / 50.0 < 0.001);
        assert_eq!(trend.min(), 0.001);
        assert!((trend.max() - 100.0).abs() / 100.0 <= 0.001);
    }

    #[test]
    fn percentiles_are_monotonic_and_merge_is_associative() {
        let mut parts = Vec::new();
        for seed in 0..3u64 {
            let mut agg = Aggregate::new(1);
            for i in 0..1000u64 {
                let us = (i * 7919 + seed * 104_729) % 250_000 + 1;
                agg.record_request(&RequestSample {
                    request: (i % 2) as usize,
                    status: if i % 10 == 0 { 500 } else { 200 },
                    waiting_us: us,
                    ..RequestSample::default()
                });
                agg.record_check(0, i % 3 != 0);
            }
            parts.push(agg);
        }
        let mut left = parts[0].clone();
        left.merge(&parts[1]);
        left.merge(&parts[2]);
        let mut right_tail = parts[1].clone();
        right_tail.merge(&parts[2]);
        let mut right = parts[0].clone();
        right.merge(&right_tail);
        assert_eq!(left.tagsets.len(), right.tagsets.len());
        for tagset in &left.tagsets {
            let other = right
                .tagsets
                .iter()
                .find(|t| t.request == tagset.request && t.status == tagset.status)
                .unwrap();
            assert_eq!(tagset.duration, other.duration);
        }
        assert_eq!(left.checks, right.checks);
        let mut all = new_hist();
        for tagset in &left.tagsets {
            all.add(&tagset.duration).unwrap();
        }
        let trend = Trend::from_hist(all);
        let mut last = 0.0;
        for p in 0..=1000 {
            let value = trend.percentile(p as f64 / 10.0);
            assert!(value >= last);
            last = value;
        }
    }
}
