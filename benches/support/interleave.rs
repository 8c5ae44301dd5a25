//! Ratios between two implementations measured in interleaved slices.
//!
//! criterion measures one function after the other. On a shared machine whose speed shifts
//! every few seconds, the two blocks can land on different levels and their ratio says more
//! about the machine than about the code. Here the two sides alternate in short slices (which
//! one goes first alternates too), each pair's ratio is taken, and the median over the pairs
//! is the figure to read: both sides of a pair ran under the same conditions.
//!
//! Time is the bench thread's CPU time where the platform has it (so that other processes'
//! load does not fall on one side only); `BENCH_CLOCK=wall` uses wall-clock time instead.
//! `BENCH_PAIRS` and `BENCH_SLICE_MS` change the number of pairs and the slice length.
//!
//! Included by the benches with `#[path = "support/interleave.rs"] mod interleave;`.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use cpu_time::ThreadTime;

/// Number of pairs and length of each side's slice.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub pairs: usize,
    pub slice: Duration,
    wall: bool,
}

impl Plan {
    /// `pairs` pairs of `slice`-long slices, unless `BENCH_PAIRS` / `BENCH_SLICE_MS` say
    /// otherwise.
    pub fn new(pairs: usize, slice: Duration) -> Plan {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let wall = std::env::var("BENCH_CLOCK").is_ok_and(|v| v == "wall")
            || ThreadTime::try_now().is_err();
        Plan {
            pairs: env("BENCH_PAIRS").map_or(pairs, |p| p.max(1) as usize),
            slice: env("BENCH_SLICE_MS").map_or(slice, Duration::from_millis),
            wall,
        }
    }

    /// The clock in use, for the report.
    pub fn clock(&self) -> &'static str {
        if self.wall {
            "wall-clock time"
        } else {
            "thread CPU time"
        }
    }

    fn now(&self) -> Clock {
        if self.wall {
            Clock::Wall(Instant::now())
        } else {
            Clock::Cpu(ThreadTime::now())
        }
    }

    /// Nanoseconds per call of `f`, over about one slice. `batch` calls run between two
    /// readings of the clock.
    fn time_per_call(&self, batch: u64, f: &mut dyn FnMut()) -> f64 {
        let mut calls = 0u64;
        let mut spent = Duration::ZERO;
        while spent < self.slice {
            let start = self.now();
            for _ in 0..batch {
                f();
            }
            spent += start.elapsed();
            calls += batch;
        }
        spent.as_nanos() as f64 / calls as f64
    }

    /// How many calls of `f` take about a millisecond (at least one).
    fn batch_for(&self, f: &mut dyn FnMut()) -> u64 {
        let mut batch = 1u64;
        loop {
            let start = self.now();
            for _ in 0..batch {
                f();
            }
            let took = start.elapsed();
            if took >= Duration::from_millis(1) || batch >= 1 << 30 {
                return batch;
            }
            // Aim a little past a millisecond; grow at most 100× per round.
            let scale = (1.2e6 / took.as_nanos().max(1) as f64).clamp(2.0, 100.0);
            batch = (batch as f64 * scale) as u64;
        }
    }

    /// Times `ours` and `theirs` in interleaved slices. The ratio of a pair is
    /// `theirs / ours` in time per call: above 1 means `ours` is faster.
    pub fn compare(&self, mut ours: impl FnMut(), mut theirs: impl FnMut()) -> Comparison {
        let batch_ours = self.batch_for(&mut ours);
        let batch_theirs = self.batch_for(&mut theirs);
        // One untimed pair to warm both up.
        let warm = Plan {
            slice: self.slice / 2,
            ..*self
        };
        warm.time_per_call(batch_ours, &mut ours);
        warm.time_per_call(batch_theirs, &mut theirs);
        let mut ours_ns = Vec::with_capacity(self.pairs);
        let mut theirs_ns = Vec::with_capacity(self.pairs);
        for pair in 0..self.pairs {
            if pair % 2 == 0 {
                ours_ns.push(self.time_per_call(batch_ours, &mut ours));
                theirs_ns.push(self.time_per_call(batch_theirs, &mut theirs));
            } else {
                theirs_ns.push(self.time_per_call(batch_theirs, &mut theirs));
                ours_ns.push(self.time_per_call(batch_ours, &mut ours));
            }
        }
        let ratios = theirs_ns.iter().zip(&ours_ns).map(|(t, o)| t / o).collect();
        Comparison {
            ours_ns,
            theirs_ns,
            ratios,
        }
    }
}

enum Clock {
    Wall(Instant),
    Cpu(ThreadTime),
}

impl Clock {
    fn elapsed(&self) -> Duration {
        match self {
            Clock::Wall(t) => t.elapsed(),
            Clock::Cpu(t) => t.elapsed(),
        }
    }
}

/// The per-pair measurements of one comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Nanoseconds per call of `ours`, one per pair.
    pub ours_ns: Vec<f64>,
    /// Nanoseconds per call of `theirs`, one per pair.
    pub theirs_ns: Vec<f64>,
    /// `theirs / ours` per pair.
    pub ratios: Vec<f64>,
}

impl Comparison {
    /// Median of the per-pair ratios.
    pub fn median_ratio(&self) -> f64 {
        summary(&self.ratios).0
    }

    /// One line: the median ratio with its range and both sides' median times.
    pub fn line(&self, per: &str) -> String {
        let (ratio, min, max) = summary(&self.ratios);
        let (ours, ..) = summary(&self.ours_ns);
        let (theirs, ..) = summary(&self.theirs_ns);
        format!(
            "ratio {ratio:.2} (min {min:.2}, max {max:.2}); {} vs {} per {per}",
            ns(ours),
            ns(theirs)
        )
    }
}

fn ns(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.2} µs", value / 1000.0)
    } else {
        format!("{value:.1} ns")
    }
}

/// Median, minimum and maximum.
pub fn summary(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    (
        (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0,
        sorted[0],
        sorted[n - 1],
    )
}

/// The bench filter given on the command line, if any (the first argument that is neither an
/// option nor an option's value).
pub fn filter() -> Option<String> {
    const TAKES_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--output-format",
        "--plotting-backend",
        "--color",
        "--format",
        "--sampling-mode",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if TAKES_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// True when criterion only lists, tests or profiles the benches: the interleaved comparisons
/// are skipped then.
pub fn criterion_only() -> bool {
    let skip = ["--list", "--test", "--profile-time", "--help"];
    std::env::args().any(|a| skip.contains(&a.as_str()))
}
