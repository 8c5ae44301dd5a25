//! Talking to the cluster: which server to ask, requests with failover and retries, and
//! what a reply means when it is not the expected one.

use super::*;

/// What a transport error means for the server, and how to say it.
pub(super) fn describe(e: &reqwest::Error, limit: Duration) -> (FailureKind, String) {
    if e.is_timeout() {
        (
            FailureKind::Timeout,
            format!("timed out after {limit:?}: {e}"),
        )
    } else if e.is_connect() {
        (FailureKind::Connect, format!("cannot connect: {e}"))
    } else {
        (FailureKind::Transport, format!("{e}"))
    }
}

/// Sends `GET /ping` to one server and marks it up (a `200`) or down again (anything else).
/// Returns whether it is up.
pub(super) async fn probe(inner: &Inner, index: usize) -> bool {
    let server = &inner.servers[index];
    let config = &inner.config;
    server.health.count_probe();
    let answer = inner
        .client
        .get(server.url_for("/ping", Query::InTarget))
        .timeout(config.request_timeout)
        .send()
        .await;
    let now = Instant::now();
    match answer {
        Ok(response) if response.status() == StatusCode::OK => {
            if let Some(period) = server.health.mark_up(now) {
                tracing::info!(server = %server.name, down_for = ?period, "riak: /ping answered, server back in rotation");
            }
            true
        }
        other => {
            let why = match other {
                Ok(response) => format!("/ping answered {}", response.status()),
                Err(e) => format!("/ping: {}", describe(&e, config.request_timeout).1),
            };
            server.health.mark_down(
                now,
                config.down_backoff_min,
                config.down_backoff_max,
                why.clone(),
            );
            tracing::debug!(server = %server.name, failure = %why, "riak: server still down");
            false
        }
    }
}

#[derive(Debug)]
pub(super) struct Server {
    /// As configured, for errors and logs.
    pub(super) name: String,
    /// `http://host:port`, parsed once; each request's URL is a copy with its path and query
    /// set, which skips parsing the scheme and host again.
    pub(super) url: url::Url,
    /// `url` with the query of `config.load`, `config.save` and `config.delete` (by [`Verb`]).
    pub(super) with_query: [url::Url; 3],
    pub(super) health: Health,
}

/// A whole response from one server.
pub(super) struct Reply {
    pub(super) server: usize,
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// An earlier attempt of the same call failed in a way that may have reached Riak (a `503`,
    /// a timeout, a broken response): a write it carried may have happened.
    pub(super) after_failure: bool,
}

/// What one operation is about, for errors.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub(super) op: &'static str,
    pub(super) bucket: &'a str,
    pub(super) msgid: &'a str,
}

/// The query of a request.
#[derive(Clone, Copy)]
pub(super) enum Query<'a> {
    /// The target has its query, if any, after a `?`.
    InTarget,
    /// The configured parameters of this kind of request, ready in each server's URLs.
    Configured(Verb),
    /// Parameters given for one call.
    Given(&'a str),
}

impl Server {
    /// The URL of `target` (a path) with `query` on this server.
    pub(super) fn url_for(&self, target: &str, query: Query<'_>) -> url::Url {
        let (path, query) = match query {
            Query::Configured(verb) => {
                // Setting the path keeps the query that is already there.
                let mut url = self.with_query[verb as usize].clone();
                url.set_path(target);
                return url;
            }
            Query::Given(query) => (target, Some(query).filter(|q| !q.is_empty())),
            Query::InTarget => match target.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (target, None),
            },
        };
        let mut url = self.url.clone();
        url.set_path(path);
        url.set_query(query);
        url
    }
}

impl Ctx<'_> {
    pub(super) fn backend(&self, reason: String) -> StoreError {
        StoreError::failed(BACKEND, self.op, self.bucket, self.msgid, reason)
    }

    pub(super) fn unavailable(&self, reason: String) -> StoreError {
        StoreError::unavailable(BACKEND, self.op, self.bucket, self.msgid, reason)
    }

    pub(super) fn corrupt(&self, reason: String) -> StoreError {
        StoreError::corrupt(BACKEND, self.bucket, self.msgid, reason)
    }
}

pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().replace(['\r', '\n'], " ")
}

impl RiakStore {
    pub(super) fn unexpected(&self, reply: &Reply) -> String {
        format!(
            "{}: unexpected {} {}",
            self.inner.servers[reply.server].name,
            reply.status,
            snippet(&reply.body)
        )
    }

    /// The servers to try this round: those up, in random order (the seed's rule); if none is
    /// up, every server, soonest probe first, as a last resort. Starts a `/ping` probe for each
    /// down server whose backoff is over.
    pub(super) fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut up = Vec::with_capacity(self.inner.servers.len());
        let mut down = Vec::new();
        for (index, server) in self.inner.servers.iter().enumerate() {
            match server.health.availability(now) {
                Availability::Up => up.push(index),
                Availability::Down => down.push(index),
                Availability::ProbeDue => {
                    self.spawn_probe(index);
                    down.push(index);
                }
            }
        }
        if up.is_empty() {
            down.sort_by_key(|&i| self.inner.servers[i].health.retry_at());
            return down;
        }
        if up.len() > 1 {
            up.shuffle(&mut rand::rng());
        }
        up
    }

    pub(super) fn spawn_probe(&self, index: usize) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let inner = self.inner.clone();
                runtime.spawn(async move {
                    probe(&inner, index).await;
                });
            }
            // Outside a runtime nothing can run the probe; the next request claims it again.
            Err(_) => self.inner.servers[index].health.release_probe(),
        }
    }

    /// Sends one request, to a random server first and then to the others, until one answers
    /// with something other than a transport failure or a `503`; then, while time is left, up to
    /// [`RiakConfig::retries`] more rounds after a jittered pause.
    pub(super) async fn request(
        &self,
        ctx: Ctx<'_>,
        target: &str,
        query: Query<'_>,
        make: impl Fn(&Client, url::Url) -> RequestBuilder,
    ) -> Result<Reply, StoreError> {
        let config = &self.inner.config;
        let servers = &self.inner.servers;
        let started = Instant::now();
        // `validate` bounds the timeout; the fallback only keeps a hand-made value from panicking.
        let deadline = started
            .checked_add(config.operation_timeout)
            .unwrap_or(started);
        // Each server's distinct failures in this call, first ones first.
        // Allocated on the first failure only: the common call fails nowhere.
        let mut failures: Vec<Vec<String>> = Vec::new();
        let mut attempts = 0u32;
        let mut failed: Option<usize> = None;
        let mut after_failure = false;
        // The last transport error, kept as the source of the error this call returns.
        let mut last_error: Option<reqwest::Error> = None;
        'rounds: for round in 0..=config.retries {
            if round > 0 {
                let pause = jitter(
                    config
                        .retry_backoff
                        .saturating_mul(1 << (round - 1).min(16)),
                );
                if deadline.saturating_duration_since(Instant::now()) <= pause {
                    break;
                }
                // Boxed: a rare path, kept out of every request's future.
                Box::pin(tokio::time::sleep(pause)).await;
            }
            for index in self.order() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break 'rounds;
                }
                let server = &servers[index];
                if let Some(previous) = failed.take() {
                    servers[previous].health.count_failover();
                    tracing::debug!(op = ctx.op, bucket = ctx.bucket, msgid = ctx.msgid, from = %servers[previous].name, to = %server.name, "riak: failing over");
                }
                let limit = left.min(config.request_timeout);
                attempts += 1;
                server.health.count_request();
                let mut request = make(&self.inner.client, server.url_for(target, query));
                // The client's own timeout is `request_timeout`; a request-level one (which
                // costs each request an extensions map) only when less time is left.
                if limit < config.request_timeout {
                    request = request.timeout(limit);
                }
                // Boxed, so that the futures of `save`, `load` and `delete` (boxed by the trait)
                // stay small.
                let (kind, reason) = match Box::pin(self.attempt(index, request, limit)).await {
                    Ok(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => (
                        FailureKind::Unavailable,
                        format!("503 Service Unavailable {}", snippet(&reply.body)),
                    ),
                    Ok(mut reply) => {
                        if let Some(period) = server.health.mark_up(Instant::now()) {
                            tracing::info!(server = %server.name, down_for = ?period, "riak: server answers again, back in rotation");
                        }
                        reply.after_failure = after_failure;
                        return Ok(reply);
                    }
                    Err((kind, reason, error)) => {
                        if error.is_some() {
                            last_error = error;
                        }
                        (kind, reason)
                    }
                };
                // A refused connection carried nothing; anything else may have been served.
                after_failure |= kind != FailureKind::Connect;
                server.health.count_failure();
                tracing::warn!(op = ctx.op, bucket = ctx.bucket, msgid = ctx.msgid, server = %server.name, failure = %reason, "riak: request failed");
                if kind.marks_down() {
                    let now = Instant::now();
                    if server.health.mark_down(
                        now,
                        config.down_backoff_min,
                        config.down_backoff_max,
                        reason.clone(),
                    ) {
                        tracing::warn!(server = %server.name, failure = %reason, "riak: server marked down");
                    }
                }
                if failures.is_empty() {
                    failures.resize(servers.len(), Vec::new());
                }
                let seen = &mut failures[index];
                if seen.len() < MAX_REASONS && !seen.contains(&reason) {
                    seen.push(reason);
                }
                failed = Some(index);
            }
        }
        failures.resize(servers.len(), Vec::new());
        let reasons: Vec<String> = servers
            .iter()
            .zip(&failures)
            .filter_map(|(s, f)| match f.as_slice() {
                [] => s
                    .health
                    .down_reason()
                    .map(|why| format!("{}: marked down, skipped ({why})", s.name)),
                reasons => Some(format!("{}: {}", s.name, reasons.join(", then "))),
            })
            .collect();
        Err(StoreError::Unavailable {
            backend: BACKEND,
            op: ctx.op,
            bucket: ctx.bucket.to_owned(),
            msgid: ctx.msgid.to_owned(),
            reason: format!(
                "no server answered ({attempts} attempts in {:?}): {}",
                started.elapsed(),
                if reasons.is_empty() {
                    "the operation timeout left no time to try".to_owned()
                } else {
                    reasons.join("; ")
                }
            ),
            source: last_error.map(|e| Box::new(e) as crate::BoxError),
        })
    }

    /// Sends one request and reads the whole response. The request's timeout (`limit`) runs
    /// until the body has been read, so a server that stalls mid-body fails the attempt as a
    /// timeout.
    pub(super) async fn attempt(
        &self,
        server: usize,
        request: RequestBuilder,
        limit: Duration,
    ) -> Result<Reply, (FailureKind, String, Option<reqwest::Error>)> {
        let describe = |e: reqwest::Error| {
            let (kind, reason) = describe(&e, limit);
            (kind, reason, Some(e))
        };
        let mut response = request.send().await.map_err(describe)?;
        let max = self.inner.config.max_response_bytes;
        let too_large = |len: u64| {
            (
                FailureKind::Transport,
                format!("response of {len} bytes or more exceeds the {max}-byte limit"),
                None,
            )
        };
        if let Some(len) = response.content_length()
            && len > max as u64
        {
            return Err(too_large(len));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        // A body that arrives in one chunk (the usual case) is kept as it is, without a copy.
        let mut body = Bytes::new();
        let mut joined: Option<BytesMut> = None;
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            let so_far = joined.as_ref().map_or(body.len(), BytesMut::len);
            if so_far + chunk.len() > max {
                return Err(too_large((so_far + chunk.len()) as u64));
            }
            match &mut joined {
                Some(joined) => joined.extend_from_slice(&chunk),
                None if body.is_empty() => body = chunk,
                None => {
                    let mut both = BytesMut::with_capacity(body.len() + chunk.len());
                    both.extend_from_slice(&body);
                    both.extend_from_slice(&chunk);
                    joined = Some(both);
                }
            }
        }
        Ok(Reply {
            server,
            status,
            headers,
            after_failure: false,
            body: joined.map_or(body, BytesMut::freeze),
        })
    }

    pub(super) fn bucket_path(&self, ctx: Ctx<'_>, bucket: &str) -> Result<String, StoreError> {
        let mut path = String::with_capacity(64);
        self.push_bucket_path(&mut path, ctx, bucket)?;
        Ok(path)
    }

    /// `/buckets/{bucket}` or `/types/{type}/buckets/{bucket}`, appended to `path`.
    pub(super) fn push_bucket_path(
        &self,
        path: &mut String,
        ctx: Ctx<'_>,
        bucket: &str,
    ) -> Result<(), StoreError> {
        if bucket == "." || bucket == ".." {
            return Err(ctx.backend(format!(
                "bucket {bucket:?} cannot be addressed over HTTP (a dot segment)"
            )));
        }
        if let Some(t) = &self.inner.config.bucket_type {
            path.push_str("/types/");
            codec::push_segment(path, t.as_bytes());
        }
        path.push_str("/buckets/");
        codec::push_segment(path, bucket.as_bytes());
        Ok(())
    }

    /// The object's path, and the query for `params` on a request of kind `verb` when they are
    /// not the configured ones (whose queries each server's URLs already carry).
    pub(super) fn key_path(
        &self,
        ctx: Ctx<'_>,
        params: &RequestParams,
        verb: Verb,
    ) -> Result<(String, Option<String>), StoreError> {
        let mut path = String::with_capacity(96);
        self.push_bucket_path(&mut path, ctx, ctx.bucket)?;
        path.push_str("/keys/");
        codec::push_segment(&mut path, codec::riak_key(ctx.msgid).as_bytes());
        let config = &self.inner.config;
        let configured = match verb {
            Verb::Get => &config.load,
            Verb::Put => &config.save,
            Verb::Delete => &config.delete,
        };
        let given = (params != configured).then(|| match verb {
            Verb::Put => put_query(params),
            _ => params.query(verb),
        });
        Ok((path, given))
    }
}
