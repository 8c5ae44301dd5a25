//! `AmqpDlrQueue`: the DLR queue in RabbitMQ (AMQP 0-9-1), shared by several thrower nodes, as
//! Jasmin keeps its own; here durable, confirmed and with the attempt count in the message.
//!
//! # Topology
//!
//! Everything is declared by the queue itself, on the default exchange, with names from
//! [`AmqpQueueConfig`]:
//!
//! ```text
//!  throw ──publish (confirmed, persistent)──▶ <queue>            durable work queue
//!                                                │  consumed by every node (prefetch)
//!                                                ▼
//!                      acknowledged / exhausted: ack (outcome reported on that node)
//!                      failed, retries left:     publish to <wait_queue_prefix><class> + ack,
//!                                                in one tx (due time in a header)
//!
//!  <wait_queue_prefix><class>   durable, no TTL; one per delay class (125 ms, 250 ms, … doubling,
//!        │                      26 classes up to about 48.5 days), all consumed by every node
//!        ▼
//!  due: publish to <queue> + ack, in one tx, by the node holding it
//!
//!  <queue>.unreadable  durable; messages whose body is not a DLR are parked here
//! ```
//!
//! A wait queue holds the DLRs whose retry delay falls in its class (the largest class not
//! above the delay). Each consuming node holds the head of every class, unacknowledged, until
//! it is due (the exact delay, not the class), then moves it to the work queue. Messages enter
//! a class in nearly the order they fall due (delays within a class differ by less than a
//! factor of two), so no node looks behind the heads and nothing is polled. A node holds a
//! message at most [`max_hold`](AmqpQueueConfig::max_hold), which must stay below the broker's
//! `consumer_timeout` (30 minutes by default): when the head of a class is due later than that,
//! the node stops consuming the class and hands back what it received from it, and looks again
//! when that head is within reach or after `max_hold`, whichever is sooner (so a DLR of a delay
//! longer than `max_hold` can come up to `max_hold` late when a longer one is ahead of it in
//! its class).
//!
//! A waiting message without a plausible due time (none, unreadable, or further ahead than
//! twice its class plus a minute) is moved on at once rather than left to hold up its class.
//!
//! Due times are compared with the holding node's clock, so the nodes' clocks should agree
//! (NTP); a DLR's retry may also come later than its delay by the spread of delays in its class
//! when more than `prefetch` DLRs of one class are waiting on a node.
//!
//! # Guarantees
//!
//! - `throw` returns once the broker confirmed the message into the durable work queue as a
//!   persistent message, so a broker restart loses nothing. When the broker cannot be reached it
//!   fails with [`QueueError::Unavailable`] (retryable) and nothing is stored.
//! - Every message body carries the DLR and the attempts made so far. A failed attempt that
//!   will be retried is re-published with the new count to the wait queue, and the delivery is
//!   acknowledged, in one AMQP transaction: a node that dies in between leaves either the old
//!   message or the new one, never both.
//! - A waiting DLR moves back to the work queue the same way: published there and acknowledged
//!   in the wait queue in one transaction, by the node that held it. A node or a broker that
//!   stops in between leaves it in the wait queue, to be moved by any node. Nothing depends on
//!   RabbitMQ's dead-lettering, which moves a classic queue's expired message at most once.
//! - A message the broker delivers again (`redelivered`: the node holding it died or lost its
//!   connection) may have had an attempt made on it, so one attempt is counted for it before
//!   any other node attempts it: the count is re-published with one more attempt and the
//!   delivery acknowledged, in one transaction. `1 + max_retries` attempts therefore hold
//!   across nodes and restarts; a DLR whose holder died before attempting it may lose one
//!   attempt of its budget, never gain one.
//! - A clean shutdown ([`HttpDlrThrower::shutdown`](super::HttpDlrThrower::shutdown)) charges
//!   nothing for DLRs whose attempt never started: each one this node holds, prefetched ones
//!   included, is published again with the attempts actually made and its delivery acknowledged,
//!   in one transaction, so no other node sees it `redelivered`.
//! - The consumer reconnects with exponential backoff; while it is disconnected, `throw` fails.
//!
//! # Known limit: a broker crash
//!
//! RabbitMQ's transactions are durable once committed but not atomic, so a broker killed in
//! the middle of a commit can apply a move's ack without its publish (the DLR is lost) or the
//! publish without the ack (it is delivered twice). Measured: in 27 runs killing the broker with
//! SIGKILL while 1,000 DLRs cycled through a 500 ms wait queue, 26 lost nothing and one lost
//! 136. A clean stop or restart of the broker loses nothing. `throw` itself (publisher
//! confirms) is not affected.

mod wait;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use lapin::Acker;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::queue::{DlrQueue, Leased, QueueError, RetryPlace, Ticket, decode, encode};
use super::value::Dlr;

/// Where an [`AmqpDlrQueue`] connects and the names it declares.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpQueueConfig {
    /// The broker, `amqp://user:password@host:port/vhost` (vhost `/` is `%2f`).
    pub url: String,
    /// The durable work queue every node consumes.
    pub queue: String,
    /// Prefix of the per-delay wait queues; the delay in milliseconds follows it.
    pub wait_queue_prefix: String,
    /// DLRs the broker hands to this node before it has finished earlier ones (AMQP prefetch);
    /// keep it near the thrower's `max_concurrency`.
    pub prefetch: u16,
    /// Longest wait for the broker's confirm of a thrown DLR.
    #[serde(with = "secs")]
    pub confirm_timeout: Duration,
    /// First wait before reconnecting; doubled after each failure.
    #[serde(with = "secs")]
    pub reconnect_min: Duration,
    /// Longest wait between reconnection attempts.
    #[serde(with = "secs")]
    pub reconnect_max: Duration,
    /// Whether this node attempts DLRs from the queue; `false` for a node that only throws
    /// (its thrower then attempts nothing, other nodes do).
    pub consume: bool,
    /// For an `amqps://` broker (feature `amqps`): a PEM file of the certificate authorities
    /// that sign the broker's certificate, trusted besides the system's roots (a private CA).
    /// Read when the queue is connected.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Longest a node holds a waiting DLR unacknowledged before its retry is due (1 s to 24 h);
    /// keep it below the broker's `consumer_timeout` (RabbitMQ's default is 30 minutes), which
    /// closes a channel that holds a delivery longer.
    #[serde(with = "secs")]
    pub max_hold: Duration,
}

impl Default for AmqpQueueConfig {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            queue: "redeliver.dlr".to_owned(),
            wait_queue_prefix: "redeliver.dlr.delay.".to_owned(),
            prefetch: 256,
            confirm_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            consume: true,
            tls_ca_file: None,
            max_hold: Duration::from_secs(600),
        }
    }
}

impl std::fmt::Debug for AmqpQueueConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpQueueConfig")
            .field("url", &redacted(&self.url))
            .field("queue", &self.queue)
            .field("wait_queue_prefix", &self.wait_queue_prefix)
            .field("prefetch", &self.prefetch)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("consume", &self.consume)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("max_hold", &self.max_hold)
            .finish()
    }
}

impl AmqpQueueConfig {
    /// The defaults with `url` as the broker.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// The wait queue that holds DLRs retried after `delay`: the one of its class (see the
    /// module documentation); `None` for no delay, when the DLR goes straight back to the work
    /// queue.
    pub fn wait_queue(&self, delay: Duration) -> Option<String> {
        let class = wait::class_ms(delay);
        (class > 0).then(|| format!("{}{class}", self.wait_queue_prefix))
    }

    fn check(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("url: {e}"))?;
        match url.scheme() {
            "amqp" => {}
            "amqps" if cfg!(feature = "amqps") => {}
            "amqps" => return Err("url: amqps needs the crate's `amqps` feature".to_owned()),
            other => {
                return Err(format!(
                    "url: scheme {other:?} is not supported (amqp or amqps)"
                ));
            }
        }
        for (what, name) in [
            ("queue", &self.queue),
            ("wait_queue_prefix", &self.wait_queue_prefix),
        ] {
            // Names are AMQP short strings; room is left for the suffixes added to them.
            if name.is_empty() || name.len() > 200 || name.starts_with("amq.") {
                return Err(format!(
                    "{what} {name:?}: must be 1 to 200 bytes and not start with \"amq.\""
                ));
            }
        }
        if self.prefetch == 0 {
            return Err("prefetch: must be at least 1".to_owned());
        }
        if self.confirm_timeout.is_zero() {
            return Err("confirm_timeout: must be more than zero".to_owned());
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return Err("reconnect_min, reconnect_max: need 0 < min <= max".to_owned());
        }
        if self.max_hold < Duration::from_secs(1) || self.max_hold > Duration::from_secs(86_400) {
            return Err("max_hold: must be 1 s to 24 h".to_owned());
        }
        Ok(())
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// The URL without its password, for logs and errors.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// Why an [`AmqpDlrQueue`] could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMQP DLR queue: {0}")]
pub struct AmqpConfigError(String);

/// A pending DLR held by this node: how to acknowledge its delivery, on the connection it came
/// from.
struct Held {
    acker: Acker,
    tx: mpsc::Sender<TxOp>,
}

/// One step of the transactional channel: acknowledge a delivery, after publishing a message.
/// A step with neither is a barrier: `done` once every earlier step is committed.
struct TxOp {
    publish: Option<Publish>,
    acker: Option<Acker>,
    done: oneshot::Sender<Result<(), String>>,
}

struct Publish {
    queue: String,
    /// When `queue` is a wait queue: its class and when the DLR is due.
    wait: Option<(u64, SystemTime)>,
    body: Vec<u8>,
    id: String,
}

struct Shared {
    config: AmqpQueueConfig,
    /// The PEM text of `tls_ca_file`, read once.
    trusted: Option<String>,
    /// Broker and queue for messages, without credentials.
    shown: String,
    /// The publishing channel of the current connection (confirm mode); `None` while
    /// disconnected.
    publisher: tokio::sync::RwLock<Option<Channel>>,
    held: Mutex<HashMap<u64, Held>>,
    next_ticket: AtomicU64,
}

/// The DLR queue in RabbitMQ, shared by every thrower node that uses the same broker and queue
/// name (see the module documentation for the topology and the guarantees).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use redeliver::dlr::{AmqpDlrQueue, AmqpQueueConfig, DlrThrowerConfig, HttpDlrThrower};
///
/// let queue = AmqpDlrQueue::connect(AmqpQueueConfig::new("amqp://guest:guest@127.0.0.1:5672/%2f")).await?;
/// let thrower = HttpDlrThrower::builder(DlrThrowerConfig::default())
///     .queue_with(Arc::new(queue))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
pub struct AmqpDlrQueue {
    shared: Arc<Shared>,
    leases: tokio::sync::Mutex<mpsc::Receiver<Leased>>,
    stop: watch::Sender<Stop>,
    /// The task that connects and consumes; awaited by [`DlrQueue::close`].
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the connection task is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// A clean shutdown: hand back what was delivered and not taken, uncharged, then close.
    Close,
    /// The queue was dropped: close the connection (the broker delivers what this node held
    /// again, and counts an attempt for each).
    Drop,
}

impl std::fmt::Debug for AmqpDlrQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpDlrQueue")
            .field("queue", &self.shared.shown)
            .finish_non_exhaustive()
    }
}

impl Drop for AmqpDlrQueue {
    fn drop(&mut self) {
        self.stop.send_if_modified(|s| {
            let run = *s == Stop::Run;
            if run {
                *s = Stop::Drop;
            }
            run
        });
    }
}

impl AmqpDlrQueue {
    /// Starts the queue on the current tokio runtime and waits for its first connection (up to
    /// `confirm_timeout`); if the broker cannot be reached by then, the queue is returned all
    /// the same and keeps reconnecting in the background, and `throw` fails until it is
    /// connected. Only a bad configuration is an error.
    pub async fn connect(config: AmqpQueueConfig) -> Result<Self, AmqpConfigError> {
        config.check().map_err(AmqpConfigError)?;
        let trusted = match &config.tls_ca_file {
            Some(path) => Some(read_ca(path).map_err(AmqpConfigError)?),
            None => None,
        };
        let shown = format!("{} queue {}", redacted(&config.url), config.queue);
        let wait_first = config.confirm_timeout;
        let shared = Arc::new(Shared {
            trusted,
            shown,
            publisher: tokio::sync::RwLock::new(None),
            held: Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(1),
            config,
        });
        let (leases_tx, leases) = mpsc::channel(usize::from(shared.config.prefetch));
        let (stop, stopped) = watch::channel(Stop::Run);
        let (up_tx, up) = oneshot::channel();
        let task = tokio::spawn(consume(Arc::clone(&shared), leases_tx, stopped, up_tx));
        if tokio::time::timeout(wait_first, up).await.is_err() {
            tracing::warn!(
                queue = %shared.shown,
                "DLR queue: broker not reachable yet; reconnecting in the background"
            );
        }
        Ok(Self {
            shared,
            leases: tokio::sync::Mutex::new(leases),
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Whether the queue is connected to its broker now.
    pub async fn is_connected(&self) -> bool {
        self.shared
            .publisher
            .read()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> QueueError {
        QueueError::Unavailable {
            queue: self.shared.shown.clone(),
            reason: reason.to_string(),
            source: None,
        }
    }

    /// [`unavailable`](Self::unavailable) with the client's error kept as the source.
    fn unavailable_from(&self, e: lapin::Error) -> QueueError {
        QueueError::Unavailable {
            queue: self.shared.shown.clone(),
            reason: e.to_string(),
            source: Some(Arc::new(e)),
        }
    }

    fn take_held(&self, ticket: Ticket) -> Result<Held, QueueError> {
        self.shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ticket.0)
            .ok_or_else(|| self.unavailable(format!("ticket {} is not held here", ticket.0)))
    }

    async fn commit(&self, held: Held, publish: Option<Publish>) -> Result<(), QueueError> {
        let (done, wait) = oneshot::channel();
        let op = TxOp {
            publish,
            acker: Some(held.acker),
            done,
        };
        held.tx
            .send(op)
            .await
            .map_err(|_| self.unavailable("the connection this DLR came on is closed"))?;
        wait.await
            .map_err(|_| self.unavailable("the connection this DLR came on is closed"))?
            .map_err(|e| self.unavailable(e))
    }
}

fn persistent(id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(id))
}

#[async_trait::async_trait]
impl DlrQueue for AmqpDlrQueue {
    async fn push(
        &self,
        dlr: &Dlr,
        _first_attempt: Option<SystemTime>,
    ) -> Result<Option<Ticket>, QueueError> {
        // The DLR goes to whichever node takes it from the queue; none is attempting it yet.
        let body = encode(dlr, 0, SystemTime::now()).map_err(|e| QueueError::Refused {
            queue: self.shared.shown.clone(),
            reason: format!("encode: {e}"),
        })?;
        let channel = self
            .shared
            .publisher
            .read()
            .await
            .clone()
            .ok_or_else(|| self.unavailable("not connected to the broker (reconnecting)"))?;
        let publish = async {
            let confirm = channel
                .basic_publish(
                    ShortString::from(""),
                    ShortString::from(self.shared.config.queue.as_str()),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    persistent(&dlr.id),
                )
                .await
                .map_err(|e| self.unavailable_from(e))?;
            confirm.await.map_err(|e| self.unavailable_from(e))
        };
        let confirmation = tokio::time::timeout(self.shared.config.confirm_timeout, publish)
            .await
            .map_err(|_| {
                self.unavailable(format!(
                    "no confirm within {:?}",
                    self.shared.config.confirm_timeout
                ))
            })??;
        match confirmation {
            Confirmation::Ack(None) => Ok(None),
            Confirmation::Ack(Some(returned)) => Err(QueueError::Refused {
                queue: self.shared.shown.clone(),
                reason: format!(
                    "returned unroutable: {} {}",
                    returned.reply_code, returned.reply_text
                ),
            }),
            Confirmation::Nack(_) => Err(QueueError::Refused {
                queue: self.shared.shown.clone(),
                reason: "negatively confirmed (not stored)".to_owned(),
            }),
            Confirmation::NotRequested => Err(self.unavailable("channel not in confirm mode")),
        }
    }

    async fn next(&self) -> Option<Leased> {
        self.leases.lock().await.recv().await
    }

    async fn attempt_starts(
        &self,
        _ticket: Ticket,
        _dlr: &Dlr,
        _attempts: u32,
        _retry_at: SystemTime,
    ) -> Result<(), QueueError> {
        // An attempt cut short by a crash is counted when the broker delivers the message again
        // (`redelivered`), so nothing is written before an attempt.
        Ok(())
    }

    async fn retry(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        delay: Duration,
    ) -> Result<RetryPlace, QueueError> {
        let held = self.take_held(ticket)?;
        let now = SystemTime::now();
        let due = now.checked_add(delay).unwrap_or(now);
        let body =
            encode(dlr, attempts, due).map_err(|e| self.unavailable(format!("encode: {e}")))?;
        let publish = match self.shared.config.wait_queue(delay) {
            Some(queue) => Publish {
                queue,
                wait: Some((wait::class_ms(delay), due)),
                body,
                id: dlr.id.clone(),
            },
            None => Publish {
                queue: self.shared.config.queue.clone(),
                wait: None,
                body,
                id: dlr.id.clone(),
            },
        };
        self.commit(held, Some(publish)).await?;
        Ok(RetryPlace::Queue)
    }

    async fn finish(&self, ticket: Ticket) -> Result<(), QueueError> {
        let held = self.take_held(ticket)?;
        self.commit(held, None).await
    }

    async fn release(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        not_before: SystemTime,
    ) -> Result<(), QueueError> {
        // Published again as a new message (not `redelivered`), with the attempts made, and the
        // delivery acknowledged in the same transaction: the next node charges nothing for it.
        let held = self.take_held(ticket)?;
        let body = encode(dlr, attempts, not_before)
            .map_err(|e| self.unavailable(format!("encode: {e}")))?;
        let publish = Publish {
            queue: self.shared.config.queue.clone(),
            wait: None,
            body,
            id: dlr.id.clone(),
        };
        self.commit(held, Some(publish)).await
    }

    async fn close(&self) {
        {
            // DLRs delivered to this node that the thrower did not take go back uncharged.
            let mut leases = self.leases.lock().await;
            leases.close();
            while let Some(l) = leases.recv().await {
                let not_before = l.not_before.unwrap_or_else(SystemTime::now);
                if let Err(e) = self.release(l.ticket, &l.dlr, l.attempts, not_before).await {
                    tracing::warn!(
                        id = %l.dlr.id, error = %e,
                        "DLR queue: could not hand a DLR back at shutdown; the broker delivers it again"
                    );
                }
            }
        }
        // Only now: the connection task keeps every held DLR's channel open until then.
        self.stop.send_replace(Stop::Close);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// A connection to `url`, trusting the certificate authorities in `trusted` (PEM) besides the
/// system's for `amqps`.
async fn connect(
    url: &str,
    props: ConnectionProperties,
    trusted: Option<String>,
) -> Result<Connection, String> {
    let runtime = lapin::runtime::default_runtime().map_err(|e| format!("runtime: {e}"))?;
    let tls = lapin::tcp::OwnedTLSConfig {
        identity: None,
        cert_chain: trusted,
    };
    Connection::connect_with_config(url, props, tls, runtime)
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// The certificates of a CA file, as PEM text; an error names the file and what is wrong.
fn read_ca(path: &std::path::Path) -> Result<String, String> {
    const MAX: u64 = 1 << 20;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("tls_ca_file {shown}: {e}"))?;
    if meta.len() > MAX {
        return Err(format!("tls_ca_file {shown}: larger than 1 MiB"));
    }
    let pem = std::fs::read_to_string(path).map_err(|e| format!("tls_ca_file {shown}: {e}"))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("tls_ca_file {shown}: no PEM certificate in it"));
    }
    Ok(pem)
}

/// Connects, consumes and reconnects with backoff until the queue is dropped.
async fn consume(
    shared: Arc<Shared>,
    leases: mpsc::Sender<Leased>,
    mut stopped: watch::Receiver<Stop>,
    up: oneshot::Sender<()>,
) {
    use crate::telemetry::DLR_AMQP_CONNECTIONS;
    let (lost, refused) = (
        metrics::counter!(DLR_AMQP_CONNECTIONS, "result" => "lost"),
        metrics::counter!(DLR_AMQP_CONNECTIONS, "result" => "refused"),
    );
    let mut up = Some(up);
    let mut backoff = shared.config.reconnect_min;
    loop {
        let mut connected = false;
        let result = session(&shared, &leases, &mut stopped, &mut up, &mut connected).await;
        if connected {
            // Backing off starts again from the shortest wait after a connection that worked.
            backoff = shared.config.reconnect_min;
        }
        *shared.publisher.write().await = None;
        // Held DLRs of the lost connection can no longer be acknowledged: the broker delivers
        // them again.
        shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        match result {
            Ok(()) => return,
            Err(_) if connected => lost.increment(1),
            Err(_) => refused.increment(1),
        }
        if let Err(e) = result {
            tracing::warn!(
                queue = %shared.shown, error = %e, retry_in = ?backoff,
                "DLR queue: broker connection lost or refused; reconnecting"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stopped.wait_for(|s| *s != Stop::Run) => return,
        }
        backoff = backoff.saturating_mul(2).min(shared.config.reconnect_max);
    }
}

/// Declares a durable queue with `args`.
async fn declare(channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    channel
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .map(|_| ())
}

/// The session is connected: `throw` may publish on `publisher`, `connect` stops waiting.
async fn went_up(
    shared: &Shared,
    publisher: Channel,
    up: &mut Option<oneshot::Sender<()>>,
    connected: &mut bool,
    how: &str,
) {
    *shared.publisher.write().await = Some(publisher);
    if let Some(up) = up.take() {
        let _ = up.send(());
    }
    *connected = true;
    metrics::counter!(crate::telemetry::DLR_AMQP_CONNECTIONS, "result" => "up").increment(1);
    tracing::info!(queue = %shared.shown, "DLR queue: connected{how}");
}

/// One connection: returns `Ok` when the queue is dropped, an error when the connection fails;
/// `connected` says whether it was made.
async fn session(
    shared: &Arc<Shared>,
    leases: &mpsc::Sender<Leased>,
    stopped: &mut watch::Receiver<Stop>,
    up: &mut Option<oneshot::Sender<()>>,
    connected: &mut bool,
) -> Result<(), String> {
    let cfg = &shared.config;
    let props = ConnectionProperties::default()
        .with_connection_name(format!("redeliver DLR thrower {}", std::process::id()).into());
    if *stopped.borrow_and_update() != Stop::Run {
        return Ok(());
    }
    let connection = tokio::select! {
        c = connect(&cfg.url, props, shared.trusted.clone()) => c?,
        _ = stopped.wait_for(|s| *s != Stop::Run) => return Ok(()),
    };
    let step = |what: &'static str| move |e: lapin::Error| format!("{what}: {e}");
    let publisher = connection.create_channel().await.map_err(step("channel"))?;
    declare(&publisher, &cfg.queue, FieldTable::default())
        .await
        .map_err(step("declare the work queue"))?;
    let unreadable = format!("{}.unreadable", cfg.queue);
    declare(&publisher, &unreadable, FieldTable::default())
        .await
        .map_err(step("declare the unreadable queue"))?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(step("confirm.select"))?;

    if !cfg.consume {
        went_up(shared, publisher, up, connected, " (publishing only)").await;
        let mut events = connection.events_listener();
        let result = loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s != Stop::Run) => break Ok(()),
                event = events.next() => match event {
                    Some(lapin::Event::Error(e)) => break Err(format!("connection: {e}")),
                    Some(_) => {}
                    None => break Err("connection closed".to_owned()),
                },
            }
        };
        if result.is_ok() {
            let _ = connection.close(200, ShortString::from("bye")).await;
        }
        return result;
    }

    let consumer_channel = connection.create_channel().await.map_err(step("channel"))?;
    consumer_channel
        .tx_select()
        .await
        .map_err(step("tx.select"))?;
    consumer_channel
        .basic_qos(cfg.prefetch, BasicQosOptions::default())
        .await
        .map_err(step("basic.qos"))?;
    let mut consumer = consumer_channel
        .basic_consume(
            ShortString::from(cfg.queue.as_str()),
            ShortString::from(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(step("basic.consume"))?;
    let (tx, ops) = mpsc::channel(1024);
    let committing = tokio::spawn(transactions(
        consumer_channel.clone(),
        ops,
        shared.shown.clone(),
    ));
    // The wait queues' heads are held and moved on a channel of their own.
    let mover_channel = connection.create_channel().await.map_err(step("channel"))?;
    mover_channel.tx_select().await.map_err(step("tx.select"))?;
    let mut moving = tokio::spawn(
        wait::Mover::new(mover_channel, cfg, shared.shown.clone()).run(stopped.clone()),
    );
    went_up(shared, publisher, up, connected, "").await;

    let mut closing = false;
    let mut mover_ended = false;
    let result = loop {
        let delivery = tokio::select! {
            d = consumer.next() => d,
            s = stopped.wait_for(|s| *s != Stop::Run) => {
                closing = s.is_ok_and(|s| *s == Stop::Close);
                break Ok(());
            }
            moved = &mut moving => {
                mover_ended = true;
                match moved {
                    Ok(Err(e)) => break Err(e),
                    // It ends cleanly only when told to stop, as this loop is: which stop is
                    // read below.
                    Ok(Ok(())) => break Ok(()),
                    Err(e) => break Err(format!("wait queues: {e}")),
                }
            }
        };
        let delivery = match delivery {
            Some(Ok(d)) => d,
            Some(Err(e)) => break Err(format!("consume: {e}")),
            None => break Err("the broker cancelled the consumer".to_owned()),
        };
        let acker = delivery.acker;
        let decoded = match decode(&delivery.data) {
            Ok(decoded) if !delivery.redelivered => decoded,
            _ => {
                // Unreadable (parked), or delivered again: its holder may have made an attempt
                // before it stopped, so one is counted before anyone attempts it again.
                let Some(publish) =
                    requeue(shared, &unreadable, delivery.data, delivery.redelivered)
                else {
                    break Err("encode failed".to_owned());
                };
                if submit(&tx, acker, Some(publish)).await.is_err() {
                    break Err("the transaction channel closed".to_owned());
                }
                continue;
            }
        };
        let (dlr, attempts, _) = decoded;
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                ticket,
                Held {
                    acker,
                    tx: tx.clone(),
                },
            );
        let leased = Leased {
            dlr,
            attempts,
            not_before: None,
            ticket: Ticket(ticket),
        };
        if let Err(mpsc::error::SendError(leased)) = leases.send(leased).await {
            // The queue is closing (or gone): this one goes back with the others.
            let held = shared
                .held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&leased.ticket.0);
            if let Some(held) = held
                && let Ok(body) = encode(&leased.dlr, leased.attempts, SystemTime::now())
            {
                let publish = Publish {
                    queue: cfg.queue.clone(),
                    wait: None,
                    body,
                    id: leased.dlr.id.clone(),
                };
                let _ = submit(&tx, held.acker, Some(publish)).await;
            }
            closing = true;
            break Ok(());
        }
    };
    if mover_ended && result.is_ok() {
        closing = *stopped.borrow() == Stop::Close;
    }
    if !mover_ended {
        if result.is_err() {
            moving.abort();
        }
        // It stops at the same signal, after the step under way; what it holds is delivered
        // again once the connection closes.
        let _ = moving.await;
    }
    if result.is_ok() && closing {
        // `close` hands back the DLRs that were waiting in the lease channel before it says
        // `Close`; what the thrower still holds after that (nothing, after a clean shutdown)
        // is delivered again once the channel closes.
        let _ = stopped.wait_for(|s| *s != Stop::Run).await;
        hand_back(shared, &consumer_channel, consumer, &tx, &unreadable).await;
        shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        drop(tx);
        // Every hand-back is committed before the connection closes.
        let _ = committing.await;
    } else {
        drop(tx);
    }
    if result.is_ok() {
        let _ = connection.close(200, ShortString::from("bye")).await;
    }
    result
}

/// A clean shutdown: no more deliveries, and those already delivered to this node that the
/// thrower never took are published again as they came (redelivered ones with the attempt
/// their holder may have made), each with its ack, in the transactional channel.
async fn hand_back(
    shared: &Arc<Shared>,
    channel: &Channel,
    mut consumer: lapin::Consumer,
    tx: &mpsc::Sender<TxOp>,
    unreadable: &str,
) {
    // The broker refuses a basic.cancel while a tx.commit is under way on the channel: wait for
    // the commits of every earlier step first.
    let (done, committed) = oneshot::channel();
    let barrier = TxOp {
        publish: None,
        acker: None,
        done,
    };
    if tx.send(barrier).await.is_err() || !matches!(committed.await, Ok(Ok(()))) {
        return;
    }
    if let Err(e) = channel
        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await
    {
        tracing::warn!(queue = %shared.shown, error = %e, "DLR queue: basic.cancel failed");
        return;
    }
    // After the cancel the stream yields what was already delivered, then ends.
    let limit = shared.config.confirm_timeout;
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout(limit, consumer.next()).await {
        let Some(publish) = requeue(shared, unreadable, delivery.data, delivery.redelivered) else {
            continue;
        };
        if submit(tx, delivery.acker, Some(publish)).await.is_err() {
            return;
        }
    }
}

/// What replaces a delivery that no node attempts now: its body, published again to the work
/// queue with one more attempt counted when it was `redelivered`, or, when it is not a DLR,
/// parked in the unreadable queue. `None` if the DLR cannot be encoded again.
fn requeue(shared: &Shared, unreadable: &str, data: Vec<u8>, redelivered: bool) -> Option<Publish> {
    match decode(&data) {
        Ok((dlr, attempts, next_attempt)) => {
            let counted = attempts.saturating_add(u32::from(redelivered));
            if redelivered {
                tracing::debug!(
                    id = %dlr.id, attempts = counted,
                    "DLR delivered again; counting the attempt that may have been made"
                );
            }
            let body = if redelivered {
                encode(&dlr, counted, next_attempt).ok()?
            } else {
                data
            };
            Some(Publish {
                queue: shared.config.queue.clone(),
                wait: None,
                body,
                id: dlr.id,
            })
        }
        Err(reason) => {
            tracing::error!(
                queue = %shared.shown, %reason, parked_in = %unreadable,
                "DLR queue: message is not a DLR; parked"
            );
            Some(Publish {
                queue: unreadable.to_owned(),
                wait: None,
                body: data,
                id: String::new(),
            })
        }
    }
}

/// Queues a transactional step without waiting for its commit.
async fn submit(tx: &mpsc::Sender<TxOp>, acker: Acker, publish: Option<Publish>) -> Result<(), ()> {
    let (done, _) = oneshot::channel();
    tx.send(TxOp {
        publish,
        acker: Some(acker),
        done,
    })
    .await
    .map_err(|_| ())
}

/// Applies steps in groups, one `tx.commit` per group, so that each step's publish and ack take
/// effect together and the commit's cost is shared.
async fn transactions(channel: Channel, mut ops: mpsc::Receiver<TxOp>, shown: String) {
    let mut declared: HashSet<u64> = HashSet::new();
    let mut batch = Vec::with_capacity(256);
    while ops.recv_many(&mut batch, 256).await > 0 {
        let result = async {
            for op in &batch {
                if let Some(p) = &op.publish {
                    if let Some((class, _)) = p.wait
                        && !declared.contains(&class)
                    {
                        declare(&channel, &p.queue, FieldTable::default())
                            .await
                            .map_err(|e| format!("declare {}: {e}", p.queue))?;
                        declared.insert(class);
                    }
                    let mut properties = persistent(&p.id);
                    if let Some((_, due)) = p.wait {
                        properties = properties.with_headers(wait::due_headers(due));
                    }
                    // Not awaited as a confirm: the channel is transactional, the commit below
                    // is what makes it durable.
                    channel
                        .basic_publish(
                            ShortString::from(""),
                            ShortString::from(p.queue.as_str()),
                            BasicPublishOptions::default(),
                            &p.body,
                            properties,
                        )
                        .await
                        .map_err(|e| format!("publish to {}: {e}", p.queue))?;
                }
                if let Some(acker) = &op.acker {
                    acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(|e| format!("ack: {e}"))?;
                }
            }
            channel
                .tx_commit()
                .await
                .map_err(|e| format!("tx.commit: {e}"))
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(queue = %shown, error = %e, "DLR queue: transaction failed");
        }
        let failed = result.is_err();
        for op in batch.drain(..) {
            let _ = op.done.send(result.clone());
        }
        if failed {
            // Nothing of the group took effect; the broker delivers its messages again once
            // this channel is gone.
            let _ = channel
                .close(500, ShortString::from("transaction failed"))
                .await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked_and_the_password_never_shown() {
        let cfg = AmqpQueueConfig::new("amqp://user:secret@127.0.0.1:5672/%2f");
        assert!(cfg.check().is_ok());
        assert!(!format!("{cfg:?}").contains("secret"));
        for bad in [
            AmqpQueueConfig::new("http://x/"),
            AmqpQueueConfig::new("not a url"),
            AmqpQueueConfig {
                queue: "amq.x".into(),
                ..AmqpQueueConfig::default()
            },
            AmqpQueueConfig {
                prefetch: 0,
                ..AmqpQueueConfig::default()
            },
            AmqpQueueConfig {
                reconnect_max: Duration::ZERO,
                ..AmqpQueueConfig::default()
            },
            AmqpQueueConfig {
                max_hold: Duration::from_millis(10),
                ..AmqpQueueConfig::default()
            },
            AmqpQueueConfig {
                max_hold: Duration::from_secs(86_401),
                ..AmqpQueueConfig::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert_eq!(
            AmqpQueueConfig::default()
                .wait_queue(Duration::from_secs(30))
                .as_deref(),
            Some("redeliver.dlr.delay.16000")
        );
        assert_eq!(AmqpQueueConfig::default().wait_queue(Duration::ZERO), None);
        // amqps only with the feature that brings TLS.
        assert_eq!(
            AmqpQueueConfig::new("amqps://u:p@broker.example:5671/%2f")
                .check()
                .is_ok(),
            cfg!(feature = "amqps")
        );
    }

    #[test]
    fn a_ca_file_must_exist_and_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_ca(&dir.path().join("none.pem")).unwrap_err();
        assert!(missing.contains("none.pem"), "{missing}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(read_ca(&empty).unwrap_err().contains("no PEM certificate"));
        let good = dir.path().join("ca.pem");
        std::fs::write(
            &good,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read_ca(&good).is_ok());
    }
}
