//! Where a durable thrower keeps its pending DLRs: the [`DlrQueue`] trait, and the embedded
//! queue, a `redb` file (the same embedded database as the crate's embedded store), which
//! implements it.
//!
//! Writes from all DLRs are grouped into one transaction per turn of the queue's writer thread:
//! whoever is waiting when a commit ends goes into the next one, so the cost of a durable commit
//! (an fsync) is shared by every DLR that arrived while the previous one ran. The writer is a
//! thread of its own that takes the changes straight from the channel and answers each caller
//! itself: a commit follows the previous one at once, without waiting for a turn on the
//! runtime's (busy) worker threads, which took about a third of each commit cycle when the
//! writer was a task handing each batch to `spawn_blocking`. Under load a commit waits a moment
//! (200 µs) for the changes on their way when it would carry fewer than the previous one, so
//! that the fixed cost of a commit is shared by more DLRs; a lone change commits at once.
//! A finished DLR's task does not wait for its removal either
//! ([`DlrQueue::finish_then`]): its outcome goes with the removal, and after each commit one
//! task reports the outcomes of the DLRs the commit removed, so the writer wakes one task per
//! commit instead of one per DLR, and an outcome is still reported only once its DLR is off the
//! disk (a crash never sends again a DLR whose outcome was reported). Opening the file still
//! runs under `spawn_blocking`; no `redb` call runs on the runtime's worker threads.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use url::Url;

use super::value::{Dlr, DlrLevel, DlrMethod, ReceiptParams};

/// A pending DLR's handle in its queue, given by [`DlrQueue::push`] or with a [`Leased`] DLR and
/// passed back to the queue's other methods. Its meaning is the queue's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// A DLR the queue hands to this node to attempt ([`DlrQueue::next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    /// The DLR.
    pub dlr: Dlr,
    /// Attempts already made (or possibly made, when a holder stopped during one), on any node.
    pub attempts: u32,
    /// No attempt before this time; `None` for at once.
    pub not_before: Option<SystemTime>,
    /// Its handle in the queue.
    pub ticket: Ticket,
}

/// Where a DLR waits for its next attempt after [`DlrQueue::retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryPlace {
    /// On this node: the thrower keeps it and makes the next attempt itself, under the same
    /// ticket.
    Here,
    /// In the queue: the thrower lets it go; the queue hands it out again through
    /// [`DlrQueue::next`] (to this node or another one) once the delay has passed.
    Queue,
}

/// The store behind a durable DLR thrower: it keeps every pending DLR with its attempt count, so
/// that neither a crash nor a restart loses a DLR or resets its budget of `1 + max_retries`
/// attempts.
///
/// Two implementations come with the crate: the embedded queue, a `redb` file on this node
/// ([`HttpDlrThrowerBuilder::queue`](super::HttpDlrThrowerBuilder::queue)), and, with the
/// `dlr-amqp` feature, `AmqpDlrQueue`, a RabbitMQ queue that several thrower nodes share. A host
/// can plug its own in with
/// [`HttpDlrThrowerBuilder::queue_with`](super::HttpDlrThrowerBuilder::queue_with).
///
/// The thrower calls [`push`](Self::push) from `throw`; then, for each DLR it holds, an
/// [`attempt_starts`](Self::attempt_starts) before each attempt, and either
/// [`retry`](Self::retry) after a failed attempt that will be retried or
/// [`finish`](Self::finish) once the DLR has its outcome. DLRs it did not push itself (found at
/// start-up, or pushed by another node) come from [`next`](Self::next). A clean shutdown gives
/// back every DLR not being attempted with [`release`](Self::release), then calls
/// [`close`](Self::close).
#[async_trait::async_trait]
pub trait DlrQueue: Send + Sync + 'static {
    /// Durably stores a new DLR (no attempt made yet). With `first_attempt` set, the first
    /// attempt starts as soon as the DLR is stored, and is counted in the same write as
    /// [`attempt_starts`](Self::attempt_starts) would count it (a retry would be due at that
    /// time). `Ok(Some(ticket))`: this node attempts it now; `Ok(None)`: the queue will hand it
    /// out through [`next`](Self::next), maybe to another node. An error means the DLR was not
    /// stored.
    async fn push(
        &self,
        dlr: &Dlr,
        first_attempt: Option<SystemTime>,
    ) -> Result<Option<Ticket>, QueueError>;

    /// The next DLR the queue hands to this node; `None` once it will hand out no more (the
    /// thrower then stops asking).
    async fn next(&self) -> Option<Leased>;

    /// Attempt number `attempts` (1-based, counted across restarts) is about to start; a retry,
    /// if it fails, would be due at `retry_at`. A queue that must count an attempt cut short by
    /// a crash records it here.
    async fn attempt_starts(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        retry_at: SystemTime,
    ) -> Result<(), QueueError>;

    /// Attempt number `attempts` failed and will be retried after `delay`. An error means the
    /// queue still holds the DLR as it was and will hand it out again; the thrower lets it go
    /// without an outcome.
    async fn retry(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        delay: Duration,
    ) -> Result<RetryPlace, QueueError>;

    /// The DLR has its outcome: it leaves the queue. An error means the queue still holds it and
    /// will hand it out again; the thrower then reports no outcome on this node.
    async fn finish(&self, ticket: Ticket) -> Result<(), QueueError>;

    /// As [`finish`](Self::finish), with what follows handed over: `then` is called with what
    /// `finish` would have returned, once the DLR is off the queue (or the removal failed). A
    /// queue that groups its writes can return before that and call `then` later, from another
    /// task, so that the caller's task need not wait for the write; it must call `then` exactly
    /// once, and not before the removal is durable. The default awaits `finish` and calls
    /// `then` at once.
    async fn finish_then(&self, ticket: Ticket, then: AfterFinish) {
        then(self.finish(ticket).await);
    }

    /// The thrower is shutting down ([`HttpDlrThrower::shutdown`](super::HttpDlrThrower::shutdown))
    /// and gives the DLR back without making another attempt: `attempts` attempts were started
    /// on it (an attempt counted ahead by [`attempt_starts`](Self::attempt_starts) or
    /// [`push`](Self::push) but never started is not among them), and the next one is due at
    /// `not_before`. The queue keeps it for a later run or another node with that count. The
    /// default does nothing: the queue keeps the DLR as last written.
    async fn release(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        not_before: SystemTime,
    ) -> Result<(), QueueError> {
        let _ = (ticket, dlr, attempts, not_before);
        Ok(())
    }

    /// The thrower has shut down and will not call [`next`](Self::next) again: DLRs the queue
    /// holds for this node that the thrower has not taken are given back as they are (no
    /// attempt charged), and every write made so far is durable when this returns. The default
    /// does nothing.
    async fn close(&self) {}
}

/// What follows a DLR's removal from its queue ([`DlrQueue::finish_then`]): called once with
/// the removal's result.
pub type AfterFinish = Box<dyn FnOnce(Result<(), QueueError>) + Send>;

const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("dlr_pending");

/// Attempt count and next-attempt time (Unix ms) of a pending DLR, written after the record
/// itself ([`PENDING`]): a DLR never changes once stored, so each later update is these twelve
/// bytes instead of the whole record again. Where a DLR has an entry here, it wins over the
/// count in its record.
const ATTEMPTS: TableDefinition<u64, (u32, u64)> = TableDefinition::new("dlr_attempts");

/// Most changes committed in one transaction.
const BATCH: usize = 4096;

/// A commit following one of at least this many changes waits [`GATHER_WAIT`] for more when
/// it has fewer than its predecessor.
const GATHER_UNDER_LOAD: usize = 16;

/// How long a commit under load waits for more changes.
const GATHER_WAIT: Duration = Duration::from_micros(200);

/// The durable queue could not store or update a DLR.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// `redb` failed (open, transaction, commit, read).
    #[error("DLR queue {path}: {reason}")]
    Storage {
        /// The queue file.
        path: String,
        /// What failed.
        reason: String,
        /// The `redb` (or I/O) error, shared by every caller of a failed group commit.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The queue's worker task is gone (the runtime is shutting down).
    #[error("DLR queue {path}: the queue worker has stopped")]
    Closed {
        /// The queue file.
        path: String,
    },
    /// The queue's broker cannot be reached or did not confirm the DLR in time; nothing was
    /// stored. Retrying later can succeed.
    #[error("DLR queue {queue}: broker unavailable, DLR not stored (retry later): {reason}")]
    Unavailable {
        /// The queue (broker address without credentials, and queue name).
        queue: String,
        /// What failed.
        reason: String,
        /// The client's error, where there was one.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The broker refused the DLR (it did not route or store it).
    #[error("DLR queue {queue}: the broker refused the DLR: {reason}")]
    Refused {
        /// The queue (broker address without credentials, and queue name).
        queue: String,
        /// What the broker said.
        reason: String,
    },
}

impl QueueError {
    /// Whether the same call can succeed later without a change: the broker was unreachable,
    /// or the queue's worker was busy shutting down.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[derive(Serialize)]
struct RecordRef<'a> {
    url: &'a str,
    method: DlrMethod,
    id: &'a str,
    level: DlrLevel,
    message_status: &'a str,
    connector: &'a str,
    receipt: Option<&'a ReceiptParams>,
    attempts: u32,
    next_attempt_ms: u64,
}

#[derive(Deserialize)]
struct Record {
    url: String,
    method: DlrMethod,
    id: String,
    level: DlrLevel,
    message_status: String,
    connector: String,
    receipt: Option<ReceiptParams>,
    attempts: u32,
    next_attempt_ms: u64,
}

/// A DLR found in the queue when it was opened.
pub(crate) struct Resumed {
    pub(crate) key: u64,
    pub(crate) dlr: Dlr,
    pub(crate) attempts: u32,
    pub(crate) next_attempt: SystemTime,
}

enum Change {
    /// A new DLR's record.
    Put(u64, Vec<u8>),
    /// A stored DLR's attempt count and next-attempt time (Unix ms).
    Attempts(u64, u32, u64),
    /// The DLR leaves the queue.
    Remove(u64),
    /// Commit what came before, then close the file; later changes fail with `Closed`.
    Close,
}

struct Op {
    change: Change,
    done: Done,
}

/// Who learns how the commit of a change went.
enum Done {
    /// A task waiting for it.
    Reply(oneshot::Sender<Result<(), QueueError>>),
    /// What follows a removal, run by the queue's reporting task after the commit.
    Then(AfterFinish),
}

/// What follows the removals of one commit, and how the commit went.
type Followers = (Result<(), QueueError>, Vec<AfterFinish>);

/// Handle to the queue file. Dropping it ends the writer thread once the changes already sent
/// are committed, and waits for it (at most one commit), so that the file is closed when the
/// handle is gone and can be opened again at once.
pub(crate) struct RedbFile {
    tx: mpsc::Sender<Op>,
    writer: Option<std::thread::JoinHandle<()>>,
    next_key: AtomicU64,
    path: Arc<str>,
}

impl Drop for RedbFile {
    fn drop(&mut self) {
        // Closing the only sender ends the writer's loop.
        drop(std::mem::replace(&mut self.tx, mpsc::channel(1).0));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn storage(path: &str, what: &str, e: impl Into<crate::BoxError>) -> QueueError {
    let e: Arc<dyn std::error::Error + Send + Sync> = Arc::from(e.into());
    QueueError::Storage {
        path: path.to_owned(),
        reason: format!("{what}: {e}"),
        source: Some(e),
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RedbFile {
    /// Opens (or creates) the queue at `path` and returns what it holds, oldest first.
    pub(crate) async fn open(path: &Path) -> Result<(Self, Vec<Resumed>), QueueError> {
        let path_buf: PathBuf = path.to_owned();
        let shown: Arc<str> = Arc::from(path.display().to_string());
        let p = Arc::clone(&shown);
        let (db, raw, counts) = tokio::task::spawn_blocking(move || {
            let db = Database::create(&path_buf).map_err(|e| storage(&p, "open", e))?;
            let txn = db.begin_write().map_err(|e| storage(&p, "begin", e))?;
            txn.open_table(PENDING)
                .map_err(|e| storage(&p, "open table", e))?;
            txn.open_table(ATTEMPTS)
                .map_err(|e| storage(&p, "open table", e))?;
            txn.commit().map_err(|e| storage(&p, "commit", e))?;
            let read = db.begin_read().map_err(|e| storage(&p, "begin read", e))?;
            let table = read
                .open_table(PENDING)
                .map_err(|e| storage(&p, "open table", e))?;
            let mut raw = Vec::new();
            for item in table.iter().map_err(|e| storage(&p, "scan", e))? {
                let (k, v) = item.map_err(|e| storage(&p, "scan", e))?;
                raw.push((k.value(), v.value().to_vec()));
            }
            let counts = read
                .open_table(ATTEMPTS)
                .map_err(|e| storage(&p, "open table", e))?;
            let mut attempts = std::collections::HashMap::new();
            for item in counts.iter().map_err(|e| storage(&p, "scan", e))? {
                let (k, v) = item.map_err(|e| storage(&p, "scan", e))?;
                attempts.insert(k.value(), v.value());
            }
            Ok::<_, QueueError>((db, raw, attempts))
        })
        .await
        .map_err(|e| storage(&shown, "open task", e))??;

        let next_key = raw.last().map_or(0, |(k, _)| k.saturating_add(1));
        let mut resumed = Vec::with_capacity(raw.len());
        for (key, bytes) in raw {
            match decode(&bytes) {
                Ok((dlr, attempts, next_attempt)) => {
                    let (attempts, next_attempt) = match counts.get(&key) {
                        Some(&(attempts, ms)) => (attempts, from_unix_ms(ms)),
                        None => (attempts, next_attempt),
                    };
                    resumed.push(Resumed {
                        key,
                        dlr,
                        attempts,
                        next_attempt,
                    });
                }
                // Kept on disk so that it can be inspected; the thrower cannot send it.
                Err(reason) => tracing::error!(
                    queue = %shown, key, %reason,
                    "DLR queue record cannot be read; left in place, not thrown"
                ),
            }
        }
        let (tx, rx) = mpsc::channel(BATCH * 4);
        // The task that runs what follows each commit's removals (the thrower reports the
        // outcomes there): the writer wakes it once per commit.
        let (report, mut followers) = mpsc::unbounded_channel::<Followers>();
        tokio::spawn(async move {
            while let Some((result, thens)) = followers.recv().await {
                for then in thens {
                    then(result.clone());
                }
            }
        });
        let p = Arc::clone(&shown);
        let writer = std::thread::Builder::new()
            .name("redeliver-dlr-queue".to_owned())
            .spawn(move || writer(db, rx, p, report))
            .map_err(|e| storage(&shown, "start the writer thread", e))?;
        Ok((
            Self {
                tx,
                writer: Some(writer),
                next_key: AtomicU64::new(next_key),
                path: shown,
            },
            resumed,
        ))
    }

    /// A key for a new DLR; keys grow, so the queue resumes oldest first.
    pub(crate) fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Durably writes `dlr` with its attempt count and next-attempt time under `key`.
    pub(crate) async fn put(
        &self,
        key: u64,
        dlr: &Dlr,
        attempts: u32,
        next_attempt: SystemTime,
    ) -> Result<(), QueueError> {
        let bytes =
            encode(dlr, attempts, next_attempt).map_err(|e| storage(&self.path, "encode", e))?;
        self.submit(Change::Put(key, bytes)).await
    }

    /// Durably records the attempt count and next-attempt time of the DLR stored under `key`.
    pub(crate) async fn set_attempts(
        &self,
        key: u64,
        attempts: u32,
        next_attempt: SystemTime,
    ) -> Result<(), QueueError> {
        self.submit(Change::Attempts(key, attempts, unix_ms(next_attempt)))
            .await
    }

    /// Durably removes the DLR under `key`.
    pub(crate) async fn remove(&self, key: u64) -> Result<(), QueueError> {
        self.submit(Change::Remove(key)).await
    }

    /// Removes the DLR under `key` in the next group commit without waiting for it; `then`
    /// runs on the queue's reporting task after that commit (or at once, if the writer has
    /// stopped). Waits only while the writer's channel is full.
    pub(crate) async fn remove_then(&self, key: u64, then: AfterFinish) {
        let op = Op {
            change: Change::Remove(key),
            done: Done::Then(then),
        };
        if let Err(mpsc::error::SendError(op)) = self.tx.send(op).await
            && let Done::Then(then) = op.done
        {
            then(Err(QueueError::Closed {
                path: self.path.to_string(),
            }));
        }
    }

    /// Commits every change submitted before this call and closes the file (it can be opened
    /// again once this returns); changes submitted afterwards fail with [`QueueError::Closed`].
    pub(crate) async fn close(&self) {
        // An error means the worker is gone already, and the file with it.
        let _ = self.submit(Change::Close).await;
    }

    async fn submit(&self, change: Change) -> Result<(), QueueError> {
        let closed = || QueueError::Closed {
            path: self.path.to_string(),
        };
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Op {
                change,
                done: Done::Reply(done),
            })
            .await
            .map_err(|_| closed())?;
        wait.await.map_err(|_| closed())?
    }
}

/// A DLR, its attempt count and next-attempt time as stored: JSON, in the embedded queue's
/// records and in AMQP messages' bodies alike.
pub(crate) fn encode(
    dlr: &Dlr,
    attempts: u32,
    next_attempt: SystemTime,
) -> Result<Vec<u8>, String> {
    let record = RecordRef {
        url: dlr.url.as_str(),
        method: dlr.method,
        id: &dlr.id,
        level: dlr.level,
        message_status: &dlr.message_status,
        connector: &dlr.connector,
        receipt: dlr.receipt.as_ref(),
        attempts,
        next_attempt_ms: unix_ms(next_attempt),
    };
    serde_json::to_vec(&record).map_err(|e| e.to_string())
}

/// Reads what [`encode`] wrote.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Dlr, u32, SystemTime), String> {
    let r: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let url = Url::parse(&r.url).map_err(|e| format!("url {:?}: {e}", r.url))?;
    let dlr = Dlr {
        url,
        method: r.method,
        id: r.id,
        level: r.level,
        message_status: r.message_status,
        connector: r.connector,
        receipt: r.receipt,
    };
    Ok((dlr, r.attempts, from_unix_ms(r.next_attempt_ms)))
}

/// A stored time; one past what the clock can hold means "at once" (the thrower bounds waits
/// anyway).
fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// The writer thread: takes every change waiting (up to [`BATCH`]), commits them in one
/// transaction and answers their callers; ends when every handle is gone or on a close.
fn writer(
    db: Database,
    mut rx: mpsc::Receiver<Op>,
    path: Arc<str>,
    report: mpsc::UnboundedSender<Followers>,
) {
    let mut ops = Vec::with_capacity(BATCH);
    let mut changes = Vec::with_capacity(BATCH);
    let mut waiters = Vec::with_capacity(BATCH);
    let mut thens = Vec::new();
    let mut close = None;
    let mut last = 0usize;
    let closed = || QueueError::Closed {
        path: path.to_string(),
    };
    while close.is_none() && rx.blocking_recv_many(&mut ops, BATCH) > 0 {
        // Under load (the last commit carried many changes) a commit that would carry fewer
        // waits a moment for the changes on their way: the fixed cost of a commit (its fsync,
        // the page writes) is then shared by more DLRs. A lone change commits at once.
        if last >= GATHER_UNDER_LOAD && ops.len() < last {
            std::thread::sleep(GATHER_WAIT);
            while ops.len() < BATCH {
                match rx.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
        }
        last = ops.len();
        for op in ops.drain(..) {
            if close.is_some() {
                // Ops after the close (in this batch) are not applied: their callers see
                // `Closed`.
                if let Done::Then(then) = op.done {
                    then(Err(closed()));
                }
                continue;
            }
            match op.done {
                Done::Reply(done) if matches!(op.change, Change::Close) => close = Some(done),
                Done::Reply(done) => {
                    changes.push(op.change);
                    waiters.push(done);
                }
                Done::Then(then) => {
                    changes.push(op.change);
                    thens.push(then);
                }
            }
        }
        if changes.is_empty() {
            continue;
        }
        let result = apply(&db, changes.drain(..), &path);
        if let Err(e) = &result {
            tracing::error!(error = %e, "DLR queue write failed");
        }
        for w in waiters.drain(..) {
            // A waiter that went away (its task was cancelled) needs no answer.
            let _ = w.send(result.clone());
        }
        if !thens.is_empty() {
            let followers = (result, std::mem::take(&mut thens));
            // Without the reporting task (its runtime is shutting down), they run here.
            if let Err(mpsc::error::SendError((result, rest))) = report.send(followers) {
                for then in rest {
                    then(result.clone());
                }
            }
        }
    }
    rx.close();
    // Changes still in the channel are not applied.
    while let Ok(op) = rx.try_recv() {
        if let Done::Then(then) = op.done {
            then(Err(closed()));
        }
    }
    // Closes the file before the close is answered, so that it can be opened again at once.
    drop(db);
    if let Some(done) = close {
        let _ = done.send(Ok(()));
    }
}

fn apply(
    db: &Database,
    changes: impl Iterator<Item = Change>,
    path: &str,
) -> Result<(), QueueError> {
    let txn = db.begin_write().map_err(|e| storage(path, "begin", e))?;
    {
        let mut table = txn
            .open_table(PENDING)
            .map_err(|e| storage(path, "open table", e))?;
        let mut counts = txn
            .open_table(ATTEMPTS)
            .map_err(|e| storage(path, "open table", e))?;
        for change in changes {
            match change {
                Change::Put(k, v) => {
                    table
                        .insert(k, v.as_slice())
                        .map_err(|e| storage(path, "insert", e))?;
                }
                Change::Attempts(k, attempts, ms) => {
                    counts
                        .insert(k, (attempts, ms))
                        .map_err(|e| storage(path, "insert", e))?;
                }
                Change::Remove(k) => {
                    table.remove(k).map_err(|e| storage(path, "remove", e))?;
                    counts.remove(k).map_err(|e| storage(path, "remove", e))?;
                }
                Change::Close => {}
            }
        }
    }
    txn.commit().map_err(|e| storage(path, "commit", e))
}

/// The embedded queue: pending DLRs in a `redb` file on this node. DLRs found in the file at
/// start-up are handed out by [`DlrQueue::next`]; new ones are attempted by the node that pushed
/// them, and retried on it after their delay.
pub(crate) struct EmbeddedQueue {
    file: RedbFile,
    resumed: Mutex<VecDeque<Leased>>,
}

impl EmbeddedQueue {
    /// Opens (or creates) the queue file at `path`.
    pub(crate) async fn open(path: &Path) -> Result<Self, QueueError> {
        let (file, resumed) = RedbFile::open(path).await?;
        let resumed = resumed
            .into_iter()
            .map(|r| Leased {
                dlr: r.dlr,
                attempts: r.attempts,
                not_before: Some(r.next_attempt),
                ticket: Ticket(r.key),
            })
            .collect();
        Ok(Self {
            file,
            resumed: Mutex::new(resumed),
        })
    }

    /// How many DLRs from the file have not been handed out yet.
    pub(crate) fn resumed(&self) -> usize {
        self.resumed.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[async_trait::async_trait]
impl DlrQueue for EmbeddedQueue {
    async fn push(
        &self,
        dlr: &Dlr,
        first_attempt: Option<SystemTime>,
    ) -> Result<Option<Ticket>, QueueError> {
        let key = self.file.next_key();
        let (attempts, at) = match first_attempt {
            Some(retry_at) => (1, retry_at),
            None => (0, SystemTime::now()),
        };
        self.file.put(key, dlr, attempts, at).await?;
        Ok(Some(Ticket(key)))
    }

    async fn next(&self) -> Option<Leased> {
        self.resumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    async fn attempt_starts(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        retry_at: SystemTime,
    ) -> Result<(), QueueError> {
        let _ = dlr;
        self.file.set_attempts(ticket.0, attempts, retry_at).await
    }

    async fn retry(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        delay: Duration,
    ) -> Result<RetryPlace, QueueError> {
        let at = SystemTime::now()
            .checked_add(delay)
            .unwrap_or(SystemTime::now());
        if let Err(e) = self.file.set_attempts(ticket.0, attempts, at).await {
            // The record on disk still counts every attempt made (it was written before the
            // attempt); only its next-attempt time is stale. Delivery goes on from memory.
            tracing::error!(id = %dlr.id, error = %e, "DLR queue update failed");
        }
        Ok(RetryPlace::Here)
    }

    async fn release(
        &self,
        ticket: Ticket,
        dlr: &Dlr,
        attempts: u32,
        not_before: SystemTime,
    ) -> Result<(), QueueError> {
        let _ = dlr;
        self.file.set_attempts(ticket.0, attempts, not_before).await
    }

    async fn close(&self) {
        self.file.close().await;
    }

    /// A removal that failed leaves the DLR in the file: it is sent again after a restart.
    async fn finish(&self, ticket: Ticket) -> Result<(), QueueError> {
        self.file.remove(ticket.0).await
    }

    async fn finish_then(&self, ticket: Ticket, then: AfterFinish) {
        self.file.remove_then(ticket.0, then).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    fn dlr(id: &str) -> Dlr {
        Dlr::level1(
            Url::parse("http://127.0.0.1:9/dlr").unwrap(),
            DlrMethod::Get,
            id,
            "ESME_ROK",
            "c",
        )
    }

    #[tokio::test]
    async fn records_round_trip_and_unreadable_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.redb");
        {
            let (q, resumed) = RedbFile::open(&path).await.unwrap();
            assert!(resumed.is_empty());
            let mut receipt = dlr("b");
            receipt.level = DlrLevel::All;
            receipt.receipt = Some(ReceiptParams {
                text: "héllo & goodbye".into(),
                ..Default::default()
            });
            let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
            let a = q.next_key();
            q.put(a, &dlr("a"), 1, at).await.unwrap();
            // Later counts are the small record, which wins over the record's own.
            q.set_attempts(a, 2, at + Duration::from_secs(1))
                .await
                .unwrap();
            q.put(q.next_key(), &receipt, 0, at).await.unwrap();
            let gone = q.next_key();
            q.put(gone, &dlr("gone"), 1, at).await.unwrap();
            q.set_attempts(gone, 2, at).await.unwrap();
            q.remove(gone).await.unwrap();
        }
        // Let the worker see the handle go and close the file.
        for _ in 0..100 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            if Database::create(&path).is_ok() {
                break;
            }
        }
        {
            let db = Database::create(&path).unwrap();
            // The removal took the DLR's count with it.
            let read = db.begin_read().unwrap();
            assert_eq!(read.open_table(ATTEMPTS).unwrap().len().unwrap(), 1);
            drop(read);
            let txn = db.begin_write().unwrap();
            txn.open_table(PENDING)
                .unwrap()
                .insert(100, b"{not json".as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let (q, resumed) = RedbFile::open(&path).await.unwrap();
        let ids: Vec<_> = resumed.iter().map(|r| r.dlr.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(resumed[0].attempts, 2);
        assert_eq!(resumed[0].dlr, dlr("a"));
        assert_eq!(
            resumed[1].dlr.receipt.as_ref().unwrap().text,
            "héllo & goodbye"
        );
        assert_eq!(
            resumed[0].next_attempt,
            UNIX_EPOCH + Duration::from_millis(1_700_000_001_123)
        );
        assert_eq!(resumed[1].attempts, 0);
        assert_eq!(
            resumed[1].next_attempt,
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
        // New keys come after every key on disk, the unreadable one included.
        assert_eq!(q.next_key(), 101);
    }
}

/// The record codec, which also reads AMQP message bodies (input from the network): round
/// trips, and arbitrary or damaged bytes decode or fail cleanly.
#[cfg(test)]
mod codec_props {
    use super::*;
    use proptest::prelude::*;

    fn any_dlr() -> impl Strategy<Value = Dlr> {
        let urls = prop::sample::select(vec![
            "http://127.0.0.1:8080/dlr",
            "https://app.example/dlr?x=1&y=%20z",
            "http://[::1]:9/a/b#frag",
            "http://user:pw@host.example:65535/",
        ]);
        let receipt = (
            ".{0,16}",
            "[0-9]{0,3}",
            "[0-9]{0,3}",
            "[0-9]{0,10}",
            "[0-9]{0,10}",
            ".{0,4}",
            ".{0,20}",
        )
            .prop_map(|(id_smsc, sub, dlvrd, subdate, donedate, err, text)| {
                ReceiptParams {
                    id_smsc,
                    sub,
                    dlvrd,
                    subdate,
                    donedate,
                    err,
                    text,
                }
            });
        (
            urls,
            any::<bool>(),
            ".{0,40}",
            0..3u8,
            ".{0,20}",
            ".{0,20}",
            proptest::option::of(receipt),
        )
            .prop_map(|(url, post, id, level, status, connector, receipt)| Dlr {
                url: Url::parse(url).expect("listed URL"),
                method: if post {
                    DlrMethod::Post
                } else {
                    DlrMethod::Get
                },
                id,
                level: [DlrLevel::Smsc, DlrLevel::Terminal, DlrLevel::All][usize::from(level)],
                message_status: status,
                connector,
                receipt,
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(dlr in any_dlr(), attempts in any::<u32>(), ms in 0u64..(1 << 50)) {
            let at = UNIX_EPOCH + Duration::from_millis(ms);
            let bytes = encode(&dlr, attempts, at).expect("encode");
            let (back, n, when) = decode(&bytes).expect("decode");
            prop_assert_eq!(back, dlr);
            prop_assert_eq!(n, attempts);
            prop_assert_eq!(when, at);
        }

        #[test]
        fn arbitrary_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn damaged_records_decode_or_fail_cleanly(
            dlr in any_dlr(),
            attempts in any::<u32>(),
            damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = encode(&dlr, attempts, UNIX_EPOCH).expect("encode");
            for (at, byte) in damage {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            // Whatever still decodes is a DLR that encodes again.
            if let Ok((back, n, when)) = decode(&bytes) {
                prop_assert!(encode(&back, n, when).is_ok());
            }
        }
    }

    #[test]
    fn hostile_numbers_and_shapes_fail_cleanly() {
        let dlr = Dlr::level1(
            Url::parse("http://a.example/dlr").expect("url"),
            DlrMethod::Post,
            "x",
            "ESME_ROK",
            "c",
        );
        let good = String::from_utf8(encode(&dlr, 1, UNIX_EPOCH).expect("encode")).expect("utf-8");
        assert!(decode(good.as_bytes()).is_ok(), "{good}");
        assert!(good.contains(r#""attempts":1"#) && good.contains(r#""next_attempt_ms":0"#));
        let nested = "[".repeat(10_000);
        for body in [
            good.replace(r#""attempts":1"#, r#""attempts":99999999999"#),
            good.replace(r#""attempts":1"#, r#""attempts":-1"#),
            good.replace(r#""next_attempt_ms":0"#, r#""next_attempt_ms":-1"#),
            good.replace(r#""next_attempt_ms":0"#, r#""next_attempt_ms":1e400"#),
            good.replace("http://a.example/dlr", "not a url"),
            good.replace(r#""id":"x""#, r#""id":7"#),
            good[..good.len() / 2].to_owned(),
            nested,
            String::new(),
            "null".to_owned(),
        ] {
            assert!(decode(body.as_bytes()).is_err(), "{body}");
        }
        // The largest due time a record can say is read without a panic (the thrower bounds
        // its waits).
        let far = good.replace(
            r#""next_attempt_ms":0"#,
            r#""next_attempt_ms":18446744073709551615"#,
        );
        let (_, _, at) = decode(far.as_bytes()).expect("a u64 due time");
        assert!(at > UNIX_EPOCH);
    }
}
