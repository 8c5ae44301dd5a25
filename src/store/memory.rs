//! An in-memory [`MessageStore`] for tests and for host applications' unit tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};

use super::{Edit, MessageStore, PutMode, SharedVersioned, StoreError, Version, Versioned};
use crate::message::{Bucket, MsgId, StoredMessage, epoch_millis};

/// One stored message: shared, so a [`MessageStore::save_shared`] keeps the caller's copy, and
/// with its version token made once.
#[derive(Debug)]
struct Entry {
    version: Version,
    msg: Arc<StoredMessage>,
    due: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<Bucket, BTreeMap<MsgId, Entry>>,
    /// `(due, bucket, msgid)` of every record with a due time, for [`MessageStore::due`].
    due: BTreeSet<(u64, Bucket, MsgId)>,
}

/// A [`MessageStore`] that keeps everything in process memory. Nothing survives a restart.
///
/// Conditional saves ([`PutMode::Create`], [`PutMode::Update`]) are atomic: the check and the
/// write happen under one lock. Versions are a counter shared by all keys, so a deleted and
/// re-created key never repeats an old version. Messages are kept shared: a
/// [`save_shared`](MessageStore::save_shared) stores the caller's message without copying it.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    next_version: std::sync::atomic::AtomicU64,
}

/// The decimal token of version `n`, written without the formatting machinery.
fn version(n: u64) -> Version {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    Version::new(std::str::from_utf8(&digits[i..]).unwrap_or("0"))
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages are stored, over all buckets.
    pub fn len(&self) -> usize {
        self.with(|s| s.buckets.values().map(BTreeMap::len).sum())
    }

    /// Whether the store holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while the lock was held cannot leave a half-written entry (every operation
        // checks before it changes anything, and keeps the index beside the map in step), so a
        // poisoned lock is still consistent.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    fn put(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: Arc<StoredMessage>,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        let due = msg.due_millis();
        // The message replaced is dropped after the lock is released.
        let mut replaced = None;
        let saved = self.with(|s| {
            let current = s
                .buckets
                .get(bucket)
                .and_then(|m| m.get(msgid))
                .map(|e| &e.version);
            match (&mode, current) {
                (PutMode::Create, Some(_)) => {
                    return Err(StoreError::AlreadyExists {
                        backend: "memory",
                        bucket: bucket.to_string(),
                        msgid: msgid.to_string(),
                    });
                }
                (PutMode::Update(want), current) if current != Some(want) => {
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
            let v = version(n);
            let entry = Entry {
                version: v.clone(),
                msg,
                due,
            };
            // Keys are cloned only when they are new.
            let messages = match s.buckets.get_mut(bucket) {
                Some(m) => m,
                None => s.buckets.entry(bucket.clone()).or_default(),
            };
            let old_due = match messages.get_mut(msgid) {
                Some(e) => {
                    let old_due = e.due;
                    replaced = Some(std::mem::replace(e, entry));
                    old_due
                }
                None => {
                    messages.insert(msgid.clone(), entry);
                    None
                }
            };
            if old_due != due {
                if let Some(old) = old_due {
                    s.due.remove(&(old, bucket.clone(), msgid.clone()));
                }
                if let Some(new) = due {
                    s.due.insert((new, bucket.clone(), msgid.clone()));
                }
            }
            Ok(v)
        });
        drop(replaced);
        saved
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
        self.put(bucket, msgid, Arc::new(msg.clone()), mode)
    }

    async fn save_shared(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: Arc<StoredMessage>,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.put(bucket, msgid, msg, mode)
    }

    async fn load(&self, bucket: &Bucket, msgid: &MsgId) -> Result<Option<Versioned>, StoreError> {
        // The shared message is copied after the lock is released.
        let found = self.with(|s| {
            s.buckets
                .get(bucket)
                .and_then(|m| m.get(msgid))
                .map(|e| (e.msg.clone(), e.version.clone()))
        });
        Ok(found.map(|(msg, version)| Versioned {
            message: Arc::unwrap_or_clone(msg),
            version,
        }))
    }

    async fn load_shared(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Option<SharedVersioned>, StoreError> {
        Ok(self.with(|s| {
            s.buckets
                .get(bucket)
                .and_then(|m| m.get(msgid))
                .map(|e| SharedVersioned {
                    message: e.msg.clone(),
                    version: e.version.clone(),
                })
        }))
    }

    async fn update_shared(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        current: SharedVersioned,
        edit: Edit<'_>,
    ) -> Result<(Version, Arc<StoredMessage>), StoreError> {
        let SharedVersioned {
            message,
            version: want,
        } = current;
        // The caller's share is let go first, so that the message stored is edited where it
        // lies when nothing else holds it.
        drop(message);
        self.with(|s| {
            let State { buckets, due } = s;
            let entry = buckets.get_mut(bucket).and_then(|m| m.get_mut(msgid));
            let entry = match entry {
                Some(e) if e.version == want => e,
                current => {
                    return Err(StoreError::Precondition {
                        backend: "memory",
                        bucket: bucket.to_string(),
                        msgid: msgid.to_string(),
                        reason: match current {
                            Some(e) => format!("stored version is {}, not {want}", e.version),
                            None => format!("nothing is stored (expected version {want})"),
                        },
                    });
                }
            };
            // Copied only if a reader still holds it; readers keep what they read.
            let msg = Arc::make_mut(&mut entry.msg);
            edit(msg);
            let new_due = msg.due_millis();
            let n = self
                .next_version
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            entry.version = version(n);
            let old_due = std::mem::replace(&mut entry.due, new_due);
            if old_due != new_due {
                if let Some(old) = old_due {
                    due.remove(&(old, bucket.clone(), msgid.clone()));
                }
                if let Some(new) = new_due {
                    due.insert((new, bucket.clone(), msgid.clone()));
                }
            }
            Ok((entry.version.clone(), entry.msg.clone()))
        })
    }

    async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError> {
        let removed = self.with(|s| {
            let messages = s.buckets.get_mut(bucket)?;
            let removed = messages.remove(msgid);
            if messages.is_empty() {
                s.buckets.remove(bucket);
            }
            if let Some(due) = removed.as_ref().and_then(|e| e.due) {
                s.due.remove(&(due, bucket.clone(), msgid.clone()));
            }
            removed
        });
        Ok(removed.is_some())
    }

    fn list<'a>(&'a self, bucket: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>> {
        let ids: Vec<MsgId> = self.with(|s| {
            s.buckets
                .get(bucket)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        });
        stream::iter(ids.into_iter().map(Ok)).boxed()
    }

    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        Ok(self.with(|s| {
            let mut removed = 0u64;
            let State { buckets, due } = s;
            buckets.retain(|bucket, messages| {
                messages.retain(|msgid, e| {
                    if !e.msg.is_expired(now) {
                        return true;
                    }
                    removed += 1;
                    if let Some(at) = e.due {
                        due.remove(&(at, bucket.clone(), msgid.clone()));
                    }
                    false
                });
                !messages.is_empty()
            });
            removed
        }))
    }

    async fn due(&self, now: SystemTime, limit: usize) -> Result<Vec<(Bucket, MsgId)>, StoreError> {
        let now = epoch_millis(now);
        Ok(self.with(|s| {
            s.due
                .iter()
                .take_while(|(at, _, _)| *at <= now)
                .take(limit)
                .map(|(_, b, m)| (b.clone(), m.clone()))
                .collect()
        }))
    }
}
