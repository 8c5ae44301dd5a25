//! The secondary indexes: `expires_int` (listing a bucket page by page, and the expiry sweep)
//! and `due_int` (records with a due time), and the buckets those two look in.

use std::collections::BTreeSet;

use super::*;

/// Most bucket names remembered from this client's saves and from Riak's listings; past it new
/// ones are not remembered (a gateway has one bucket per shortcode, far fewer).
const MAX_KNOWN_BUCKETS: usize = 65_536;

/// The buckets [`MessageStore::due`] and [`MessageStore::sweep_expired`] ask besides the
/// configured ones: those this client saved into and those Riak listed (both only with the
/// [`RiakConfig::sweep_bucket_prefix`]).
#[derive(Debug, Default)]
pub(super) struct KnownBuckets {
    /// Buckets this client saved into.
    written: std::sync::RwLock<BTreeSet<String>>,
    /// Buckets Riak listed, and when it was last asked.
    listed: Mutex<(BTreeSet<String>, Option<Instant>)>,
}

impl RiakStore {
    /// One page of a 2i range query on `expires_int`.
    pub(super) async fn index_page(
        &self,
        ctx: Ctx<'_>,
        upper: &str,
        continuation: Option<&str>,
    ) -> Result<codec::IndexPage, StoreError> {
        let max = usize::try_from(self.inner.config.page_size.max(1)).unwrap_or(usize::MAX);
        self.range_page(ctx, EXPIRES_INDEX, upper, max, continuation)
            .await
    }

    /// One page (at most `max` keys) of a 2i range query `0..upper` on `index`.
    async fn range_page(
        &self,
        ctx: Ctx<'_>,
        index: &str,
        upper: &str,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<codec::IndexPage, StoreError> {
        let mut path = format!(
            "{}/index/{index}/0/{upper}?max_results={max}",
            self.bucket_path(ctx, ctx.bucket)?,
        );
        if let Some(c) = continuation {
            path.push_str("&continuation=");
            path.push_str(&codec::encode_segment(c.as_bytes()));
        }
        let reply = self
            .request(ctx, &path, Query::InTarget, |client, url| client.get(url))
            .await?;
        if reply.status != StatusCode::OK {
            let mut reason = self.unexpected(&reply);
            if String::from_utf8_lossy(&reply.body).contains("indexes_not_supported") {
                reason.push_str(
                    " (secondary indexes need the leveldb or leveled backend; with bitcask use its expiry_secs instead)",
                );
            }
            return Err(ctx.backend(reason));
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            ctx.backend(format!(
                "{}: 2i response is not {{\"keys\":[…]}}: {e}",
                self.inner.servers[reply.server].name
            ))
        })
    }

    pub(super) async fn buckets(&self, ctx: Ctx<'_>) -> Result<Vec<String>, StoreError> {
        let path = match &self.inner.config.bucket_type {
            Some(t) => format!(
                "/types/{}/buckets?buckets=true",
                codec::encode_segment(t.as_bytes())
            ),
            None => "/buckets?buckets=true".to_owned(),
        };
        let reply = self
            .request(ctx, &path, Query::InTarget, |client, url| client.get(url))
            .await?;
        if reply.status != StatusCode::OK {
            return Err(ctx.backend(self.unexpected(&reply)));
        }
        let list: codec::BucketList = serde_json::from_slice(&reply.body).map_err(|e| {
            ctx.backend(format!(
                "{}: bucket list is not {{\"buckets\":[…]}}: {e}",
                self.inner.servers[reply.server].name
            ))
        })?;
        Ok(list.buckets)
    }

    /// Deletes one object found by the expiry index if it really expired; `Ok(true)` if it did.
    pub(super) async fn sweep_one(
        &self,
        bucket: &str,
        msgid: &str,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let item = Ctx {
            op: "sweep",
            bucket,
            msgid,
        };
        // The index can be behind a later save; only the object itself decides.
        match self.load_ctx(item, &self.inner.config.load).await {
            Ok(Some(msg)) if msg.is_expired(now) => {
                self.delete_ctx(item, &self.inner.config.delete).await
            }
            Ok(_) => Ok(false),
            Err(e @ StoreError::Corrupt { .. }) => {
                tracing::warn!(error = %e, "riak: sweep skips an object it cannot read");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn sweep_bucket(
        &self,
        bucket: &str,
        now: SystemTime,
    ) -> Result<u64, StoreError> {
        let ctx = Ctx {
            op: "sweep",
            bucket,
            msgid: "",
        };
        let upper = codec::index_secs(now).to_string();
        let mut removed = 0;
        let mut continuation: Option<String> = None;
        loop {
            let page = self
                .index_page(ctx, &upper, continuation.as_deref())
                .await?;
            let outcomes: Vec<Result<bool, StoreError>> =
                stream::iter(page.keys.clone())
                    .map(|key| async move {
                        self.sweep_one(bucket, codec::msgid_of_key(&key), now).await
                    })
                    .buffer_unordered(SWEEP_CONCURRENCY)
                    .collect()
                    .await;
            for outcome in outcomes {
                removed += u64::from(outcome?);
            }
            match page.continuation {
                Some(next) if !page.keys.is_empty() => continuation = Some(next),
                _ => return Ok(removed),
            }
        }
    }

    /// Remembers a bucket this client saves into, for [`MessageStore::due`] and
    /// [`MessageStore::sweep_expired`].
    pub(super) fn saw_bucket(&self, bucket: &Bucket) {
        let name = bucket.as_str();
        if !name.starts_with(self.inner.config.sweep_bucket_prefix.as_str()) {
            return;
        }
        let written = &self.inner.known_buckets.written;
        if written
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
        {
            return;
        }
        let mut written = written.write().unwrap_or_else(|e| e.into_inner());
        if written.len() < MAX_KNOWN_BUCKETS {
            written.insert(name.to_owned());
        }
    }

    /// Whether no bucket is configured, saved into or listed before.
    fn knows_no_bucket(&self) -> bool {
        let known = &self.inner.known_buckets;
        self.inner.config.buckets.is_empty()
            && known
                .written
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            && known
                .listed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .is_empty()
    }

    /// The buckets `due` and `sweep_expired` ask: the configured ones, those this client saved
    /// into, and, where [`RiakConfig::bucket_listing`] allows, those Riak lists (asked again
    /// once the interval has passed since the last listing), in name order.
    pub(super) async fn buckets_to_ask(&self, ctx: Ctx<'_>) -> Result<Vec<String>, StoreError> {
        let config = &self.inner.config;
        let prefix = config.sweep_bucket_prefix.as_str();
        let known = &self.inner.known_buckets;
        if let Some(every) = config.bucket_listing.interval(config) {
            let stale = known
                .listed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .1
                .is_none_or(|at| at.elapsed() >= every);
            if stale {
                match self.buckets(ctx).await {
                    Ok(listed) => {
                        let mut known = known.listed.lock().unwrap_or_else(|e| e.into_inner());
                        for name in listed {
                            if name.starts_with(prefix) && known.0.len() < MAX_KNOWN_BUCKETS {
                                known.0.insert(name);
                            }
                        }
                        known.1 = Some(Instant::now());
                    }
                    // With buckets known otherwise, those are asked and the listing is tried
                    // again next time; with none, there is nothing to ask and the caller learns
                    // why.
                    Err(e) if self.knows_no_bucket() => return Err(e),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "riak: listing the buckets failed; asking the buckets already known"
                    ),
                }
            }
        }
        let mut names: BTreeSet<String> = config.buckets.iter().cloned().collect();
        names.extend(
            known
                .written
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        names.extend(
            known
                .listed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .iter()
                .cloned(),
        );
        Ok(names.into_iter().collect())
    }

    /// [`MessageStore::due`]: a `due_int` range query in every bucket of
    /// [`buckets_to_ask`](Self::buckets_to_ask).
    pub(super) async fn due_keys(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<(Bucket, MsgId)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let ctx = Ctx {
            op: "due",
            bucket: "",
            msgid: "",
        };
        let names = self.buckets_to_ask(ctx).await?;
        let upper = crate::message::epoch_millis(now).to_string();
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            if found.len() >= limit {
                break;
            }
            let Ok(bucket) = Bucket::new(name.clone()) else {
                continue;
            };
            let ctx = Ctx {
                op: "due",
                bucket: &name,
                msgid: "",
            };
            let page = self
                .range_page(ctx, codec::DUE_INDEX, &upper, limit - found.len(), None)
                .await?;
            for key in page.keys {
                // A key with siblings comes once per sibling's term.
                if !seen.insert((name.clone(), key.clone())) {
                    continue;
                }
                match MsgId::new(codec::msgid_of_key(&key)) {
                    Ok(msgid) => found.push((bucket.clone(), msgid)),
                    Err(e) => {
                        tracing::warn!(bucket = %name, %key, error = %e, "riak: due index lists a key that is not a msgid")
                    }
                }
            }
        }
        Ok(found)
    }
}
