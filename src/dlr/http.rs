//! `HttpDlrThrower`: DLRs over HTTP with reqwest, on the host's tokio runtime.
//!
//! Each accepted DLR is one spawned task that waits for its destination's slot, makes an
//! attempt bounded by `timeout`, and sleeps `retry_delay` between attempts. Slots are taken per
//! destination first and overall second, so DLRs queued behind a hanging receiver hold no
//! overall slot and cannot delay DLRs bound elsewhere.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

use super::config::DlrThrowerConfig;
use super::outcome::{AttemptError, DlrOutcome, OutcomeSink, log_outcome};
use super::policy::{DestinationRefused, PolicyResolver};
use super::queue::{DlrQueue, EmbeddedQueue, Leased, QueueError, RetryPlace, Ticket};
use super::value::{Dlr, DlrMethod};
use super::{DlrThrower, ThrowError};

/// The `User-Agent` the thrower sends.
const USER_AGENT: &str = concat!("redeliver/", env!("CARGO_PKG_VERSION"), " (DLR thrower)");

/// DLRs per destination slot that may have their next attempt counted while they wait for one.
/// Sustaining a rate R with commits of latency L needs about R × L of them: DLRs thrown while
/// this limit has room get their first attempt counted in the write that stores them, the others
/// need a second write (and a second commit to wait for) before their attempt. With an fsync of
/// 4–6 ms, 4 per slot held the embedded queue near 20 k DLRs/s at 64 slots; 16 per slot lets
/// nearly every thrown DLR through with one write. A crash can cost each of them one attempt it
/// did not make; a clean [`shutdown`](HttpDlrThrower::shutdown) costs them nothing.
const SCHEDULED_PER_SLOT: usize = 16;

/// How much of a non-acknowledging body is kept in an [`AttemptError`].
const BODY_IN_ERROR: usize = 256;

/// Builds an [`HttpDlrThrower`].
#[must_use]
pub struct HttpDlrThrowerBuilder {
    config: DlrThrowerConfig,
    queue: Option<QueueChoice>,
    sink: Option<OutcomeSink>,
}

enum QueueChoice {
    Embedded(PathBuf),
    Custom(Arc<dyn DlrQueue>),
}

impl HttpDlrThrowerBuilder {
    /// Keeps pending DLRs in a durable queue at `path` (created if missing); DLRs a previous run
    /// left there are resumed by [`build`](Self::build) with their remaining attempts and delay.
    pub fn queue(mut self, path: impl Into<PathBuf>) -> Self {
        self.queue = Some(QueueChoice::Embedded(path.into()));
        self
    }

    /// Keeps pending DLRs in `queue` (for instance a RabbitMQ queue shared by several nodes,
    /// `AmqpDlrQueue` with the `dlr-amqp` feature); DLRs it hands out are attempted on this
    /// node as they come. Replaces [`queue`](Self::queue).
    pub fn queue_with(mut self, queue: Arc<dyn DlrQueue>) -> Self {
        self.queue = Some(QueueChoice::Custom(queue));
        self
    }

    /// Where each DLR's [`DlrOutcome`] goes; without one, outcomes are logged ([`log_outcome`]).
    pub fn on_outcome(mut self, sink: impl Fn(DlrOutcome) + Send + Sync + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Builds the thrower on the current tokio runtime; its tasks run there.
    pub async fn build(self) -> Result<HttpDlrThrower, BuildError> {
        self.config.validate().map_err(BuildError::Config)?;
        let policy = Arc::new(self.config.destinations.clone());
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(self.config.pool_idle_per_host)
            .tcp_nodelay(true)
            .dns_resolver(PolicyResolver {
                policy: Arc::clone(&policy),
            })
            .build()
            .map_err(BuildError::Client)?;
        let mut resumed = Vec::new();
        let (queue, dispatch): (Option<Arc<dyn DlrQueue>>, bool) = match self.queue {
            Some(QueueChoice::Embedded(path)) => {
                let q = EmbeddedQueue::open(&path)
                    .await
                    .map_err(BuildError::Queue)?;
                resumed.reserve(q.resumed());
                // Everything the file held is handed out at once: take it now, so that
                // `pending` counts it as soon as the thrower is built.
                while let Some(leased) = q.next().await {
                    resumed.push(leased);
                }
                (Some(Arc::new(q)), false)
            }
            Some(QueueChoice::Custom(q)) => (Some(q), true),
            None => (None, false),
        };
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            client,
            overall: Semaphore::new(self.config.max_concurrency),
            hosts: Mutex::new(HashMap::new()),
            sink: self.sink.unwrap_or_else(|| Arc::new(log_outcome)),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            queue,
            config: self.config,
            shutdown,
            dispatcher: Mutex::new(None),
            released: AtomicUsize::new(0),
        });
        if !resumed.is_empty() {
            tracing::info!(count = resumed.len(), "resuming DLRs from the queue");
        }
        for leased in resumed {
            inner.spawn(Job::leased(leased, inner.config.longest_delay()));
        }
        if dispatch && let Some(q) = &inner.queue {
            let task = tokio::spawn(dispatch_leases(
                Arc::clone(q),
                Arc::downgrade(&inner),
                stopped,
            ));
            *inner.dispatcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(HttpDlrThrower { inner })
    }
}

/// Why an [`HttpDlrThrower`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(super::config::DlrConfigError),
    /// The HTTP client could not be built (TLS set-up).
    #[error("DLR thrower HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The durable queue could not be opened.
    #[error(transparent)]
    Queue(QueueError),
}

/// Jasmin's DLR thrower over HTTP (seed `jasmin-receiving-dlr.rst`, "Processing"), at least
/// once, with bounded concurrency per destination and, optionally, a durable queue.
///
/// Cheap to clone; clones share one connection pool and one set of limits.
#[derive(Clone)]
pub struct HttpDlrThrower {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpDlrThrower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDlrThrower")
            .field("pending", &self.pending())
            .field("durable", &self.inner.queue.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpDlrThrower {
    /// Starts building a thrower with `config`.
    pub fn builder(config: DlrThrowerConfig) -> HttpDlrThrowerBuilder {
        HttpDlrThrowerBuilder {
            config,
            queue: None,
            sink: None,
        }
    }

    /// DLRs this node holds whose outcome has not been reported yet. With a queue shared by
    /// several nodes, DLRs waiting in the queue (or held by another node) are not counted.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Acquire)
    }

    /// Waits until every DLR this node holds has had its outcome reported (or, with a shared
    /// queue, was handed back to the queue for a later attempt).
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &DlrThrowerConfig {
        &self.inner.config
    }

    /// Shuts the thrower down cleanly and returns how many DLRs it gave back without another
    /// attempt.
    ///
    /// From the call on, `throw` fails with [`ThrowError::ShutDown`] and no DLR is taken from a
    /// shared queue. Attempts whose HTTP request has started are waited for (each is bounded by
    /// `timeout`) and end as usual: an outcome, or a retry recorded in the queue. Every other DLR
    /// this node holds is given back to its queue ([`DlrQueue::release`]) with the attempts
    /// actually started: an attempt counted ahead of its slot but never started is not charged,
    /// so the DLR resumes after a restart (or on another node) with its whole remaining
    /// budget. Then the queue is closed ([`DlrQueue::close`]): the embedded queue's file is
    /// committed and closed, a RabbitMQ queue hands back what it had prefetched, uncharged.
    ///
    /// Without a queue the DLRs given back are dropped (counted in the return value, with no
    /// outcome). A `throw` running at the same time as the call may still be accepted; its DLR
    /// is then given back like the others. Clones share the thrower: shutting one down shuts
    /// down all of them.
    pub async fn shutdown(&self) -> usize {
        let inner = &self.inner;
        let before = inner.released.load(Ordering::Acquire);
        inner.shutdown.send_replace(true);
        // Stop taking DLRs from a shared queue before anything is given back to it.
        let dispatcher = inner
            .dispatcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = dispatcher {
            let _ = task.await;
        }
        // DLRs waiting for a permit give up; those holding one keep it to the end of their
        // attempt.
        inner.overall.close();
        let gates: Vec<Arc<HostGate>> = inner
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for gate in gates {
            gate.close();
        }
        self.idle().await;
        if let Some(q) = &inner.queue {
            q.close().await;
        }
        inner
            .released
            .load(Ordering::Acquire)
            .saturating_sub(before)
    }
}

#[async_trait::async_trait]
impl DlrThrower for HttpDlrThrower {
    async fn throw(&self, dlr: Dlr) -> Result<(), ThrowError> {
        let inner = &self.inner;
        let host_ok = matches!(dlr.url.scheme(), "http" | "https") && dlr.url.host().is_some();
        if !host_ok {
            return Err(ThrowError::UnsupportedUrl {
                url: dlr.url.to_string(),
                id: dlr.id,
            });
        }
        if let Err(source) = inner.check_literal(&dlr.url) {
            return Err(ThrowError::Refused { source, id: dlr.id });
        }
        if inner.is_shutting_down() {
            return Err(ThrowError::ShutDown { id: dlr.id });
        }
        let Some(q) = &inner.queue else {
            inner.spawn(Job {
                dest: destination_key(&dlr.url),
                dlr,
                ticket: None,
                attempts: 0,
                counted: false,
                scheduled: None,
                not_before: None,
            });
            return Ok(());
        };
        // With a permit free at once, the first attempt is counted in the same write that
        // stores the DLR (one commit instead of two before the first attempt).
        let dest = destination_key(&dlr.url);
        let gate = inner.gate(&dest, &dlr.url);
        let scheduled = gate.scheduled.try_acquire().map(|p| p.forget()).is_ok();
        let first = scheduled.then(|| {
            let now = SystemTime::now();
            now.checked_add(inner.config.delay_after(1)).unwrap_or(now)
        });
        let pushed = q.push(&dlr, first).await;
        let unschedule = |dest: &str, gate: Arc<HostGate>| {
            if scheduled {
                gate.scheduled.add_permits(1);
            }
            inner.release_gate(dest, gate);
        };
        match pushed {
            Ok(Some(ticket)) => {
                inner.spawn(Job {
                    dlr,
                    dest,
                    ticket: Some(ticket),
                    attempts: u32::from(scheduled),
                    counted: scheduled,
                    scheduled: scheduled.then_some(gate),
                    not_before: None,
                });
                Ok(())
            }
            // The queue hands it out through `next`, here or on another node.
            Ok(None) => {
                unschedule(&dest, gate);
                Ok(())
            }
            Err(source) => {
                unschedule(&dest, gate);
                Err(ThrowError::Queue { id: dlr.id, source })
            }
        }
    }
}

struct Inner {
    client: reqwest::Client,
    config: DlrThrowerConfig,
    overall: Semaphore,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
    sink: OutcomeSink,
    pending: AtomicUsize,
    idle: Notify,
    queue: Option<Arc<dyn DlrQueue>>,
    /// `true` once [`HttpDlrThrower::shutdown`] was called; dropped with the thrower, which also
    /// stops the task handing out the queue's DLRs.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// The task handing out a shared queue's DLRs.
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// DLRs given back by a shutdown without another attempt.
    released: AtomicUsize,
}

/// One destination's limits, and its metrics.
struct HostGate {
    metrics: HostMetrics,
    slots: Semaphore,
    /// DLRs whose next attempt is counted in the durable queue while they wait for a slot.
    scheduled: Semaphore,
    next_slot: Mutex<Instant>,
}

impl HostGate {
    /// DLRs waiting for a permit give up (a shutdown).
    fn close(&self) {
        self.slots.close();
        self.scheduled.close();
    }
}

/// How a DLR's task ends.
enum End {
    /// Its last attempt's result: the DLR has its outcome.
    Done(Result<(), AttemptError>),
    /// Its queue keeps it for the next attempt (here or on another node).
    HandedBack,
    /// The thrower is shutting down; no attempt was started since the last one counted in
    /// `attempts`, except the one `counted` ahead.
    Stopped,
}

struct Job {
    dlr: Dlr,
    /// Its destination's key among the thrower's gates ([`destination_key`]).
    dest: String,
    /// The DLR's handle in the durable queue.
    ticket: Option<Ticket>,
    /// Attempts already started, across restarts (with `counted`, the next one included).
    attempts: u32,
    /// The next attempt is already counted in `attempts` and in the queue.
    counted: bool,
    /// The destination whose `scheduled` permit this DLR holds.
    scheduled: Option<Arc<HostGate>>,
    not_before: Option<Instant>,
}

impl Job {
    /// A DLR the queue hands out. A next-attempt time further off than this configuration
    /// could have set (`longest`: a clock that moved, a queue written under other settings) is
    /// brought back within it.
    fn leased(leased: Leased, longest: Duration) -> Self {
        let now = SystemTime::now();
        let not_before = leased.not_before.map(|at| {
            let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
            instant_after(wait.min(longest))
        });
        Self {
            dest: destination_key(&leased.dlr.url),
            dlr: leased.dlr,
            ticket: Some(leased.ticket),
            attempts: leased.attempts,
            counted: false,
            scheduled: None,
            not_before,
        }
    }
}

/// `Instant::now() + wait`, or the furthest instant the clock can represent past now.
fn instant_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// Stands for "later than any delay a valid configuration gives" when a sum would overflow.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365);

/// `SystemTime::now() + wait`, or now when the sum cannot be represented.
fn system_after(wait: Duration) -> SystemTime {
    let now = SystemTime::now();
    now.checked_add(wait).unwrap_or(now)
}

/// The text of a caught panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Takes the DLRs a shared queue hands to this node and starts each one, until the thrower is
/// dropped or the queue hands out no more.
async fn dispatch_leases(
    queue: Arc<dyn DlrQueue>,
    inner: std::sync::Weak<Inner>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let leased = tokio::select! {
            biased;
            // Also when the thrower is dropped (the sender with it).
            _ = stopped.wait_for(|down| *down) => return,
            leased = queue.next() => leased,
        };
        let (Some(leased), Some(inner)) = (leased, inner.upgrade()) else {
            return;
        };
        inner.spawn(Job::leased(leased, inner.config.longest_delay()));
    }
}

/// Counts a DLR as pending from spawn until its task ends, however it ends.
struct PendingGuard(Arc<Inner>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let before = self.0.pending.fetch_sub(1, Ordering::AcqRel);
        queue_depth(before.saturating_sub(1));
        if before == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Reports how many DLRs this thrower holds (`redeliver_dlr_queue_depth`).
fn queue_depth(pending: usize) {
    metrics::gauge!(crate::telemetry::DLR_QUEUE_DEPTH).set(pending as f64);
}

/// Counts one attempt's outcome for its destination host (`redeliver_dlr_outcomes_total`).
/// A destination's metrics, registered once with its gate rather than looked up on every
/// attempt (labelled with the host, so destinations on one host share them).
struct HostMetrics {
    attempts: metrics::Counter,
    seconds: metrics::Histogram,
    acked: metrics::Counter,
    refused: metrics::Counter,
    gave_up: metrics::Counter,
    retry: metrics::Counter,
}

impl HostMetrics {
    fn new(host: &str) -> Self {
        let outcome = |outcome: &'static str| {
            metrics::counter!(
                crate::telemetry::DLR_OUTCOMES,
                "host" => host.to_owned(),
                "outcome" => outcome
            )
        };
        Self {
            attempts: metrics::counter!(crate::telemetry::DLR_ATTEMPTS, "host" => host.to_owned()),
            seconds: metrics::histogram!(
                crate::telemetry::DLR_ATTEMPT_SECONDS,
                "host" => host.to_owned()
            ),
            acked: outcome("acked"),
            refused: outcome("refused"),
            gave_up: outcome("gave_up"),
            retry: outcome("retry"),
        }
    }
}

fn destination_key(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Inner {
    fn spawn(self: &Arc<Self>, job: Job) {
        queue_depth(
            self.pending
                .fetch_add(1, Ordering::AcqRel)
                .saturating_add(1),
        );
        // The task is `run` itself, not a block around it, so the job is stored once in it.
        // The task owns the job once; `run` borrows it, so it is still there to be reported
        // when `run` panics.
        tokio::spawn(supervise(PendingGuard(Arc::clone(self)), job));
    }

    /// A literal address never reaches the resolver, so the policy is applied to it here.
    fn check_literal(&self, url: &url::Url) -> Result<(), DestinationRefused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(a)) => std::net::IpAddr::V4(a),
            Some(url::Host::Ipv6(a)) => std::net::IpAddr::V6(a),
            _ => return Ok(()),
        };
        if self.config.destinations.permits(ip) {
            Ok(())
        } else {
            Err(DestinationRefused {
                host: ip.to_string(),
                addrs: ip.to_string(),
            })
        }
    }

    /// The gate of destination `dest` (the key of `url`'s destination).
    fn gate(&self, dest: &str, url: &url::Url) -> Arc<HostGate> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gate) = hosts.get(dest) {
            return Arc::clone(gate);
        }
        let gate = Arc::new(HostGate {
            metrics: HostMetrics::new(url.host_str().unwrap_or("")),
            slots: Semaphore::new(self.config.max_per_host),
            scheduled: Semaphore::new(self.scheduled_limit()),
            next_slot: Mutex::new(Instant::now()),
        });
        if self.is_shutting_down() {
            gate.close();
        }
        hosts.insert(dest.to_owned(), Arc::clone(&gate));
        gate
    }

    fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps until `at`; `false` when the thrower started shutting down first.
    async fn sleep_until(&self, at: Instant) -> bool {
        let mut down = self.shutdown.subscribe();
        tokio::select! {
            biased;
            _ = down.wait_for(|down| *down) => false,
            () = tokio::time::sleep_until(at) => true,
        }
    }

    /// Gives a DLR back to its queue at shutdown, with only the attempts actually started.
    async fn release(&self, mut job: Job) {
        if let Some(gate) = job.scheduled.take() {
            gate.scheduled.add_permits(1);
        }
        let started = if job.counted {
            job.attempts.saturating_sub(1)
        } else {
            job.attempts
        };
        let not_before = job.not_before.map_or_else(SystemTime::now, |at| {
            system_after(at.saturating_duration_since(Instant::now()))
        });
        self.released.fetch_add(1, Ordering::AcqRel);
        if let (Some(q), Some(ticket)) = (&self.queue, job.ticket)
            && let Err(e) = q.release(ticket, &job.dlr, started, not_before).await
        {
            tracing::warn!(
                id = %job.dlr.id, error = %e,
                "DLR queue could not take the DLR back at shutdown; it keeps it as last written"
            );
        }
    }

    /// DLRs per destination whose next attempt may be counted in the durable queue while they
    /// wait for a slot: enough to cover a few commits' time at full speed.
    fn scheduled_limit(&self) -> usize {
        self.config
            .max_per_host
            .saturating_mul(SCHEDULED_PER_SLOT)
            .min(Semaphore::MAX_PERMITS)
    }

    /// Forgets an idle destination so that the map stays as small as the set of busy ones.
    fn release_gate(&self, dest: &str, gate: Arc<HostGate>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        // Two references: the map's and ours, so nobody else waits on it; and a rate-limited
        // destination is kept until its next slot has passed, or the limit would reset.
        let unused = Arc::strong_count(&gate) == 2
            && gate.slots.available_permits() == self.config.max_per_host
            && gate.scheduled.available_permits() == self.scheduled_limit()
            && *gate.next_slot.lock().unwrap_or_else(|p| p.into_inner()) <= Instant::now();
        if unused {
            hosts.remove(dest);
        }
    }

    fn is_permanent(&self, e: &AttemptError) -> bool {
        match e {
            AttemptError::Destination(_) | AttemptError::Interrupted => true,
            AttemptError::Status { status, .. } | AttemptError::NotAcknowledged { status, .. } => {
                self.config.give_up_on.contains(status)
            }
            _ => false,
        }
    }

    /// Records the attempt count and next-attempt time before the attempt is made, so that an
    /// attempt cut short by a crash still counts against the budget.
    async fn persist(&self, job: &Job, delay: Duration) {
        if let (Some(q), Some(ticket)) = (&self.queue, job.ticket)
            && let Err(e) = q
                .attempt_starts(ticket, &job.dlr, job.attempts, system_after(delay))
                .await
        {
            // Delivery goes on from memory; only crash safety for this DLR is lost.
            tracing::error!(id = %job.dlr.id, error = %e, "DLR queue update failed");
        }
    }

    /// Hands a failed DLR to its queue for the retry; `false` when the queue keeps it from now
    /// on (or still holds it after an error), so this node lets it go.
    async fn retry_here(&self, job: &Job, delay: Duration) -> bool {
        let (Some(q), Some(ticket)) = (&self.queue, job.ticket) else {
            return true;
        };
        match q.retry(ticket, &job.dlr, job.attempts, delay).await {
            Ok(RetryPlace::Here) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(
                    id = %job.dlr.id, error = %e,
                    "DLR queue could not take the retry; the queue hands the DLR out again"
                );
                false
            }
        }
    }

    /// Reports a finished DLR's outcome.
    fn report(&self, job: Job, result: Result<(), AttemptError>) {
        let outcome = match result {
            Ok(()) => DlrOutcome::Acknowledged {
                dlr: job.dlr,
                attempts: job.attempts,
            },
            Err(last_error) => DlrOutcome::Exhausted {
                dlr: job.dlr,
                attempts: job.attempts,
                last_error,
            },
        };
        let id = outcome.dlr().id.clone();
        let sink = &self.sink;
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(outcome)))
        {
            tracing::error!(
                id = %id, panic = %panic_text(panic.as_ref()),
                "DLR outcome callback panicked while handling this DLR's outcome"
            );
        }
    }

    async fn attempt(&self, dlr: &Dlr) -> Result<(), AttemptError> {
        // Checked again here for DLRs resumed from the queue under a stricter policy.
        self.check_literal(&dlr.url)
            .map_err(|e| AttemptError::Destination(e.to_string()))?;
        let request = match dlr.method {
            DlrMethod::Get => self.client.get(dlr.get_url()),
            DlrMethod::Post => self.client.post(dlr.url.clone()).body(dlr.form_body()),
        }
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "text/plain");
        let limit = self.config.max_body_bytes;
        let exchange = async {
            let mut response = request.send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while body.len() < limit {
                match response.chunk().await.map_err(classify)? {
                    Some(chunk) => {
                        let room = limit - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    None => break,
                }
            }
            Ok::<_, AttemptError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.config.timeout, Box::pin(exchange))
            .await
            .map_err(|_| AttemptError::Timeout(self.config.timeout))??;
        if self.config.ack.is_ack(status, &body) {
            return Ok(());
        }
        let shown = String::from_utf8_lossy(&body[..body.len().min(BODY_IN_ERROR)]).into_owned();
        let status_ok = match &self.config.ack {
            super::config::AckRule::StatusAndBody { status: want, .. } => status == *want,
            super::config::AckRule::Any2xx => (200..300).contains(&status),
        };
        Err(if status_ok {
            AttemptError::NotAcknowledged {
                status,
                body: shown,
            }
        } else {
            AttemptError::Status {
                status,
                body: shown,
            }
        })
    }
}

/// Sorts a reqwest error into the kinds a host can act on, keeping the whole cause chain.
fn classify(e: reqwest::Error) -> AttemptError {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<DestinationRefused>() {
            return AttemptError::Destination(refused.to_string());
        }
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_connect() {
        AttemptError::Connect(chain)
    } else {
        AttemptError::Transport(chain)
    }
}

/// One DLR from acceptance to outcome; `guard` keeps it counted as pending until the end,
/// however the task ends. A panic in the DLR's own work ends the DLR as
/// [`AttemptError::Panicked`] (taken off the queue, so it cannot recur on every restart); the
/// thrower's other DLRs are not affected.
async fn supervise(guard: PendingGuard, mut job: Job) {
    let this: &Inner = &guard.0;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run(
        this, &mut job,
    )))
    .await
    .unwrap_or_else(|panic| {
        let text = panic_text(panic.as_ref());
        tracing::error!(id = %job.dlr.id, attempts = job.attempts, panic = %text, "DLR work panicked");
        End::Done(Err(AttemptError::Panicked(text)))
    });
    match result {
        End::Done(result) => Box::pin(finish(guard, job, result)).await,
        End::HandedBack => {}
        End::Stopped => Box::pin(this.release(job)).await,
    }
}

/// Takes a DLR that has its outcome off its queue, and reports the outcome once the queue has
/// let it go: an outcome reported is never followed by the same DLR after a restart. The queue
/// may do this after the task has moved on ([`DlrQueue::finish_then`]); `guard` keeps the DLR
/// counted as pending until then.
async fn finish(guard: PendingGuard, job: Job, result: Result<(), AttemptError>) {
    let (queue, ticket) = (guard.0.queue.clone(), job.ticket);
    let then = move |removed: Result<(), QueueError>| {
        let this: &Inner = &guard.0;
        match removed {
            Ok(()) => this.report(job, result),
            Err(e) => tracing::warn!(
                id = %job.dlr.id, error = %e,
                "DLR queue could not record the outcome; the queue hands the DLR out again"
            ),
        }
    };
    match (queue, ticket) {
        (Some(q), Some(ticket)) => q.finish_then(ticket, Box::new(then)).await,
        _ => then(Ok(())),
    }
}

/// The attempts of one DLR, up to its outcome, a retry its queue keeps, or a shutdown.
async fn run(this: &Inner, job: &mut Job) -> End {
    let max_attempts = this.config.max_attempts();
    if job.attempts >= max_attempts && !job.counted {
        // Resumed after a crash during its last permitted attempt.
        return End::Done(Err(AttemptError::Interrupted));
    }
    loop {
        if let Some(at) = job.not_before {
            if !this.sleep_until(at).await {
                return End::Stopped;
            }
            job.not_before = None;
        }
        let gate = this.gate(&job.dest, &job.dlr.url);
        if this.queue.is_some() && !job.counted {
            // The attempt is counted in the queue before it is made, and before the DLR waits
            // for a slot, so that no slot stays idle while the write commits. A DLR counted this
            // way holds a permit of its destination's `scheduled` limit until it has its slot:
            // a crash can cost at most that many waiting DLRs an attempt they did not make.
            let Ok(permit) = gate.scheduled.acquire().await else {
                return End::Stopped;
            };
            permit.forget();
            job.scheduled = Some(Arc::clone(&gate));
            job.attempts = job.attempts.saturating_add(1);
            job.counted = true;
            Box::pin(this.persist(job, this.config.delay_after(job.attempts))).await;
        }
        let result = {
            let Ok(_host) = gate.slots.acquire().await else {
                return End::Stopped;
            };
            if let Some(rate) = this.config.rate_per_host {
                let slot = {
                    let mut next = gate.next_slot.lock().unwrap_or_else(|p| p.into_inner());
                    let slot = (*next).max(Instant::now());
                    // `validate` keeps the rate within 0.001..=1e6 a second, so the interval is
                    // representable; a value that is not falls back to no wait.
                    *next = Duration::try_from_secs_f64(1.0 / rate)
                        .ok()
                        .and_then(|interval| slot.checked_add(interval))
                        .unwrap_or(slot);
                    slot
                };
                if !this.sleep_until(slot).await {
                    return End::Stopped;
                }
            }
            let Ok(_overall) = this.overall.acquire().await else {
                return End::Stopped;
            };
            if let Some(scheduled) = job.scheduled.take() {
                scheduled.scheduled.add_permits(1);
            }
            if job.counted {
                job.counted = false;
            } else {
                job.attempts = job.attempts.saturating_add(1);
            }
            #[cfg(test)]
            tests::maybe_panic(&job.dlr);
            let host = job.dlr.url.host_str().unwrap_or("");
            gate.metrics.attempts.increment(1);
            let span =
                tracing::info_span!("dlr", msgid = %job.dlr.id, host, attempt = job.attempts);
            let started = Instant::now();
            // Boxed so that a DLR waiting for its turn carries a pointer to the (large)
            // request future rather than room for it.
            let result = Box::pin(this.attempt(&job.dlr)).instrument(span).await;
            gate.metrics.seconds.record(started.elapsed().as_secs_f64());
            result
        };
        let outcome = match &result {
            Ok(()) => &gate.metrics.acked,
            Err(e) if this.is_permanent(e) => &gate.metrics.refused,
            Err(_) if job.attempts >= max_attempts => &gate.metrics.gave_up,
            Err(_) => &gate.metrics.retry,
        };
        outcome.increment(1);
        this.release_gate(&job.dest, gate);
        match result {
            Ok(()) => {
                return End::Done(Ok(()));
            }
            Err(e) if this.is_permanent(&e) => {
                return End::Done(Err(e));
            }
            Err(e) if job.attempts >= max_attempts => {
                return End::Done(Err(e));
            }
            Err(e) => {
                let delay = this.config.delay_after(job.attempts);
                tracing::debug!(
                    id = %job.dlr.id, attempt = job.attempts, error = %e, ?delay,
                    "DLR attempt failed; will retry"
                );
                if !Box::pin(this.retry_here(job, delay)).await {
                    return End::HandedBack;
                }
                job.not_before = Some(instant_after(delay));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DLRs with this connector panic in the middle of their work, standing for a bug.
    const PANICS: &str = "panic-in-work";

    pub(super) fn maybe_panic(dlr: &Dlr) {
        if dlr.connector == PANICS {
            panic!("injected fault for DLR {}", dlr.id);
        }
    }

    fn dlr(id: &str, connector: &str) -> Dlr {
        // Port 9 on loopback: nothing listens, so an attempt fails at once with a refusal.
        let url = url::Url::parse("http://127.0.0.1:9/dlr").unwrap();
        Dlr::level1(url, DlrMethod::Get, id, "ESME_ROK", connector)
    }

    fn config() -> DlrThrowerConfig {
        DlrThrowerConfig {
            timeout: Duration::from_secs(2),
            retry_delay: Duration::ZERO,
            max_retries: 0,
            destinations: super::super::DestinationPolicy::allow_all(),
            ..DlrThrowerConfig::default()
        }
    }

    #[tokio::test]
    async fn a_panic_in_one_dlr_ends_it_with_an_outcome_and_the_others_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&outcomes);
        let thrower = HttpDlrThrower::builder(config())
            .queue(dir.path().join("q.redb"))
            .on_outcome(move |o| seen.lock().unwrap().push(o))
            .build()
            .await
            .unwrap();
        for n in 0..6 {
            let connector = if n == 2 { PANICS } else { "c" };
            thrower.throw(dlr(&n.to_string(), connector)).await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(20), thrower.idle())
            .await
            .expect("every DLR ends");
        let mut outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
        outcomes.sort_by(|a, b| a.dlr().id.cmp(&b.dlr().id));
        assert_eq!(outcomes.len(), 6, "{outcomes:?}");
        for (n, o) in outcomes.iter().enumerate() {
            match (n, o) {
                (
                    2,
                    DlrOutcome::Exhausted {
                        last_error: AttemptError::Panicked(text),
                        attempts: 1,
                        ..
                    },
                ) => assert!(text.contains("injected fault for DLR 2"), "{text}"),
                (
                    _,
                    DlrOutcome::Exhausted {
                        last_error: AttemptError::Connect(_),
                        ..
                    },
                ) if n != 2 => {}
                _ => panic!("DLR {n}: {o:?}"),
            }
        }
        // The thrower still takes and ends DLRs, and the panicked one left the queue.
        thrower.throw(dlr("later", "c")).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), thrower.idle())
            .await
            .expect("the thrower keeps running");
        drop(thrower);
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Ok((_, resumed)) =
                super::super::queue::RedbFile::open(&dir.path().join("q.redb")).await
            {
                assert!(resumed.is_empty(), "{} left", resumed.len());
                return;
            }
        }
        panic!("the queue file stayed locked");
    }

    #[tokio::test]
    async fn a_panicking_outcome_callback_does_not_stop_the_thrower() {
        let reported = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&reported);
        let thrower = HttpDlrThrower::builder(config())
            .on_outcome(move |o| {
                count.fetch_add(1, Ordering::SeqCst);
                if o.dlr().id == "1" {
                    panic!("callback fault");
                }
            })
            .build()
            .await
            .unwrap();
        for n in 0..4 {
            thrower.throw(dlr(&n.to_string(), "c")).await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(20), thrower.idle())
            .await
            .expect("every DLR ends");
        assert_eq!(reported.load(Ordering::SeqCst), 4);
        thrower.throw(dlr("after", "c")).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), thrower.idle())
            .await
            .expect("the thrower keeps running");
        assert_eq!(reported.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn time_sums_that_overflow_are_bounded() {
        let far = instant_after(Duration::MAX);
        assert!(far > Instant::now());
        assert!(system_after(Duration::MAX) >= SystemTime::UNIX_EPOCH);
    }
}
