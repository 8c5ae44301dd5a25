//! The `expires_int` secondary index: listing a bucket page by page, and the expiry sweep.

use super::*;

impl RiakStore {
    /// One page of a 2i range query on `expires_int`.
    pub(super) async fn index_page(
        &self,
        ctx: Ctx<'_>,
        upper: &str,
        continuation: Option<&str>,
    ) -> Result<codec::IndexPage, StoreError> {
        let mut path = format!(
            "{}/index/{EXPIRES_INDEX}/0/{upper}?max_results={}",
            self.bucket_path(ctx, ctx.bucket)?,
            self.inner.config.page_size.max(1)
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
}
