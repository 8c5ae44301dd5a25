//! A crash-safe file store on [`redb`], for examples and single hosts.
//!
//! # Why redb
//!
//! redb is a pure-Rust, ACID, copy-on-write B-tree store in a single file: a commit with
//! [`redb::Durability::Immediate`] is on disk (fsync'd) when it returns, and a crash at any point
//! leaves the file at the last committed transaction. It needs no C toolchain, no background
//! compaction process and no write-ahead log to replay, which is what a library embedded in
//! somebody else's gateway should bring along.
//!
//! # Durability and group commit
//!
//! An acknowledged [`save`](MessageStore::save) or [`delete`](MessageStore::delete) has been
//! fsync'd: it survives `kill -9` and power loss. One writer thread owns all writes; whatever
//! writes are waiting when it starts a transaction are applied in that one transaction and
//! fsync'd together, so concurrent savers share the cost of an fsync (group commit) without
//! weakening the guarantee. Reads run on tokio's blocking pool and never wait for the writer.
//!
//! # Layout
//!
//! Table `messages`: `(bucket, msgid)` → expiry (`u64` nanoseconds since the epoch, big-endian)
//! followed by the message in the crate's record layout. Table `expiry`:
//! `(expiry, bucket, msgid)` → `()`, the index [`sweep_expired`](MessageStore::sweep_expired)
//! walks so it never reads a message that has not expired.
//!
//! # Integrity and space
//!
//! Each message is kept in the record layout with a CRC-32 over its key and every byte of the
//! record, checked on every load: a damaged record is a [`StoreError::Corrupt`] for that message,
//! never a message with wrong content. [`EmbeddedStore::verify`] walks the whole store and lists
//! the damaged records. redb reuses freed pages but does not give them back to the file system,
//! and after many deletes most of its pages are half empty; [`EmbeddedStore::compact`] rewrites
//! the messages into full pages (when the pages in use are more than 1.5 times the live data)
//! and gives the free pages back. It runs by itself when the store is opened or swept and less
//! than half of a file of 8 MiB or more is in use. Compaction holds back reads and writes while
//! it runs.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, mpsc};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::{MessageStore, PutMode, StoreError, Version, Versioned, record};
use crate::message::{Bucket, MsgId, StoredMessage};

const BACKEND: &str = "embedded";
const MESSAGES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("messages");
const EXPIRY: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("expiry");
/// Records with a due time ([`META_DUE`](crate::message::META_DUE)), by that time in
/// milliseconds, for [`MessageStore::due`].
const DUE: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("due");
/// The due time each record in [`DUE`] is filed under, so a save or delete finds its entry.
const DUE_OF: TableDefinition<(&str, &str), u64> = TableDefinition::new("due_of");
/// Most writes applied in one transaction; bounds the memory a burst of savers can pin.
const MAX_BATCH: usize = 1024;
/// Most expired messages removed per sweep transaction, so saves are not held up for long.
const SWEEP_CHUNK: usize = 4096;
/// Msgids read per listing page.
const LIST_PAGE: usize = 512;

/// The embedded crash-safe [`MessageStore`] (feature `embedded`): one redb file, fsync'd on
/// every acknowledged write, with group commit for concurrent writers.
///
/// Implements the "keep" part of Momentum's mstore (`seeds/momentum-mstore-retrying-messages.md`)
/// for hosts that run without Riak. Its async methods run reads on Tokio's blocking pool, so
/// they must be called from within a Tokio runtime.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Shared by reads and the writer's batches; taken alone by compaction, which needs the
    /// database to itself.
    db: Arc<RwLock<Database>>,
    path: PathBuf,
    /// `None` only while dropping.
    writer: Option<mpsc::Sender<Op>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer after the writes already queued; waiting for it
        // releases the file lock, so the same file can be opened again as soon as this returns.
        drop(self.writer.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "embedded store: writer thread panicked");
        }
    }
}

type Ack<T> = oneshot::Sender<Result<T, String>>;

/// What a conditional save expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Anything,
    Nothing,
    Digest(u64),
}

/// Why one save of a batch wrote nothing.
#[derive(Debug, Clone)]
enum SaveError {
    Exists,
    Changed(String),
    Failed(String),
}

enum Op {
    Save {
        bucket: String,
        msgid: String,
        expiry: u64,
        due: Option<u64>,
        value: Vec<u8>,
        expect: Expect,
        ack: oneshot::Sender<Result<u64, SaveError>>,
    },
    Delete {
        bucket: String,
        msgid: String,
        ack: Ack<bool>,
    },
    Sweep {
        now: u64,
        ack: Ack<u64>,
    },
}

impl EmbeddedStore {
    /// Opens the store file at `path`, creating it (and its tables) if it does not exist. A file
    /// left by a crash is recovered to its last committed transaction.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let fail = |what: &str, e: crate::BoxError| {
            StoreError::failed(
                BACKEND,
                "open",
                "",
                "",
                format!("{}: {what}", path.display()),
            )
            .with_source(e)
        };
        // redb panics on some damaged files ("malformed allocator state") instead of returning
        // an error; such a file is refused like any other it cannot open.
        let setup = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut db =
                Database::create(&path).map_err(|e| fail("cannot open the database", e.into()))?;
            let txn = db
                .begin_write()
                .map_err(|e| fail("cannot begin a transaction", e.into()))?;
            txn.open_table(MESSAGES)
                .map_err(|e| fail("cannot open table messages", e.into()))?;
            txn.open_table(EXPIRY)
                .map_err(|e| fail("cannot open table expiry", e.into()))?;
            // Files written before the due index have no record with a due time: empty tables
            // are their index.
            txn.open_table(DUE)
                .map_err(|e| fail("cannot open table due", e.into()))?;
            txn.open_table(DUE_OF)
                .map_err(|e| fail("cannot open table due_of", e.into()))?;
            // Left by a compaction cut short by a crash; the messages table is still whole.
            txn.delete_table(REBUILD)
                .map_err(|e| fail("cannot drop an unfinished compaction's table", e.into()))?;
            txn.commit()
                .map_err(|e| fail("cannot create the tables", e.into()))?;
            if let Err(reason) = compact_if_mostly_free(&mut db, &path) {
                // The store works as well uncompacted; the space is reclaimed on a later try.
                tracing::warn!(path = %path.display(), %reason, "embedded store: compaction at open failed");
            }
            Ok(db)
        }));
        let db = match setup {
            Ok(db) => db?,
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                return Err(fail("the database file is damaged", text.into()));
            }
        };
        let db = Arc::new(RwLock::new(db));
        let (writer, ops) = mpsc::channel();
        let writer_db = Arc::clone(&db);
        let thread = thread::Builder::new()
            .name("redeliver-embedded-writer".into())
            .spawn(move || write_loop(&writer_db, &ops))
            .map_err(|e| fail("cannot start the writer thread", e.into()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                writer: Some(writer),
                thread: Some(thread),
            }),
        })
    }

    /// The file this store keeps its messages in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn error(op: &'static str, bucket: &str, msgid: &str, reason: String) -> StoreError {
        StoreError::failed(BACKEND, op, bucket, msgid, reason)
    }

    async fn submit<T>(
        &self,
        op: &'static str,
        bucket: &str,
        msgid: &str,
        make: impl FnOnce(Ack<T>) -> Op,
    ) -> Result<T, StoreError> {
        let (ack, done) = oneshot::channel();
        let stopped = || Self::error(op, bucket, msgid, "the writer thread has stopped".into());
        self.inner
            .writer
            .as_ref()
            .ok_or_else(stopped)?
            .send(make(ack))
            .map_err(|_| stopped())?;
        done.await
            .map_err(|_| stopped())?
            .map_err(|reason| Self::error(op, bucket, msgid, reason))
    }

    async fn read<T: Send + 'static>(
        &self,
        op: &'static str,
        bucket: &str,
        msgid: &str,
        f: impl FnOnce(&Database) -> Result<T, String> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.inner.db);
        tokio::task::spawn_blocking(move || f(&shared(&db)))
            .await
            .map_err(|e| Self::error(op, bucket, msgid, "read task failed".into()).with_source(e))?
            .map_err(|reason| Self::error(op, bucket, msgid, reason))
    }
}

/// The version of a stored value: a digest of its bytes (expiry and record). Versions are never
/// written to the file; they only have to agree between a load and a later save in this process.
fn digest(stored: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    h.write(stored);
    h.finish()
}

fn version_token(d: u64) -> Version {
    Version::new(format!("{d:016x}"))
}

/// Nanoseconds since the epoch, saturating; times before the epoch count as 0.
fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The database for reading or writing; waits while a compaction runs.
fn shared(db: &RwLock<Database>) -> RwLockReadGuard<'_, Database> {
    db.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_loop(db: &RwLock<Database>, ops: &mpsc::Receiver<Op>) {
    while let Ok(first) = ops.recv() {
        let db = shared(db);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // A sweep runs in its own transactions so a long one never delays the saves around it.
        let (sweeps, writes): (Vec<Op>, Vec<Op>) = batch
            .into_iter()
            .partition(|op| matches!(op, Op::Sweep { .. }));
        if !writes.is_empty() {
            apply_writes(&db, writes);
        }
        for op in sweeps {
            if let Op::Sweep { now, ack } = op {
                let _ = ack.send(sweep(&db, now));
            }
        }
    }
}

enum Pending {
    Saved(oneshot::Sender<Result<u64, SaveError>>),
    Deleted(Ack<bool>),
}

enum Write {
    Save {
        bucket: String,
        msgid: String,
        expiry: u64,
        due: Option<u64>,
        value: Vec<u8>,
        expect: Expect,
    },
    Delete {
        bucket: String,
        msgid: String,
    },
}

fn apply_writes(db: &Database, ops: Vec<Op>) {
    // Acknowledgements are set apart first, so a failure part-way through the batch still
    // answers every writer with the reason.
    let mut pending = Vec::with_capacity(ops.len());
    let mut writes = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Save {
                bucket,
                msgid,
                expiry,
                due,
                value,
                expect,
                ack,
            } => {
                pending.push(Pending::Saved(ack));
                writes.push(Write::Save {
                    bucket,
                    msgid,
                    expiry,
                    due,
                    value,
                    expect,
                });
            }
            Op::Delete { bucket, msgid, ack } => {
                pending.push(Pending::Deleted(ack));
                writes.push(Write::Delete { bucket, msgid });
            }
            Op::Sweep { ack, .. } => {
                let _ = ack.send(Err("sweep reached the write batch".into()));
            }
        }
    }
    // Per write: whether a deleted key existed, or a save's digest or the reason its condition
    // failed. Writes apply in order, so a condition sees the writes before it in the batch.
    let mut existed = Vec::with_capacity(writes.len());
    let mut saved: Vec<Result<u64, SaveError>> = Vec::with_capacity(writes.len());
    let result = (|| -> Result<(), String> {
        let mut txn = db.begin_write().map_err(|e| format!("begin: {e}"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| format!("durability: {e}"))?;
        {
            let mut messages = txn
                .open_table(MESSAGES)
                .map_err(|e| format!("table messages: {e}"))?;
            let mut expiry = txn
                .open_table(EXPIRY)
                .map_err(|e| format!("table expiry: {e}"))?;
            let mut due_index = DueIndex::open(&txn)?;
            for write in &writes {
                match write {
                    Write::Save {
                        bucket,
                        msgid,
                        expiry: at,
                        due,
                        value,
                        expect,
                    } => {
                        if *expect != Expect::Anything {
                            let current = messages
                                .get((bucket.as_str(), msgid.as_str()))
                                .map_err(|e| format!("get {bucket}/{msgid}: {e}"))?
                                .map(|v| digest(v.value()));
                            let refused = match (*expect, current) {
                                (Expect::Nothing, Some(_)) => Some(SaveError::Exists),
                                (Expect::Digest(want), None) => Some(SaveError::Changed(format!(
                                    "nothing is stored (expected version {want:016x})"
                                ))),
                                (Expect::Digest(want), Some(have)) if have != want => {
                                    Some(SaveError::Changed(format!(
                                        "stored version is {have:016x}, not {want:016x}"
                                    )))
                                }
                                _ => None,
                            };
                            if let Some(refused) = refused {
                                existed.push(false);
                                saved.push(Err(refused));
                                continue;
                            }
                        }
                        let mut stored = Vec::with_capacity(8 + value.len());
                        stored.extend_from_slice(&at.to_be_bytes());
                        stored.extend_from_slice(value);
                        saved.push(Ok(digest(&stored)));
                        let old = messages
                            .insert((bucket.as_str(), msgid.as_str()), stored.as_slice())
                            .map_err(|e| format!("insert {bucket}/{msgid}: {e}"))?
                            .and_then(|old| old_expiry(old.value()));
                        if let Some(old) = old {
                            expiry
                                .remove((old, bucket.as_str(), msgid.as_str()))
                                .map_err(|e| format!("expiry index: {e}"))?;
                        }
                        expiry
                            .insert((*at, bucket.as_str(), msgid.as_str()), ())
                            .map_err(|e| format!("expiry index: {e}"))?;
                        due_index.set(bucket, msgid, *due)?;
                        existed.push(false);
                    }
                    Write::Delete { bucket, msgid } => {
                        let old = messages
                            .remove((bucket.as_str(), msgid.as_str()))
                            .map_err(|e| format!("remove {bucket}/{msgid}: {e}"))?
                            .map(|old| old_expiry(old.value()));
                        if let Some(Some(old)) = old {
                            expiry
                                .remove((old, bucket.as_str(), msgid.as_str()))
                                .map_err(|e| format!("expiry index: {e}"))?;
                        }
                        if old.is_some() {
                            due_index.set(bucket, msgid, None)?;
                        }
                        existed.push(old.is_some());
                        saved.push(Ok(0));
                    }
                }
            }
        }
        txn.commit().map_err(|e| format!("commit: {e}"))
    })();
    if let Err(reason) = &result {
        tracing::error!(%reason, writes = pending.len(), "embedded store: write batch failed");
    }
    // Acknowledge only after the commit returned: that is the durability promise.
    for (n, ack) in pending.into_iter().enumerate() {
        match ack {
            Pending::Saved(ack) => {
                let answer = match &result {
                    Err(reason) => Err(SaveError::Failed(reason.clone())),
                    Ok(()) => saved
                        .get(n)
                        .cloned()
                        .unwrap_or_else(|| Err(SaveError::Failed("write was not applied".into()))),
                };
                let _ = ack.send(answer);
            }
            Pending::Deleted(ack) => {
                let was_there = existed.get(n).copied().unwrap_or(false);
                let _ = ack.send(result.clone().map(|()| was_there));
            }
        }
    }
}

/// The due-time tables of one write transaction.
struct DueIndex<'t> {
    due: redb::Table<'t, (u64, &'static str, &'static str), ()>,
    due_of: redb::Table<'t, (&'static str, &'static str), u64>,
}

impl<'t> DueIndex<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, String> {
        Ok(Self {
            due: txn.open_table(DUE).map_err(|e| format!("table due: {e}"))?,
            due_of: txn
                .open_table(DUE_OF)
                .map_err(|e| format!("table due_of: {e}"))?,
        })
    }

    /// Files `bucket`/`msgid` under `due`, or under nothing, in place of what it was under.
    fn set(&mut self, bucket: &str, msgid: &str, due: Option<u64>) -> Result<(), String> {
        let old = self
            .due_of
            .get((bucket, msgid))
            .map_err(|e| format!("due index: {e}"))?
            .map(|v| v.value());
        if old == due {
            return Ok(());
        }
        if let Some(old) = old {
            self.due
                .remove((old, bucket, msgid))
                .map_err(|e| format!("due index: {e}"))?;
        }
        match due {
            Some(at) => {
                self.due
                    .insert((at, bucket, msgid), ())
                    .map_err(|e| format!("due index: {e}"))?;
                self.due_of
                    .insert((bucket, msgid), at)
                    .map_err(|e| format!("due index: {e}"))?;
            }
            None => {
                self.due_of
                    .remove((bucket, msgid))
                    .map_err(|e| format!("due index: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Up to `limit` entries of the due index at or before `now` (milliseconds).
fn due_page(db: &Database, now: u64, limit: usize) -> Result<Vec<(String, String)>, String> {
    let txn = db.begin_read().map_err(|e| format!("begin: {e}"))?;
    let due = txn.open_table(DUE).map_err(|e| format!("table due: {e}"))?;
    let upper = match now.checked_add(1) {
        Some(next) => Bound::Excluded((next, "", "")),
        None => Bound::Unbounded,
    };
    let mut page = Vec::new();
    for entry in due
        .range::<(u64, &str, &str)>((Bound::Unbounded, upper))
        .map_err(|e| format!("due index: {e}"))?
        .take(limit)
    {
        let (key, _) = entry.map_err(|e| format!("due index: {e}"))?;
        let (_, bucket, msgid) = key.value();
        page.push((bucket.to_owned(), msgid.to_owned()));
    }
    Ok(page)
}

fn old_expiry(stored: &[u8]) -> Option<u64> {
    stored.first_chunk::<8>().map(|b| u64::from_be_bytes(*b))
}

fn sweep(db: &Database, now: u64) -> Result<u64, String> {
    let mut removed = 0u64;
    loop {
        let txn = db.begin_write().map_err(|e| format!("begin: {e}"))?;
        let chunk = {
            let mut messages = txn
                .open_table(MESSAGES)
                .map_err(|e| format!("table messages: {e}"))?;
            let mut expiry = txn
                .open_table(EXPIRY)
                .map_err(|e| format!("table expiry: {e}"))?;
            let mut due_index = DueIndex::open(&txn)?;
            let mut due = Vec::new();
            let upper = match now.checked_add(1) {
                Some(next) => Bound::Excluded((next, "", "")),
                None => Bound::Unbounded,
            };
            for entry in expiry
                .range::<(u64, &str, &str)>((Bound::Unbounded, upper))
                .map_err(|e| format!("expiry index: {e}"))?
                .take(SWEEP_CHUNK)
            {
                let (key, _) = entry.map_err(|e| format!("expiry index: {e}"))?;
                let (at, bucket, msgid) = key.value();
                due.push((at, bucket.to_owned(), msgid.to_owned()));
            }
            for (at, bucket, msgid) in &due {
                expiry
                    .remove((*at, bucket.as_str(), msgid.as_str()))
                    .map_err(|e| format!("expiry index: {e}"))?;
                messages
                    .remove((bucket.as_str(), msgid.as_str()))
                    .map_err(|e| format!("remove {bucket}/{msgid}: {e}"))?;
                due_index.set(bucket, msgid, None)?;
            }
            due.len()
        };
        txn.commit().map_err(|e| format!("commit: {e}"))?;
        removed += chunk as u64;
        if chunk < SWEEP_CHUNK {
            return Ok(removed);
        }
    }
}

fn list_page(db: &Database, bucket: &str, after: Option<&str>) -> Result<Vec<String>, String> {
    let txn = db.begin_read().map_err(|e| format!("begin: {e}"))?;
    let messages = txn
        .open_table(MESSAGES)
        .map_err(|e| format!("table messages: {e}"))?;
    let start = after.unwrap_or("");
    let mut page = Vec::with_capacity(LIST_PAGE);
    for entry in messages
        .range::<(&str, &str)>((bucket, start)..)
        .map_err(|e| format!("range: {e}"))?
    {
        let (key, _) = entry.map_err(|e| format!("range: {e}"))?;
        let (b, id) = key.value();
        if b != bucket {
            break;
        }
        if after == Some(id) {
            continue;
        }
        page.push(id.to_owned());
        if page.len() == LIST_PAGE {
            break;
        }
    }
    Ok(page)
}

#[async_trait]
impl MessageStore for EmbeddedStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn save(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: &StoredMessage,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        crate::store::metered(BACKEND, "save", async {
            let (b, m) = (bucket.as_str(), msgid.as_str());
            let expect = match &mode {
                PutMode::Overwrite => Expect::Anything,
                PutMode::Create => Expect::Nothing,
                PutMode::Update(v) => match u64::from_str_radix(v.as_str(), 16) {
                    Ok(d) if v.as_str().len() == 16 => Expect::Digest(d),
                    _ => {
                        return Err(StoreError::Precondition {
                            backend: BACKEND,
                            bucket: b.to_owned(),
                            msgid: m.to_owned(),
                            reason: format!("{v} is not a version of this store"),
                        });
                    }
                },
            };
            let value =
                record::encode(b, m, msg).map_err(|reason| Self::error("save", b, m, reason))?;
            let expiry = nanos(msg.expires_at);
            let due = msg.due_millis();
            let (ack, done) = oneshot::channel();
            let stopped = || Self::error("save", b, m, "the writer thread has stopped".into());
            self.inner
                .writer
                .as_ref()
                .ok_or_else(stopped)?
                .send(Op::Save {
                    bucket: b.to_owned(),
                    msgid: m.to_owned(),
                    expiry,
                    due,
                    value,
                    expect,
                    ack,
                })
                .map_err(|_| stopped())?;
            match done.await.map_err(|_| stopped())? {
                Ok(d) => Ok(version_token(d)),
                Err(SaveError::Exists) => Err(StoreError::AlreadyExists {
                    backend: BACKEND,
                    bucket: b.to_owned(),
                    msgid: m.to_owned(),
                }),
                Err(SaveError::Changed(reason)) => Err(StoreError::Precondition {
                    backend: BACKEND,
                    bucket: b.to_owned(),
                    msgid: m.to_owned(),
                    reason,
                }),
                Err(SaveError::Failed(reason)) => Err(Self::error("save", b, m, reason)),
            }
        })
        .await
    }

    async fn load(&self, bucket: &Bucket, msgid: &MsgId) -> Result<Option<Versioned>, StoreError> {
        crate::store::metered(BACKEND, "load", async {
            let (b, m) = (bucket.as_str().to_owned(), msgid.as_str().to_owned());
            let raw = self
                .read("load", bucket.as_str(), msgid.as_str(), move |db| {
                    let txn = db.begin_read().map_err(|e| format!("begin: {e}"))?;
                    let messages = txn
                        .open_table(MESSAGES)
                        .map_err(|e| format!("table messages: {e}"))?;
                    let value = messages
                        .get((b.as_str(), m.as_str()))
                        .map_err(|e| format!("get: {e}"))?;
                    Ok(value.map(|v| v.value().to_vec()))
                })
                .await?;
            let Some(raw) = raw else {
                return Ok(None);
            };
            let corrupt = |reason: String| {
                StoreError::corrupt(BACKEND, bucket.as_str(), msgid.as_str(), reason)
            };
            let record = raw.get(8..).ok_or_else(|| {
                corrupt(format!(
                    "value is {} bytes, shorter than its expiry",
                    raw.len()
                ))
            })?;
            let message =
                record::decode(bucket.as_str(), msgid.as_str(), record).map_err(corrupt)?;
            Ok(Some(Versioned {
                message,
                version: version_token(digest(&raw)),
            }))
        })
        .await
    }

    async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError> {
        crate::store::metered(BACKEND, "delete", async {
            self.submit("delete", bucket.as_str(), msgid.as_str(), |ack| {
                Op::Delete {
                    bucket: bucket.as_str().to_owned(),
                    msgid: msgid.as_str().to_owned(),
                    ack,
                }
            })
            .await
        })
        .await
    }

    fn list<'a>(&'a self, bucket: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>> {
        struct Cursor {
            after: Option<String>,
            done: bool,
        }
        let pages = stream::unfold(
            Cursor {
                after: None,
                done: false,
            },
            move |mut cursor| async move {
                if cursor.done {
                    return None;
                }
                let b = bucket.as_str().to_owned();
                let after = cursor.after.clone();
                let page = self
                    .read("list", bucket.as_str(), "", move |db| {
                        list_page(db, &b, after.as_deref())
                    })
                    .await;
                let items: Vec<Result<MsgId, StoreError>> = match page {
                    Ok(ids) => {
                        cursor.done = ids.len() < LIST_PAGE;
                        cursor.after = ids.last().cloned();
                        ids.into_iter()
                            .map(|id| {
                                MsgId::new(id.clone()).map_err(|e| {
                                    StoreError::corrupt(
                                        BACKEND,
                                        bucket.as_str(),
                                        &id,
                                        format!("stored key is not a valid msgid: {e}"),
                                    )
                                })
                            })
                            .collect()
                    }
                    Err(e) => {
                        cursor.done = true;
                        vec![Err(e)]
                    }
                };
                Some((stream::iter(items), cursor))
            },
        );
        pages.flatten().boxed()
    }

    async fn due(&self, now: SystemTime, limit: usize) -> Result<Vec<(Bucket, MsgId)>, StoreError> {
        let now = crate::message::epoch_millis(now);
        let page = self
            .read("due", "", "", move |db| due_page(db, now, limit))
            .await?;
        page.into_iter()
            .map(|(b, m)| {
                let corrupt = |reason: String| StoreError::corrupt(BACKEND, &b, &m, reason);
                let bucket = Bucket::new(b.clone())
                    .map_err(|e| corrupt(format!("due index names a bad bucket: {e}")))?;
                let msgid = MsgId::new(m.clone())
                    .map_err(|e| corrupt(format!("due index names a bad msgid: {e}")))?;
                Ok((bucket, msgid))
            })
            .collect()
    }

    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        let now = nanos(now);
        let removed = self
            .submit("sweep", "", "", |ack| Op::Sweep { now, ack })
            .await?;
        if removed > 0 {
            self.compact_after_sweep().await;
        }
        Ok(removed)
    }
}

/// The messages table being rewritten by a compaction; renamed to `messages` when complete.
const REBUILD: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("messages_rebuild");
/// Messages copied per transaction while the table is rewritten.
const REBUILD_CHUNK: usize = 4096;

/// Files smaller than this are never compacted by themselves: the space is not worth a pause.
const AUTO_COMPACT_MIN_FILE: u64 = 8 << 20;
/// Most damaged records [`EmbeddedStore::verify`] lists; it counts them all.
pub const VERIFY_MAX_LISTED: usize = 1000;
/// Records examined per read transaction by `verify`, so writes and compaction are held up for
/// one chunk at most.
const VERIFY_CHUNK: usize = 512;
/// Longest key part shown in a [`DamagedRecord`], in characters.
const SHOWN_KEY_CHARS: usize = 256;

/// How much of the store's file is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceReport {
    /// The file's size on disk, in bytes.
    pub file_bytes: u64,
    /// Bytes in pages the database uses (data and its B-tree structure); the rest of the file
    /// is free pages waiting for reuse or compaction.
    pub allocated_bytes: u64,
    /// Bytes of keys and values stored (messages and the expiry index): the live data.
    pub live_bytes: u64,
}

impl SpaceReport {
    /// Whether compaction is worth a pause by itself: a file of 8 MiB or more, less than half
    /// of it in use.
    pub fn mostly_free(&self) -> bool {
        self.file_bytes >= AUTO_COMPACT_MIN_FILE
            && self.allocated_bytes < self.file_bytes.saturating_sub(self.allocated_bytes)
    }
}

/// What [`EmbeddedStore::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// Space before.
    pub before: SpaceReport,
    /// Space after.
    pub after: SpaceReport,
}

/// A record [`EmbeddedStore::verify`] found damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Its bucket, as stored (cut to 256 characters).
    pub bucket: String,
    /// Its msgid, as stored (cut to 256 characters).
    pub msgid: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What [`EmbeddedStore::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Messages examined.
    pub records: u64,
    /// Of those, records in the current layout whose checksum matched.
    pub checked: u64,
    /// Of those, records in the older `RDV1` layout, which has no checksum: read as they are.
    pub unchecked: u64,
    /// Expiry index entries examined.
    pub index_entries: u64,
    /// Damaged records and index entries found, all of them counted.
    pub damaged_total: u64,
    /// The first [`VERIFY_MAX_LISTED`] of them.
    pub damaged: Vec<DamagedRecord>,
    /// Why the walk stopped before the end, if it did (the database's own structure could not
    /// be read); what was examined until then is reported.
    pub incomplete: Option<String>,
}

impl VerifyReport {
    /// Whether everything was examined and nothing was damaged.
    pub fn is_clean(&self) -> bool {
        self.damaged_total == 0 && self.incomplete.is_none()
    }

    fn damaged(&mut self, bucket: &str, msgid: &str, reason: String) {
        self.damaged_total += 1;
        if self.damaged.len() < VERIFY_MAX_LISTED {
            let cut = |s: &str| s.chars().take(SHOWN_KEY_CHARS).collect();
            self.damaged.push(DamagedRecord {
                bucket: cut(bucket),
                msgid: cut(msgid),
                reason,
            });
        }
    }
}

impl EmbeddedStore {
    /// How much of the file is in use.
    pub async fn space(&self) -> Result<SpaceReport, StoreError> {
        let path = self.inner.path.clone();
        self.read("space", "", "", move |db| space(db, &path)).await
    }

    /// Rewrites the messages into full pages when the pages in use are more than 1.5 times the
    /// live data, then gives the file's free pages back to the file system. Reads and writes
    /// wait until it is done; it takes about as long as copying the live data twice. A crash
    /// part-way leaves the store as it was.
    pub async fn compact(&self) -> Result<CompactReport, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut db = inner.db.write().unwrap_or_else(PoisonError::into_inner);
            compact(&mut db, &inner.path)
        })
        .await
        .map_err(|e| Self::error("compact", "", "", format!("compaction task failed: {e}")))?
        .map_err(|reason| Self::error("compact", "", "", reason))
    }

    async fn compact_after_sweep(&self) {
        let inner = Arc::clone(&self.inner);
        let done = tokio::task::spawn_blocking(move || {
            // Checked under the shared lock first, so a sweep that freed little waits for nobody.
            if !space(&shared(&inner.db), &inner.path).is_ok_and(|s| s.mostly_free()) {
                return Ok(());
            }
            let mut db = inner.db.write().unwrap_or_else(PoisonError::into_inner);
            compact_if_mostly_free(&mut db, &inner.path)
        })
        .await;
        if let Ok(Err(reason)) | Err(reason) = done.map_err(|e| e.to_string()) {
            tracing::warn!(path = %self.inner.path.display(), %reason, "embedded store: compaction after sweep failed");
        }
    }

    /// Reads every record and every expiry index entry and reports those that are damaged: a
    /// checksum that does not match, a record that cannot be decoded, a key that is not a valid
    /// bucket or msgid, an index entry without its message or a message without its index entry.
    /// Runs in chunks of short read transactions, so writes go on meanwhile (a record written
    /// during the walk may or may not be examined).
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.read("verify", "", "", |db| Ok(verify(db))).await
    }
}

fn space(db: &Database, path: &Path) -> Result<SpaceReport, String> {
    let file_bytes = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let txn = db.begin_write().map_err(|e| format!("begin: {e}"))?;
    let stats = txn.stats().map_err(|e| format!("stats: {e}"))?;
    txn.abort().map_err(|e| format!("abort: {e}"))?;
    let page = u64::try_from(stats.page_size()).unwrap_or(u64::MAX);
    Ok(SpaceReport {
        file_bytes,
        allocated_bytes: stats.allocated_pages().saturating_mul(page),
        live_bytes: stats.stored_bytes(),
    })
}

fn compact(db: &mut Database, path: &Path) -> Result<CompactReport, String> {
    let before = space(db, path)?;
    // redb's compaction moves pages to the front of the file but does not merge half-empty
    // ones; after many deletes most pages are, so the messages are rewritten first, in key
    // order, into full pages.
    if before.allocated_bytes / 3 > before.live_bytes / 2 {
        rebuild_messages(db)?;
    }
    db.compact().map_err(|e| format!("compact: {e}"))?;
    let after = space(db, path)?;
    tracing::info!(
        path = %path.display(), before = before.file_bytes, after = after.file_bytes,
        live = after.live_bytes, "embedded store compacted"
    );
    Ok(CompactReport { before, after })
}

/// Copies the messages table into a new one in chunks, then replaces it in one transaction. A
/// crash part-way leaves the old table whole and the new one is dropped at the next open.
fn rebuild_messages(db: &Database) -> Result<(), String> {
    let mut after: Option<(String, String)> = None;
    loop {
        let txn = db.begin_write().map_err(|e| format!("begin: {e}"))?;
        let last = {
            let old = txn
                .open_table(MESSAGES)
                .map_err(|e| format!("table messages: {e}"))?;
            let mut new = txn
                .open_table(REBUILD)
                .map_err(|e| format!("table messages_rebuild: {e}"))?;
            let range = match &after {
                Some((b, m)) => old.range::<(&str, &str)>((
                    Bound::Excluded((b.as_str(), m.as_str())),
                    Bound::Unbounded,
                )),
                None => old.range::<(&str, &str)>(..),
            }
            .map_err(|e| format!("messages: {e}"))?;
            let mut last = None;
            for entry in range.take(REBUILD_CHUNK) {
                let (key, value) = entry.map_err(|e| format!("messages: {e}"))?;
                let (bucket, msgid) = key.value();
                new.insert((bucket, msgid), value.value())
                    .map_err(|e| format!("copy {bucket}/{msgid}: {e}"))?;
                last = Some((bucket.to_owned(), msgid.to_owned()));
            }
            last
        };
        txn.commit().map_err(|e| format!("commit: {e}"))?;
        match last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let txn = db.begin_write().map_err(|e| format!("begin: {e}"))?;
    txn.delete_table(MESSAGES)
        .map_err(|e| format!("drop table messages: {e}"))?;
    txn.rename_table(REBUILD, MESSAGES)
        .map_err(|e| format!("rename table messages_rebuild: {e}"))?;
    txn.commit().map_err(|e| format!("commit: {e}"))
}

fn compact_if_mostly_free(db: &mut Database, path: &Path) -> Result<(), String> {
    if space(db, path)?.mostly_free() {
        compact(db, path)?;
    }
    Ok(())
}

fn verify(db: &Database) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut after: Option<(String, String)> = None;
    loop {
        match verify_messages(db, after.as_ref(), &mut report) {
            Ok(Some(last)) => after = Some(last),
            Ok(None) => break,
            Err(reason) => {
                report.incomplete = Some(reason);
                return report;
            }
        }
    }
    let mut after: Option<(u64, String, String)> = None;
    loop {
        match verify_index(db, after.as_ref(), &mut report) {
            Ok(Some(last)) => after = Some(last),
            Ok(None) => break,
            Err(reason) => {
                report.incomplete = Some(reason);
                break;
            }
        }
    }
    report
}

/// Examines up to [`VERIFY_CHUNK`] messages after `after`; returns the last key examined, or
/// `None` at the end of the table.
fn verify_messages(
    db: &Database,
    after: Option<&(String, String)>,
    report: &mut VerifyReport,
) -> Result<Option<(String, String)>, String> {
    let txn = db.begin_read().map_err(|e| format!("begin: {e}"))?;
    let messages = txn
        .open_table(MESSAGES)
        .map_err(|e| format!("table messages: {e}"))?;
    let expiry = txn
        .open_table(EXPIRY)
        .map_err(|e| format!("table expiry: {e}"))?;
    let range = match after {
        Some((b, m)) => messages
            .range::<(&str, &str)>((Bound::Excluded((b.as_str(), m.as_str())), Bound::Unbounded)),
        None => messages.range::<(&str, &str)>(..),
    }
    .map_err(|e| format!("messages: {e}"))?;
    let mut last = None;
    for entry in range.take(VERIFY_CHUNK) {
        let (key, value) = entry.map_err(|e| format!("messages: {e}"))?;
        let (bucket, msgid) = key.value();
        report.records += 1;
        if let Some(reason) = record_problem(bucket, msgid, value.value(), &expiry, report) {
            report.damaged(bucket, msgid, reason);
        }
        last = Some((bucket.to_owned(), msgid.to_owned()));
    }
    Ok(last)
}

fn record_problem(
    bucket: &str,
    msgid: &str,
    stored: &[u8],
    expiry: &redb::ReadOnlyTable<(u64, &str, &str), ()>,
    report: &mut VerifyReport,
) -> Option<String> {
    if let Err(e) = Bucket::new(bucket) {
        return Some(format!("stored bucket is not a valid bucket: {e}"));
    }
    if let Err(e) = MsgId::new(msgid) {
        return Some(format!("stored key is not a valid msgid: {e}"));
    }
    let Some((at, record)) = stored.split_first_chunk::<8>() else {
        return Some(format!(
            "value is {} bytes, shorter than its expiry",
            stored.len()
        ));
    };
    let at = u64::from_be_bytes(*at);
    let msg = match record::decode_layout(bucket, msgid, record) {
        Ok((msg, layout)) => {
            match layout {
                record::Layout::Checked => report.checked += 1,
                record::Layout::Unchecked => report.unchecked += 1,
            }
            msg
        }
        Err(reason) => return Some(reason),
    };
    if at != nanos(msg.expires_at) {
        return Some(format!(
            "the expiry beside the record ({at}) is not the message's own ({})",
            nanos(msg.expires_at)
        ));
    }
    match expiry.get((at, bucket, msgid)) {
        Ok(Some(_)) => None,
        Ok(None) => Some("missing from the expiry index, so it would never be swept".into()),
        Err(e) => Some(format!("expiry index: {e}")),
    }
}

/// Examines up to [`VERIFY_CHUNK`] expiry index entries after `after`: each must point at a
/// stored message with that expiry.
fn verify_index(
    db: &Database,
    after: Option<&(u64, String, String)>,
    report: &mut VerifyReport,
) -> Result<Option<(u64, String, String)>, String> {
    let txn = db.begin_read().map_err(|e| format!("begin: {e}"))?;
    let messages = txn
        .open_table(MESSAGES)
        .map_err(|e| format!("table messages: {e}"))?;
    let expiry = txn
        .open_table(EXPIRY)
        .map_err(|e| format!("table expiry: {e}"))?;
    let range = match after {
        Some((at, b, m)) => expiry.range::<(u64, &str, &str)>((
            Bound::Excluded((*at, b.as_str(), m.as_str())),
            Bound::Unbounded,
        )),
        None => expiry.range::<(u64, &str, &str)>(..),
    }
    .map_err(|e| format!("expiry index: {e}"))?;
    let mut last = None;
    for entry in range.take(VERIFY_CHUNK) {
        let (key, _) = entry.map_err(|e| format!("expiry index: {e}"))?;
        let (at, bucket, msgid) = key.value();
        report.index_entries += 1;
        let problem = match messages.get((bucket, msgid)) {
            Ok(None) => Some("expiry index entry without its message".to_owned()),
            Ok(Some(v)) if old_expiry(v.value()) != Some(at) => {
                Some("expiry index entry disagrees with its message's expiry".to_owned())
            }
            Ok(Some(_)) => None,
            Err(e) => Some(format!("messages: {e}")),
        };
        if let Some(reason) = problem {
            report.damaged(bucket, msgid, reason);
        }
        last = Some((at, bucket.to_owned(), msgid.to_owned()));
    }
    Ok(last)
}
