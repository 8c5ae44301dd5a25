//! The secondary indexes: `expires_int` (listing a bucket page by page, and the expiry sweep)
//! and `due_int` (records with a due time).

use super::*;

/// How long a listing of the buckets serves [`MessageStore::due`] before Riak is asked again.
const DUE_BUCKETS_REFRESH: Duration = Duration::from_secs(60);

/// The buckets [`MessageStore::due`] asks.
#[derive(Debug, Default)]
pub(super) struct DueBuckets {
    names: std::collections::BTreeSet<String>,
    listed_at: Option<Instant>,
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

    /// Remembers a bucket this client saved a due record into, for [`MessageStore::due`].
    pub(super) fn saw_due_bucket(&self, bucket: &Bucket) {
        let mut known = self
            .inner
            .due_buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !known.names.contains(bucket.as_str()) {
            known.names.insert(bucket.as_str().to_owned());
        }
    }

    /// [`MessageStore::due`]: a `due_int` range query in every bucket of the mstore prefix.
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
        let stale = {
            let known = self
                .inner
                .due_buckets
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            known
                .listed_at
                .is_none_or(|at| at.elapsed() >= DUE_BUCKETS_REFRESH)
        };
        if stale {
            let listed = self.buckets(ctx).await?;
            let mut known = self
                .inner
                .due_buckets
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            known.names.extend(listed);
            known.listed_at = Some(Instant::now());
        }
        let prefix = &self.inner.config.sweep_bucket_prefix;
        let names: Vec<String> = {
            let known = self
                .inner
                .due_buckets
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            known
                .names
                .iter()
                .filter(|b| b.starts_with(prefix.as_str()))
                .cloned()
                .collect()
        };
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
