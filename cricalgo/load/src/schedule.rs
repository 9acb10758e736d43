//! Load shapes as data: the VU count of `ramping-vus` at a given time and the start time of the
//! n-th iteration of the arrival-rate executors (k6 semantics: linear ramps between stages).

use std::time::Duration;

use crate::scenario::Stage;

/// The VU target of a `ramping-vus` executor `elapsed` into the run (linear between stages,
/// rounded down, as k6 does).
pub fn ramping_vus_at(start_vus: u64, stages: &[Stage], elapsed: Duration) -> u64 {
    let mut from = start_vus as f64;
    let mut offset = Duration::ZERO;
    for stage in stages {
        let end = offset + stage.duration;
        if elapsed < end {
            let into = (elapsed - offset).as_secs_f64();
            let fraction = if stage.duration.is_zero() {
                1.0
            } else {
                into / stage.duration.as_secs_f64()
            };
            let value = from + (stage.target as f64 - from) * fraction;
            return value.max(0.0).floor() as u64;
        }
        from = stage.target as f64;
        offset = end;
    }
    from as u64
}

/// Iteration start times of an arrival-rate executor, as offsets from the run's start.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    /// `(duration secs, rate at start per second, rate at end per second)` per segment.
    segments: Vec<(f64, f64, f64)>,
}

impl ArrivalSchedule {
    /// `constant-arrival-rate`: `rate` iterations per `time_unit` for `duration`.
    pub fn constant(rate: f64, time_unit: Duration, duration: Duration) -> ArrivalSchedule {
        let per_sec = rate / time_unit.as_secs_f64();
        ArrivalSchedule {
            segments: vec![(duration.as_secs_f64(), per_sec, per_sec)],
        }
    }

    /// `ramping-arrival-rate`: from `start_rate`, linearly to each stage's target.
    pub fn ramping(start_rate: f64, time_unit: Duration, stages: &[Stage]) -> ArrivalSchedule {
        let unit = time_unit.as_secs_f64();
        let mut from = start_rate / unit;
        let mut segments = Vec::new();
        for stage in stages {
            let to = stage.target as f64 / unit;
            segments.push((stage.duration.as_secs_f64(), from, to));
            from = to;
        }
        ArrivalSchedule { segments }
    }

    /// Start offset of iteration `index` (0-based), or `None` when it falls after the end.
    pub fn start_of(&self, index: u64) -> Option<Duration> {
        let mut done = 0.0_f64;
        let mut offset = 0.0_f64;
        let target = index as f64;
        for &(length, r0, r1) in &self.segments {
            let count = length * (r0 + r1) / 2.0;
            if target < done + count - 1e-9 {
                let d = target - done;
                // Solve a·t² + b·t = d with a = (r1 − r0) / 2L, b = r0, stable form.
                let a = (r1 - r0) / (2.0 * length);
                let b = r0;
                let disc = (b * b + 4.0 * a * d).max(0.0);
                let denom = b + disc.sqrt();
                let t = if d == 0.0 {
                    0.0
                } else if denom > 0.0 {
                    2.0 * d / denom
                } else {
                    length
                };
                return Some(Duration::from_secs_f64(offset + t.min(length)));
            }
            done += count;
            offset += length;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, target: u64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn ramping_vus_interpolates_linearly() {
        let stages = [stage(10, 10), stage(10, 10), stage(10, 0)];
        assert_eq!(ramping_vus_at(0, &stages, Duration::ZERO), 0);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(5)), 5);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(15)), 10);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(25)), 5);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(31)), 0);
    }

    #[test]
    fn constant_rate_spaces_iterations_evenly() {
        let schedule =
            ArrivalSchedule::constant(10.0, Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(schedule.start_of(0), Some(Duration::ZERO));
        assert_eq!(schedule.start_of(5), Some(Duration::from_millis(500)));
        assert!(schedule.start_of(19).is_some());
        assert_eq!(schedule.start_of(20), None);
    }

    #[test]
    fn ramping_rate_counts_match_the_area_under_the_ramp() {
        // 0 → 20/s over 10 s = 100 iterations, then 20/s for 5 s = 100 more.
        let schedule =
            ArrivalSchedule::ramping(0.0, Duration::from_secs(1), &[stage(10, 20), stage(5, 20)]);
        let count = (0..)
            .take_while(|i| schedule.start_of(*i).is_some())
            .count();
        assert_eq!(count, 200);
        // Half of the first 100 start after t where t²=50 → ~7.07 s.
        let t50 = schedule.start_of(50).unwrap().as_secs_f64();
        assert!((t50 - 50f64.sqrt()).abs() < 1e-6, "{t50}");
        let mut last = Duration::ZERO;
        for i in 0..200 {
            let t = schedule.start_of(i).unwrap();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn ramp_down_is_monotonic() {
        let schedule = ArrivalSchedule::ramping(50.0, Duration::from_secs(1), &[stage(4, 0)]);
        let count = (0..)
            .take_while(|i| schedule.start_of(*i).is_some())
            .count();
        assert_eq!(count, 100);
        let mut last = Duration::ZERO;
        for i in 0..100 {
            let t = schedule.start_of(i).unwrap();
            assert!(t >= last && t <= Duration::from_secs(4));
            last = t;
        }
    }
}
