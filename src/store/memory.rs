//! An in-memory [`MessageStore`] for tests and for host applications' unit tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};

use super::{MessageStore, PutMode, StoreError, Version, Versioned};
use crate::message::{Bucket, MsgId, StoredMessage};

type Buckets = HashMap<Bucket, BTreeMap<MsgId, (u64, StoredMessage)>>;

/// A [`MessageStore`] that keeps everything in process memory. Nothing survives a restart.
///
/// Conditional saves ([`PutMode::Create`], [`PutMode::Update`]) are atomic: the check and the
/// write happen under one lock. Versions are a counter shared by all keys, so a deleted and
/// re-created key never repeats an old version.
#[derive(Debug, Default)]
pub struct MemoryStore {
    buckets: Mutex<Buckets>,
    next_version: std::sync::atomic::AtomicU64,
}

fn version(n: u64) -> Version {
    Version::new(n.to_string())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages are stored, over all buckets.
    pub fn len(&self) -> usize {
        self.with(|b| b.values().map(BTreeMap::len).sum())
    }

    /// Whether the store holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with<T>(&self, f: impl FnOnce(&mut Buckets) -> T) -> T {
        // A panic while the lock was held cannot leave a half-written entry (every operation
        // is a single map call), so a poisoned lock is still consistent.
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn save(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: &StoredMessage,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.with(|b| {
            let current = b.get(bucket).and_then(|m| m.get(msgid)).map(|(v, _)| *v);
            match (&mode, current) {
                (PutMode::Create, Some(_)) => {
                    return Err(StoreError::AlreadyExists {
                        backend: "memory",
                        bucket: bucket.to_string(),
                        msgid: msgid.to_string(),
                    });
                }
                (PutMode::Update(want), current) if current.map(version).as_ref() != Some(want) => {
                    return Err(StoreError::Precondition {
                        backend: "memory",
                        bucket: bucket.to_string(),
                        msgid: msgid.to_string(),
                        reason: match current {
                            Some(v) => format!("stored version is {v}, not {want}"),
                            None => format!("nothing is stored (expected version {want})"),
                        },
                    });
                }
                _ => {}
            }
            let n = self
                .next_version
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            b.entry(bucket.clone())
                .or_default()
                .insert(msgid.clone(), (n, msg.clone()));
            Ok(version(n))
        })
    }

    async fn load(&self, bucket: &Bucket, msgid: &MsgId) -> Result<Option<Versioned>, StoreError> {
        Ok(self.with(|b| {
            b.get(bucket)
                .and_then(|m| m.get(msgid))
                .map(|(v, m)| Versioned {
                    message: m.clone(),
                    version: version(*v),
                })
        }))
    }

    async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError> {
        Ok(self.with(|b| {
            let Some(messages) = b.get_mut(bucket) else {
                return false;
            };
            let existed = messages.remove(msgid).is_some();
            if messages.is_empty() {
                b.remove(bucket);
            }
            existed
        }))
    }

    fn list<'a>(&'a self, bucket: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>> {
        let ids: Vec<MsgId> = self.with(|b| {
            b.get(bucket)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        });
        stream::iter(ids.into_iter().map(Ok)).boxed()
    }

    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        Ok(self.with(|b| {
            let mut removed = 0u64;
            b.retain(|_, messages| {
                let before = messages.len();
                messages.retain(|_, (_, m)| !m.is_expired(now));
                removed += (before - messages.len()) as u64;
                !messages.is_empty()
            });
            removed
        }))
    }
}
