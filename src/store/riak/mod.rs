//! The Riak KV HTTP store (feature `riak`), the seed's default message store.
//!
//! Implements the storage side of Momentum's mstore module
//! (`seeds/momentum-mstore-retrying-messages.md`, "The mstore Module" and "Message Retention")
//! over Riak KV's HTTP API:
//!
//! * `PUT`/`GET`/`DELETE /buckets/{bucket}/keys/{key}` (or `/types/{type}/buckets/…` with a
//!   bucket type), bucket and key percent-encoded (`+` as `%2B`, `/` as `%2F`). The msgids `.`
//!   and `..`, which URL-normalising clients cannot put in a path, are stored as the keys `\0.`
//!   and `\0..`.
//! * The body is the object's value with its real Content-Type; every other part of the
//!   message is an `X-Riak-Meta-*` header, so
//!   `curl -i http://127.0.0.1:8098/buckets/MADR-12345/keys/<msgid>` shows the whole message:
//!
//!   | header | content |
//!   | --- | --- |
//!   | `X-Riak-Meta-Redeliver` | format version, `1` (objects without it were not written by this crate) |
//!   | `X-Riak-Meta-Channel` | `smpp` or `mm7` |
//!   | `X-Riak-Meta-Mailfrom`, `X-Riak-Meta-Rcptto` | the envelope |
//!   | `X-Riak-Meta-Content-Type` | the full content type (Riak keeps only the media type and `charset` of the Content-Type header, which would lose an MM7 `boundary`) |
//!   | `X-Riak-Meta-Submitted-At`, `X-Riak-Meta-Expires-At` | `<seconds>.<nanoseconds>` since the Unix epoch |
//!   | `X-Riak-Meta-Saved-At` | nanoseconds since the epoch when it was saved (for people reading the object; siblings are merged, not picked by it) |
//!   | `X-Riak-Meta-Metadata`, `X-Riak-Meta-Resource`, `X-Riak-Meta-History` | JSON; values over 4000 bytes continue in `…-2`, `…-3` headers (at most 64) |
//!   | `x-riak-index-expires_int` | `expires_at` in whole seconds, for listing and `sweep_expired` |
//!
//!   Header values are percent-encoded where a header could not carry them as they are
//!   (controls, spaces, `%`, non-ASCII).
//! * **Versions.** A [`Version`] is the object's `X-Riak-Vclock`, followed by a space and its
//!   `ETag` when the answer had one. [`load`](MessageStore::load) returns the vclock it read;
//!   [`save`](MessageStore::save) sends `returnbody=true` and returns the vclock Riak answers
//!   with, so a later [`PutMode::Update`] descends from exactly what was written. (Returning the
//!   body costs the echoed object on every save: in the in-tree bench a save+load+delete round
//!   trip of a 1 KiB message took 9–22% longer than without it; a `GET` after the save would
//!   cost a whole round trip.) The
//!   vclock a store instance last saw for a msgid is also sent with its next
//!   [`PutMode::Overwrite`] and [`delete`](MessageStore::delete), so one writer's updates
//!   replace each other instead of piling up as siblings.
//! * **Siblings** (`allow_mult = true`, the default of new bucket types) are never an error: a
//!   `300 Multiple Choices` to a `GET` is taken as `multipart/mixed` in the same request,
//!   **every** live sibling is merged with [`StoredMessage::merge`] (part states, metadata,
//!   history and parked receipts by union; a final state negative over positive; the rest by
//!   the fixed order `merge` documents), and the merge is written back once with the 300's
//!   vclock. `load` returns the merge with the version of that write-back, so an `Update` from
//!   it replaces the siblings it merged. If the write-back meets yet newer siblings, their
//!   merge is returned with that answer's version, without writing again (concurrent readers
//!   writing back in turn would chase each other); if it fails, the version is the 300's.
//!   Either way the version covers exactly the merged siblings. Tombstones and siblings that do
//!   not decode are left out (the latter with a `warn` event); if every sibling is a tombstone
//!   the message is absent. A save whose `returnbody` answers `300` is stored beside the
//!   siblings; its version is marked, and an `Update` from it is refused
//!   ([`StoreError::Precondition`]) until a load has merged them.
//!
//! # What holds in which mode
//!
//! Riak gives three different guarantees, by the bucket type the store is configured with
//! ([`RiakConfig::bucket_type`]). Measured on Riak KV 3.2.2 (3 nodes, `n_val` 3): 8 writers
//! creating one key at once with `If-None-Match: *`.
//!
//! | bucket type | `Create` / `Update` | concurrent writers | measured |
//! | --- | --- | --- | --- |
//! | **strongly consistent** (`riak admin bucket-type create T '{"props":{"consistent":true}}'`, needs `strong_consistency = on`) | **atomic**: of N concurrent `Create`s of a key exactly one succeeds, of N `Update`s from one version exactly one; the others get [`StoreError::AlreadyExists`] / [`StoreError::Precondition`] | one wins, the rest are told so: **a claim is won exactly once across nodes** | 1 winner on 100 of 100 keys; 8 updates with one vclock: 1 winner on 40 of 40 |
//! | ordinary type with `allow_mult = true` (any new type, `'{"props":{}}'`) | best effort: `Create` sends `If-None-Match: *` and `Update` the vclock and `If-Match: <etag>`, but Riak checks them by a read before the write, so concurrent writers can all pass | their writes become **siblings and are merged**: nothing is lost, but **a claim can be won twice** | 4.6–7.4 "winners" per key; every key ended with 2–8 siblings, none lost |
//! | the default type (`allow_mult = false`) | as above, best effort | **the last write wins silently**: acknowledged writes are lost. Not recommended for anything written by more than one node | 955 acknowledged writes overwritten |
//!
//! So a claim that must happen once (a hook that runs once per final state) needs the
//! consistent type; state that several nodes may write at once (part states, history, parked
//! receipts) is safe on an `allow_mult` type, where it merges.
//!
//! On a consistent type Riak refuses a `PUT` without a vclock to an existing key (`412`), so
//! [`PutMode::Overwrite`] reads the current vclock and writes again when that happens; it answers
//! `204` to every `DELETE`, existing key or not, so [`delete`](MessageStore::delete) reads the
//! vclock first and deletes exactly that version (and returns `false` if there was none). A
//! consistent type's `PUT` costs about twice a default one (3.2–3.8 ms against 1.5–1.7 ms through
//! one node). With a node down, the keys whose ensemble lost its quorum answer `503` until it
//! is back (about half the keys with one node of three down; some only after Riak's 60 s
//! default timeout, which is why every request carries [`RequestParams::timeout`]). A `503` is
//! always a retryable [`StoreError::Unavailable`], never "not claimed" or "not found"; and a
//! `412` that follows an attempt of the same call that may have written (a `503` or a timeout
//! before a failover) is an `Unavailable` too, since nobody can tell whether that attempt won.
//! Whether the type is consistent is [`RiakConfig::consistent`], or read once from
//! `GET /types/{type}/props` ([`RiakStore::is_consistent`]).
//! * **Retention**: every object carries the secondary index `expires_int` (its `expires_at` in
//!   whole seconds). [`sweep_expired`](MessageStore::sweep_expired) lists the buckets whose name
//!   starts with [`RiakConfig::sweep_bucket_prefix`], runs a 2i range query `0..now` in each,
//!   re-reads each hit and deletes it if it really expired. [`list`](MessageStore::list) is a 2i
//!   range query too (Riak's key listing walks every key in the cluster and shows tombstones).
//!   **Secondary indexes need the leveldb or leveled backend** (or `multi` with one of them);
//!   with bitcask, 2i queries fail and listing and sweeping return an error. With bitcask, set
//!   `expiry_secs` on the backend to let Riak forget old objects itself, at
//!   [`DEFAULT_RETENTION`](crate::message::DEFAULT_RETENTION) (14 days, what Momentum configures
//!   for mstore) or more.
//! * **Servers**: with several in [`RiakConfig::servers`], each request goes to one picked at
//!   random (the seed's rule) and, on a connect error, a timeout, a transport error or a `503`,
//!   to the others in turn within the same call; when every server failed, up to
//!   [`RiakConfig::retries`] more rounds follow after a jittered, doubling pause. One operation
//!   never takes longer than [`RiakConfig::operation_timeout`]. Connections are pooled per
//!   server.
//! * **Node health**: a server that refuses a connection or times out is marked down and
//!   skipped for a backoff ([`RiakConfig::down_backoff_min`], doubling up to
//!   [`RiakConfig::down_backoff_max`]); when it ends, the next request sends it a `GET /ping`
//!   in the background and it is back in rotation once that answers `200`
//!   ([`RiakStore::probe_down_servers`] does it on demand). If every server is down, all are
//!   tried anyway. A `503` does not mark a server down: the node is up, the cluster could not
//!   serve that request. [`RiakStore::metrics`] gives per-server counters
//!   ([`ServerMetrics`]); `tracing` events report failures (`warn`), failovers (`debug`),
//!   servers marked down (`warn`) and back (`info`).
//! * **Quorums** ([`RequestParams`], per operation in [`RiakConfig::load`], [`RiakConfig::save`],
//!   [`RiakConfig::delete`], or per call with [`RiakStore::load_with`] and friends): by default
//!   reads use `r=one`, `notfound_ok=false`, `basic_quorum=false`, so a message one reachable
//!   replica holds is never reported missing while the node holding the others is down (with
//!   Riak's own defaults it can be). A `load` returns `Ok(None)` only for Riak's own `404 not
//!   found`; a `503` (quorum not met, Riak's timeout), a timeout or no server answering is a
//!   retryable [`StoreError::Unavailable`].
//!
//! Errors name the server: a request that no server could answer is a retryable
//! [`StoreError::Unavailable`] listing what each server did; a refusal (`4xx`, `500`) is a
//! [`StoreError::Backend`]; an object this crate did not write, or cannot decode, is a
//! [`StoreError::Corrupt`] for that msgid only.

mod codec;
mod config;
mod health;
mod params;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use rand::seq::SliceRandom;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_MATCH, IF_NONE_MATCH,
};
use reqwest::{Client, Method, RequestBuilder, StatusCode};

pub use config::{RiakConfig, RiakConfigError};
pub use health::ServerMetrics;
pub use params::{Quorum, RequestParams};

use super::{MessageStore, PutMode, StoreError, Version, Versioned};
use crate::message::{Bucket, MsgId, StoredMessage};
use codec::{EXPIRES_INDEX, HeaderLookup};
use health::{Availability, FailureKind, Health, jitter};
use params::Verb;

const BACKEND: &str = "riak";
const VCLOCK: HeaderName = HeaderName::from_static("x-riak-vclock");
/// Asks for siblings as multipart in the same request; a single object still matches `*/*`.
const LOAD_ACCEPT: &str = "multipart/mixed, */*;q=0.5";
/// Most remembered vclocks; past it the memory is cleared (a missing vclock only costs a
/// sibling, resolved on the next read).
const MAX_VCLOCKS: usize = 16 * 1024;
/// Most msgids a listing remembers to drop repeats.
const MAX_SEEN: usize = 1_000_000;
/// Objects checked and deleted at once by `sweep_expired`.
const SWEEP_CONCURRENCY: usize = 16;
/// Distinct failures of one server kept for the error of one operation.
const MAX_REASONS: usize = 3;
/// Locks the remembered vclocks are spread over.
const VCLOCK_SHARDS: usize = 16;
/// Upper end of the listing range query: every expiry.
const MAX_TERM: &str = "9223372036854775807";
/// Most rounds of one operation that Riak sends back to read again: sibling merges written back
/// while yet more siblings arrive, consistent overwrites and deletes refused because the object
/// changed meanwhile.
const MAX_ROUNDS: usize = 32;
/// In place of an ETag, marks the version of a save that Riak stored beside concurrent
/// siblings; an `Update` from it is refused (the caller must load, which merges them).
const UNMERGED: &str = "unmerged";

/// The Riak KV HTTP [`MessageStore`]; see the [module docs](self) for the mapping and rules.
/// Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct RiakStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    servers: Vec<Server>,
    config: RiakConfig,
    /// Sharded by key, so concurrent requests rarely wait on each other's lock.
    vclocks: Vec<Mutex<VclockShard>>,
    last_stamp: AtomicU64,
    /// Whether the bucket type is strongly consistent, once asked.
    consistent: std::sync::OnceLock<bool>,
}

#[derive(Debug)]
struct Server {
    /// As configured, for errors and logs.
    name: String,
    /// `http://host:port`, parsed once; each request's URL is a copy with its path and query
    /// set, which skips parsing the scheme and host again.
    url: url::Url,
    /// `url` with the query of `config.load`, `config.save` and `config.delete` (by [`Verb`]).
    with_query: [url::Url; 3],
    health: Health,
}

/// A whole response from one server.
struct Reply {
    server: usize,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// An earlier attempt of the same call failed in a way that may have reached Riak (a `503`,
    /// a timeout, a broken response): a write it carried may have happened.
    after_failure: bool,
}

/// Remembered vclocks by a hash of (bucket, msgid); each entry keeps its bucket and msgid, so
/// a colliding msgid never gets another's vclock.
type VclockShard = HashMap<u64, Remembered, BuildHasherDefault<Prehashed>>;

#[derive(Debug)]
struct Remembered {
    /// The bucket followed by the msgid (one allocation).
    key: Box<str>,
    bucket_len: usize,
    vclock: HeaderValue,
}

impl Remembered {
    fn is_for(&self, ctx: Ctx<'_>) -> bool {
        self.bucket_len == ctx.bucket.len()
            && self.key.len() == ctx.bucket.len() + ctx.msgid.len()
            && self.key.starts_with(ctx.bucket)
            && self.key.ends_with(ctx.msgid)
    }
}

/// A `Hasher` for keys that already are hashes.
#[derive(Default)]
struct Prehashed(u64);

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

/// What one operation is about, for errors.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    op: &'static str,
    bucket: &'a str,
    msgid: &'a str,
}

/// The query of a request.
#[derive(Clone, Copy)]
enum Query<'a> {
    /// The target has its query, if any, after a `?`.
    InTarget,
    /// The configured parameters of this kind of request, ready in each server's URLs.
    Configured(Verb),
    /// Parameters given for one call.
    Given(&'a str),
}

impl Server {
    /// The URL of `target` (a path) with `query` on this server.
    fn url_for(&self, target: &str, query: Query<'_>) -> url::Url {
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
    fn backend(&self, reason: String) -> StoreError {
        StoreError::Backend {
            backend: BACKEND,
            op: self.op,
            bucket: self.bucket.to_owned(),
            msgid: self.msgid.to_owned(),
            reason,
        }
    }

    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            bucket: self.bucket.to_owned(),
            msgid: self.msgid.to_owned(),
            reason,
        }
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().replace(['\r', '\n'], " ")
}

impl RiakStore {
    /// A store talking to `config.servers`. Fails if there is no server, a server is not a
    /// `host:port` or `http(s)://host:port`, or the HTTP client cannot be built.
    pub fn new(config: RiakConfig) -> Result<Self, StoreError> {
        let setup = |reason: String| StoreError::Backend {
            backend: BACKEND,
            op: "configure",
            bucket: String::new(),
            msgid: String::new(),
            reason,
        };
        if config.servers.is_empty() {
            return Err(setup("no Riak server configured".into()));
        }
        config.validate().map_err(|e| setup(e.to_string()))?;
        let queries = [
            config.load.query(Verb::Get),
            put_query(&config.save),
            config.delete.query(Verb::Delete),
        ];
        let servers = config
            .servers
            .iter()
            .map(|name| {
                let trimmed = name.trim().trim_end_matches('/');
                let base = if trimmed.contains("://") {
                    trimmed.to_owned()
                } else {
                    format!("http://{trimmed}")
                };
                let url =
                    url::Url::parse(&base).map_err(|e| setup(format!("server {name:?}: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(setup(format!(
                        "server {name:?}: expected host:port or http(s)://host:port"
                    )));
                }
                if url.path() != "/" || url.query().is_some() {
                    return Err(setup(format!(
                        "server {name:?}: give the server only, without a path"
                    )));
                }
                let with_query = queries.each_ref().map(|query| {
                    let mut with = url.clone();
                    with.set_query(Some(query.as_str()).filter(|q| !q.is_empty()));
                    with
                });
                Ok(Server {
                    name: trimmed.to_owned(),
                    url,
                    with_query,
                    health: Health::default(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client = Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_idle_per_server)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                servers,
                vclocks: (0..VCLOCK_SHARDS)
                    .map(|_| Mutex::new(VclockShard::default()))
                    .collect(),
                last_stamp: AtomicU64::new(0),
                consistent: std::sync::OnceLock::new(),
                config,
            }),
        })
    }

    /// The configuration this store was built with.
    pub fn config(&self) -> &RiakConfig {
        &self.inner.config
    }

    /// Checks that a server answers `GET /ping` with `200 OK` (trying each in turn, like any
    /// request), for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let ctx = Ctx {
            op: "ping",
            bucket: "",
            msgid: "",
        };
        let reply = self
            .request(ctx, "/ping", Query::InTarget, |client, url| client.get(url))
            .await?;
        if reply.status == StatusCode::OK {
            Ok(())
        } else {
            Err(ctx.backend(self.unexpected(&reply)))
        }
    }

    /// [`MessageStore::save`] with these Riak parameters instead of [`RiakConfig::save`].
    ///
    /// Every PUT asks for `returnbody=true`, so Riak answers with the new vclock, which is the
    /// returned [`Version`]. If concurrent writes left siblings beside this one (an ordinary
    /// `allow_mult` type), Riak answers with all of them: the save is stored, and the version
    /// it returns is marked so that an [`PutMode::Update`] from it fails with
    /// [`StoreError::Precondition`] without a request (the caller holds only its own message,
    /// and an update from it would replace the others'); [`load`](MessageStore::load) merges
    /// them.
    ///
    /// [`PutMode::Create`] sends `If-None-Match: *`. [`PutMode::Update`] sends the version's
    /// vclock as `X-Riak-Vclock` and, on an ordinary bucket type, its ETag as `If-Match`. A
    /// `412 Precondition Failed` becomes [`StoreError::AlreadyExists`] /
    /// [`StoreError::Precondition`], unless an earlier attempt of the same call may have
    /// written (a `503` or a timeout before a failover): then nobody can tell whether this save
    /// won, and it is a retryable [`StoreError::Unavailable`]. Only a strongly consistent bucket
    /// type makes the checks atomic (see the module documentation); on one,
    /// [`PutMode::Overwrite`] reads the current vclock and writes over it when Riak refuses a
    /// write without one.
    pub async fn save_with(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: &StoredMessage,
        mode: PutMode,
        params: &RequestParams,
    ) -> Result<Version, StoreError> {
        let ctx = Ctx {
            op: "save",
            bucket: bucket.as_str(),
            msgid: msgid.as_str(),
        };
        let consistent = self.consistent(ctx).await?;
        let encoded = codec::encode(msg, self.stamp()).map_err(|e| ctx.backend(e))?;
        let reply = match &mode {
            PutMode::Create => {
                self.put(ctx, &encoded, None, Condition::Absent, params)
                    .await?
            }
            PutMode::Update(version) => {
                let (vclock, etag) = parse_version(ctx, version)?;
                let condition = match &etag {
                    Some(etag) if !consistent => Condition::Matches(etag),
                    _ => Condition::None,
                };
                self.put(ctx, &encoded, Some(&vclock), condition, params)
                    .await?
            }
            PutMode::Overwrite if consistent => {
                return self.overwrite_consistent(ctx, &encoded, params).await;
            }
            PutMode::Overwrite => {
                let vclock = self.take_vclock(ctx);
                self.put(ctx, &encoded, vclock.as_ref(), Condition::None, params)
                    .await?
            }
        };
        self.saved(ctx, reply, &mode).await
    }

    /// The version a save's answer gives, or the error it means.
    async fn saved(
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
    async fn overwrite_consistent(
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
    async fn current_vclock(
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

    /// Whether the configured bucket type is strongly consistent: [`RiakConfig::consistent`]
    /// if set, `false` without a bucket type, and otherwise what `GET /types/{type}/props`
    /// says (asked once; a failure is returned and asked again next time).
    pub async fn is_consistent(&self) -> Result<bool, StoreError> {
        self.consistent(Ctx {
            op: "configure",
            bucket: "",
            msgid: "",
        })
        .await
    }

    async fn consistent(&self, ctx: Ctx<'_>) -> Result<bool, StoreError> {
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

    /// [`MessageStore::load`] with these Riak parameters instead of [`RiakConfig::load`].
    /// `Ok(None)` means Riak answered "not found" under these parameters; with
    /// `notfound_ok = true` that can be a fallback replica's answer (see [`RequestParams`]).
    pub async fn load_with(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        params: &RequestParams,
    ) -> Result<Option<Versioned>, StoreError> {
        let ctx = Ctx {
            op: "load",
            bucket: bucket.as_str(),
            msgid: msgid.as_str(),
        };
        self.load_ctx(ctx, params).await
    }

    /// [`MessageStore::delete`] with these Riak parameters instead of [`RiakConfig::delete`].
    pub async fn delete_with(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        params: &RequestParams,
    ) -> Result<bool, StoreError> {
        let ctx = Ctx {
            op: "delete",
            bucket: bucket.as_str(),
            msgid: msgid.as_str(),
        };
        self.delete_ctx(ctx, params).await
    }

    fn unexpected(&self, reply: &Reply) -> String {
        format!(
            "{}: unexpected {} {}",
            self.inner.servers[reply.server].name,
            reply.status,
            snippet(&reply.body)
        )
    }

    /// A snapshot of every server's counters and health, in the order of
    /// [`RiakConfig::servers`].
    pub fn metrics(&self) -> Vec<ServerMetrics> {
        let now = Instant::now();
        self.inner
            .servers
            .iter()
            .map(|s| s.health.snapshot(&s.name, now))
            .collect()
    }

    /// Sends `GET /ping` to every server marked down, now, whatever its backoff, and brings
    /// back those that answer `200 OK`. Returns how many came back. Requests probe down servers
    /// on their own when a backoff ends; this is for health checks and tests.
    pub async fn probe_down_servers(&self) -> usize {
        let down: Vec<usize> = (0..self.inner.servers.len())
            .filter(|&i| self.inner.servers[i].health.retry_at().is_some())
            .collect();
        let mut back = 0;
        for index in down {
            if probe(&self.inner, index).await {
                back += 1;
            }
        }
        back
    }

    /// The servers to try this round: those up, in random order (the seed's rule); if none is
    /// up, every server, soonest probe first, as a last resort. Starts a `/ping` probe for each
    /// down server whose backoff is over.
    fn order(&self) -> Vec<usize> {
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

    fn spawn_probe(&self, index: usize) {
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
    async fn request(
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
                    Err(failure) => failure,
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
        })
    }

    /// Sends one request and reads the whole response. The request's timeout (`limit`) runs
    /// until the body has been read, so a server that stalls mid-body fails the attempt as a
    /// timeout.
    async fn attempt(
        &self,
        server: usize,
        request: RequestBuilder,
        limit: Duration,
    ) -> Result<Reply, (FailureKind, String)> {
        let describe = |e: reqwest::Error| describe(&e, limit);
        let mut response = request.send().await.map_err(describe)?;
        let max = self.inner.config.max_response_bytes;
        let too_large = |len: u64| {
            (
                FailureKind::Transport,
                format!("response of {len} bytes or more exceeds the {max}-byte limit"),
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

    fn bucket_path(&self, ctx: Ctx<'_>, bucket: &str) -> Result<String, StoreError> {
        let mut path = String::with_capacity(64);
        self.push_bucket_path(&mut path, ctx, bucket)?;
        Ok(path)
    }

    /// `/buckets/{bucket}` or `/types/{type}/buckets/{bucket}`, appended to `path`.
    fn push_bucket_path(
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
    fn key_path(
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

    /// The hash of (bucket, msgid) and the locked shard that holds its vclock.
    fn vclock_shard(&self, ctx: Ctx<'_>) -> (u64, std::sync::MutexGuard<'_, VclockShard>) {
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

    fn remember_vclock(&self, ctx: Ctx<'_>, headers: &HeaderMap) {
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

    fn take_vclock(&self, ctx: Ctx<'_>) -> Option<HeaderValue> {
        let (hash, mut shard) = self.vclock_shard(ctx);
        match shard.get(&hash) {
            Some(r) if r.is_for(ctx) => shard.remove(&hash).map(|r| r.vclock),
            _ => None,
        }
    }

    /// A save stamp later than every earlier one from this store.
    fn stamp(&self) -> u64 {
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

    async fn put(
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

    async fn load_ctx(
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
    async fn settle(&self, ctx: Ctx<'_>, reply: Reply) -> Result<Option<Versioned>, StoreError> {
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
    fn merge_siblings(
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

    async fn delete_ctx(&self, ctx: Ctx<'_>, params: &RequestParams) -> Result<bool, StoreError> {
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
    async fn delete_consistent(
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

    async fn send_delete(
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

    /// One page of a 2i range query on `expires_int`.
    async fn index_page(
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

    async fn buckets(&self, ctx: Ctx<'_>) -> Result<Vec<String>, StoreError> {
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
    async fn sweep_one(
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

    async fn sweep_bucket(&self, bucket: &str, now: SystemTime) -> Result<u64, StoreError> {
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

/// The query of a PUT: `params`, and `returnbody=true`, so the answer carries the new vclock
/// (or, when concurrent writes left siblings, all of them).
fn put_query(params: &RequestParams) -> String {
    let mut query = params.query(Verb::Put);
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str("returnbody=true");
    query
}

/// The version of the object a response describes: its `X-Riak-Vclock`, then, if it has one,
/// a space and its `ETag` as sent (quoted).
fn version_of(headers: &HeaderMap) -> Version {
    let vclock = headers.header(VCLOCK.as_str()).unwrap_or_default();
    match headers.header("etag") {
        Some(etag) if !etag.is_empty() => Version::new(format!("{vclock} {etag}")),
        _ => Version::new(vclock),
    }
}

/// The vclock of a [`Version`] and, if it has one, its ETag, as header values.
fn parse_version(
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

/// What a PUT asks Riak to check before it writes.
#[derive(Clone, Copy)]
enum Condition<'a> {
    /// Nothing.
    None,
    /// `If-None-Match: *`: only if no live object is stored.
    Absent,
    /// `If-Match: <etag>`: only if the object still has this ETag.
    Matches(&'a HeaderValue),
}

/// What a transport error means for the server, and how to say it.
fn describe(e: &reqwest::Error, limit: Duration) -> (FailureKind, String) {
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
async fn probe(inner: &Inner, index: usize) -> bool {
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

#[async_trait]
impl MessageStore for RiakStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn save(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        msg: &StoredMessage,
        mode: PutMode,
    ) -> Result<Version, StoreError> {
        self.save_with(bucket, msgid, msg, mode, &self.inner.config.save)
            .await
    }

    async fn load(&self, bucket: &Bucket, msgid: &MsgId) -> Result<Option<Versioned>, StoreError> {
        self.load_with(bucket, msgid, &self.inner.config.load).await
    }

    async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError> {
        self.delete_with(bucket, msgid, &self.inner.config.delete)
            .await
    }

    fn list<'a>(&'a self, bucket: &'a Bucket) -> BoxStream<'a, Result<MsgId, StoreError>> {
        struct Cursor {
            continuation: Option<String>,
            seen: HashSet<String>,
            done: bool,
        }
        let start = Cursor {
            continuation: None,
            seen: HashSet::new(),
            done: false,
        };
        stream::unfold(start, move |mut cursor| async move {
            if cursor.done {
                return None;
            }
            let ctx = Ctx {
                op: "list",
                bucket: bucket.as_str(),
                msgid: "",
            };
            let items: Vec<Result<MsgId, StoreError>> = match self
                .index_page(ctx, MAX_TERM, cursor.continuation.as_deref())
                .await
            {
                Ok(page) => {
                    cursor.done = page.continuation.is_none() || page.keys.is_empty();
                    cursor.continuation = page.continuation;
                    page.keys
                        .into_iter()
                        // A key with several expiry terms (siblings) comes once per term. Past
                        // MAX_SEEN keys the listing stops remembering, so a hostile or huge
                        // listing cannot grow memory without bound; repeats are then possible.
                        .filter(|key| {
                            if cursor.seen.len() < MAX_SEEN {
                                cursor.seen.insert(key.clone())
                            } else {
                                !cursor.seen.contains(key)
                            }
                        })
                        .map(|key| {
                            MsgId::new(codec::msgid_of_key(&key)).map_err(|e| {
                                Ctx { msgid: &key, ..ctx }
                                    .corrupt(format!("listed key is not a msgid: {e}"))
                            })
                        })
                        .collect()
                }
                Err(e) => {
                    cursor.done = true;
                    vec![Err(e)]
                }
            };
            Some((stream::iter(items), cursor))
        })
        .flatten()
        .boxed()
    }

    async fn sweep_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        let ctx = Ctx {
            op: "sweep",
            bucket: "",
            msgid: "",
        };
        let prefix = &self.inner.config.sweep_bucket_prefix;
        let mut removed = 0;
        for bucket in self.buckets(ctx).await? {
            if bucket.starts_with(prefix.as_str()) {
                removed += self.sweep_bucket(&bucket, now).await?;
            }
        }
        Ok(removed)
    }
}
