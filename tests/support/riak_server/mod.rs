//! An in-tree Riak KV HTTP server for the store tests and benches.
//!
//! A raw HTTP/1.1 server on tokio over 127.0.0.1 that answers the way Riak KV 3.2.2 does in the
//! transcripts recorded from a real node (kept in `tests/riak_transcripts`):
//! the `404 Object Not Found` reason phrase and `not found\n` body, tombstones with
//! `X-Riak-Vclock` + `X-Riak-Deleted: true` until they are reaped, `allow_mult` siblings as
//! `300 Multiple Choices` (a text vtag list or `multipart/mixed`), `X-Riak-Meta-*` re-cased and
//! `x-riak-index-*` lowercased on the way out, secondary-index exact and range queries with
//! `max_results`/`continuation` (Erlang term_to_binary, base64) and `return_terms`, key and bucket
//! listings, bucket props and bucket types, `500`s for malformed vclocks, the request-line limit.
//!
//! Versions follow Riak's rules. On ordinary bucket types a write that carries the vclock it
//! read replaces what that vclock covers; a concurrent write (one whose vclock does not cover the
//! stored value, or no vclock at all) becomes a sibling where `allow_mult` is on (new bucket
//! types, dvv) and silently replaces the stored value where it is off (the default type: last
//! write wins). Webmachine's preconditions (`If-None-Match: *`, `If-Match`,
//! `If-Unmodified-Since`) are checked by a read *before* the write, not atomically with it: the
//! check and the write are [`Options::precondition_race`] apart, and concurrent conditional
//! writers that all passed the check all write (measured on Riak KV 3.2.2: 7 of 8 concurrent
//! `If-None-Match: *` creates "won"). Strongly consistent bucket types
//! ([`Options::consistent_types`], `consistent: true`) check and write atomically: a create
//! (`If-None-Match: *`, or any PUT without a vclock) of an existing key and a PUT or DELETE with a
//! vclock other than the current one answer `412`, there are never siblings, a DELETE without a
//! vclock always answers `204`, and a deleted key reads as a plain `404` without a vclock
//! (transcript 13). `GET /types/{type}/props` answers the type's properties.
//!
//! Several nodes can share one data set ([`RiakServer::join`]); each node can be given a fault
//! ([`Fault`]), stopped and restarted on the same port, for failover tests. Chosen keys can be
//! given a cluster-wide [`KeyFault`]: a `503`, or replicas that live on fallback vnodes, in which
//! case reads and writes are answered the way Riak's get/put coordinators would answer them under
//! the request's `r`, `pr`, `notfound_ok`, `basic_quorum` and `pw` (see [`KeyFault::Fallbacks`]).
//! Quorum parameters are checked like Riak does (`400` for a word it does not know or a number
//! above `n_val` 3).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod http;
mod index;
mod objects;
mod quorum;
mod routing;
mod util;

use http::*;
use index::*;
use objects::*;
use quorum::*;
use routing::*;
use util::*;
pub use util::{http_date, parse_http_date};

const SERVER: &str = "MochiWeb/3.0.0 WebMachine/0.0.0+7bdd27d (greased slide to failure)";
const NOT_FOUND_HTML: &str = "<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD><BODY><H1>Not Found</H1>The requested document was not found on this server.<P><HR><ADDRESS>mochiweb+webmachine web server</ADDRESS></BODY></HTML>";
const NOT_ACCEPTABLE_HTML: &str = "<html><head><title>406 Not Acceptable</title></head><body><h1>Not Acceptable</h1><p><hr><address>mochiweb+webmachine web server</address></body></html>";
const LINK_WALK: &str = "Invalid link walk query submitted. Valid link walk query format is: /riak/some_bucket/some_key/<bucket>,<riaktag>,0|1/...";
const MAX_REQUEST_LINE: usize = 8190;
const MAX_HEAD: usize = 64 * 1024;
/// The prefix real vclocks start with (zlib-compressed term_to_binary); ours carry a tag after it.
const VCLOCK_MAGIC: &[u8] = &[0x6b, 0xce, 0x61, 0x60, 0x60, 0x60];

/// The `allow_mult` bucket type every cluster has (a type created with `{"props":{}}`).
pub const ALLOW_MULT_TYPE: &str = "redeliver";
/// The strongly consistent bucket type every cluster has (created with
/// `{"props":{"consistent":true}}`), for stores whose claims must hold across nodes:
/// `RiakConfig::new([server.url()]).with_bucket_type(CONSISTENT_TYPE)`.
pub const CONSISTENT_TYPE: &str = "strong";

/// A `RiakConfig` for a store on these nodes over the strongly consistent bucket type
/// ([`CONSISTENT_TYPE`]), where `Create` and `Update` saves are atomic: for tests whose claims
/// must hold across nodes (build one store per node to play several gateway nodes).
pub fn consistent_config(nodes: &[&RiakServer]) -> redeliver::store::RiakConfig {
    redeliver::store::RiakConfig::new(nodes.iter().map(|n| n.url()))
        .with_bucket_type(CONSISTENT_TYPE)
        .with_consistent(true)
}

/// What a node does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers normally.
    None,
    /// Answers every request with `503 Service Unavailable`.
    Unavailable,
    /// Answers every request with a `500` Erlang error page.
    InternalError,
    /// Answers with bytes that are not HTTP and closes the connection.
    Garbage,
    /// Reads the request and never answers.
    Hang,
    /// Answers normally (`GET`s of existing objects included) but stops halfway through the
    /// body and never sends the rest.
    StallBody,
    /// Serves the request (a write is done) but answers `503 Service Unavailable` `request
    /// timed out`, as Riak does when its coordinator gave up waiting for a write that then
    /// happened anyway.
    ServeThenUnavailable,
}

/// What the cluster does for one key, whichever node is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFault {
    /// Nothing special.
    None,
    /// Answers every GET, PUT and DELETE of the key with `503` `request timed out` (an overloaded
    /// or partitioned cluster).
    Unavailable,
    /// Of the key's three replicas only `holding` are primaries that hold the object; the
    /// others are fallback vnodes standing in for a node that is down, which have nothing and
    /// answer "not found" before the primaries answer. A GET is then answered as Riak's get
    /// coordinator would under the request's `r`, `pr`, `notfound_ok` and `basic_quorum`:
    /// the object, a `404` (a false "not found", e.g. with Riak's defaults `r=quorum`,
    /// `notfound_ok=true` and `holding` 1), `503 R-value unsatisfied` or `503 PR-value
    /// unsatisfied`. A PUT or DELETE with `pw` above `holding` gets `503 PW-value
    /// unsatisfied` and writes nothing; other writes succeed (fallbacks take them).
    Fallbacks {
        /// Primary replicas holding the object (0 to 3).
        holding: u8,
    },
}

/// How the cluster behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a tombstone is visible after a delete (Riak's `delete_mode` default: 3 s).
    pub tombstone_ttl: Duration,
    /// Riak's `object.size.maximum` (50 MB by default).
    pub max_object_bytes: usize,
    /// Bucket types besides `default`, with their `allow_mult`.
    pub bucket_types: Vec<(String, bool)>,
    /// Strongly consistent bucket types (`consistent: true`; their `allow_mult` is `true`, as
    /// Riak reports it, but they never have siblings).
    pub consistent_types: Vec<String>,
    /// How long after a conditional PUT or DELETE on an ordinary bucket passed its precondition
    /// check its write happens (Riak checks by a read before the write). Concurrent writers
    /// inside this window all pass.
    pub precondition_race: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tombstone_ttl: Duration::from_secs(3),
            max_object_bytes: 50 * 1024 * 1024,
            // Riak creates bucket types with allow_mult = true.
            bucket_types: vec![
                (ALLOW_MULT_TYPE.to_owned(), true),
                ("fresh".to_owned(), true),
            ],
            consistent_types: vec![CONSISTENT_TYPE.to_owned()],
            precondition_race: Duration::from_millis(2),
        }
    }
}

#[derive(Debug, Clone)]
struct Sibling {
    tag: u64,
    deleted: bool,
    media_type: String,
    charset: Option<String>,
    meta: Vec<(String, String)>,
    indexes: BTreeMap<String, Vec<Term>>,
    links: Option<String>,
    body: Vec<u8>,
    modified: SystemTime,
}

impl Sibling {
    fn vtag(&self) -> String {
        base62(mix(self.tag ^ 0x5eed), 22)
    }
}

#[derive(Debug, Clone, Default)]
struct Object {
    siblings: Vec<Sibling>,
    reap_at: Option<Instant>,
}

impl Object {
    fn vclock_tag(&self) -> u64 {
        self.siblings.iter().map(|s| s.tag).max().unwrap_or(0)
    }
    fn is_deleted(&self) -> bool {
        self.siblings.iter().all(|s| s.deleted)
    }
}

#[derive(Debug, Default)]
struct BucketData {
    allow_mult: Option<bool>,
    objects: BTreeMap<Vec<u8>, Object>,
}

#[derive(Debug)]
struct State {
    next_tag: u64,
    key_faults: HashMap<(Vec<u8>, Vec<u8>), KeyFault>,
    types: HashMap<String, bool>,
    /// The strongly consistent ones among `types`.
    consistent: std::collections::HashSet<String>,
    buckets: BTreeMap<(String, Vec<u8>), BucketData>,
}

#[derive(Debug)]
struct Cluster {
    state: Mutex<State>,
    options: Options,
    /// Whether any key has a fault, so requests skip the lookup (and the lock) when none has.
    any_key_fault: std::sync::atomic::AtomicBool,
    /// Requests for the list of buckets (`/buckets`, `/types/{type}/buckets`), on any node.
    bucket_listings: AtomicU64,
    /// Whether a list of buckets is answered with a `500` (as Riak does when the key walk
    /// behind it times out).
    listing_fails: std::sync::atomic::AtomicBool,
}

impl Cluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct Node {
    fault: Mutex<Fault>,
    requests: AtomicU64,
}

/// One node of an in-tree Riak cluster, listening on 127.0.0.1.
#[derive(Debug)]
pub struct RiakServer {
    addr: SocketAddr,
    cluster: Arc<Cluster>,
    node: Arc<Node>,
    stop: Mutex<watch::Sender<bool>>,
}

impl RiakServer {
    /// A new single-node cluster with the default [`Options`].
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// A new single-node cluster.
    pub async fn start_with(options: Options) -> Self {
        let mut types: HashMap<String, bool> = options.bucket_types.iter().cloned().collect();
        types.insert("default".into(), false);
        for t in &options.consistent_types {
            types.insert(t.clone(), true);
        }
        let consistent = options.consistent_types.iter().cloned().collect();
        let cluster = Arc::new(Cluster {
            state: Mutex::new(State {
                next_tag: 1,
                key_faults: HashMap::new(),
                types,
                consistent,
                buckets: BTreeMap::new(),
            }),
            options,
            any_key_fault: std::sync::atomic::AtomicBool::new(false),
            bucket_listings: AtomicU64::new(0),
            listing_fails: std::sync::atomic::AtomicBool::new(false),
        });
        Self::spawn(cluster).await
    }

    /// Another node serving the same data.
    pub async fn join(&self) -> Self {
        Self::spawn(self.cluster.clone()).await
    }

    async fn spawn(cluster: Arc<Cluster>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let node = Arc::new(Node {
            fault: Mutex::new(Fault::None),
            requests: AtomicU64::new(0),
        });
        let stop = listen(listener, cluster.clone(), node.clone());
        Self {
            addr,
            cluster,
            node,
            stop: Mutex::new(stop),
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop), with the cluster's data as it
    /// is now (the node "comes back").
    pub async fn restart(&self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            // The stopped accept loop drops its listener asynchronously.
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if tries < 500 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.addr),
            }
        };
        let stop = listen(listener, self.cluster.clone(), self.node.clone());
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = stop;
    }

    /// Gives `bucket`/`key` (in any bucket type) a cluster-wide [`KeyFault`].
    pub fn set_key_fault(&self, bucket: &str, key: &str, fault: KeyFault) {
        let id = (bucket.as_bytes().to_vec(), key.as_bytes().to_vec());
        let mut state = self.cluster.lock();
        if fault == KeyFault::None {
            state.key_faults.remove(&id);
        } else {
            state.key_faults.insert(id, fault);
        }
        self.cluster
            .any_key_fault
            .store(!state.key_faults.is_empty(), Ordering::Relaxed);
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, the seed's server form.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes this node misbehave (or behave again with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        *self.node.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// Requests this node has read.
    pub fn requests(&self) -> u64 {
        self.node.requests.load(Ordering::Relaxed)
    }

    /// Requests for the list of buckets (`GET /buckets?buckets=…` or
    /// `/types/{type}/buckets?buckets=…`) that any node of this cluster has answered. Riak
    /// builds that list by walking every key, so a client should rarely ask for it.
    pub fn bucket_listings(&self) -> u64 {
        self.cluster.bucket_listings.load(Ordering::Relaxed)
    }

    /// Makes every node answer a list of buckets with a `500` `{error,timeout}` page, as Riak
    /// does when the key walk behind it times out (or answer normally again).
    pub fn set_bucket_listing_fails(&self, fails: bool) {
        self.cluster.listing_fails.store(fails, Ordering::Relaxed);
    }

    /// Closes the listener and every open connection of this node; the port refuses connections
    /// from then on.
    pub fn stop(&self) {
        let _ = self
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(true);
    }

    /// Stores an object directly, as a write nobody recorded (a test's set-up): one live value
    /// replacing whatever was there.
    pub fn insert(
        &self,
        bucket_type: &str,
        bucket: &str,
        key: &str,
        media_type: &str,
        body: &[u8],
    ) {
        let mut state = self.cluster.lock();
        let tag = state.next_tag;
        state.next_tag += 1;
        let object = state
            .buckets
            .entry((bucket_type.to_owned(), bucket.as_bytes().to_vec()))
            .or_default()
            .objects
            .entry(key.as_bytes().to_vec())
            .or_default();
        object.siblings = vec![Sibling {
            tag,
            deleted: false,
            media_type: media_type.to_owned(),
            charset: None,
            meta: Vec::new(),
            indexes: BTreeMap::new(),
            links: None,
            body: body.to_vec(),
            modified: SystemTime::now(),
        }];
        object.reap_at = None;
    }

    /// Number of siblings (tombstones included) of an object, or 0 if it does not exist.
    pub fn sibling_count(&self, bucket_type: &str, bucket: &str, key: &str) -> usize {
        let state = self.cluster.lock();
        state
            .buckets
            .get(&(bucket_type.to_owned(), bucket.as_bytes().to_vec()))
            .and_then(|b| b.objects.get(key.as_bytes()))
            .map_or(0, |o| o.siblings.len())
    }
}

/// Serves `listener` until the returned sender says stop; then closes it and every connection.
fn listen(listener: TcpListener, cluster: Arc<Cluster>, node: Arc<Node>) -> watch::Sender<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        let mut stopped_accept = stopped.clone();
        loop {
            tokio::select! {
                _ = stopped_accept.changed() => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let (c, n, mut s) = (cluster.clone(), node.clone(), stopped.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = s.changed() => {}
                            _ = serve(stream, &c, &n) => {}
                        }
                    });
                }
            }
        }
    });
    stop
}
