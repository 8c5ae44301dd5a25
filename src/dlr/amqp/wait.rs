//! The wait queues: DLRs between a failed attempt and the next one.
//!
//! A DLR waiting for its retry is a persistent message in the wait queue of its delay class,
//! with its due time in a header. The queues have no TTL: every consuming node holds the
//! messages at the head of each class (unacknowledged) until they are due, then publishes each
//! to the work queue and acknowledges it in one transaction. A node that dies leaves what it
//! held unacknowledged, and the broker hands it to another node; nothing waits on RabbitMQ's
//! dead-lettering, which moves a classic queue's expired message at most once.
//!
//! Messages enter a class in the order they become due, give or take the spread of delays
//! inside the class (at most a factor of two) and the nodes' clock differences, so holding the
//! head of each class is enough: a node never needs to look behind it.
//!
//! A message is held at most `max_hold`, to stay within the broker's `consumer_timeout` (the
//! broker closes a channel that holds a delivery longer). When the head of a class is due
//! later than that, the node cancels its consumer on the class, hands back what it received
//! from it (requeued at its place) and consumes it again `max_hold` before that head is due, or
//! after `max_hold` if that is sooner (a shorter delay of the same class may be waiting behind
//! the head; each look takes in up to `prefetch` messages and keeps those due within reach).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Acker, BasicProperties, Channel};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Stop, declare, persistent};

/// The header that carries a waiting DLR's due time, in milliseconds since the Unix epoch.
pub(super) const DUE_HEADER: &str = "x-redeliver-due-ms";

/// The smallest delay class, in milliseconds; each next class is twice the one before.
const FIRST_CLASS_MS: u64 = 125;

/// Number of classes: the last one, 125 ms × 2²⁵, is about 48.5 days and takes every longer
/// delay too.
const CLASSES: u32 = 26;

/// Moves made in one transaction at most.
const MOVES_PER_COMMIT: usize = 256;

/// The class of a retry delay in milliseconds: the largest class not above it (the first
/// class for shorter delays), or 0 for no delay at all.
pub(super) fn class_ms(delay: Duration) -> u64 {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return 0;
    }
    classes()
        .take_while(|&c| c <= ms)
        .last()
        .unwrap_or(FIRST_CLASS_MS)
}

/// Every class, shortest first.
pub(super) fn classes() -> impl Iterator<Item = u64> {
    (0..CLASSES).map(|k| FIRST_CLASS_MS << k)
}

/// Milliseconds since the Unix epoch (0 before it).
pub(super) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The headers of a waiting DLR due at `due`.
pub(super) fn due_headers(due: SystemTime) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(DUE_HEADER),
        AMQPValue::LongLongInt(i64::try_from(epoch_ms(due)).unwrap_or(i64::MAX)),
    );
    headers
}

/// The due time of a waiting message; `None` without a readable header (it is then moved at
/// once, and the work queue's consumer deals with whatever it is).
fn due_of(properties: &BasicProperties) -> Option<u64> {
    let value = properties.headers().as_ref()?.inner().get(DUE_HEADER)?;
    match value {
        AMQPValue::LongLongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongUInt(v) => Some(u64::from(*v)),
        AMQPValue::LongInt(v) => u64::try_from(*v).ok(),
        _ => None,
    }
}

/// Clocks of the nodes may differ by this much before a due time looks implausible.
const CLOCK_SLACK_MS: u64 = 60_000;

/// Whether `due` can be a due time of a message in `class` seen at `now`: a delay in class `c`
/// is under `2c` (the last class takes any), so a due time further ahead than that (and the
/// clocks' slack) is a broken header or a publisher whose clock is far ahead. Such a message
/// would keep its class waiting behind it; it is retried at once instead.
fn plausible(class: u64, now: u64, due: u64) -> bool {
    let last = FIRST_CLASS_MS << (CLASSES - 1);
    class >= last || due <= now.saturating_add(2 * class).saturating_add(CLOCK_SLACK_MS)
}

/// What a class's consumer stream yields: the class, which consumer of it (a class is consumed
/// again after a pause), and a delivery, or `None` once the consumer is cancelled.
type Item = (u64, u64, Option<lapin::Result<Delivery>>);

enum Class {
    Consuming {
        tag: ShortString,
        generation: u64,
    },
    /// Not consumed until `resume`: its head is due later than `max_hold` from now.
    Paused {
        resume: Instant,
    },
}

struct HeldWait {
    acker: Acker,
    data: Vec<u8>,
    id: Option<ShortString>,
    /// Whether its due time was believed (otherwise it is moved at once).
    plausible: bool,
}

/// Holds the due heads of every wait class on one channel (in transaction mode) and moves them
/// to the work queue when due.
pub(super) struct Mover {
    channel: Channel,
    work_queue: String,
    prefix: String,
    prefetch: u16,
    max_hold: Duration,
    shown: String,
    classes: HashMap<u64, Class>,
    generation: u64,
    streams: SelectAll<BoxStream<'static, Item>>,
    /// Every held message by (due time, arrival number), earliest first.
    held: BTreeMap<(u64, u64), HeldWait>,
    arrivals: u64,
    /// Deliveries to hand back (requeued) with the next commit.
    rejects: Vec<Acker>,
    metrics: WaitMetrics,
}

struct WaitMetrics {
    held: metrics::Gauge,
    moved_due: metrics::Counter,
    moved_implausible: metrics::Counter,
    pauses: metrics::Counter,
}

impl WaitMetrics {
    fn new() -> Self {
        use crate::telemetry::{DLR_WAIT_HELD, DLR_WAIT_MOVES, DLR_WAIT_PAUSES};
        Self {
            held: metrics::gauge!(DLR_WAIT_HELD),
            moved_due: metrics::counter!(DLR_WAIT_MOVES, "reason" => "due"),
            moved_implausible: metrics::counter!(DLR_WAIT_MOVES, "reason" => "implausible"),
            pauses: metrics::counter!(DLR_WAIT_PAUSES),
        }
    }
}

impl Drop for Mover {
    fn drop(&mut self) {
        // What it held goes back to the broker with its channel.
        self.metrics.held.decrement(self.held.len() as f64);
    }
}

impl Mover {
    pub(super) fn new(channel: Channel, config: &super::AmqpQueueConfig, shown: String) -> Self {
        Self {
            channel,
            work_queue: config.queue.clone(),
            prefix: config.wait_queue_prefix.clone(),
            prefetch: config.prefetch,
            max_hold: config.max_hold,
            shown,
            classes: HashMap::new(),
            generation: 0,
            streams: SelectAll::new(),
            held: BTreeMap::new(),
            arrivals: 0,
            rejects: Vec::new(),
            metrics: WaitMetrics::new(),
        }
    }

    /// Declares and consumes every class, then holds and moves until `stopped` says otherwise.
    /// An error ends the connection (what this node held is delivered again, to any node).
    pub(super) async fn run(mut self, mut stopped: watch::Receiver<Stop>) -> Result<(), String> {
        self.channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| format!("wait queues: basic.qos: {e}"))?;
        for class in classes() {
            self.consume(class).await?;
        }
        loop {
            let next_due = self.next_due();
            let next_resume = self.next_resume();
            tokio::select! {
                () = async { let _ = stopped.wait_for(|s| *s != Stop::Run).await; } => return Ok(()),
                item = self.streams.next(), if !self.streams.is_empty() => {
                    let Some(item) = item else { continue };
                    self.on_item(item).await?;
                    // Whatever else has arrived, then one commit for the hand-backs.
                    for _ in 1..MOVES_PER_COMMIT {
                        match self.streams.next().now_or_never() {
                            Some(Some(item)) => self.on_item(item).await?,
                            _ => break,
                        }
                    }
                    self.hand_back().await?;
                }
                () = sleep_until(next_due) => self.move_due().await?,
                () = sleep_until(next_resume) => self.resume().await?,
            }
        }
    }

    fn queue(&self, class: u64) -> String {
        format!("{}{class}", self.prefix)
    }

    async fn consume(&mut self, class: u64) -> Result<(), String> {
        let name = self.queue(class);
        declare(&self.channel, &name, FieldTable::default())
            .await
            .map_err(|e| format!("declare {name}: {e}"))?;
        let consumer = self
            .channel
            .basic_consume(
                ShortString::from(name.as_str()),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("basic.consume {name}: {e}"))?;
        self.generation += 1;
        let generation = self.generation;
        self.classes.insert(
            class,
            Class::Consuming {
                tag: consumer.tag(),
                generation,
            },
        );
        let deliveries = consumer
            .map(move |d| (class, generation, Some(d)))
            .chain(stream::once(async move { (class, generation, None) }));
        self.streams.push(deliveries.boxed());
        Ok(())
    }

    async fn on_item(&mut self, (class, generation, item): Item) -> Result<(), String> {
        let current = matches!(
            self.classes.get(&class),
            Some(Class::Consuming { generation: g, .. }) if *g == generation
        );
        let delivery = match item {
            Some(Ok(delivery)) => delivery,
            Some(Err(e)) => return Err(format!("consume {}: {e}", self.queue(class))),
            None => {
                if current {
                    // Cancelled by the broker (the queue was deleted): declared and consumed
                    // again shortly.
                    tracing::warn!(
                        queue = %self.shown, wait_queue = %self.queue(class),
                        "DLR queue: the broker cancelled a wait queue's consumer"
                    );
                    self.classes.insert(
                        class,
                        Class::Paused {
                            resume: Instant::now() + Duration::from_secs(1),
                        },
                    );
                }
                return Ok(());
            }
        };
        let now = epoch_ms(SystemTime::now());
        let due = due_of(&delivery.properties).filter(|due| plausible(class, now, *due));
        if due.is_none() {
            tracing::warn!(
                queue = %self.shown, wait_queue = %self.queue(class),
                "DLR queue: waiting message without a plausible due time; retried now"
            );
        }
        let hold_until =
            now.saturating_add(u64::try_from(self.max_hold.as_millis()).unwrap_or(u64::MAX));
        let plausible = due.is_some();
        let due = due.unwrap_or(0);
        if due <= hold_until {
            self.arrivals += 1;
            self.held.insert(
                (due, self.arrivals),
                HeldWait {
                    acker: delivery.acker,
                    id: delivery.properties.message_id().clone(),
                    data: delivery.data,
                    plausible,
                },
            );
            self.metrics.held.increment(1.0);
            return Ok(());
        }
        if current && let Some(Class::Consuming { tag, .. }) = self.classes.get(&class) {
            // What follows this head in its class is due later still: stop consuming the class
            // until the head is within reach.
            self.channel
                .basic_cancel(tag.clone(), BasicCancelOptions::default())
                .await
                .map_err(|e| format!("basic.cancel {}: {e}", self.queue(class)))?;
            // Looked at again when the head is within reach, or after `max_hold` at the latest:
            // a DLR with a shorter delay in the same class may have come in behind the head,
            // and a look takes in up to `prefetch` of them.
            let resume = after(Duration::from_millis(due - hold_until).min(self.max_hold));
            tracing::debug!(
                wait_queue = %self.queue(class), in_ms = due - hold_until,
                "DLR queue: wait queue paused until its head is due within max_hold"
            );
            self.classes.insert(class, Class::Paused { resume });
            self.metrics.pauses.increment(1);
        }
        self.rejects.push(delivery.acker);
        Ok(())
    }

    /// Requeues, at their places, the deliveries received from paused classes.
    async fn hand_back(&mut self) -> Result<(), String> {
        if self.rejects.is_empty() {
            return Ok(());
        }
        for acker in self.rejects.drain(..) {
            acker
                .reject(BasicRejectOptions { requeue: true })
                .await
                .map_err(|e| format!("wait queues: basic.reject: {e}"))?;
        }
        self.channel
            .tx_commit()
            .await
            .map_err(|e| format!("wait queues: tx.commit: {e}"))
    }

    /// Publishes the due messages to the work queue and acknowledges them, in one transaction.
    async fn move_due(&mut self) -> Result<(), String> {
        let now = epoch_ms(SystemTime::now());
        let mut moved = 0;
        let mut implausible = 0;
        while moved < MOVES_PER_COMMIT
            && let Some(entry) = self.held.first_entry()
            && entry.key().0 <= now
        {
            let held = entry.remove();
            // Out of this node's hands either way: moved, or (if the commit fails) handed back
            // by the broker with the channel.
            self.metrics.held.decrement(1.0);
            let id = held.id.as_ref().map_or("", |id| id.as_str());
            self.channel
                .basic_publish(
                    ShortString::from(""),
                    ShortString::from(self.work_queue.as_str()),
                    BasicPublishOptions::default(),
                    &held.data,
                    persistent(id),
                )
                .await
                .map_err(|e| format!("wait queues: publish to {}: {e}", self.work_queue))?;
            held.acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(|e| format!("wait queues: ack: {e}"))?;
            moved += 1;
            implausible += u64::from(!held.plausible);
        }
        if moved > 0 {
            self.channel
                .tx_commit()
                .await
                .map_err(|e| format!("wait queues: tx.commit: {e}"))?;
            self.metrics.moved_due.increment(moved as u64 - implausible);
            self.metrics.moved_implausible.increment(implausible);
        }
        Ok(())
    }

    /// Consumes again the paused classes whose time has come.
    async fn resume(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let ready: Vec<u64> = self
            .classes
            .iter()
            .filter_map(|(class, state)| match state {
                Class::Paused { resume } if *resume <= now => Some(*class),
                _ => None,
            })
            .collect();
        for class in ready {
            self.consume(class).await?;
        }
        Ok(())
    }

    fn next_due(&self) -> Option<Instant> {
        let (&(due, _), _) = self.held.first_key_value()?;
        let now = epoch_ms(SystemTime::now());
        Some(after(Duration::from_millis(due.saturating_sub(now))))
    }

    fn next_resume(&self) -> Option<Instant> {
        self.classes
            .values()
            .filter_map(|state| match state {
                Class::Paused { resume } => Some(*resume),
                Class::Consuming { .. } => None,
            })
            .min()
    }
}

/// `wait` from now, or a year from now if that is later than the clock can say (a due time in
/// a header can be anything).
fn after(wait: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 86_400);
    let now = Instant::now();
    now.checked_add(wait.min(YEAR)).unwrap_or(now)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_fall_in_doubling_classes() {
        let class = |ms: u64| class_ms(Duration::from_millis(ms));
        assert_eq!(class(0), 0);
        assert_eq!(class(1), 125);
        assert_eq!(class(124), 125);
        assert_eq!(class(125), 125);
        assert_eq!(class(249), 125);
        assert_eq!(class(250), 250);
        assert_eq!(class(30_000), 16_000);
        assert_eq!(class(32_000), 32_000);
        assert_eq!(class_ms(Duration::MAX), 125 << 25);
        let all: Vec<u64> = classes().collect();
        assert_eq!(all.len(), 26);
        for ms in [1, 7, 125, 999, 30_000, 86_400_000, 1 << 40] {
            let c = class(ms);
            assert!(all.contains(&c), "{ms} -> {c}");
            // Every delay from the first class on is within a factor of two of its class.
            if (125..(125 << 26)).contains(&ms) {
                assert!(c <= ms && ms < 2 * c, "{ms} -> {c}");
            }
        }
    }

    #[test]
    fn a_due_time_beyond_its_class_is_not_plausible() {
        let now = 1_700_000_000_000;
        assert!(plausible(16_000, now, now + 31_999));
        assert!(plausible(16_000, now, now + 32_000 + CLOCK_SLACK_MS));
        assert!(!plausible(16_000, now, now + 32_001 + CLOCK_SLACK_MS));
        assert!(plausible(16_000, now, 0));
        assert!(!plausible(125, now, u64::MAX));
        assert!(plausible(125 << 25, now, u64::MAX));
    }

    #[test]
    fn any_due_time_gives_an_instant() {
        let now = Instant::now();
        assert!(after(Duration::MAX) > now);
        assert!(after(Duration::from_millis(u64::MAX)) > now);
        assert!(after(Duration::ZERO) >= now);
    }

    #[test]
    fn the_due_time_round_trips_through_the_headers() {
        let due = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let props = BasicProperties::default().with_headers(due_headers(due));
        assert_eq!(due_of(&props), Some(1_700_000_000_123));
        assert_eq!(due_of(&BasicProperties::default()), None);
        let mut odd = FieldTable::default();
        odd.insert(
            ShortString::from(DUE_HEADER),
            AMQPValue::LongString("soon".into()),
        );
        assert_eq!(due_of(&BasicProperties::default().with_headers(odd)), None);
        let mut negative = FieldTable::default();
        negative.insert(ShortString::from(DUE_HEADER), AMQPValue::LongLongInt(-5));
        assert_eq!(
            due_of(&BasicProperties::default().with_headers(negative)),
            None
        );
    }
}
