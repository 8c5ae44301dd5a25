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
//!   | `x-riak-index-due_int` | only on records with a due time (`redeliver.due`, milliseconds), for [`due`](MessageStore::due) |
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
//!   whole seconds). [`sweep_expired`](MessageStore::sweep_expired) runs a 2i range query
//!   `0..now` in each bucket it knows of (see "Which buckets" below), re-reads each hit and
//!   deletes it if it really expired. [`list`](MessageStore::list) is a 2i
//!   range query too (Riak's key listing walks every key in the cluster and shows tombstones).
//!   **Secondary indexes need the leveldb or leveled backend** (or `multi` with one of them);
//!   with bitcask, 2i queries fail and listing and sweeping return an error. With bitcask, set
//!   `expiry_secs` on the backend to let Riak forget old objects itself, at
//!   [`DEFAULT_RETENTION`](crate::message::DEFAULT_RETENTION) (14 days, what Momentum configures
//!   for mstore) or more.
//! * **Due records**: [`due`](MessageStore::due) runs a 2i range query `0..now` on `due_int` in
//!   each bucket it knows of (see "Which buckets" below).
//! * **Which buckets** `due` and `sweep_expired` ask: those named in [`RiakConfig::buckets`]
//!   (for this crate `MADR-<shortcode>` per shortcode and `MADR-MM7`), those this client has
//!   saved into since it was built, and, where [`RiakConfig::bucket_listing`] allows, those in
//!   Riak's list of buckets (`GET /buckets?buckets=true`). Riak builds that list by walking
//!   every key in the cluster, and its documentation says not to use it in production; with
//!   every gateway node's timer asking, that is one key walk per node per interval. So the
//!   default, [`BucketListing::UnlessBucketsConfigured`], asks for it at most once a minute
//!   (shared by `due` and the sweep) only while no bucket is configured, which keeps a store
//!   configured with nothing but its servers finding what other nodes wrote, and never once
//!   buckets are named. Saved-into and listed buckets count only with
//!   [`RiakConfig::sweep_bucket_prefix`] (default `MADR-`), so other applications' objects are
//!   never touched; configured buckets are asked whatever their name. **Without listing
//!   ([`BucketListing::Never`]) and without configured buckets, a node sees only buckets it
//!   saved into itself**: a claim abandoned by a dead node, or a receipt parked by another,
//!   in a bucket this node has not written to since it started is not found by it (another
//!   node that wrote there finds it). Configure every bucket in production. A listing that
//!   fails (Riak answers `500` when the key walk times out) is logged and tried again at the
//!   next call while other buckets are known, which are asked meanwhile; with none known, the
//!   call fails with it.
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
mod index;
mod object;
mod params;
mod transport;
mod vclock;

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

pub use config::{BucketListing, MAX_CONFIGURED_BUCKETS, RiakConfig, RiakConfigError};
pub use health::ServerMetrics;
pub use params::{Quorum, RequestParams};

use super::{MessageStore, PutMode, StoreError, Version, Versioned};
use crate::message::{Bucket, MsgId, StoredMessage};
use codec::{EXPIRES_INDEX, HeaderLookup};
use health::{Availability, FailureKind, Health, jitter};
use object::{Condition, put_query};
use params::Verb;
use transport::{Ctx, Query, Reply, Server, probe, snippet};
use vclock::{VclockShard, parse_version, version_of};

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
    /// The buckets [`MessageStore::due`] and [`MessageStore::sweep_expired`] ask besides the
    /// configured ones.
    known_buckets: index::KnownBuckets,
}

impl RiakStore {
    /// A store talking to `config.servers`. Fails if there is no server, a server is not a
    /// `host:port` or `http(s)://host:port`, or the HTTP client cannot be built.
    pub fn new(config: RiakConfig) -> Result<Self, StoreError> {
        let setup = |reason: String| StoreError::Config {
            backend: BACKEND,
            reason,
            source: None,
        };
        if config.servers.is_empty() {
            return Err(setup("no Riak server configured".into()));
        }
        config
            .validate()
            .map_err(|e| setup("invalid RiakConfig".into()).with_source(e))?;
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
                let url = url::Url::parse(&base)
                    .map_err(|e| setup(format!("server {name:?}")).with_source(e))?;
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
                    health: Health::new(trimmed),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client = Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_idle_per_server)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| setup("cannot build the HTTP client".into()).with_source(e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                servers,
                vclocks: (0..VCLOCK_SHARDS)
                    .map(|_| Mutex::new(VclockShard::default()))
                    .collect(),
                last_stamp: AtomicU64::new(0),
                consistent: std::sync::OnceLock::new(),
                known_buckets: index::KnownBuckets::default(),
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
        crate::store::metered(
            BACKEND,
            "save",
            self.save_unmetered(bucket, msgid, msg, mode, params),
        )
        .await
    }

    async fn save_unmetered(
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
        self.saw_bucket(bucket);
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

    /// [`MessageStore::load`] with these Riak parameters instead of [`RiakConfig::load`].
    /// `Ok(None)` means Riak answered "not found" under these parameters; with
    /// `notfound_ok = true` that can be a fallback replica's answer (see [`RequestParams`]).
    pub async fn load_with(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        params: &RequestParams,
    ) -> Result<Option<Versioned>, StoreError> {
        crate::store::metered(BACKEND, "load", self.load_unmetered(bucket, msgid, params)).await
    }

    async fn load_unmetered(
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
        crate::store::metered(
            BACKEND,
            "delete",
            self.delete_unmetered(bucket, msgid, params),
        )
        .await
    }

    async fn delete_unmetered(
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

    async fn due(&self, now: SystemTime, limit: usize) -> Result<Vec<(Bucket, MsgId)>, StoreError> {
        self.due_keys(now, limit).await
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
        let mut removed = 0;
        for bucket in self.buckets_to_ask(ctx).await? {
            removed += self.sweep_bucket(&bucket, now).await?;
        }
        Ok(removed)
    }
}
