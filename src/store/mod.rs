//! Where submitted messages are kept until their receipts arrive.
//!
//! [`MessageStore`] is the seed's `msys.mstore.save/load/delete` as one small async trait,
//! object-safe so a host can hold an `Arc<dyn MessageStore>`. Backends live in their own modules:
//! [`MemoryStore`] (tests), and — behind their features — the Riak KV HTTP store (`RiakStore`,
//! feature `riak`) and the embedded crash-safe file store (`EmbeddedStore`, feature `embedded`).
//! The conformance suite every backend passes is published as `conformance` (feature
//! `test-util`).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::message::{Bucket, MsgId, StoredMessage};

#[cfg(feature = "test-util")]
pub mod conformance;
#[cfg(feature = "embedded")]
mod embedded;
mod memory;
#[cfg(feature = "embedded")]
mod record;
#[cfg(feature = "riak")]
pub mod riak;

#[cfg(feature = "embedded")]
pub use embedded::{
    CompactReport, DamagedRecord, EmbeddedStore, SpaceReport, VERIFY_MAX_LISTED, VerifyReport,
};
pub use memory::MemoryStore;
#[cfg(feature = "riak")]
pub use riak::{RiakConfig, RiakStore};

/// What went wrong in a store operation, and where.
///
/// Every variant names the backend (`"memory"`, `"riak"`, `"embedded"`, …) and, where one was
/// involved, the bucket and msgid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not tell whether the object exists or could not write it right now
    /// (connection refused, timeout, 503, quorum not met). Retrying later may succeed; it must
    /// never be taken to mean "not found".
    #[error("{backend}: {op} {bucket}/{msgid}: unavailable: {reason}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// The operation (`save`, `load`, `delete`, `list`, `sweep`).
        op: &'static str,
        /// Bucket involved.
        bucket: String,
        /// Msgid involved (empty for bucket-wide operations).
        msgid: String,
        /// What failed.
        reason: String,
        /// The underlying error, where there was one (an I/O, HTTP or database error).
        #[source]
        source: Option<crate::BoxError>,
    },
    /// The stored object exists but cannot be decoded (written by something else, or damaged).
    /// Only that object is affected.
    #[error("{backend}: {bucket}/{msgid}: corrupt stored object: {reason}")]
    Corrupt {
        /// Backend name.
        backend: &'static str,
        /// Bucket involved.
        bucket: String,
        /// Msgid involved.
        msgid: String,
        /// What was wrong with it.
        reason: String,
        /// The underlying error, where there was one (an I/O, HTTP or database error).
        #[source]
        source: Option<crate::BoxError>,
    },
    /// A [`PutMode::Create`] save found an object already stored under the key. Nothing was
    /// written.
    #[error("{backend}: save {bucket}/{msgid}: already exists")]
    AlreadyExists {
        /// Backend name.
        backend: &'static str,
        /// Bucket involved.
        bucket: String,
        /// Msgid involved.
        msgid: String,
    },
    /// A [`PutMode::Update`] save found the object changed (or deleted) since the version it
    /// was given was read. Nothing was written; load it again and decide again.
    #[error("{backend}: save {bucket}/{msgid}: precondition failed: {reason}")]
    Precondition {
        /// Backend name.
        backend: &'static str,
        /// Bucket involved.
        bucket: String,
        /// Msgid involved.
        msgid: String,
        /// What differed.
        reason: String,
    },
    /// The backend refused the request or failed in a way retrying will not fix.
    #[error("{backend}: {op} {bucket}/{msgid}: {reason}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// The operation.
        op: &'static str,
        /// Bucket involved.
        bucket: String,
        /// Msgid involved (empty for bucket-wide operations).
        msgid: String,
        /// What failed.
        reason: String,
        /// The underlying error, where there was one (an I/O, HTTP or database error).
        #[source]
        source: Option<crate::BoxError>,
    },
    /// The store could not be built from its configuration (a bad server address, a TLS set-up
    /// the HTTP client refused). Nothing was sent anywhere.
    #[error("{backend}: configuration: {reason}")]
    Config {
        /// Backend name.
        backend: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The underlying error, where there was one.
        #[source]
        source: Option<crate::BoxError>,
    },
}

impl StoreError {
    /// A [`StoreError::Unavailable`] without an underlying error; add one with
    /// [`with_source`](Self::with_source). For hosts writing their own [`MessageStore`].
    pub fn unavailable(
        backend: &'static str,
        op: &'static str,
        bucket: &str,
        msgid: &str,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Unavailable {
            backend,
            op,
            bucket: bucket.to_owned(),
            msgid: msgid.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    /// A [`StoreError::Backend`] without an underlying error; add one with
    /// [`with_source`](Self::with_source).
    pub fn failed(
        backend: &'static str,
        op: &'static str,
        bucket: &str,
        msgid: &str,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Backend {
            backend,
            op,
            bucket: bucket.to_owned(),
            msgid: msgid.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    /// A [`StoreError::Corrupt`] without an underlying error; add one with
    /// [`with_source`](Self::with_source).
    pub fn corrupt(
        backend: &'static str,
        bucket: &str,
        msgid: &str,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Corrupt {
            backend,
            bucket: bucket.to_owned(),
            msgid: msgid.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    /// The same error with `error` as its [`source`](std::error::Error::source), for the
    /// variants that carry one (the others are returned unchanged).
    pub fn with_source(mut self, error: impl Into<crate::BoxError>) -> Self {
        match &mut self {
            StoreError::Unavailable { source, .. }
            | StoreError::Corrupt { source, .. }
            | StoreError::Backend { source, .. }
            | StoreError::Config { source, .. } => *source = Some(error.into()),
            StoreError::AlreadyExists { .. } | StoreError::Precondition { .. } => {}
        }
        self
    }

    /// Whether the same operation may succeed if tried again later (see
    /// [`StoreError::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// Whether a conditional save lost: [`StoreError::AlreadyExists`] for
    /// [`PutMode::Create`], [`StoreError::Precondition`] for [`PutMode::Update`]. The caller
    /// reloads and decides again.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::AlreadyExists { .. } | StoreError::Precondition { .. }
        )
    }
}

/// The result label of a store operation.
#[cfg(any(feature = "riak", feature = "embedded"))]
pub(crate) fn store_result<T>(result: &Result<T, StoreError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) if e.is_retryable() => "unavailable",
        Err(e) if e.is_conflict() => "conflict",
        Err(_) => "error",
    }
}

/// Runs one store operation and records it: its count by result and its latency.
#[cfg(any(feature = "riak", feature = "embedded"))]
pub(crate) async fn metered<T>(
    backend: &'static str,
    op: &'static str,
    operation: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result = operation.await;
    metrics::counter!(crate::telemetry::STORE_OPERATIONS, "backend" => backend, "op" => op, "result" => store_result(&result))
        .increment(1);
    metrics::histogram!(crate::telemetry::STORE_OPERATION_SECONDS, "backend" => backend, "op" => op)
        .record(started.elapsed().as_secs_f64());
    result
}

/// An opaque version of a stored object, as [`MessageStore::load`] returned it.
///
/// Only meaningful to the store that produced it, for the same bucket and msgid: a counter for
/// [`MemoryStore`], a digest of the stored bytes for the embedded store, the `X-Riak-Vclock` (and
/// `ETag`) for Riak. Hand it back in [`PutMode::Update`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version(Arc<str>);

impl Version {
    /// A version from the backend's own token.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }

    /// The backend's token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How [`MessageStore::save`] treats an object already stored under the key (the model is
/// `object_store`'s `PutMode`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Write whatever is there (the seed's `msys.mstore.save`).
    #[default]
    Overwrite,
    /// Write only if nothing is stored under the key; otherwise
    /// [`StoreError::AlreadyExists`].
    Create,
    /// Write only if the stored object is still at this version; otherwise
    /// [`StoreError::Precondition`] (also when it was deleted meanwhile).
    Update(Version),
}

/// A stored message and the version it was read at. Dereferences to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The message.
    pub message: StoredMessage,
    /// Its version, for a later [`PutMode::Update`].
    pub version: Version,
}

impl Versioned {
    /// The message, without its version.
    pub fn into_message(self) -> StoredMessage {
        self.message
    }
}

impl Deref for Versioned {
    type Target = StoredMessage;

    fn deref(&self) -> &StoredMessage {
        &self.message
    }
}

/// A stored message, shared with the store that holds it, and the version it was read at, as
/// [`MessageStore::load_shared`] returns it. Dereferences to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedVersioned {
    /// The message.
    pub message: Arc<StoredMessage>,
    /// Its version, for a later [`PutMode::Update`] or [`MessageStore::update_shared`].
    pub version: Version,
}

impl SharedVersioned {
    /// The message and its version, the message copied only if it is still shared.
    pub fn into_versioned(self) -> Versioned {
        Versioned {
            message: Arc::unwrap_or_clone(self.message),
            version: self.version,
        }
    }
}

impl From<Versioned> for SharedVersioned {
    fn from(v: Versioned) -> Self {
        Self {
            message: Arc::new(v.message),
            version: v.version,
        }
    }
}

impl Deref for SharedVersioned {
    type Target = StoredMessage;

    fn deref(&self) -> &StoredMessage {
        &self.message
    }
}

/// An edit of a stored message, for [`MessageStore::update_shared`].
pub type Edit<'a> = &'a mut (dyn FnMut(&mut StoredMessage) + Send);

/// A key-value store of submitted messages, addressed by bucket and msgid.
///
/// # Contract
///
/// Every backend behaves the same way; the conformance suite (feature `test-util`) checks it.
///
/// * [`save`](MessageStore::save) writes the whole message or nothing: a reader never sees a
///   partly written message. With [`PutMode::Overwrite`] it replaces what is stored; of two
///   concurrent overwrites of one msgid, one wins whole, never a mix of both.
/// * [`PutMode::Create`] and [`PutMode::Update`] are conditional: a save whose condition does
///   not hold writes nothing and fails with [`StoreError::AlreadyExists`] /
///   [`StoreError::Precondition`] ([`StoreError::is_conflict`]). Of N concurrent `Create`s of
///   one key exactly one succeeds; of N concurrent `Update`s from one version exactly one
///   succeeds. [`MemoryStore`] and the embedded store do this atomically. A Riak backend does it
///   atomically on a strongly consistent bucket type; on ordinary buckets Riak cannot, and
///   concurrent writers become siblings that the next load merges
///   ([`StoredMessage::merge`](crate::message::StoredMessage::merge)), see the `riak` module.
/// * [`load`](MessageStore::load) returns the message and its [`Version`]. It returns
///   `Ok(None)` only when the backend knows the message is absent. When it cannot tell (a
///   replica is unreachable, a quorum failed) it returns a retryable
///   [`StoreError::Unavailable`].
/// * [`delete`](MessageStore::delete) of a missing msgid succeeds and returns `false`.
/// * [`list`](MessageStore::list) streams the msgids of one bucket, each once, in no particular
///   order; messages saved or deleted while the stream runs may or may not appear.
/// * [`sweep_expired`](MessageStore::sweep_expired) deletes every message whose `expires_at` is
///   at or before `now`, in every bucket, and returns how many it deleted.
/// * [`due`](MessageStore::due) finds records whose due time
///   ([`META_DUE`](crate::message::META_DUE)) is at or before `now` from an index the backend
///   keeps on every save and delete, without reading every record. The index may lag a save
///   (Riak's 2i on siblings); the caller loads each record and judges it by what it holds.
#[async_trait]
pub trait MessageStore: Send + Sync + fmt::Debug {
    /// The backend's name, as it appears in errors.
    fn backend(&self) -> &'static str;

    /// Stores `msg` under `bucket`/`msgid` as `mode` allows (the seed's
    /// `msys.mstore.save(msg, bucket_id, msgid)` is [`PutMode::Overwrite`]); returns the version
    /// now stored.
    async fn save(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: &StoredMessage,
        mode: PutMode,
    ) -> Result<Version, StoreError>;

    /// Loads the message under `bucket`/`msgid` and its version
    /// (`msys.mstore.load(bucket_id, msgid)`).
    async fn load(&self, bucket: &Bucket, msgid: &MsgId) -> Result<Option<Versioned>, StoreError>;

    /// Deletes the message under `bucket`/`msgid` (`msys.mstore.delete(bucket_id, msgid)`).
    /// Returns whether a message was there.
    async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError>;

    /// Streams the msgids stored in `bucket`.
    fn list<'a>(&'a self, bucket: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>>;

    /// Deletes every message whose retention ended at or before `now`; returns how many.
    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError>;

    /// As [`save`](MessageStore::save), with the message shared rather than borrowed: a backend
    /// that keeps messages in memory ([`MemoryStore`]) keeps this one as it is instead of
    /// copying it. The default saves a borrow of it.
    async fn save_shared(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: Arc<StoredMessage>,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.save(bucket, msgid, &msg, mode).await
    }

    /// As [`load`](MessageStore::load), with the message shared rather than owned: a backend
    /// that keeps messages in memory ([`MemoryStore`]) hands out its own copy instead of a new
    /// one. The default loads and wraps what it got.
    async fn load_shared(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Option<SharedVersioned>, StoreError> {
        Ok(self.load(bucket, msgid).await?.map(SharedVersioned::from))
    }

    /// Writes `current` (as [`load_shared`](MessageStore::load_shared) returned it) changed by
    /// `edit`, on the same terms as [`save`](MessageStore::save) with
    /// [`PutMode::Update`] of `current.version`: if the stored message is no longer at that
    /// version, nothing is written and the error is [`StoreError::Precondition`]. Returns the
    /// version now stored and the message as written. `edit` is called at most once.
    ///
    /// The default applies `edit` to `current` (copying it only if it is still shared) and saves
    /// the result with [`save_shared`](MessageStore::save_shared): the same one round trip as a
    /// conditional save. [`MemoryStore`] applies `edit` to the message it holds, under its lock,
    /// without copying it when nothing else holds it; `edit` must not block there, and must not
    /// panic (the message would stay as far as `edit` got).
    async fn update_shared(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        current: SharedVersioned,
        edit: Edit<'_>,
    ) -> Result<(Version, Arc<StoredMessage>), StoreError> {
        let SharedVersioned { message, version } = current;
        let mut message = Arc::unwrap_or_clone(message);
        edit(&mut message);
        let message = Arc::new(message);
        let version = self
            .save_shared(bucket, msgid, message.clone(), PutMode::Update(version))
            .await?;
        Ok((version, message))
    }

    /// Up to `limit` records whose due time ([`META_DUE`](crate::message::META_DUE)) is at or
    /// before `now`, as bucket and msgid, earliest due first where the backend can tell (the
    /// retry engine's timer asks this on every node: claims whose lease ended, parked receipts).
    ///
    /// The in-tree backends answer from an index they keep on every save and delete. The
    /// default finds nothing: a backend that does not override it gives the engine no recovery
    /// of abandoned claims and no timer application of receipts parked by other nodes.
    async fn due(&self, now: SystemTime, limit: usize) -> Result<Vec<(Bucket, MsgId)>, StoreError> {
        let _ = (now, limit);
        Ok(Vec::new())
    }
}
