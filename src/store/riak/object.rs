//! One object: conditional writes, loads that merge siblings, deletes (on ordinary and
//! strongly consistent bucket types).

use super::*;

/// The query of a PUT: `params`, and `returnbody=true`, so the answer carries the new vclock
/// (or, when concurrent writes left siblings, all of them).
pub(super) fn put_query(params: &RequestParams) -> String {
    let mut query = params.query(Verb::Put);
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str("returnbody=true");
    query
}

/// What a PUT asks Riak to check before it writes.
#[derive(Clone, Copy)]
pub(super) enum Condition<'a> {
    /// Nothing.
    None,
    /// `If-None-Match: *`: only if no live object is stored.
    Absent,
    /// `If-Match: <etag>`: only if the object still has this ETag.
    Matches(&'a HeaderValue),
}

impl RiakStore {
    /// The version a save's answer gives, or the error it means.
    pub(super) async fn saved(
        &self,
        ctx: Ctx<'_>,
        reply: Reply,
        mode: &PutMode,
    ) -> Result<Version, StoreError> {
        let server = &self.inner.servers[reply.server].name;
        match reply.status {
            StatusCode::OK | StatusCode::NO_CONTENT if reply.headers.contains_key(VCLOCK) => {
                self.remember_vclock(ctx, &reply.headers);
                Ok(version_of(&reply.headers))
            }
            // Written, but the answer did not say the new vclock (a proxy, or a server that
            // ignored returnbody): read it.
            StatusCode::OK | StatusCode::NO_CONTENT => {
                tracing::debug!(
                    bucket = ctx.bucket,
                    msgid = ctx.msgid,
                    server = %server,
                    "riak: a save's answer has no X-Riak-Vclock; reading it"
                );
                match self.current_vclock(ctx).await? {
                    Some((vclock, etag)) => {
                        let mut headers = HeaderMap::with_capacity(2);
                        headers.insert(VCLOCK, vclock);
                        if let Some(etag) = etag {
                            headers.insert(ETAG, etag);
                        }
                        self.remember_vclock(ctx, &headers);
                        Ok(version_of(&headers))
                    }
                    None => Err(ctx.backend(format!(
                        "{server}: the save was acknowledged but the message is not there"
                    ))),
                }
            }
            // Concurrent writes left siblings beside this one (an ordinary allow_mult type).
            // The save is stored, beside concurrent writes (an ordinary allow_mult type). The
            // caller holds only its own message, so an update from this version must not
            // replace the others: it is marked, and an update from it is refused until a load
            // has merged them. Not remembered for the same reason.
            StatusCode::MULTIPLE_CHOICES => {
                let vclock = reply.headers.header(VCLOCK.as_str()).ok_or_else(|| {
                    ctx.backend(format!(
                        "{server}: 300 Multiple Choices without X-Riak-Vclock"
                    ))
                })?;
                tracing::debug!(
                    bucket = ctx.bucket,
                    msgid = ctx.msgid,
                    "riak: saved beside concurrent siblings"
                );
                Ok(Version::new(format!("{vclock} {UNMERGED}")))
            }
            StatusCode::PRECONDITION_FAILED if reply.after_failure => {
                Err(StoreError::Unavailable {
                    backend: BACKEND,
                    op: ctx.op,
                    bucket: ctx.bucket.to_owned(),
                    msgid: ctx.msgid.to_owned(),
                    reason: format!(
                        "{server}: 412 Precondition Failed after an earlier attempt that may have written; whether this save won cannot be told"
                    ),
                })
            }
            StatusCode::PRECONDITION_FAILED => Err(match mode {
                PutMode::Create => StoreError::AlreadyExists {
                    backend: BACKEND,
                    bucket: ctx.bucket.to_owned(),
                    msgid: ctx.msgid.to_owned(),
                },
                _ => StoreError::Precondition {
                    backend: BACKEND,
                    bucket: ctx.bucket.to_owned(),
                    msgid: ctx.msgid.to_owned(),
                    reason: format!("{server}: 412 {}", snippet(&reply.body)),
                },
            }),
            _ => Err(ctx.backend(self.unexpected(&reply))),
        }
    }

    /// [`PutMode::Overwrite`] on a strongly consistent type, where Riak refuses a write that
    /// does not name the current vclock: writes with the vclock it knows, and on a `412` reads
    /// the current one and writes again.
    pub(super) async fn overwrite_consistent(
        &self,
        ctx: Ctx<'_>,
        encoded: &codec::Encoded,
        params: &RequestParams,
    ) -> Result<Version, StoreError> {
        let mut vclock = self.take_vclock(ctx);
        for _ in 0..MAX_ROUNDS {
            let reply = self
                .put(ctx, encoded, vclock.as_ref(), Condition::None, params)
                .await?;
            if reply.status != StatusCode::PRECONDITION_FAILED {
                return self.saved(ctx, reply, &PutMode::Overwrite).await;
            }
            vclock = self.current_vclock(ctx).await?.map(|(vclock, _)| vclock);
        }
        Err(StoreError::Unavailable {
            backend: BACKEND,
            op: ctx.op,
            bucket: ctx.bucket.to_owned(),
            msgid: ctx.msgid.to_owned(),
            reason: format!(
                "{MAX_ROUNDS} writes in a row were refused (412): other writers keep changing it"
            ),
        })
    }

    /// The vclock and ETag of what is stored now (`None` if nothing is), by a `GET`.
    pub(super) async fn current_vclock(
        &self,
        ctx: Ctx<'_>,
    ) -> Result<Option<(HeaderValue, Option<HeaderValue>)>, StoreError> {
        let (path, _) = self.key_path(ctx, &self.inner.config.load, Verb::Get)?;
        let reply = self
            .request(ctx, &path, Query::Configured(Verb::Get), |client, url| {
                client.get(url).header(ACCEPT, LOAD_ACCEPT)
            })
            .await?;
        match reply.status {
            StatusCode::OK | StatusCode::MULTIPLE_CHOICES => {
                let vclock = reply.headers.get(VCLOCK).cloned().ok_or_else(|| {
                    ctx.backend(format!(
                        "{}: {} without X-Riak-Vclock",
                        self.inner.servers[reply.server].name, reply.status
                    ))
                })?;
                Ok(Some((vclock, reply.headers.get(ETAG).cloned())))
            }
            StatusCode::NOT_FOUND if reply.body.starts_with(b"not found") => Ok(None),
            _ => Err(ctx.backend(self.unexpected(&reply))),
        }
    }

    pub(super) async fn consistent(&self, ctx: Ctx<'_>) -> Result<bool, StoreError> {
        let config = &self.inner.config;
        if let Some(consistent) = config.consistent {
            return Ok(consistent);
        }
        let Some(bucket_type) = &config.bucket_type else {
            return Ok(false);
        };
        if let Some(known) = self.inner.consistent.get() {
            return Ok(*known);
        }
        let path = format!(
            "/types/{}/props",
            codec::encode_segment(bucket_type.as_bytes())
        );
        let reply = self
            .request(ctx, &path, Query::InTarget, |client, url| client.get(url))
            .await?;
        let server = &self.inner.servers[reply.server].name;
        if reply.status != StatusCode::OK {
            return Err(ctx.backend(format!(
                "cannot read the properties of bucket type {bucket_type:?}: {}",
                self.unexpected(&reply)
            )));
        }
        let props: codec::TypeProps = serde_json::from_slice(&reply.body).map_err(|e| {
            ctx.backend(format!(
                "{server}: properties of bucket type {bucket_type:?} are not {{\"props\":{{…}}}}: {e}"
            ))
        })?;
        let consistent = props.props.consistent.unwrap_or(false);
        let _ = self.inner.consistent.set(consistent);
        Ok(consistent)
    }

    pub(super) async fn put(
        &self,
        ctx: Ctx<'_>,
        encoded: &codec::Encoded,
        vclock: Option<&HeaderValue>,
        condition: Condition<'_>,
        params: &RequestParams,
    ) -> Result<Reply, StoreError> {
        let (path, given) = self.key_path(ctx, params, Verb::Put)?;
        let query = given
            .as_deref()
            .map_or(Query::Configured(Verb::Put), Query::Given);
        let reply = self
            .request(ctx, &path, query, |client, url| {
                // The encoded map has room for these, so the request's headers are one copy of
                // it (a builder's `.headers()` would insert them one by one).
                let mut headers = encoded.headers.clone();
                headers.insert(CONTENT_TYPE, encoded.content_type.clone());
                // returnbody: siblings as multipart, the object itself as whatever it is.
                headers.insert(ACCEPT, HeaderValue::from_static(LOAD_ACCEPT));
                if let Some(vclock) = vclock {
                    headers.insert(VCLOCK, vclock.clone());
                }
                match condition {
                    Condition::None => {}
                    Condition::Absent => {
                        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
                    }
                    Condition::Matches(etag) => {
                        headers.insert(IF_MATCH, etag.clone());
                    }
                }
                let mut request = reqwest::Request::new(Method::PUT, url);
                *request.headers_mut() = headers;
                *request.body_mut() = Some(encoded.body.clone().into());
                RequestBuilder::from_parts(client.clone(), request)
            })
            .await?;
        Ok(reply)
    }

    pub(super) async fn load_ctx(
        &self,
        ctx: Ctx<'_>,
        params: &RequestParams,
    ) -> Result<Option<Versioned>, StoreError> {
        let (path, given) = self.key_path(ctx, params, Verb::Get)?;
        let query = given
            .as_deref()
            .map_or(Query::Configured(Verb::Get), Query::Given);
        let reply = self
            .request(ctx, &path, query, |client, url| {
                client.get(url).header(ACCEPT, LOAD_ACCEPT)
            })
            .await?;
        match reply.status {
            StatusCode::OK => {
                self.remember_vclock(ctx, &reply.headers);
                let version = version_of(&reply.headers);
                codec::decode(&reply.headers, reply.body)
                    .map(|(message, _)| Some(Versioned { message, version }))
                    .map_err(|e| ctx.corrupt(e))
            }
            // Riak's own "not found"; with the default parameters every replica reached said
            // so. Any other 404 (an unknown bucket type, a proxy) is no proof of absence.
            StatusCode::NOT_FOUND if reply.body.starts_with(b"not found") => {
                // A fresh tombstone comes with its vclock; saving with it replaces the tombstone
                // instead of leaving it beside the new value as a sibling.
                self.remember_vclock(ctx, &reply.headers);
                Ok(None)
            }
            // Boxed: siblings are rare, and the write-back would triple every load's future.
            StatusCode::MULTIPLE_CHOICES => Box::pin(self.settle(ctx, reply)).await,
            _ => Err(ctx.backend(self.unexpected(&reply))),
        }
    }

    /// Merges every live sibling of a `300 Multiple Choices` with [`StoredMessage::merge`] and
    /// writes the merge back once, with the 300's vclock. Returns the merge with the version of
    /// the write-back. If the write-back itself finds new siblings (another writer, or another
    /// reader writing back its own merge), their merge is returned with the version of that
    /// answer, without writing again (readers writing back in turn would chase each other);
    /// if the write-back fails, the version is the 300's. Either version covers exactly the
    /// siblings merged, so an `Update` from it loses none. `None` if every sibling is a
    /// tombstone.
    pub(super) async fn settle(
        &self,
        ctx: Ctx<'_>,
        reply: Reply,
    ) -> Result<Option<Versioned>, StoreError> {
        let Some((merged, vclock)) = self.merge_siblings(ctx, &reply)? else {
            return Ok(None);
        };
        let fallback = |merged: StoredMessage, why: String| {
            tracing::warn!(bucket = ctx.bucket, msgid = ctx.msgid, failure = %why, "riak: writing back the merged siblings failed");
            Ok(Some(Versioned {
                message: merged,
                version: version_of(&reply.headers),
            }))
        };
        let encoded = match codec::encode(&merged, self.stamp()) {
            Ok(encoded) => encoded,
            Err(e) => return fallback(merged, format!("the merge cannot be encoded: {e}")),
        };
        let write_back = Ctx { op: "save", ..ctx };
        let answer = self
            .put(
                write_back,
                &encoded,
                Some(&vclock),
                Condition::None,
                &self.inner.config.save,
            )
            .await;
        match answer {
            Ok(back) if back.status.is_success() => {
                self.remember_vclock(ctx, &back.headers);
                let version = if back.headers.contains_key(VCLOCK) {
                    version_of(&back.headers)
                } else {
                    version_of(&reply.headers)
                };
                Ok(Some(Versioned {
                    message: merged,
                    version,
                }))
            }
            Ok(back) if back.status == StatusCode::MULTIPLE_CHOICES => Ok(self
                .merge_siblings(ctx, &back)?
                .map(|(message, _)| Versioned {
                    message,
                    version: version_of(&back.headers),
                })),
            Ok(back) => fallback(merged, self.unexpected(&back)),
            Err(e) => fallback(merged, e.to_string()),
        }
    }

    /// The merge of every live sibling of a `300 Multiple Choices`, and its vclock; `None` if
    /// every sibling is a tombstone.
    pub(super) fn merge_siblings(
        &self,
        ctx: Ctx<'_>,
        reply: &Reply,
    ) -> Result<Option<(StoredMessage, HeaderValue)>, StoreError> {
        let server = &self.inner.servers[reply.server].name;
        let vclock = reply.headers.get(VCLOCK).cloned().ok_or_else(|| {
            ctx.backend(format!(
                "{server}: 300 Multiple Choices without X-Riak-Vclock"
            ))
        })?;
        let content_type = reply.headers.header("content-type").unwrap_or("");
        let boundary = codec::boundary(content_type).ok_or_else(|| {
            ctx.backend(format!(
                "{server}: 300 Multiple Choices is {content_type:?}, not multipart/mixed"
            ))
        })?;
        let parts = codec::parse_multipart(&reply.body, boundary)
            .map_err(|e| ctx.backend(format!("{server}: siblings: {e}")))?;
        let mut undecodable = Vec::new();
        let mut merged: Option<StoredMessage> = None;
        for part in parts.iter().filter(|p| !p.is_tombstone()) {
            match codec::decode(part.headers.as_slice(), part.body.clone()) {
                Ok((msg, _)) => {
                    merged = Some(match merged {
                        Some(so_far) => so_far.merge(msg),
                        None => msg,
                    });
                }
                Err(e) => undecodable.push(format!("sibling {}: {e}", part.vtag())),
            }
        }
        if !undecodable.is_empty() {
            tracing::warn!(bucket = ctx.bucket, msgid = ctx.msgid, problems = ?undecodable, "riak: siblings that do not decode are dropped");
        }
        match merged {
            Some(merged) => {
                tracing::debug!(
                    bucket = ctx.bucket,
                    msgid = ctx.msgid,
                    siblings = parts.len(),
                    "riak: merged siblings"
                );
                Ok(Some((merged, vclock)))
            }
            None if undecodable.is_empty() => Ok(None),
            None => Err(ctx.corrupt(undecodable.join("; "))),
        }
    }

    pub(super) async fn delete_ctx(
        &self,
        ctx: Ctx<'_>,
        params: &RequestParams,
    ) -> Result<bool, StoreError> {
        if self.consistent(ctx).await? {
            return self.delete_consistent(ctx, params).await;
        }
        let vclock = self.take_vclock(ctx);
        let reply = self.send_delete(ctx, params, vclock.as_ref()).await?;
        match reply.status {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(ctx.backend(self.unexpected(&reply))),
        }
    }

    /// A delete on a strongly consistent type, where Riak answers `204` whether or not the key
    /// exists: reads the current vclock, then deletes exactly that version (`412`: it changed
    /// meanwhile, read again).
    pub(super) async fn delete_consistent(
        &self,
        ctx: Ctx<'_>,
        params: &RequestParams,
    ) -> Result<bool, StoreError> {
        self.take_vclock(ctx);
        for _ in 0..MAX_ROUNDS {
            let Some((vclock, _)) = self.current_vclock(ctx).await? else {
                return Ok(false);
            };
            let reply = self.send_delete(ctx, params, Some(&vclock)).await?;
            match reply.status {
                StatusCode::NO_CONTENT | StatusCode::OK => return Ok(true),
                StatusCode::NOT_FOUND => return Ok(false),
                StatusCode::PRECONDITION_FAILED => {}
                _ => return Err(ctx.backend(self.unexpected(&reply))),
            }
        }
        Err(StoreError::Unavailable {
            backend: BACKEND,
            op: ctx.op,
            bucket: ctx.bucket.to_owned(),
            msgid: ctx.msgid.to_owned(),
            reason: format!(
                "{MAX_ROUNDS} deletes in a row were refused (412): other writers keep changing it"
            ),
        })
    }

    pub(super) async fn send_delete(
        &self,
        ctx: Ctx<'_>,
        params: &RequestParams,
        vclock: Option<&HeaderValue>,
    ) -> Result<Reply, StoreError> {
        let (path, given) = self.key_path(ctx, params, Verb::Delete)?;
        let query = given
            .as_deref()
            .map_or(Query::Configured(Verb::Delete), Query::Given);
        self.request(ctx, &path, query, |client, url| {
            let request = client.delete(url);
            match vclock {
                Some(v) => request.header(VCLOCK, v.clone()),
                None => request,
            }
        })
        .await
    }
}
