//! A store client for the engine tests: a `MessageStore` that forwards every operation to a
//! shared store, as one node's own connection to it would, and on the way counts the operations,
//! delays them, holds them up or fails them as a test asks.
//!
//! Every method of the trait is forwarded, the ones with default bodies too, so the engine sees
//! what the shared store does (`MemoryStore`'s own `load_shared` and `update_shared`, the
//! backend's `due` index). One call of the engine is one operation, whichever method it is.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures::stream::BoxStream;
use redeliver::async_trait;
use redeliver::message::{Bucket, MsgId, StoredMessage};
use redeliver::store::{
    Edit, MessageStore, PutMode, SharedVersioned, StoreError, Version, Versioned,
};
use tokio::sync::{Barrier, Notify};

/// How a [`Client`]'s loads answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Loads {
    /// With what the shared store holds.
    Healthy = 0,
    /// With [`StoreError::Unavailable`], as a store that cannot be reached.
    Unavailable = 1,
    /// With [`StoreError::Corrupt`], as a stored object that cannot be decoded.
    Corrupt = 2,
}

/// One node's client of a shared store.
///
/// Every operation but `list` and `sweep_expired` is counted in `ops`, then (from operation
/// `hang_from` on, if set) never answers, as a node that died mid-call, after notifying `hung`;
/// then waits `delay`, as a network store does. With `ambiguous` set, the next conditional
/// update is written and then answered 503, as Riak's can be. With `barrier`, the first load
/// waits for the other nodes' after it has loaded, and the first conditional update waits for
/// theirs before it writes (so their decisions start from one version and their writes go out
/// together). [`answer_loads`](Client::answer_loads) makes loads fail.
#[derive(Debug)]
pub struct Client {
    shared: Arc<dyn MessageStore>,
    pub delay: Duration,
    pub ops: AtomicUsize,
    pub ambiguous: AtomicBool,
    pub hang_from: Option<usize>,
    pub hung: Arc<Notify>,
    pub barrier: Option<Arc<Barrier>>,
    loads: AtomicUsize,
    updates: AtomicUsize,
    failing: AtomicU8,
}

impl Client {
    /// A client of `shared` that does nothing but count.
    pub fn new(shared: Arc<dyn MessageStore>) -> Self {
        Self {
            shared,
            delay: Duration::ZERO,
            ops: AtomicUsize::new(0),
            ambiguous: AtomicBool::new(false),
            hang_from: None,
            hung: Arc::new(Notify::new()),
            barrier: None,
            loads: AtomicUsize::new(0),
            updates: AtomicUsize::new(0),
            failing: AtomicU8::new(Loads::Healthy as u8),
        }
    }

    /// A client of `shared` whose every operation waits `delay` first.
    pub fn delayed(shared: Arc<dyn MessageStore>, delay: Duration) -> Self {
        Self {
            delay,
            ..Self::new(shared)
        }
    }

    /// From now on, loads answer as `how` says.
    pub fn answer_loads(&self, how: Loads) {
        self.failing.store(how as u8, Ordering::SeqCst);
    }

    async fn op(&self) {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        if self.hang_from.is_some_and(|from| n >= from) {
            self.hung.notify_one();
            futures::future::pending::<()>().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// A load, as one operation: counted and delayed, failed if loads are to fail; the first
    /// one waits at the barrier after it has loaded.
    async fn read<T>(
        &self,
        b: &Bucket,
        m: &MsgId,
        load: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.op().await;
        match self.failing.load(Ordering::SeqCst) {
            x if x == Loads::Unavailable as u8 => {
                return Err(StoreError::unavailable(
                    "test",
                    "load",
                    b.as_str(),
                    m.as_str(),
                    "connection refused",
                ));
            }
            x if x == Loads::Corrupt as u8 => {
                return Err(StoreError::corrupt(
                    "test",
                    b.as_str(),
                    m.as_str(),
                    "not JSON",
                ));
            }
            _ => {}
        }
        let loaded = load.await;
        if let Some(barrier) = &self.barrier
            && self.loads.fetch_add(1, Ordering::SeqCst) == 0
        {
            barrier.wait().await;
        }
        loaded
    }

    /// A write, as one operation: counted and delayed. A conditional update (`update`) waits at
    /// the barrier before it writes if it is the first, and once written is answered 503 if
    /// `ambiguous` is set (once).
    async fn write<T>(
        &self,
        update: bool,
        b: &Bucket,
        m: &MsgId,
        save: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.op().await;
        if update
            && let Some(barrier) = &self.barrier
            && self.updates.fetch_add(1, Ordering::SeqCst) == 0
        {
            barrier.wait().await;
        }
        let written = save.await?;
        if update && self.ambiguous.swap(false, Ordering::SeqCst) {
            return Err(StoreError::unavailable(
                "test",
                "save",
                b.as_str(),
                m.as_str(),
                "503 request timed out",
            ));
        }
        Ok(written)
    }
}

#[async_trait]
impl MessageStore for Client {
    fn backend(&self) -> &'static str {
        self.shared.backend()
    }
    async fn save(
        &self,
        b: &Bucket,
        m: &MsgId,
        msg: &StoredMessage,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        let update = matches!(mode, PutMode::Update(_));
        self.write(update, b, m, self.shared.save(b, m, msg, mode))
            .await
    }
    async fn save_shared(
        &self,
        b: &Bucket,
        m: &MsgId,
        msg: Arc<StoredMessage>,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        let update = matches!(mode, PutMode::Update(_));
        self.write(update, b, m, self.shared.save_shared(b, m, msg, mode))
            .await
    }
    async fn update_shared(
        &self,
        b: &Bucket,
        m: &MsgId,
        current: SharedVersioned,
        edit: Edit<'_>,
    ) -> Result<(Version, Arc<StoredMessage>), StoreError> {
        self.write(true, b, m, self.shared.update_shared(b, m, current, edit))
            .await
    }
    async fn load(&self, b: &Bucket, m: &MsgId) -> Result<Option<Versioned>, StoreError> {
        self.read(b, m, self.shared.load(b, m)).await
    }
    async fn load_shared(
        &self,
        b: &Bucket,
        m: &MsgId,
    ) -> Result<Option<SharedVersioned>, StoreError> {
        self.read(b, m, self.shared.load_shared(b, m)).await
    }
    async fn delete(&self, b: &Bucket, m: &MsgId) -> Result<bool, StoreError> {
        self.op().await;
        self.shared.delete(b, m).await
    }
    fn list<'a>(&'a self, b: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>> {
        self.shared.list(b)
    }
    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        self.shared.sweep_expired(now).await
    }
    async fn due(&self, now: SystemTime, limit: usize) -> Result<Vec<(Bucket, MsgId)>, StoreError> {
        self.op().await;
        self.shared.due(now, limit).await
    }
}
