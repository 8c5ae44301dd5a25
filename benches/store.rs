//! Store speed, each against a peer in the same run:
//!
//! * `RiakStore` save + load + delete against the in-tree Riak server, next to the same three
//!   HTTP requests (same headers, same body, `returnbody=true` on the PUT, the GET's vclock sent
//!   with the DELETE) made with bare `reqwest`, one at a time (in one task on a runtime worker)
//!   and as 64 concurrent tasks; one at a time also bare without `returnbody` (what returning
//!   the saved version costs) and the store on a strongly consistent bucket type (whose delete
//!   reads the vclock first);
//! * `EmbeddedStore` saves (fsync'd one at a time, and 64 at once sharing commits) and loads of
//!   1 KiB messages; and, printed rather than timed, `embedded/space`: the file's size against
//!   the live data after saving 20 000 of them and deleting half, before and after compaction;
//! * `RiakStore` against a 3-node in-tree cluster with one node down (refusing connections,
//!   marked down after its first refusal) next to the same cluster with every node up, one at a
//!   time and as 64 concurrent tasks; and the first load after a node was lost, when the store
//!   picks the dead node first and fails over, next to a first load that picks a live node.

#[path = "../tests/support/riak_server/mod.rs"]
mod riak_server;

#[path = "support/interleave.rs"]
mod interleave;
use redeliver::store::PutMode;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group};
use futures::future::join_all;
use redeliver::message::{Bucket, Channel, Envelope, HistoryEvent, MsgId, StoredMessage};
use redeliver::store::{EmbeddedStore, MessageStore, RiakConfig, RiakStore};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

fn message() -> StoredMessage {
    let mut msg = StoredMessage::new(
        Channel::Smpp,
        Envelope {
            mailfrom: "sender@example.com".into(),
            rcptto: "12405678910@smpp.example.com".into(),
        },
        (0..1024u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>(),
    );
    msg.metadata.insert("data_coding".into(), "0".into());
    msg.metadata.insert("source_addr".into(), "12345".into());
    msg.metadata
        .insert("destination_addr".into(), "12405678910".into());
    msg.resource.binding = Some("smsc-a".into());
    msg.resource.message_id = Some("4f2a9c".into());
    msg.record(HistoryEvent::Submitted {
        message_id: Some("4f2a9c".into()),
        status: "ESME_ROK".into(),
    });
    msg
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn next_id() -> String {
    format!("msg-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The headers and body `RiakStore` writes for `message()`, read back from the server, so the
/// bare client sends the same bytes.
async fn stored_form(server: &riak_server::RiakServer, store: &RiakStore) -> (HeaderMap, Vec<u8>) {
    let bucket = Bucket::new("MADR-bench").unwrap();
    let id = MsgId::new("template").unwrap();
    store
        .save(&bucket, &id, &message(), PutMode::Overwrite)
        .await
        .unwrap();
    let response = reqwest::get(format!("{}/buckets/MADR-bench/keys/template", server.url()))
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        let lower = name.as_str();
        if lower.starts_with("x-riak-meta-") || lower.starts_with("x-riak-index-") {
            headers.insert(
                HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                value.clone(),
            );
        }
    }
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    let body = response.bytes().await.unwrap().to_vec();
    (headers, body)
}

/// The query strings `RiakStore` sends with its default `RequestParams`, so the bare client's
/// requests are the same requests.
const GET_QUERY: &str = "r=one&pr=0&notfound_ok=false&basic_quorum=false&timeout=4000";
const PUT_QUERY: &str = "w=quorum&pw=0&dw=quorum&timeout=4000&returnbody=true";
const DELETE_QUERY: &str = "r=one&pr=0&w=quorum&pw=0&dw=quorum&timeout=4000";

async fn bare_round_trip(client: &reqwest::Client, base: &str, headers: &HeaderMap, body: &[u8]) {
    bare_round_trip_with(client, base, headers, body, true).await
}

/// [`bare_round_trip`], with or without `returnbody=true` on the PUT.
async fn bare_round_trip_with(
    client: &reqwest::Client,
    base: &str,
    headers: &HeaderMap,
    body: &[u8],
    returnbody: bool,
) {
    let url = format!("{base}/buckets/MADR-bench/keys/{}", next_id());
    let query = if returnbody {
        PUT_QUERY
    } else {
        PUT_QUERY.trim_end_matches("&returnbody=true")
    };
    let put = client
        .put(format!("{url}?{query}"))
        .headers(headers.clone())
        .header("accept", "multipart/mixed, */*;q=0.5")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    if returnbody {
        assert_eq!(put.status(), 200);
        assert!(put.headers().contains_key("x-riak-vclock"));
        black_box(put.bytes().await.unwrap());
    } else {
        assert_eq!(put.status(), 204);
    }
    // The same requests RiakStore makes: siblings asked for as multipart in the GET, and the
    // vclock the GET returned sent with the DELETE.
    let got = client
        .get(format!("{url}?{GET_QUERY}"))
        .header("accept", "multipart/mixed, */*;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let vclock = got.headers().get("x-riak-vclock").unwrap().clone();
    black_box(got.bytes().await.unwrap());
    let deleted = client
        .delete(format!("{url}?{DELETE_QUERY}"))
        .header("x-riak-vclock", vclock)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

async fn store_round_trip(store: &RiakStore, bucket: &Bucket, msg: &StoredMessage) {
    let id = MsgId::new(next_id()).unwrap();
    let version = store
        .save(bucket, &id, msg, PutMode::Overwrite)
        .await
        .unwrap();
    let loaded = store.load(bucket, &id).await.unwrap().unwrap();
    assert_eq!(
        loaded.version, version,
        "the save returned the stored version"
    );
    black_box(loaded.message);
    assert!(store.delete(bucket, &id).await.unwrap());
}

/// The in-tree server, a `RiakStore` and a bare client on it, and what the bare client sends.
struct RiakBench {
    rt: tokio::runtime::Runtime,
    _server: riak_server::RiakServer,
    /// The server's own runtime, when it does not share the client's.
    _server_rt: Option<tokio::runtime::Runtime>,
    store: RiakStore,
    client: reqwest::Client,
    base: String,
    /// The headers and body `RiakStore` writes for `message()`.
    shared: Arc<(HeaderMap, Vec<u8>)>,
    bucket: Bucket,
    msg: StoredMessage,
}

impl RiakBench {
    /// With `own_server_thread`, the server runs on a runtime of its own with one worker
    /// thread, as a Riak node runs apart from its clients; otherwise it shares the client's
    /// two workers (and their caches: a round trip then runs client and server code on one
    /// thread, one after the other).
    fn new(own_server_thread: bool) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server_rt = own_server_thread.then(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap()
        });
        let server = server_rt
            .as_ref()
            .unwrap_or(&rt)
            .block_on(riak_server::RiakServer::start());
        let store = RiakStore::new(RiakConfig::new([server.host_port()])).unwrap();
        // Configured as RiakConfig's defaults configure the store's client.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let shared = Arc::new(rt.block_on(stored_form(&server, &store)));
        Self {
            base: server.url(),
            rt,
            _server: server,
            _server_rt: server_rt,
            store,
            client,
            shared,
            bucket: Bucket::new("MADR-bench").unwrap(),
            msg: message(),
        }
    }

    /// Round trips per second over `slice`, made by `tasks` tasks, with the store or bare.
    fn rate(&self, with_store: bool, tasks: usize, slice: Duration) -> f64 {
        self.rt.block_on(async {
            let started = Instant::now();
            let deadline = started + slice;
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (store, bucket, msg) =
                        (self.store.clone(), self.bucket.clone(), self.msg.clone());
                    let (client, base, shared) =
                        (self.client.clone(), self.base.clone(), self.shared.clone());
                    tokio::spawn(async move {
                        let mut done = 0u64;
                        while Instant::now() < deadline {
                            if with_store {
                                store_round_trip(&store, &bucket, &msg).await;
                            } else {
                                bare_round_trip(&client, &base, &shared.0, &shared.1).await;
                            }
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            let mut done = 0;
            for handle in join_all(handles).await {
                done += handle.unwrap();
            }
            done as f64 / started.elapsed().as_secs_f64()
        })
    }
}

fn riak(c: &mut Criterion) {
    let RiakBench {
        rt,
        _server,
        _server_rt,
        store,
        client,
        base,
        shared,
        bucket,
        msg,
    } = RiakBench::new(false);

    // One task on a runtime worker making one round trip after another, as a host's handler
    // would; timed inside the task, so the bench thread's own wake-ups (it waits in
    // `block_on`) are not part of each round trip.
    let mut group = c.benchmark_group("riak/save+load+delete");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bare_reqwest", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (client, base, shared) = (client.clone(), base.clone(), shared.clone());
            async move {
                tokio::spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        bare_round_trip(&client, &base, &shared.0, &shared.1).await;
                    }
                    started.elapsed()
                })
                .await
                .unwrap()
            }
        })
    });
    group.bench_function("bare_reqwest_without_returnbody", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (client, base, shared) = (client.clone(), base.clone(), shared.clone());
            async move {
                tokio::spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        bare_round_trip_with(&client, &base, &shared.0, &shared.1, false).await;
                    }
                    started.elapsed()
                })
                .await
                .unwrap()
            }
        })
    });
    let consistent = RiakStore::new(
        RiakConfig::new([base.trim_start_matches("http://")])
            .with_bucket_type(riak_server::CONSISTENT_TYPE),
    )
    .unwrap();
    for (name, store) in [
        ("riak_store", store.clone()),
        ("riak_store_consistent", consistent),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (store, bucket, msg) = (store.clone(), bucket.clone(), msg.clone());
                async move {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        for _ in 0..iters {
                            store_round_trip(&store, &bucket, &msg).await;
                        }
                        started.elapsed()
                    })
                    .await
                    .unwrap()
                }
            })
        });
    }
    group.finish();

    // 64 tokio tasks, each making one save+load+delete, so the client side runs on every worker
    // thread as a host's request handlers would.
    let mut group = c.benchmark_group("riak/64_concurrent");
    group.throughput(Throughput::Elements(64));
    group.bench_function("bare_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let (client, base, shared) = (client.clone(), base.clone(), shared.clone());
                    tokio::spawn(async move {
                        bare_round_trip(&client, &base, &shared.0, &shared.1).await
                    })
                })
                .collect();
            for task in join_all(tasks).await {
                task.unwrap();
            }
        })
    });
    // Shared like the bare client's headers and body, so no task copies the message.
    let shared_store = Arc::new((store.clone(), bucket.clone(), msg.clone()));
    group.bench_function("riak_store", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let shared = shared_store.clone();
                    tokio::spawn(
                        async move { store_round_trip(&shared.0, &shared.1, &shared.2).await },
                    )
                })
                .collect();
            for task in join_all(tasks).await {
                task.unwrap();
            }
        })
    });
    group.finish();
}

fn embedded(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path().join("bench.redb")).unwrap();
    let bucket = Bucket::new("MADR-bench").unwrap();
    let mut msg = message();
    msg.expires_at = SystemTime::now() + Duration::from_secs(3600);

    let mut group = c.benchmark_group("embedded/1KiB");
    group.throughput(Throughput::Elements(1));
    group.bench_function("save_durable", |b| {
        b.to_async(&rt).iter(|| async {
            let id = MsgId::new(next_id()).unwrap();
            store
                .save(&bucket, &id, &msg, PutMode::Overwrite)
                .await
                .unwrap();
        })
    });
    let loaded = MsgId::new("loaded").unwrap();
    rt.block_on(store.save(&bucket, &loaded, &msg, PutMode::Overwrite))
        .unwrap();
    group.bench_function("load", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                store
                    .load(&bucket, &loaded)
                    .await
                    .unwrap()
                    .map(|v| v.message),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("embedded/1KiB_64_concurrent");
    group.throughput(Throughput::Elements(64));
    group.bench_function("save_batched", |b| {
        b.to_async(&rt).iter(|| async {
            let ids: Vec<MsgId> = (0..64).map(|_| MsgId::new(next_id()).unwrap()).collect();
            for r in join_all(
                ids.iter()
                    .map(|id| store.save(&bucket, id, &msg, PutMode::Overwrite)),
            )
            .await
            {
                r.unwrap();
            }
        })
    });
    group.bench_function("load", |b| {
        b.to_async(&rt).iter(|| async {
            for r in join_all((0..64).map(|_| store.load(&bucket, &loaded))).await {
                black_box(r.unwrap());
            }
        })
    });
    group.finish();
}

/// One load on a store that has not seen the dead node yet, timed; `None` unless the call
/// failed over (`want_failover`) or did not (`!want_failover`).
async fn first_load(
    servers: &[String],
    bucket: &Bucket,
    id: &MsgId,
    want_failover: bool,
) -> Option<Duration> {
    let store = RiakStore::new(RiakConfig::new(servers.iter().cloned())).unwrap();
    let started = Instant::now();
    black_box(store.load(bucket, id).await.unwrap().map(|v| v.message));
    let elapsed = started.elapsed();
    let failovers: u64 = store.metrics().iter().map(|m| m.failovers).sum();
    ((failovers > 0) == want_failover).then_some(elapsed)
}

fn riak_cluster(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // One data set: a, b and c are live nodes; `dead` is a node that was lost.
    let (a, b, live_c, dead) = rt.block_on(async {
        let a = riak_server::RiakServer::start().await;
        let b = a.join().await;
        let c = a.join().await;
        let dead = a.join().await;
        (a, b, c, dead)
    });
    dead.stop();
    let all_up = RiakStore::new(RiakConfig::new([
        a.host_port(),
        b.host_port(),
        live_c.host_port(),
    ]))
    .unwrap();
    let one_down = RiakStore::new(RiakConfig::new([
        a.host_port(),
        b.host_port(),
        dead.host_port(),
    ]))
    .unwrap();
    let bucket = Bucket::new("MADR-bench").unwrap();
    let msg = message();
    rt.block_on(async {
        for _ in 0..20 {
            store_round_trip(&one_down, &bucket, &msg).await;
        }
    });
    assert!(one_down.metrics()[2].down, "the dead node is marked down");

    let mut group = c.benchmark_group("riak_cluster/save+load+delete");
    group.throughput(Throughput::Elements(1));
    group.bench_function("all_up", |b| {
        b.to_async(&rt)
            .iter(|| store_round_trip(&all_up, &bucket, &msg))
    });
    group.bench_function("one_node_down", |b| {
        b.to_async(&rt)
            .iter(|| store_round_trip(&one_down, &bucket, &msg))
    });
    group.finish();

    let mut group = c.benchmark_group("riak_cluster/64_concurrent");
    group.throughput(Throughput::Elements(64));
    group.bench_function("all_up", |b| {
        b.to_async(&rt).iter(|| async {
            join_all((0..64).map(|_| store_round_trip(&all_up, &bucket, &msg))).await
        })
    });
    group.bench_function("one_node_down", |b| {
        b.to_async(&rt).iter(|| async {
            join_all((0..64).map(|_| store_round_trip(&one_down, &bucket, &msg))).await
        })
    });
    group.finish();

    let id = MsgId::new("first-load").unwrap();
    rt.block_on(all_up.save(&bucket, &id, &msg, PutMode::Overwrite))
        .unwrap();
    let servers = [a.url(), dead.url()];
    let mut group = c.benchmark_group("riak_cluster/first_load_after_node_loss");
    group.throughput(Throughput::Elements(1));
    for (name, want_failover) in [("live_node_first", false), ("dead_node_first", true)] {
        group.bench_function(name, |bench| {
            bench.to_async(&rt).iter_custom(|iters| {
                let (servers, bucket, id) = (&servers, &bucket, &id);
                async move {
                    let mut total = Duration::ZERO;
                    let mut taken = 0;
                    while taken < iters {
                        if let Some(t) = first_load(servers, bucket, id, want_failover).await {
                            total += t;
                            taken += 1;
                        }
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

/// `RiakStore` against bare `reqwest` in interleaved slices.
///
/// criterion measures one function after the other. On a shared machine whose speed shifts
/// between levels every few seconds (seen here: the same bare-reqwest run at 8k and at 13k
/// round trips/s minutes apart), the two blocks can land on different levels and their ratio
/// says more about the machine than the code. Here the two alternate in short slices (which
/// goes first alternates too) and each pair's ratio is taken, so both sides of a pair ran under
/// the same conditions; the median over the pairs is the figure to read.
///
/// One-at-a-time round trips are measured twice: with the server on the client's runtime (a
/// round trip then runs client and server code on one thread, one after the other, sharing its
/// caches) and with the server on a thread of its own, as a Riak node runs apart from its
/// clients.
fn interleaved(filter: Option<&str>) {
    const PAIRS: usize = 12;
    const SLICE: Duration = Duration::from_millis(750);
    let cases = [
        ("save+load+delete", 1, false),
        ("64_concurrent", 64, false),
        ("save+load+delete/server_on_own_thread", 1, true),
    ];
    let wanted: Vec<_> = cases
        .iter()
        .filter(|(name, ..)| filter.is_none_or(|f| format!("riak/interleaved/{name}").contains(f)))
        .collect();
    let mut benches: [Option<RiakBench>; 2] = [None, None];
    for &&(name, tasks, own_server_thread) in &wanted {
        let bench = benches[usize::from(own_server_thread)]
            .get_or_insert_with(|| RiakBench::new(own_server_thread));
        bench.rate(false, tasks, SLICE);
        bench.rate(true, tasks, SLICE);
        let mut bare = Vec::with_capacity(PAIRS);
        let mut store = Vec::with_capacity(PAIRS);
        for pair in 0..PAIRS {
            if pair % 2 == 0 {
                bare.push(bench.rate(false, tasks, SLICE));
                store.push(bench.rate(true, tasks, SLICE));
            } else {
                store.push(bench.rate(true, tasks, SLICE));
                bare.push(bench.rate(false, tasks, SLICE));
            }
        }
        let mut ratios: Vec<f64> = store.iter().zip(&bare).map(|(s, b)| s / b).collect();
        println!("riak/interleaved/{name}: {PAIRS} pairs of {SLICE:?} slices, {tasks} task(s)");
        for (what, values, decimals) in [
            ("bare_reqwest round trips/s", &mut bare, 0),
            ("riak_store round trips/s", &mut store, 0),
            ("riak_store / bare_reqwest, pair by pair", &mut ratios, 3),
        ] {
            let (median, min, max) = interleave::summary(values);
            println!(
                "                        {what}: median {median:.decimals$} (min {min:.decimals$}, max {max:.decimals$})"
            );
        }
    }
}

criterion_group!(benches, riak, embedded, riak_cluster);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only where criterion measures too: not when it lists, tests or profiles the benches.
    let skip = ["--list", "--test", "--profile-time", "--help"];
    if !std::env::args().any(|a| skip.contains(&a.as_str())) {
        interleaved(interleave::filter().as_deref());
        if interleave::filter().is_none_or(|f| "embedded/space".contains(&f)) {
            embedded_space();
        }
    }
}

/// The embedded store's file size against its live data: 20 000 1 KiB messages saved 64 at a
/// time, every other one deleted, then compacted.
fn embedded_space() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path().join("space.redb")).unwrap();
    let bucket = Bucket::new("MADR-space").unwrap();
    let mut msg = message();
    msg.expires_at = SystemTime::now() + Duration::from_secs(3600);
    let ids: Vec<MsgId> = (0..20_000)
        .map(|n| MsgId::new(format!("space-{n}")).unwrap())
        .collect();
    let mb = |b: u64| b as f64 / 1e6;
    rt.block_on(async {
        for chunk in ids.chunks(64) {
            for r in join_all(
                chunk
                    .iter()
                    .map(|id| store.save(&bucket, id, &msg, PutMode::Overwrite)),
            )
            .await
            {
                r.unwrap();
            }
        }
        let full = store.space().await.unwrap();
        for chunk in ids.chunks(128) {
            let gone = chunk.iter().step_by(2);
            for r in join_all(gone.map(|id| store.delete(&bucket, id))).await {
                r.unwrap();
            }
        }
        let report = store.compact().await.unwrap();
        println!(
            "embedded/space: 20 000 x {} B saved: file {:.1} MB, live {:.1} MB; half deleted: \
             file {:.1} MB, live {:.1} MB; compacted: file {:.1} MB ({:.1} MB in use)",
            msg.body.len(),
            mb(full.file_bytes),
            mb(full.live_bytes),
            mb(report.before.file_bytes),
            mb(report.before.live_bytes),
            mb(report.after.file_bytes),
            mb(report.after.allocated_bytes),
        );
    });
}
