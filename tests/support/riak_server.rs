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

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The preconditions of this conditional write were checked a moment ago; write now.
    checked: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Chunks of a `Transfer-Encoding: chunked` body.
    chunks: Option<Vec<Vec<u8>>>,
    close: bool,
}

impl Response {
    fn new(status: u16, reason: &'static str) -> Self {
        Self {
            status,
            reason,
            headers: Vec::new(),
            body: Vec::new(),
            chunks: None,
            close: false,
        }
    }
    fn h(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
    fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        let len = self.body.len();
        self.h("Content-Length", len.to_string())
    }
    fn bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if head_only {
            return out;
        }
        match &self.chunks {
            Some(chunks) => {
                for c in chunks {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            None => out.extend_from_slice(&self.body),
        }
        out
    }
}

/// A Riak-style text response: `[Vary,] Server, Date, Content-Type, Content-Length`.
fn text(status: u16, reason: &'static str, vary: bool, ctype: &str, body: &str) -> Response {
    let mut r = Response::new(status, reason);
    if vary {
        r = r.h("Vary", "Accept-Encoding");
    }
    r.h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", ctype)
        .with_body(body.as_bytes())
}

fn not_found_html() -> Response {
    text(404, "Object Not Found", false, "text/html", NOT_FOUND_HTML)
}

/// Webmachine's 404 page from a resource that set `Vary` before it gave up.
fn not_found_html_vary(vary: &str) -> Response {
    Response::new(404, "Object Not Found")
        .h("Vary", vary)
        .h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", "text/html")
        .with_body(NOT_FOUND_HTML)
}

fn not_found_object() -> Response {
    text(404, "Object Not Found", false, "text/plain", "not found\n")
}

/// Webmachine's page for a crashed resource (`vary`: whether the resource got as far as
/// setting `Vary`).
fn crash(vary: bool, trace: &str) -> Response {
    let body = format!(
        "<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>The server encountered an error while processing this request:<br><pre>{trace}</pre><P><HR><ADDRESS>mochiweb+webmachine web server</ADDRESS></body></html>"
    );
    text(500, "Internal Server Error", vary, "text/html", &body)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut stream: TcpStream, cluster: &Cluster, node: &Node) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        // The head.
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            let line_len = find(&buf, b"\r\n").unwrap_or(buf.len());
            if line_len > MAX_REQUEST_LINE || buf.len() > MAX_HEAD {
                let r = Response::new(400, "Bad Request")
                    .h("Connection", "close")
                    .h("Content-Length", "0")
                    .h("Date", http_date(SystemTime::now()))
                    .h("Server", "MochiWeb/1.0 (Any of you quaids got a smint?)");
                let _ = stream.write_all(&r.bytes(false)).await;
                return;
            }
            let mut chunk = [0u8; 16384];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        if request_line.len() > MAX_REQUEST_LINE {
            let r = Response::new(400, "Bad Request")
                .h("Connection", "close")
                .h("Content-Length", "0")
                .h("Date", http_date(SystemTime::now()))
                .h("Server", "MochiWeb/1.0 (Any of you quaids got a smint?)");
            let _ = stream.write_all(&r.bytes(false)).await;
            return;
        }
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(_version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            // A raw space in the target: MochiWeb says nothing and waits.
            std::future::pending::<()>().await;
            return;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut request = Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: Vec::new(),
            checked: false,
        };
        if request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        // The body.
        let limit = cluster.options.max_object_bytes + 16 * 1024 * 1024;
        if request
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(p) = find(&buf, b"\r\n") {
                        break p;
                    }
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                };
                let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
                let Ok(size) =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                else {
                    return;
                };
                if request.body.len() + size > limit {
                    return;
                }
                while buf.len() < line_end + 2 + size + 2 {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                request
                    .body
                    .extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
                buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            let len: usize = request
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if len > limit {
                return;
            }
            while buf.len() < len {
                if !read_more(&mut stream, &mut buf).await {
                    return;
                }
            }
            request.body = buf.drain(..len).collect();
        }
        node.requests.fetch_add(1, Ordering::Relaxed);
        let fault = *node.fault.lock().unwrap_or_else(|e| e.into_inner());
        let response = match fault {
            Fault::None => answer(&mut request, cluster).await,
            Fault::StallBody => {
                let whole = answer(&mut request, cluster).await.bytes(false);
                let head = whole
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(0, |p| p + 4);
                let half = head + (whole.len() - head) / 2;
                let _ = stream.write_all(&whole[..half]).await;
                std::future::pending::<()>().await;
                return;
            }
            Fault::Unavailable => text(
                503,
                "Service Unavailable",
                true,
                "text/plain",
                "Service Unavailable\n",
            ),
            Fault::ServeThenUnavailable => {
                let _ = answer(&mut request, cluster).await;
                unsatisfied(&request, "request timed out\n".into())
            }
            Fault::InternalError => crash(true, "{error,{insufficient_vnodes,0,need,1}}"),
            Fault::Garbage => {
                let _ = stream.write_all(b"\x00\x01garbage, not HTTP\r\n\r\n").await;
                return;
            }
            Fault::Hang => {
                std::future::pending::<()>().await;
                return;
            }
        };
        let head_only = request.method == "HEAD";
        if stream.write_all(&response.bytes(head_only)).await.is_err() {
            return;
        }
        let client_closes = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if response.close || client_closes {
            return;
        }
    }
}

/// Status of the marker [`handle`] gives when a conditional write passed its check and should
/// be written after [`Options::precondition_race`].
const CHECKED: u16 = 0;

/// Handles one request; a conditional write on an ordinary bucket is checked, then written a
/// race window later, as Riak does it.
async fn answer(request: &mut Request, cluster: &Cluster) -> Response {
    let first = handle(request, cluster);
    if first.status != CHECKED {
        return first;
    }
    tokio::time::sleep(cluster.options.precondition_race).await;
    request.checked = true;
    handle(request, cluster)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

/// MochiWeb's `unquote`: `%XX` and `+` as a space.
fn unquote(segment: &str) -> Vec<u8> {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// MochiWeb's `quote_plus`, as used in `Link` headers.
fn quote_plus(raw: &[u8]) -> String {
    let mut out = String::new();
    for &c in raw {
        match c {
            b' ' => out.push('+'),
            c if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'~' | b'_') => {
                out.push(c as char)
            }
            c => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&unquote(k)).into_owned(),
                String::from_utf8_lossy(&unquote(v)).into_owned(),
            )
        })
        .collect()
}

fn handle(req: &Request, cluster: &Cluster) -> Response {
    let target = req.target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query_pairs(query);
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["ping"] => Response::new(200, "OK")
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()))
            .h("Content-Type", "text/html")
            .with_body("OK"),
        ["stats"] => text(
            200,
            "OK",
            true,
            "application/json",
            r#"{"riak_kv_version":"0.0.0+d93755e","storage_backend":"riak_kv_multi_backend","ring_num_partitions":8}"#,
        ),
        ["buckets"] => list_buckets(cluster, "default", q("buckets")),
        ["types", t, "buckets"] => {
            let t = String::from_utf8_lossy(&unquote(t)).into_owned();
            if !cluster.lock().types.contains_key(&t) {
                return not_found_html_vary("Accept-Encoding");
            }
            list_buckets(cluster, &t, q("buckets"))
        }
        ["types", t, "props"] if req.method == "GET" => {
            let t = String::from_utf8_lossy(&unquote(t)).into_owned();
            type_props(cluster, &t)
        }
        ["buckets", b, rest @ ..] => bucket_route(req, cluster, "default", b, rest, q),
        ["types", t, "buckets", b, rest @ ..] => {
            let t = String::from_utf8_lossy(&unquote(t)).into_owned();
            bucket_route(req, cluster, &t, b, rest, q)
        }
        _ => not_found_html(),
    }
}

fn list_buckets(cluster: &Cluster, bucket_type: &str, param: Option<&str>) -> Response {
    let names: Vec<String> = {
        let state = cluster.lock();
        state
            .buckets
            .iter()
            .filter(|((t, _), data)| t == bucket_type && !data.objects.is_empty())
            .map(|((_, b), _)| json_ascii(b))
            .collect()
    };
    let body = format!("{{\"buckets\":[{}]}}", names.join(","));
    match param {
        Some("true") => text(200, "OK", true, "application/json", &body),
        Some("stream") => {
            let mut r = Response::new(200, "OK")
                .h("Vary", "Accept-Encoding")
                .h("Transfer-Encoding", "chunked")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", "application/json");
            r.chunks = Some(vec![body.into_bytes(), b"{\"buckets\":[]}".to_vec()]);
            r
        }
        _ => crash(
            true,
            "[{webmachine_resource,do,3,[{file,\"<src>/webmachine/src/webmachine_resource.erl\"}]}]",
        ),
    }
}

fn bucket_route<'q>(
    req: &Request,
    cluster: &Cluster,
    bucket_type: &str,
    bucket: &str,
    rest: &[&str],
    q: impl Fn(&str) -> Option<&'q str>,
) -> Response {
    let known_type = cluster.lock().types.contains_key(bucket_type);
    let bucket = unquote(bucket);
    let id = (bucket_type.to_owned(), bucket.clone());
    match rest {
        ["keys", key] if !known_type => {
            let _ = key;
            text(
                404,
                "Object Not Found",
                false,
                "text/plain",
                &format!("Unknown bucket type: {bucket_type}"),
            )
        }
        _ if !known_type => not_found_html_vary("Accept-Encoding"),
        ["keys"] | ["keys", ""] if req.method == "GET" => list_keys(cluster, &id, q("keys")),
        ["keys"] if req.method == "POST" => {
            // A server-assigned key; Location is not encoded at all.
            let key = {
                let mut state = cluster.lock();
                state.next_tag += 1;
                base62(mix(state.next_tag ^ 0x9057), 27)
            };
            let returnbody = q("returnbody") == Some("true");
            let mut response = put_object(req, cluster, &id, key.as_bytes(), returnbody);
            if !matches!(response.status, 200 | 204) {
                return response;
            }
            let prefix = if bucket_type == "default" {
                String::new()
            } else {
                format!("/types/{bucket_type}")
            };
            let location = format!(
                "{prefix}/buckets/{}/keys/{key}",
                String::from_utf8_lossy(&bucket)
            );
            if returnbody {
                // The object's own response, as 201 with Location after Server.
                response.status = 201;
                response.reason = "Created";
                let at = response
                    .headers
                    .iter()
                    .position(|(n, _)| n == "Server")
                    .map_or(0, |p| p + 1);
                response
                    .headers
                    .insert(at, ("Location".to_owned(), location));
                return response;
            }
            Response::new(201, "Created")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("Location", location)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", req.header("content-type").unwrap_or(""))
                .with_body(Vec::new())
        }
        ["keys", key] => {
            let key = unquote(key);
            if let Some(refusal) = check_request_params(req, &q) {
                return refusal;
            }
            if let Some(answer) = key_fault_answer(req, cluster, &id, &key, &q) {
                return answer;
            }
            match req.method.as_str() {
                "GET" | "HEAD" => get_object(req, cluster, &id, &key, q("vtag"), false),
                "PUT" | "POST" => {
                    put_object(req, cluster, &id, &key, q("returnbody") == Some("true"))
                }
                "DELETE" => delete_object(req, cluster, &id, &key),
                other => text(
                    501,
                    "Not Implemented",
                    false,
                    "text/html",
                    &format!(
                        "<html><head><title>501 Not Implemented</title></head><body><h1>Not Implemented</h1>The server does not support the \"{other}\" method.<br><P><HR><ADDRESS>mochiweb+webmachine web server</ADDRESS></body></html>"
                    ),
                ),
            }
        }
        ["keys", _, _, ..] => text(400, "Bad Request", false, "text/plain", LINK_WALK),
        ["props"] => props(req, cluster, &id),
        ["index", name, values @ ..] => index_query(cluster, &id, name, values, q),
        _ => not_found_html(),
    }
}

/// Every bucket here has Riak's default `n_val`.
const N_VAL: u32 = 3;

/// A quorum parameter as a number of replicas; `None` for a value Riak refuses.
fn quorum_value(text: &str, default: u32) -> Option<u32> {
    match text {
        "one" => Some(1),
        "quorum" => Some(N_VAL / 2 + 1),
        "all" => Some(N_VAL),
        "default" => Some(default),
        n => n.parse().ok(),
    }
}

/// Riak's checks of `r`, `pr`, `w`, `dw`, `pw`, `rw` and `timeout` on an object request,
/// with the response headers recorded for each method.
fn check_request_params<'q>(
    req: &Request,
    q: &impl Fn(&str) -> Option<&'q str>,
) -> Option<Response> {
    let names: &[&str] = match req.method.as_str() {
        "GET" | "HEAD" => &["r", "pr"],
        "PUT" | "POST" => &["w", "dw", "pw"],
        "DELETE" => &["rw", "r", "w", "pr", "pw", "dw"],
        _ => &[],
    };
    let refuse = |body: String, get_type: Option<&str>| {
        let mut r = Response::new(400, "Bad Request");
        let ctype = match req.method.as_str() {
            "GET" | "HEAD" => get_type.map(str::to_owned),
            "DELETE" => Some("text/html".to_owned()),
            _ => Some(
                req.header("content-type")
                    .unwrap_or("text/plain")
                    .to_owned(),
            ),
        };
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            r = r.h("Vary", "Accept-Encoding");
        }
        r = r
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()));
        if let Some(ctype) = ctype {
            r = r.h("Content-Type", ctype);
        }
        r.with_body(body.into_bytes())
    };
    for name in names {
        let Some(value) = q(name) else { continue };
        match quorum_value(value, 0) {
            None => {
                return Some(refuse(
                    format!(
                        "{name} query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'\n"
                    ),
                    Some("text/plain"),
                ));
            }
            Some(n) if n > N_VAL => {
                return Some(refuse(
                    format!(
                        "Specified w/dw/pw/node_confirms values invalid for bucket n value of {N_VAL}\n"
                    ),
                    None,
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(t) = q("timeout")
        && t.parse::<u64>().is_err()
    {
        return Some(refuse(
            format!("Bad timeout value \"{t}\"\n"),
            Some("text/plain"),
        ));
    }
    None
}

/// A `503` from Riak's request coordinator; writes carry `Vary`, reads do not (transcript 13).
fn unsatisfied(req: &Request, body: String) -> Response {
    let write = matches!(req.method.as_str(), "PUT" | "POST" | "DELETE");
    text(503, "Service Unavailable", write, "text/plain", &body)
}

/// What a [`KeyFault`] makes the cluster answer, if it changes the answer.
fn key_fault_answer<'q>(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
    q: &impl Fn(&str) -> Option<&'q str>,
) -> Option<Response> {
    if !cluster.any_key_fault.load(Ordering::Relaxed) {
        return None;
    }
    let mut state = cluster.lock();
    let fault = *state.key_faults.get(&(id.1.clone(), key.to_vec()))?;
    let holding = match fault {
        KeyFault::None => return None,
        KeyFault::Unavailable => return Some(unsatisfied(req, "request timed out\n".into())),
        KeyFault::Fallbacks { holding } => u32::from(holding).min(N_VAL),
    };
    let param = |name: &str, default: u32| {
        q(name)
            .and_then(|v| quorum_value(v, default))
            .unwrap_or(default)
    };
    let flag = |name: &str, default: bool| q(name).map_or(default, |v| v == "true");
    match req.method.as_str() {
        "PUT" | "POST" | "DELETE" => {
            // The put coordinator counts the primaries in the preference list before it writes.
            let pw = param("pw", 0);
            (pw > holding)
                .then(|| unsatisfied(req, format!("PW-value unsatisfied: {holding}/{pw}\n")))
        }
        "GET" | "HEAD" => {
            reap(&mut state, id);
            let exists = state
                .buckets
                .get(id)
                .and_then(|b| b.objects.get(key))
                .is_some_and(|o| !o.is_deleted());
            if !exists {
                // Every replica says "not found" anyway.
                return None;
            }
            let r = param("r", N_VAL / 2 + 1);
            let pr = param("pr", 0);
            let notfound_ok = flag("notfound_ok", true);
            let basic_quorum = flag("basic_quorum", false);
            match get_core(holding, r, pr, notfound_ok, basic_quorum) {
                GetOutcome::Found => None,
                GetOutcome::NotFound => Some(not_found_object()),
                GetOutcome::Unsatisfied(body) => Some(unsatisfied(req, body)),
            }
        }
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum GetOutcome {
    Found,
    NotFound,
    Unsatisfied(String),
}

/// Riak's get coordinator (`riak_kv_get_fsm` + `riak_kv_get_core`) for an object that
/// `holding` primaries have, the other `N_VAL - holding` replicas being empty fallbacks whose
/// "not found" answers arrive first.
fn get_core(holding: u32, r: u32, pr: u32, notfound_ok: bool, basic_quorum: bool) -> GetOutcome {
    // The coordinator refuses at once when the preference list has too few primaries.
    if pr > holding {
        return GetOutcome::Unsatisfied(format!("PR-value unsatisfied: {holding}/{pr}\n"));
    }
    let fail_threshold = if basic_quorum {
        (N_VAL / 2 + 1).min(N_VAL - r + 1)
    } else {
        N_VAL - r + 1
    };
    let (mut ok, mut pok, mut notfound, mut found) = (0u32, 0u32, 0u32, false);
    let answers = (0..N_VAL - holding)
        .map(|_| false)
        .chain((0..holding).map(|_| true));
    for has_object in answers {
        if has_object {
            ok += 1;
            pok += 1;
            found = true;
        } else if notfound_ok {
            ok += 1;
        } else {
            notfound += 1;
        }
        let enough = (ok >= r && pok >= pr) || notfound >= fail_threshold || ok + notfound >= N_VAL;
        if enough {
            break;
        }
    }
    if ok >= r && pok >= pr {
        return if found {
            GetOutcome::Found
        } else {
            GetOutcome::NotFound
        };
    }
    // Only "not found"s (no tombstones here): Riak answers "not found".
    if notfound > 0 && ok == 0 {
        return GetOutcome::NotFound;
    }
    if (pr > 0 && pok < pr && ok >= r) || pr >= r {
        return GetOutcome::Unsatisfied(format!("PR-value unsatisfied: {pok}/{pr}\n"));
    }
    GetOutcome::Unsatisfied(format!("R-value unsatisfied: {ok}/{r}\n"))
}

/// `GET /types/{type}/props`, in the order Riak 3.2.2 writes them (transcripts 13 and 14).
fn type_props(cluster: &Cluster, bucket_type: &str) -> Response {
    let state = cluster.lock();
    let Some(&mult) = state.types.get(bucket_type) else {
        return not_found_html_vary("Accept-Encoding");
    };
    let consistent = state.consistent.contains(bucket_type);
    let dvv = bucket_type != "default";
    let body = format!(
        r#"{{"props":{{"young_vclock":20,"w":"quorum","sync_on_write":"backend","small_vclock":50,"rw":"quorum","r":"quorum","pw":0,"precommit":[],"pr":0,"postcommit":[],"old_vclock":86400,"notfound_ok":true,"node_confirms":0,"n_val":3,"linkfun":{{"mod":"riak_kv_wm_link_walker","fun":"mapreduce_linkfun"}},"last_write_wins":false,"dw":"quorum","dvv_enabled":{dvv},"chash_keyfun":{{"mod":"riak_core_util","fun":"chash_std_keyfun"}},"big_vclock":50,"basic_quorum":false,"allow_mult":{mult},{}"active":true,"claimant":"dev1@127.0.0.1"}}}}"#,
        if consistent {
            r#""consistent":true,"#
        } else {
            ""
        }
    );
    text(200, "OK", true, "application/json", &body)
}

fn is_consistent(state: &State, id: &(String, Vec<u8>)) -> bool {
    state.consistent.contains(&id.0)
}

/// The `412` webmachine answers when a precondition fails.
fn precondition_failed() -> Response {
    text(
        412,
        "Precondition Failed",
        true,
        "text/html",
        "<html><head><title>412 Precondition Failed</title></head><body><h1>Precondition Failed</h1><p><hr><address>mochiweb+webmachine web server</address></body></html>",
    )
}

/// Whether a request carries a webmachine precondition.
fn is_conditional(req: &Request) -> bool {
    ["if-match", "if-none-match", "if-unmodified-since"]
        .iter()
        .any(|h| req.header(h).is_some())
}

fn allow_mult(state: &State, id: &(String, Vec<u8>)) -> bool {
    state
        .buckets
        .get(id)
        .and_then(|b| b.allow_mult)
        .unwrap_or_else(|| state.types.get(&id.0).copied().unwrap_or(false))
}

fn props(req: &Request, cluster: &Cluster, id: &(String, Vec<u8>)) -> Response {
    let mut state = cluster.lock();
    match req.method.as_str() {
        "GET" => {
            let body = format!(
                r#"{{"props":{{"allow_mult":{},"basic_quorum":false,{}"dvv_enabled":{},"last_write_wins":false,"n_val":3,"name":{},"notfound_ok":true,"r":"quorum","w":"quorum"}}}}"#,
                allow_mult(&state, id),
                if is_consistent(&state, id) {
                    r#""consistent":true,"#
                } else {
                    ""
                },
                id.0 != "default",
                json_ascii(&id.1)
            );
            text(200, "OK", true, "application/json", &body)
        }
        "PUT" => {
            let ctype = req.header("content-type").unwrap_or("");
            if !ctype.starts_with("application/json") {
                return text(
                    415,
                    "Unsupported Media Type",
                    true,
                    "text/html",
                    "<html><head><title>415 Unsupported Media Type</title></head><body><h1>Unsupported Media Type</h1><p><hr><address>mochiweb+webmachine web server</address></body></html>",
                );
            }
            let parsed: Option<serde_json::Value> = serde_json::from_slice(&req.body).ok();
            let Some(props) = parsed
                .as_ref()
                .and_then(|v| v.get("props"))
                .and_then(|p| p.as_object())
            else {
                return text(
                    400,
                    "Bad Request",
                    false,
                    "text/plain",
                    "bucket PUT must be a JSON object of the form:\n{\"props\":{...bucket properties...}}",
                );
            };
            if let Some(v) = props.get("allow_mult") {
                let Some(flag) = v.as_bool() else {
                    return text(
                        400,
                        "Bad Request",
                        true,
                        "application/json",
                        r#"{"allow_mult":"not_boolean"}"#,
                    );
                };
                state.buckets.entry(id.clone()).or_default().allow_mult = Some(flag);
            }
            Response::new(204, "No Content")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", ctype)
        }
        "DELETE" => {
            if let Some(b) = state.buckets.get_mut(id) {
                b.allow_mult = None;
            }
            Response::new(204, "No Content")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", "application/json")
        }
        _ => not_found_html(),
    }
}

fn list_keys(cluster: &Cluster, id: &(String, Vec<u8>), param: Option<&str>) -> Response {
    let keys: Vec<String> = {
        let mut state = cluster.lock();
        reap(&mut state, id);
        state
            .buckets
            .get(id)
            .map(|b| b.objects.keys().map(|k| json_ascii(k)).collect())
            .unwrap_or_default()
    };
    match param {
        Some("true") => text(
            200,
            "OK",
            true,
            "application/json",
            &format!("{{\"keys\":[{}]}}", keys.join(",")),
        ),
        Some("stream") => {
            let mut r = Response::new(200, "OK")
                .h("Vary", "Accept-Encoding")
                .h("Transfer-Encoding", "chunked")
                .h("Server", SERVER)
                .h("Date", http_date(SystemTime::now()))
                .h("Content-Type", "application/json");
            let mut chunks: Vec<Vec<u8>> = keys
                .chunks(100)
                .map(|c| format!("{{\"keys\":[{}]}}", c.join(",")).into_bytes())
                .collect();
            chunks.push(b"{\"keys\":[]}".to_vec());
            r.chunks = Some(chunks);
            r
        }
        _ => text(200, "OK", true, "application/json", "{}"),
    }
}

/// Forgets the tombstone of one key if its time is up.
fn reap_key(state: &mut State, id: &(String, Vec<u8>), key: &[u8]) {
    // Now and then the whole bucket, so tombstones of keys nobody touches again (a bench's)
    // do not pile up.
    if state.next_tag.is_multiple_of(4096) {
        reap(state, id);
        return;
    }
    let now = Instant::now();
    if let Some(bucket) = state.buckets.get_mut(id)
        && bucket
            .objects
            .get(key)
            .is_some_and(|o| o.is_deleted() && o.reap_at.is_some_and(|at| at <= now))
    {
        bucket.objects.remove(key);
    }
}

/// Forgets tombstones whose time is up, in a whole bucket.
fn reap(state: &mut State, id: &(String, Vec<u8>)) {
    let now = Instant::now();
    if let Some(bucket) = state.buckets.get_mut(id) {
        bucket
            .objects
            .retain(|_, o| !(o.is_deleted() && o.reap_at.is_some_and(|at| at <= now)));
    }
}

fn encode_vclock(tag: u64) -> String {
    let mut raw = VCLOCK_MAGIC.to_vec();
    raw.extend_from_slice(&tag.to_be_bytes());
    B64.encode(raw)
}

/// The tag a vclock has seen, or the Erlang crash Riak gives for a bad one.
fn decode_vclock(text: &str) -> Result<u64, Response> {
    let bad = || {
        crash(
            true,
            "{error,\n    {error,badarg,\n        [{base64,decode_list,5,[{file,\"base64.erl\"}]},\n         {riak_kv_wm_object,decode_vclock_header,1,\n             [{file,\"<src>/riak_kv/src/riak_kv_wm_object.erl\"}]}]}}",
        )
    };
    let raw = B64.decode(text.trim()).map_err(|_| bad())?;
    let tag = raw
        .strip_prefix(VCLOCK_MAGIC)
        .and_then(|t| <[u8; 8]>::try_from(t).ok())
        .ok_or_else(bad)?;
    Ok(u64::from_be_bytes(tag))
}

fn recase(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `Link` to the bucket; Riak 3.2.2 leaves the bucket type out (transcripts 13, 14).
fn link_up(id: &(String, Vec<u8>)) -> String {
    format!("</buckets/{}>; rel=\"up\"", quote_plus(&id.1))
}

fn content_type(s: &Sibling) -> String {
    match &s.charset {
        Some(c) => format!("{}; charset={c}", s.media_type),
        None => s.media_type.clone(),
    }
}

/// Riak keeps metadata in a dictionary and writes it back in reverse name order.
fn meta_lines(s: &Sibling) -> Vec<&(String, String)> {
    let mut lines: Vec<&(String, String)> = s.meta.iter().collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0));
    lines
}

fn index_lines(s: &Sibling) -> Vec<(String, String)> {
    s.indexes
        .iter()
        .rev()
        .map(|(name, values)| {
            (
                format!("x-riak-index-{name}"),
                values.iter().map(Term::text).collect::<Vec<_>>().join(", "),
            )
        })
        .collect()
}

/// Media ranges of an Accept header, best first.
fn accept_ranges(accept: Option<&str>) -> Vec<String> {
    let Some(accept) = accept else {
        return vec!["*/*".into()];
    };
    let mut ranges: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, r)| {
            let mut parts = r.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !media.is_empty()).then_some((q, i, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, m)| m).collect()
}

fn matches_range(range: &str, media: &str) -> bool {
    range == "*/*"
        || range == media
        || range
            .strip_suffix("/*")
            .is_some_and(|major| media.split('/').next() == Some(major))
}

/// The first of `provided` the Accept header takes, webmachine-style.
fn negotiate<'a>(accept: Option<&str>, provided: &[&'a str]) -> Option<&'a str> {
    accept_ranges(accept)
        .iter()
        .find_map(|range| provided.iter().find(|p| matches_range(range, p)).copied())
}

fn single_response(id: &(String, Vec<u8>), obj: &Object, s: &Sibling, status: u16) -> Response {
    let mut r = Response::new(status, if status == 200 { "OK" } else { "Created" })
        .h("X-Riak-Vclock", encode_vclock(obj.vclock_tag()));
    for (name, value) in meta_lines(s) {
        r = r.h(&format!("X-Riak-Meta-{}", recase(name)), value.clone());
    }
    for (name, value) in index_lines(s) {
        r = r.h(&name, value);
    }
    let link = match &s.links {
        Some(user) => format!("{user}, {}", link_up(id)),
        None => link_up(id),
    };
    r.h("Vary", "Accept-Encoding")
        .h("Server", SERVER)
        .h("Link", link)
        .h("Last-Modified", http_date(s.modified))
        .h("ETag", format!("\"{}\"", s.vtag()))
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", content_type(s))
        .with_body(s.body.clone())
}

fn siblings_response(req: &Request, id: &(String, Vec<u8>), obj: &Object, vary: &str) -> Response {
    let newest = obj
        .siblings
        .iter()
        .map(|s| s.modified)
        .max()
        .unwrap_or(UNIX_EPOCH);
    let head = Response::new(300, "Multiple Choices")
        .h("X-Riak-Vclock", encode_vclock(obj.vclock_tag()))
        .h("Vary", vary)
        .h("Server", SERVER)
        .h("Last-Modified", http_date(newest))
        .h("ETag", format!("\"{}\"", base62(mix(obj.vclock_tag()), 22)))
        .h("Date", http_date(SystemTime::now()));
    // Riak keeps siblings ordered by their contents.
    let mut siblings: Vec<&Sibling> = obj.siblings.iter().collect();
    siblings.sort_by(|a, b| a.body.cmp(&b.body));
    match negotiate(req.header("accept"), &["text/plain", "multipart/mixed"]) {
        Some("multipart/mixed") => {
            let boundary = base62(mix(obj.vclock_tag() ^ 0xb0b0), 27);
            let mut body = Vec::new();
            for s in &siblings {
                body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
                let ctype = if s.deleted {
                    "application/octet-stream".to_owned()
                } else {
                    content_type(s)
                };
                let mut h = format!(
                    "Content-Type: {ctype}\r\nLink: {}\r\nEtag: {}\r\nLast-Modified: {}\r\n",
                    link_up(id),
                    s.vtag(),
                    http_date(s.modified)
                );
                for (name, value) in meta_lines(s) {
                    h.push_str(&format!("X-Riak-Meta-{}: {value}\r\n", recase(name)));
                }
                for (name, value) in index_lines(s) {
                    h.push_str(&format!("{name}: {value}\r\n"));
                }
                if s.deleted {
                    h.push_str("X-Riak-Deleted: true\r\n");
                }
                body.extend_from_slice(h.as_bytes());
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(&s.body);
            }
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            head.h(
                "Content-Type",
                format!("multipart/mixed; boundary={boundary}"),
            )
            .with_body(body)
        }
        Some(_) => {
            let mut list = "Siblings:\n".to_owned();
            for s in &siblings {
                list.push_str(&s.vtag());
                list.push('\n');
            }
            head.h("Content-Type", "text/plain").with_body(list)
        }
        None => text(
            406,
            "Not Acceptable",
            false,
            "text/html",
            NOT_ACCEPTABLE_HTML,
        ),
    }
}

fn get_object(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
    vtag: Option<&str>,
    _returnbody: bool,
) -> Response {
    let mut state = cluster.lock();
    reap_key(&mut state, id, key);
    let Some(obj) = state.buckets.get(id).and_then(|b| b.objects.get(key)) else {
        return not_found_object();
    };
    if let Some(vtag) = vtag {
        return match obj.siblings.iter().find(|s| s.vtag() == vtag) {
            Some(s) => single_response(id, obj, s, 200),
            None => not_found_html_vary("Accept, Accept-Encoding"),
        };
    }
    if let Some(etag) = object_etag(obj) {
        let unchanged = match req.header("if-none-match") {
            Some(list) => etag_listed(list, &etag),
            None => req
                .header("if-modified-since")
                .and_then(parse_http_date)
                .is_some_and(|since| last_modified_secs(obj) <= since),
        };
        if unchanged {
            return Response::new(304, "Not Modified")
                .h("Vary", "Accept-Encoding")
                .h("Server", SERVER)
                .h("ETag", etag)
                .h("Date", http_date(SystemTime::now()));
        }
    }
    object_response(req, id, obj, "Accept, Accept-Encoding")
}

/// The object's ETag as a response carries it (quoted), if it exists (tombstones do not).
fn object_etag(obj: &Object) -> Option<String> {
    match obj.siblings.as_slice() {
        _ if obj.is_deleted() => None,
        [only] => Some(format!("\"{}\"", only.vtag())),
        _ => Some(format!("\"{}\"", base62(mix(obj.vclock_tag()), 22))),
    }
}

fn last_modified_secs(obj: &Object) -> u64 {
    obj.siblings
        .iter()
        .map(|s| s.modified)
        .max()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Whether an If-Match / If-None-Match list names `etag` (or is `*`). Unquoted values do not
/// match, as on Riak.
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|v| v == "*" || v == etag)
}

/// Webmachine's precondition checks for PUT and DELETE (If-Match, If-Unmodified-Since,
/// If-None-Match), against the object as it is; `None` means go ahead. Like Riak's, the check is
/// not atomic with the write that follows it across connections.
fn precondition(req: &Request, obj: Option<&Object>) -> Option<Response> {
    let failed = || Some(precondition_failed());
    let existing = obj.filter(|o| !o.is_deleted());
    let etag = existing.and_then(object_etag);
    if let Some(list) = req.header("if-match") {
        match &etag {
            None => return failed(),
            Some(etag) if !etag_listed(list, etag) => return failed(),
            Some(_) => {}
        }
    }
    if let (Some(obj), Some(since)) = (
        existing,
        req.header("if-unmodified-since").and_then(parse_http_date),
    ) && last_modified_secs(obj) > since
    {
        return failed();
    }
    if let (Some(list), Some(etag)) = (req.header("if-none-match"), &etag)
        && etag_listed(list, etag)
    {
        return failed();
    }
    None
}

fn object_response(req: &Request, id: &(String, Vec<u8>), obj: &Object, vary: &str) -> Response {
    if obj.is_deleted() {
        return Response::new(404, "Object Not Found")
            .h("X-Riak-Vclock", encode_vclock(obj.vclock_tag()))
            .h("X-Riak-Deleted", "true")
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()))
            .h("Content-Type", "text/plain")
            .with_body("not found\n");
    }
    match obj.siblings.as_slice() {
        [only] => {
            let media = only.media_type.as_str();
            if negotiate(req.header("accept"), &[media]).is_none() {
                return text(
                    406,
                    "Not Acceptable",
                    false,
                    "text/html",
                    NOT_ACCEPTABLE_HTML,
                );
            }
            single_response(id, obj, only, 200)
        }
        _ => siblings_response(req, id, obj, vary),
    }
}

fn put_object(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
    returnbody: bool,
) -> Response {
    let Some(ctype) = req.header("content-type") else {
        return text(
            400,
            "Bad Request",
            false,
            "text/plain",
            "Missing Content-Type request header",
        );
    };
    if req.body.len() > cluster.options.max_object_bytes {
        return text(
            500,
            "Internal Server Error",
            true,
            "text/plain",
            &format!("Error:\n{{too_large,{}}}\n", req.body.len() + 200),
        );
    }
    let mut params = ctype.split(';');
    let media_type = params.next().unwrap_or("").trim().to_owned();
    let charset = params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().to_owned())
    });
    let mut meta = Vec::new();
    let mut indexes: BTreeMap<String, Vec<Term>> = BTreeMap::new();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if let Some(m) = lower.strip_prefix("x-riak-meta-") {
            meta.push((m.to_owned(), value.clone()));
        } else if let Some(field) = lower.strip_prefix("x-riak-index-") {
            for v in value.split(',').map(str::trim) {
                let term = if field.ends_with("_int") {
                    match v.parse::<i128>() {
                        Ok(n) => Term::Int(n),
                        Err(_) => {
                            return text(
                                400,
                                "Bad Request",
                                false,
                                "text/plain",
                                &format!("Could not parse field '{field}', value '{v}'.\n"),
                            );
                        }
                    }
                } else if field.ends_with("_bin") {
                    Term::Bin(v.as_bytes().to_vec())
                } else {
                    return text(
                        400,
                        "Bad Request",
                        false,
                        "text/plain",
                        &format!("Unknown field type for field: '{field}'.\n"),
                    );
                };
                let values = indexes.entry(field.to_owned()).or_default();
                if !values.contains(&term) {
                    values.push(term);
                }
            }
        }
    }
    for values in indexes.values_mut() {
        values.sort();
    }
    if returnbody && negotiate(req.header("accept"), &[media_type.as_str()]).is_none() {
        // Riak negotiates before it writes: nothing is stored.
        return text(
            406,
            "Not Acceptable",
            false,
            "text/html",
            NOT_ACCEPTABLE_HTML,
        );
    }
    let mut state = cluster.lock();
    reap_key(&mut state, id, key);
    let consistent = is_consistent(&state, id);
    let current = state.buckets.get(id).and_then(|b| b.objects.get(key));
    if !req.checked {
        if let Some(failed) = precondition(req, current) {
            return failed;
        }
        if !consistent && is_conditional(req) && !cluster.options.precondition_race.is_zero() {
            // Riak's check was a read; the write follows after a moment, unlocked.
            return Response::new(CHECKED, "Checked");
        }
    }
    let seen = match req.header("x-riak-vclock") {
        Some(v) => match decode_vclock(v) {
            Ok(tag) => Some(tag),
            Err(crash) => return crash,
        },
        None => None,
    };
    if consistent {
        // riak_ensemble: a PUT without a vclock is put_once, one with a vclock must name the
        // current version exactly.
        let live = current.filter(|o| !o.is_deleted());
        let holds = match (seen, live) {
            (None, None) => true,
            (Some(tag), Some(obj)) => obj.vclock_tag() == tag,
            _ => false,
        };
        if !holds {
            return precondition_failed();
        }
    }
    let mult = allow_mult(&state, id) && !consistent;
    let tag = state.next_tag;
    state.next_tag += 1;
    let sibling = Sibling {
        tag,
        deleted: false,
        media_type,
        charset,
        meta,
        indexes,
        links: req.header("link").map(str::to_owned),
        body: req.body.clone(),
        modified: SystemTime::now(),
    };
    let bucket = state.buckets.entry(id.clone()).or_default();
    let obj = bucket.objects.entry(key.to_vec()).or_default();
    if mult {
        // Siblings the writer has seen are replaced; the rest stay beside the new value.
        let seen = seen.unwrap_or(0);
        obj.siblings.retain(|s| s.tag > seen);
    } else {
        obj.siblings.clear();
    }
    obj.siblings.push(sibling);
    obj.reap_at = None;
    if returnbody {
        return object_response(req, id, obj, "Accept-Encoding");
    }
    Response::new(204, "No Content")
        .h("Vary", "Accept-Encoding")
        .h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", ctype)
}

fn delete_object(req: &Request, cluster: &Cluster, id: &(String, Vec<u8>), key: &[u8]) -> Response {
    let mut state = cluster.lock();
    reap_key(&mut state, id, key);
    let consistent = is_consistent(&state, id);
    let current = state.buckets.get(id).and_then(|b| b.objects.get(key));
    if !req.checked {
        if let Some(failed) = precondition(req, current) {
            return failed;
        }
        if !consistent && is_conditional(req) && !cluster.options.precondition_race.is_zero() {
            return Response::new(CHECKED, "Checked");
        }
    }
    let seen = match req.header("x-riak-vclock").map(decode_vclock) {
        Some(Ok(tag)) => Some(tag),
        Some(Err(crash)) => return crash,
        None => None,
    };
    if consistent {
        // A vclock must name the current version; without one the delete is blind and always
        // answers 204. Nothing of the key is left to read.
        let live = current.filter(|o| !o.is_deleted());
        if let Some(tag) = seen
            && live.is_none_or(|o| o.vclock_tag() != tag)
        {
            return precondition_failed();
        }
        if let Some(bucket) = state.buckets.get_mut(id) {
            bucket.objects.remove(key);
        }
        return Response::new(204, "No Content")
            .h("Vary", "Accept-Encoding")
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()))
            .h("Content-Type", "text/html");
    }
    let tag = state.next_tag;
    state.next_tag += 1;
    let ttl = cluster.options.tombstone_ttl;
    let mult = allow_mult(&state, id);
    let Some(obj) = state
        .buckets
        .get_mut(id)
        .and_then(|b| b.objects.get_mut(key))
        .filter(|o| !o.is_deleted())
    else {
        return text(404, "Object Not Found", true, "text/plain", "not found\n");
    };
    // The tombstone replaces what the vclock covers (without one, Riak reads the object and
    // uses its vclock: everything); siblings written since stay beside it (transcript 14).
    let covered = seen.unwrap_or(u64::MAX);
    if mult {
        obj.siblings.retain(|s| s.tag > covered);
    } else {
        obj.siblings.clear();
    }
    obj.siblings.push(Sibling {
        tag,
        deleted: true,
        media_type: "application/octet-stream".into(),
        charset: None,
        meta: Vec::new(),
        indexes: BTreeMap::new(),
        links: None,
        body: Vec::new(),
        modified: SystemTime::now(),
    });
    obj.reap_at = Some(Instant::now() + ttl);
    Response::new(204, "No Content")
        .h("Vary", "Accept-Encoding")
        .h("Server", SERVER)
        .h("Date", http_date(SystemTime::now()))
        .h("Content-Type", "text/html")
}

// ---------------------------------------------------------------------------------------------
// Secondary indexes

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Term {
    Int(i128),
    Bin(Vec<u8>),
}

impl Term {
    fn text(&self) -> String {
        match self {
            Term::Int(n) => n.to_string(),
            Term::Bin(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }

    fn etf(&self, out: &mut Vec<u8>) {
        match self {
            Term::Int(n) if (0..=255).contains(n) => out.extend_from_slice(&[97, *n as u8]),
            Term::Int(n) if i32::try_from(*n).is_ok() => {
                out.push(98);
                out.extend_from_slice(&(*n as i32).to_be_bytes());
            }
            Term::Int(n) => {
                let mut digits = n.unsigned_abs().to_le_bytes().to_vec();
                while digits.last() == Some(&0) {
                    digits.pop();
                }
                out.extend_from_slice(&[110, digits.len() as u8, u8::from(*n < 0)]);
                out.extend_from_slice(&digits);
            }
            Term::Bin(b) => etf_bin(b, out),
        }
    }
}

fn etf_bin(b: &[u8], out: &mut Vec<u8>) {
    out.push(109);
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn etf_term(raw: &[u8]) -> Option<(Term, &[u8])> {
    let (&tag, rest) = raw.split_first()?;
    match tag {
        97 => Some((Term::Int(i128::from(*rest.first()?)), &rest[1..])),
        98 => {
            let (n, rest) = rest.split_first_chunk::<4>()?;
            Some((Term::Int(i128::from(i32::from_be_bytes(*n))), rest))
        }
        110 => {
            let (&len, rest) = rest.split_first()?;
            let (&sign, rest) = rest.split_first()?;
            let digits = rest.get(..len as usize)?;
            if digits.len() > 16 {
                return None;
            }
            let mut value: u128 = 0;
            for (i, d) in digits.iter().enumerate() {
                value |= u128::from(*d) << (8 * i);
            }
            let value = i128::try_from(value).ok()?;
            Some((
                Term::Int(if sign == 1 { -value } else { value }),
                &rest[len as usize..],
            ))
        }
        109 => {
            let (len, rest) = rest.split_first_chunk::<4>()?;
            let len = u32::from_be_bytes(*len) as usize;
            Some((Term::Bin(rest.get(..len)?.to_vec()), &rest[len..]))
        }
        _ => None,
    }
}

fn index_query<'q>(
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    name: &str,
    values: &[&str],
    q: impl Fn(&str) -> Option<&'q str>,
) -> Response {
    let name = String::from_utf8_lossy(&unquote(name)).to_ascii_lowercase();
    let is_int = name.ends_with("_int");
    if !(is_int || name.ends_with("_bin") || name == "$bucket" || name == "$key") {
        return text(
            400,
            "Bad Request",
            false,
            "text/plain",
            &format!("Invalid query: {{unknown_field_type,<<\"{name}\">>}}\n"),
        );
    }
    let parse = |raw: &str| -> Result<Term, Response> {
        let raw = unquote(raw);
        if is_int {
            std::str::from_utf8(&raw)
                .ok()
                .and_then(|s| s.parse::<i128>().ok())
                .map(Term::Int)
                .ok_or_else(|| {
                    text(400, "Bad Request", false, "text/plain", &format!(
                        "Invalid query: {{field_parsing_failed,{{<<\"{name}\">>,<<\"{}\">>}}}}\n",
                        String::from_utf8_lossy(&raw)
                    ))
                })
        } else {
            Ok(Term::Bin(raw))
        }
    };
    let (start, end, range) = match values {
        [v] => match parse(v) {
            Ok(t) => (t.clone(), t, false),
            Err(r) => return r,
        },
        [a, b] => match (parse(a), parse(b)) {
            (Ok(a), Ok(b)) => (a, b, true),
            (Err(r), _) | (_, Err(r)) => return r,
        },
        _ => {
            return crash(
                false,
                "{error,function_clause,[{riak_kv_wm_index,malformed_request,2}]}",
            );
        }
    };
    let max_results = match q("max_results") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return text(
                    400,
                    "Bad Request",
                    false,
                    "text/plain",
                    &format!("Invalid \"max_results\". \"{v}\" is not a positive integer"),
                );
            }
        },
    };
    let after: Option<(Term, Vec<u8>)> = match q("continuation") {
        None => None,
        Some(c) => {
            let decoded = B64.decode(c).ok().and_then(|raw| {
                let rest = raw.strip_prefix(&[131u8][..])?;
                if range {
                    let rest = rest.strip_prefix(&[104u8, 2][..])?;
                    let (term, rest) = etf_term(rest)?;
                    let (Term::Bin(key), []) = etf_term(rest)? else {
                        return None;
                    };
                    Some((term, key))
                } else {
                    let (Term::Bin(key), []) = etf_term(rest)? else {
                        return None;
                    };
                    Some((start.clone(), key))
                }
            });
            match decoded {
                Some(d) => Some(d),
                None => {
                    return crash(
                        false,
                        "{error,function_clause,\n    [{base64,decode_list,\n         [[],<<>>]}]}",
                    );
                }
            }
        }
    };
    let return_terms = range && q("return_terms") == Some("true");
    let mut entries: Vec<(Term, Vec<u8>)> = Vec::new();
    {
        let mut state = cluster.lock();
        reap(&mut state, id);
        if let Some(bucket) = state.buckets.get(id) {
            for (key, obj) in &bucket.objects {
                let mut terms: Vec<Term> = match name.as_str() {
                    "$bucket" => {
                        vec![Term::Bin(id.1.clone())]
                    }
                    "$key" => vec![Term::Bin(key.clone())],
                    _ if obj.is_deleted() => Vec::new(),
                    _ => obj
                        .siblings
                        .iter()
                        .filter(|s| !s.deleted)
                        .flat_map(|s| s.indexes.get(&name).cloned().unwrap_or_default())
                        .collect(),
                };
                terms.sort();
                terms.dedup();
                for t in terms {
                    if t >= start && t <= end {
                        entries.push((t, key.clone()));
                    }
                }
            }
        }
    }
    let mut continuation = None;
    if let Some(max) = max_results {
        entries.sort();
        if let Some(after) = &after {
            entries.retain(|e| e > after);
        }
        if entries.len() >= max {
            entries.truncate(max);
            let (term, key) = &entries[max - 1];
            let mut raw = vec![131u8];
            if range {
                raw.extend_from_slice(&[104, 2]);
                term.etf(&mut raw);
            }
            etf_bin(key, &mut raw);
            continuation = Some(B64.encode(raw));
        }
    } else {
        // Riak gives no order without max_results; neither do we.
        entries.sort_by_key(|(t, k)| {
            mix(k.iter().fold(t.text().len() as u64, |h, b| {
                h.wrapping_mul(31).wrapping_add(u64::from(*b))
            }))
        });
    }
    let mut body = if return_terms {
        let items: Vec<String> = entries
            .iter()
            .map(|(t, k)| format!("{{{}:{}}}", json_utf8(t.text().as_bytes()), json_utf8(k)))
            .collect();
        format!("{{\"results\":[{}]", items.join(","))
    } else {
        let items: Vec<String> = entries.iter().map(|(_, k)| json_utf8(k)).collect();
        format!("{{\"keys\":[{}]", items.join(","))
    };
    if let Some(c) = continuation {
        body.push_str(&format!(",\"continuation\":\"{c}\""));
    }
    body.push('}');
    text(200, "OK", true, "application/json", &body)
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// A JSON string with non-ASCII as `\uXXXX` escapes (Riak's listings).
fn json_ascii(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string with raw UTF-8 (Riak's 2i results).
fn json_utf8(raw: &[u8]) -> String {
    serde_json::to_string(&String::from_utf8_lossy(raw)).unwrap_or_else(|_| "\"\"".into())
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn base62(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = mix(state);
            ALPHABET[(state % 62) as usize] as char
        })
        .collect()
}

/// Seconds since the epoch of an RFC 1123 date (`Sun, 22 Nov 2026 05:07:44 GMT`).
pub fn parse_http_date(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace().skip(1);
    let day: i64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? as i64 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|v| v.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()
}

/// RFC 1123 date, as in `Date` and `Last-Modified`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        WEEKDAYS[(days.rem_euclid(7)) as usize],
        MONTHS[(month - 1) as usize]
    )
}
