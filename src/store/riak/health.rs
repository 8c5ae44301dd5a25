//! Per-server health (marked down after a refused connection or a timeout, probed with
//! `/ping`, brought back when it answers) and per-server counters.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A snapshot of one server's counters, from [`RiakStore::metrics`](super::RiakStore::metrics).
///
/// Counters start at zero when the store is built and only grow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerMetrics {
    /// The server as configured.
    pub server: String,
    /// Whether the server is marked down right now (skipped until a `/ping` probe answers).
    pub down: bool,
    /// HTTP requests sent to it (probes not included).
    pub requests: u64,
    /// Requests that failed on it: refused connection, timeout, transport error, `503`.
    pub failures: u64,
    /// Times an operation gave up on it and moved on to another server.
    pub failovers: u64,
    /// Times it was marked down (each starts one marked-down period).
    pub marked_down: u64,
    /// Total time it spent marked down, the current period included.
    pub down_time: Duration,
    /// `/ping` probes sent to it while it was down.
    pub probes: u64,
    /// While it is down: the failure that took it out of rotation (or the last failed probe).
    pub down_reason: Option<String>,
}

/// Why a request could not be answered by one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Connection refused or reset before a response: the node is probably down.
    Connect,
    /// No answer in time.
    Timeout,
    /// Something else at the transport level (garbage, closed mid-response, too large).
    Transport,
    /// `503 Service Unavailable`: the node is up but could not serve this request.
    Unavailable,
}

impl FailureKind {
    /// Whether this failure takes the server out of rotation.
    pub(crate) fn marks_down(self) -> bool {
        matches!(self, FailureKind::Connect | FailureKind::Timeout)
    }
}

/// What the picker may do with a server now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Availability {
    Up,
    /// Marked down; skipped unless no server is up.
    Down,
    /// Marked down and its backoff is over: a probe should be sent (the caller claimed it).
    ProbeDue,
}

#[derive(Debug, Default)]
struct State {
    down_since: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    probing: bool,
    down_total: Duration,
    reason: Option<String>,
}

/// The same counts through the `metrics` facade, labelled with the server.
#[derive(Debug)]
struct Meters {
    requests: metrics::Counter,
    failures: metrics::Counter,
    failovers: metrics::Counter,
    marked_down: metrics::Counter,
    up: metrics::Gauge,
}

impl Meters {
    fn new(server: &str) -> Self {
        use crate::telemetry::{
            RIAK_FAILOVERS, RIAK_FAILURES, RIAK_MARKED_DOWN, RIAK_REQUESTS, RIAK_SERVER_UP,
        };
        let label = || ("server", server.to_owned());
        let up = metrics::gauge!(RIAK_SERVER_UP, &[label()]);
        up.set(1.0);
        Self {
            requests: metrics::counter!(RIAK_REQUESTS, &[label()]),
            failures: metrics::counter!(RIAK_FAILURES, &[label()]),
            failovers: metrics::counter!(RIAK_FAILOVERS, &[label()]),
            marked_down: metrics::counter!(RIAK_MARKED_DOWN, &[label()]),
            up,
        }
    }
}

/// Health and counters of one server.
#[derive(Debug)]
pub(crate) struct Health {
    meters: Meters,
    /// Mirrors `state.down_since.is_some()`, so the common case (up) takes no lock.
    down: AtomicBool,
    state: Mutex<State>,
    requests: AtomicU64,
    failures: AtomicU64,
    failovers: AtomicU64,
    marked_down: AtomicU64,
    probes: AtomicU64,
}

/// `base` scaled by a random factor in [0.5, 1.5), so clients that failed together do not
/// come back together.
pub(crate) fn jitter(base: Duration) -> Duration {
    crate::util::jitter(base, 0.5, 1.5)
}

impl Default for Health {
    fn default() -> Self {
        Self::new("")
    }
}

impl Health {
    /// A server in rotation, its metrics labelled `server`.
    pub(crate) fn new(server: &str) -> Self {
        Self {
            meters: Meters::new(server),
            down: AtomicBool::new(false),
            state: Mutex::default(),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            marked_down: AtomicU64::new(0),
            probes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.meters.requests.increment(1);
    }

    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.meters.failures.increment(1);
    }

    pub(crate) fn count_failover(&self) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
        self.meters.failovers.increment(1);
    }

    pub(crate) fn count_probe(&self) {
        self.probes.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the server may be used now; claims the probe when one is due, so only one
    /// caller sends it.
    pub(crate) fn availability(&self, now: Instant) -> Availability {
        if !self.down.load(Ordering::Acquire) {
            return Availability::Up;
        }
        let mut state = self.lock();
        match state.retry_at {
            None => Availability::Up,
            Some(at) if at <= now && !state.probing => {
                state.probing = true;
                Availability::ProbeDue
            }
            Some(_) => Availability::Down,
        }
    }

    /// Gives back a probe claimed by [`availability`](Self::availability) that could not be sent.
    pub(crate) fn release_probe(&self) {
        self.lock().probing = false;
    }

    /// Marks the server down (or, if it already is, pushes its next probe back with a doubled
    /// backoff). Returns `true` when this starts a new marked-down period.
    pub(crate) fn mark_down(
        &self,
        now: Instant,
        min: Duration,
        max: Duration,
        reason: String,
    ) -> bool {
        let mut state = self.lock();
        state.reason = Some(reason);
        let fresh = state.down_since.is_none();
        state.backoff = if fresh {
            min
        } else {
            state.backoff.saturating_mul(2).clamp(min, max.max(min))
        };
        if fresh {
            state.down_since = Some(now);
            self.down.store(true, Ordering::Release);
            self.marked_down.fetch_add(1, Ordering::Relaxed);
            self.meters.marked_down.increment(1);
            self.meters.up.set(0.0);
        }
        state.retry_at = Some(now.checked_add(jitter(state.backoff)).unwrap_or(now));
        state.probing = false;
        fresh
    }

    /// Brings the server back. Returns how long it was down, if it was.
    pub(crate) fn mark_up(&self, now: Instant) -> Option<Duration> {
        if !self.down.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.lock();
        self.down.store(false, Ordering::Release);
        self.meters.up.set(1.0);
        state.retry_at = None;
        state.probing = false;
        state.backoff = Duration::ZERO;
        state.reason = None;
        let since = state.down_since.take()?;
        let period = now.saturating_duration_since(since);
        state.down_total += period;
        Some(period)
    }

    /// Why the server is down, if it is.
    pub(crate) fn down_reason(&self) -> Option<String> {
        self.lock().reason.clone()
    }

    /// When a down server may be probed next (`None` if it is up).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.lock().retry_at
    }

    pub(crate) fn snapshot(&self, server: &str, now: Instant) -> ServerMetrics {
        let state = self.lock();
        let current = state
            .down_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        ServerMetrics {
            server: server.to_owned(),
            down: state.down_since.is_some(),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            failovers: self.failovers.load(Ordering::Relaxed),
            marked_down: self.marked_down.load(Ordering::Relaxed),
            down_time: state.down_total + current,
            probes: self.probes.load(Ordering::Relaxed),
            down_reason: state.reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_down_server_is_probed_once_per_backoff_and_comes_back() {
        let h = Health::default();
        let t0 = Instant::now();
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(8));
        assert_eq!(h.availability(t0), Availability::Up);
        assert!(h.mark_down(t0, min, max, "refused".into()));
        assert_eq!(h.availability(t0), Availability::Down);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(h.availability(later), Availability::ProbeDue);
        assert_eq!(
            h.availability(later),
            Availability::Down,
            "the probe is claimed once"
        );
        // The probe failed: still the same period, a longer backoff.
        assert!(!h.mark_down(later, min, max, "refused".into()));
        assert_eq!(
            h.availability(later + Duration::from_millis(900)),
            Availability::Down
        );
        let back = later + Duration::from_secs(4);
        assert_eq!(h.mark_up(back), Some(Duration::from_secs(6)));
        assert_eq!(h.availability(back), Availability::Up);
        let m = h.snapshot("s", back);
        assert_eq!(
            (m.marked_down, m.down, m.down_time),
            (1, false, Duration::from_secs(6))
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let h = Health::default();
        let t0 = Instant::now();
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(400));
        h.mark_down(t0, min, max, "refused".into());
        for _ in 0..10 {
            h.mark_down(t0, min, max, "refused".into());
        }
        let at = h.retry_at().unwrap_or(t0);
        // 400 ms with at most +50 % jitter.
        assert!(at <= t0 + Duration::from_millis(600), "{:?}", at - t0);
        assert!(at >= t0 + Duration::from_millis(200), "{:?}", at - t0);
    }

    #[test]
    fn only_refusals_and_timeouts_mark_down() {
        assert!(FailureKind::Connect.marks_down());
        assert!(FailureKind::Timeout.marks_down());
        assert!(!FailureKind::Unavailable.marks_down());
        assert!(!FailureKind::Transport.marks_down());
    }
}
