//! Where submitted messages are kept until their receipts arrive.
//!
//! [`MessageStore`] is the seed's `msys.mstore.save/load/delete` as one small async trait,
//! object-safe so a host can hold an `Arc<dyn MessageStore>`. Backends live in their own modules:
//! [`MemoryStore`] (tests), and — behind their features — the Riak KV HTTP store (`RiakStore`,
//! feature `riak`) and the embedded crash-safe file store (`EmbeddedStore`, feature `embedded`).
//! The conformance suite every backend passes is published as `conformance` (feature
//! `test-util`).

use std::fmt;
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
    },
}

impl StoreError {
    /// Whether the same operation may succeed if tried again later (see
    /// [`StoreError::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// A key-value store of submitted messages, addressed by bucket and msgid.
///
/// # Contract
///
/// Every backend behaves the same way; the conformance suite (feature `test-util`) checks it.
///
/// * [`save`](MessageStore::save) writes the whole message or nothing: a reader never sees a
///   partly written message. Saving over an existing msgid replaces it. Of two concurrent saves
///   of one msgid, one wins whole; the result is never a mix of both.
/// * [`load`](MessageStore::load) returns `Ok(None)` only when the backend knows the message is
///   absent. When it cannot tell (a replica is unreachable, a quorum failed) it returns a
///   retryable [`StoreError::Unavailable`].
/// * [`delete`](MessageStore::delete) of a missing msgid succeeds and returns `false`.
/// * [`list`](MessageStore::list) streams the msgids of one bucket, each once, in no particular
///   order; messages saved or deleted while the stream runs may or may not appear.
/// * [`sweep_expired`](MessageStore::sweep_expired) deletes every message whose `expires_at` is
///   at or before `now`, in every bucket, and returns how many it deleted.
#[async_trait]
pub trait MessageStore: Send + Sync + fmt::Debug {
    /// The backend's name, as it appears in errors.
    fn backend(&self) -> &'static str;

    /// Stores `msg` under `bucket`/`msgid` (the seed's `msys.mstore.save(msg, bucket_id, msgid)`).
    async fn save(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: &StoredMessage,
    ) -> Result<(), StoreError>;

    /// Loads the message under `bucket`/`msgid` (`msys.mstore.load(bucket_id, msgid)`).
    async fn load(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Option<StoredMessage>, StoreError>;

    /// Deletes the message under `bucket`/`msgid` (`msys.mstore.delete(bucket_id, msgid)`).
    /// Returns whether a message was there.
    async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError>;

    /// Streams the msgids stored in `bucket`.
    fn list<'a>(&'a self, bucket: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>>;

    /// Deletes every message whose retention ended at or before `now`; returns how many.
    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError>;
}
