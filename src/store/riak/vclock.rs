//! Vclocks: the ones remembered from loads for writes without a version, and the [`Version`]
//! a reply carries.

use super::*;

/// The version of the object a response describes: its `X-Riak-Vclock`, then, if it has one,
/// a space and its `ETag` as sent (quoted).
pub(super) fn version_of(headers: &HeaderMap) -> Version {
    let vclock = headers.header(VCLOCK.as_str()).unwrap_or_default();
    match headers.header("etag") {
        Some(etag) if !etag.is_empty() => Version::new(format!("{vclock} {etag}")),
        _ => Version::new(vclock),
    }
}

/// The vclock of a [`Version`] and, if it has one, its ETag, as header values.
pub(super) fn parse_version(
    ctx: Ctx<'_>,
    version: &Version,
) -> Result<(HeaderValue, Option<HeaderValue>), StoreError> {
    let refuse = || StoreError::Precondition {
        backend: BACKEND,
        bucket: ctx.bucket.to_owned(),
        msgid: ctx.msgid.to_owned(),
        reason: format!("{version:?} is not a version this store gave"),
    };
    let (vclock, etag) = match version.as_str().split_once(' ') {
        Some((_, UNMERGED)) => {
            return Err(StoreError::Precondition {
                backend: BACKEND,
                bucket: ctx.bucket.to_owned(),
                msgid: ctx.msgid.to_owned(),
                reason: "the version was saved beside concurrent siblings; load to merge them"
                    .to_owned(),
            });
        }
        Some((vclock, etag)) => (vclock, Some(etag)),
        None => (version.as_str(), None),
    };
    if vclock.is_empty() {
        return Err(refuse());
    }
    let vclock = HeaderValue::from_str(vclock).map_err(|_| refuse())?;
    let etag = etag
        .map(|e| HeaderValue::from_str(e).map_err(|_| refuse()))
        .transpose()?;
    Ok((vclock, etag))
}

/// Remembered vclocks by a hash of (bucket, msgid); each entry keeps its bucket and msgid, so
/// a colliding msgid never gets another's vclock.
pub(super) type VclockShard = HashMap<u64, Remembered, BuildHasherDefault<Prehashed>>;

#[derive(Debug)]
pub(super) struct Remembered {
    /// The bucket followed by the msgid (one allocation).
    pub(super) key: Box<str>,
    pub(super) bucket_len: usize,
    pub(super) vclock: HeaderValue,
}

impl Remembered {
    pub(super) fn is_for(&self, ctx: Ctx<'_>) -> bool {
        self.bucket_len == ctx.bucket.len()
            && self.key.len() == ctx.bucket.len() + ctx.msgid.len()
            && self.key.starts_with(ctx.bucket)
            && self.key.ends_with(ctx.msgid)
    }
}

/// A `Hasher` for keys that already are hashes.
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl RiakStore {
    /// The hash of (bucket, msgid) and the locked shard that holds its vclock.
    pub(super) fn vclock_shard(
        &self,
        ctx: Ctx<'_>,
    ) -> (u64, std::sync::MutexGuard<'_, VclockShard>) {
        // FNV-1a: a colliding msgid only loses its remembered vclock (see `Remembered`), so a
        // fast hash is enough.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in ctx
            .bucket
            .as_bytes()
            .iter()
            .chain(&[0xff])
            .chain(ctx.msgid.as_bytes())
        {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // FNV's low bits mix least; fold the high half in before taking them.
        hash ^= hash >> 32;
        let shards = &self.inner.vclocks;
        let index = (hash % shards.len() as u64) as usize;
        // A map entry is a single insert or remove, so a poisoned lock is still consistent.
        (
            hash,
            shards[index].lock().unwrap_or_else(|e| e.into_inner()),
        )
    }

    pub(super) fn remember_vclock(&self, ctx: Ctx<'_>, headers: &HeaderMap) {
        let Some(vclock) = headers.get(VCLOCK) else {
            return;
        };
        let mut key = String::with_capacity(ctx.bucket.len() + ctx.msgid.len());
        key.push_str(ctx.bucket);
        key.push_str(ctx.msgid);
        let remembered = Remembered {
            key: key.into_boxed_str(),
            bucket_len: ctx.bucket.len(),
            vclock: vclock.clone(),
        };
        let (hash, mut shard) = self.vclock_shard(ctx);
        if shard.len() >= MAX_VCLOCKS / VCLOCK_SHARDS {
            shard.clear();
        }
        // A colliding msgid's vclock is replaced: it only costs that msgid a sibling.
        shard.insert(hash, remembered);
    }

    pub(super) fn take_vclock(&self, ctx: Ctx<'_>) -> Option<HeaderValue> {
        let (hash, mut shard) = self.vclock_shard(ctx);
        match shard.get(&hash) {
            Some(r) if r.is_for(ctx) => shard.remove(&hash).map(|r| r.vclock),
            _ => None,
        }
    }

    /// A save stamp later than every earlier one from this store.
    pub(super) fn stamp(&self) -> u64 {
        let now = codec::nanos_since_epoch(SystemTime::now());
        let mut last = self.inner.last_stamp.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self.inner.last_stamp.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}
