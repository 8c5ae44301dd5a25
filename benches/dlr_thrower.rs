//! DLRs per second to a local receiver that acknowledges, for `HttpDlrThrower` (in memory and
//! with the durable queue) against a bare reqwest loop making the same requests in the same run;
//! then the memory each pending DLR costs; then `dlr_thrower/interleaved`, the durable queue and
//! the bare loop alternating in short slices, with the median of the per-pair ratios. Built with
//! the `dlr-amqp` feature and a RabbitMQ broker reachable (`RABBITMQ_URL`, or the private broker
//! `.ci/rabbitmq start` runs on 127.0.0.1:5679), the RabbitMQ queue (`AmqpDlrQueue`) takes a
//! third slice in each round; otherwise a note says why it is left out.

#[path = "../tests/support/dlr_receiver.rs"]
mod receiver;

#[path = "support/interleave.rs"]
mod interleave;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use futures::StreamExt;
use receiver::{Receiver, Recording, Reply};
use redeliver::dlr::{Dlr, DlrMethod, DlrThrower, DlrThrowerConfig, HttpDlrThrower};
use tokio::runtime::Runtime;

/// Counts live heap bytes, for the memory-per-pending-DLR figure.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// DLRs per measured batch.
const BATCH: u64 = 2000;
/// Requests in flight, for both the thrower and the bare loop.
const CONCURRENCY: usize = 64;
/// Tasks throwing into the durable thrower at once.
const THROWERS: usize = 256;

fn runtime(threads: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn dlr(url: &url::Url, n: u64) -> Dlr {
    Dlr::level1(
        url.clone(),
        DlrMethod::Post,
        format!("dlr-{n}"),
        "ESME_ROK",
        "bench",
    )
}

fn config() -> DlrThrowerConfig {
    DlrThrowerConfig {
        timeout: Duration::from_secs(10),
        retry_delay: Duration::from_millis(10),
        max_concurrency: CONCURRENCY,
        max_per_host: CONCURRENCY,
        pool_idle_per_host: CONCURRENCY,
        ..DlrThrowerConfig::default()
    }
}

fn throughput(c: &mut Criterion) {
    let server = runtime(1);
    let client_rt = runtime(1);
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let rcv = server
        .block_on(Receiver::start_on(
            any,
            receiver::always_ack(),
            Recording::Nothing,
        ))
        .expect("receiver");
    let url: url::Url = rcv.url("/dlr").parse().expect("url");

    let bare = bare_client(&client_rt);
    let acked = Arc::new(AtomicU64::new(0));
    let a = Arc::clone(&acked);
    let thrower = client_rt
        .block_on(
            HttpDlrThrower::builder(config())
                .on_outcome(move |o| {
                    if o.is_acknowledged() {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
        )
        .expect("thrower");
    let dir = tempfile::tempdir().expect("tempdir");
    let durable_acked = Arc::new(AtomicU64::new(0));
    let da = Arc::clone(&durable_acked);
    let durable = client_rt
        .block_on(
            HttpDlrThrower::builder(config())
                .queue(dir.path().join("bench.redb"))
                .on_outcome(move |o| {
                    if o.is_acknowledged() {
                        da.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
        )
        .expect("durable thrower");

    let mut group = c.benchmark_group("dlr_thrower");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);

    group.bench_function("bare_reqwest_loop", |b| {
        b.to_async(&client_rt).iter(|| async {
            let ok = futures::stream::iter(0..BATCH)
                .map(|n| {
                    let d = dlr(&url, n);
                    let req = bare
                        .post(d.url.clone())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("accept", "text/plain")
                        .body(d.form_body());
                    async move {
                        let resp = req.send().await.ok()?;
                        let status = resp.status().as_u16();
                        let body = resp.bytes().await.ok()?;
                        (status == 200 && body.trim_ascii() == b"ACK/Jasmin").then_some(())
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .filter(|r| futures::future::ready(r.is_some()))
                .count()
                .await;
            assert_eq!(ok as u64, BATCH);
        })
    });

    // The same requests, one spawned task each under a semaphore: the shape the thrower has,
    // without its bookkeeping.
    group.bench_function("bare_reqwest_spawned", |b| {
        b.to_async(&client_rt).iter(|| async {
            let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..BATCH {
                let permit = Arc::clone(&slots).acquire_owned().await.expect("open");
                let d = dlr(&url, n);
                let req = bare
                    .post(d.url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("accept", "text/plain")
                    .body(d.form_body());
                tasks.spawn(async move {
                    let _permit = permit;
                    let resp = req.send().await.ok()?;
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.ok()?;
                    (status == 200 && body.trim_ascii() == b"ACK/Jasmin").then_some(())
                });
            }
            let ok = tasks.join_all().await.into_iter().flatten().count();
            assert_eq!(ok as u64, BATCH);
        })
    });

    group.bench_function("http_dlr_thrower", |b| {
        b.to_async(&client_rt).iter(|| async {
            let before = acked.load(Ordering::Relaxed);
            for n in 0..BATCH {
                thrower.throw(dlr(&url, n)).await.expect("accepted");
            }
            thrower.idle().await;
            assert_eq!(acked.load(Ordering::Relaxed) - before, BATCH);
        })
    });

    group.bench_function("http_dlr_thrower_durable_queue", |b| {
        b.to_async(&client_rt).iter(|| async {
            let before = durable_acked.load(Ordering::Relaxed);
            throw_all(&durable, &url, BATCH, THROWERS).await;
            durable.idle().await;
            assert_eq!(durable_acked.load(Ordering::Relaxed) - before, BATCH);
        })
    });
    group.finish();
}

/// Throws `count` DLRs from many tasks at once, as a gateway's connections do.
async fn throw_all(thrower: &HttpDlrThrower, url: &url::Url, count: u64, throwers: usize) {
    futures::stream::iter(0..count)
        .for_each_concurrent(throwers, |n| {
            let d = dlr(url, n);
            async move { thrower.throw(d).await.expect("accepted") }
        })
        .await;
}

/// One request as the thrower makes it; whether it was acknowledged.
async fn bare_one(client: &reqwest::Client, url: &url::Url, n: u64) -> bool {
    let d = dlr(url, n);
    let req = client
        .post(d.url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/plain")
        .body(d.form_body());
    let Ok(resp) = req.send().await else {
        return false;
    };
    let status = resp.status().as_u16();
    let Ok(body) = resp.bytes().await else {
        return false;
    };
    status == 200 && body.trim_ascii() == b"ACK/Jasmin"
}

/// The durable queue against the bare loop in one run: the two sides alternate in short
/// slices (one batch each) and the ratio is taken pair by pair, so that a machine shared with
/// other work slows both sides of a pair alike. Prints the median ratio and its range.
fn interleaved(filter: Option<&str>) {
    const PAIRS: usize = 11;
    const SLICE: Duration = Duration::from_millis(750);
    if filter.is_some_and(|f| !"dlr_thrower/interleaved".contains(f)) {
        return;
    }
    let server = runtime(1);
    let client_rt = runtime(1);
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let rcv = server
        .block_on(Receiver::start_on(
            any,
            receiver::always_ack(),
            Recording::Nothing,
        ))
        .expect("receiver");
    let url: url::Url = rcv.url("/dlr").parse().expect("url");
    let bare = bare_client(&client_rt);
    let acked = Arc::new(AtomicU64::new(0));
    let a = Arc::clone(&acked);
    let dir = tempfile::tempdir().expect("tempdir");
    let durable = client_rt
        .block_on(
            HttpDlrThrower::builder(config())
                .queue(dir.path().join("interleaved.redb"))
                .on_outcome(move |o| {
                    if o.is_acknowledged() {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
        )
        .expect("durable thrower");
    let amqp = client_rt.block_on(amqp_side::start());
    // Each side runs for one slice: the bare loop with `CONCURRENCY` requests in flight, the
    // durable thrower with `throwers` tasks throwing until the slice ends, then until every DLR
    // it took is acknowledged (that wait counts in its time).
    let bare_rate = || {
        client_rt.block_on(async {
            let started = std::time::Instant::now();
            let deadline = started + SLICE;
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|_| {
                    let (client, url) = (bare.clone(), url.clone());
                    tokio::spawn(async move {
                        let mut done = 0u64;
                        while std::time::Instant::now() < deadline {
                            assert!(bare_one(&client, &url, done).await, "not acknowledged");
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            let mut done = 0;
            for t in futures::future::join_all(tasks).await {
                done += t.expect("bare task");
            }
            done as f64 / started.elapsed().as_secs_f64()
        })
    };
    let durable_rate = |throwers: usize| {
        client_rt.block_on(async {
            let started = std::time::Instant::now();
            let deadline = started + SLICE;
            let before = acked.load(Ordering::Relaxed);
            let tasks: Vec<_> = (0..throwers)
                .map(|_| {
                    let (thrower, url) = (durable.clone(), url.clone());
                    tokio::spawn(async move {
                        let mut thrown = 0u64;
                        while std::time::Instant::now() < deadline {
                            thrower.throw(dlr(&url, thrown)).await.expect("accepted");
                            thrown += 1;
                        }
                        thrown
                    })
                })
                .collect();
            let mut thrown = 0;
            for t in futures::future::join_all(tasks).await {
                thrown += t.expect("throwing task");
            }
            durable.idle().await;
            // Every DLR of the slice acknowledged, none lost or counted twice.
            assert_eq!(acked.load(Ordering::Relaxed) - before, thrown);
            thrown as f64 / started.elapsed().as_secs_f64()
        })
    };
    // Warm-up: connections, the queue file's pages.
    bare_rate();
    durable_rate(THROWERS);
    // Each throw returns once its DLR is committed, so the throwers bound the rate at about
    // throwers / commit latency: measured with the bench's 256 and with 1,024 (a gateway with
    // many sessions throws that many at once).
    for throwers in [THROWERS, 1024] {
        let mut bare_rates = Vec::with_capacity(PAIRS);
        let mut durable_rates = Vec::with_capacity(PAIRS);
        let mut amqp_rates = Vec::with_capacity(PAIRS);
        for pair in 0..PAIRS {
            if pair % 2 == 0 {
                bare_rates.push(bare_rate());
                durable_rates.push(durable_rate(throwers));
            } else {
                durable_rates.push(durable_rate(throwers));
                bare_rates.push(bare_rate());
            }
            // The RabbitMQ side, between this pair and the next, is compared with the bare
            // slice just before it.
            if let Some(side) = &amqp {
                amqp_rates.push(client_rt.block_on(side.rate(&url, throwers, SLICE)));
            }
        }
        let mut ratios: Vec<f64> = durable_rates
            .iter()
            .zip(&bare_rates)
            .map(|(d, b)| d / b)
            .collect();
        println!(
            "dlr_thrower/interleaved: {PAIRS} pairs of {SLICE:?} slices, {CONCURRENCY} in \
             flight, {throwers} throwing"
        );
        for (what, values, decimals) in [
            ("bare_reqwest DLRs/s", &mut bare_rates, 0),
            ("durable_queue DLRs/s", &mut durable_rates, 0),
            ("durable_queue / bare_reqwest, pair by pair", &mut ratios, 3),
        ] {
            let (median, min, max) = interleave::summary(values);
            println!(
                "    {what}: median {median:.decimals$} (min {min:.decimals$}, max {max:.decimals$})"
            );
        }
        if !amqp_rates.is_empty() {
            let mut amqp_ratios: Vec<f64> = amqp_rates
                .iter()
                .zip(&bare_rates)
                .map(|(a, b)| a / b)
                .collect();
            for (what, values, decimals) in [
                ("amqp_queue DLRs/s", &mut amqp_rates, 0),
                (
                    "amqp_queue / bare_reqwest, round by round",
                    &mut amqp_ratios,
                    3,
                ),
            ] {
                let (median, min, max) = interleave::summary(values);
                println!(
                    "    {what}: median {median:.decimals$} (min {min:.decimals$}, max {max:.decimals$})"
                );
            }
        }
    }
    if let Some(side) = amqp {
        client_rt.block_on(side.thrower.shutdown());
    }
    drop(durable);
    client_rt.shutdown_timeout(Duration::from_secs(5));
}

/// The RabbitMQ queue's side of `dlr_thrower/interleaved`.
#[cfg(feature = "dlr-amqp")]
mod amqp_side {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use redeliver::dlr::{AmqpDlrQueue, AmqpQueueConfig, DlrThrower, HttpDlrThrower};

    /// Where `.ci/rabbitmq start` runs its private broker.
    const CI_BROKER: &str = "amqp://guest:guest@127.0.0.1:5679/%2f";

    pub struct Side {
        pub thrower: HttpDlrThrower,
        acked: Arc<AtomicU64>,
        exhausted: Arc<AtomicU64>,
    }

    /// A thrower on a fresh RabbitMQ queue, or `None` after printing why there is none.
    pub async fn start() -> Option<Side> {
        let url = std::env::var("RABBITMQ_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| CI_BROKER.to_owned());
        let addr = url::Url::parse(&url).ok().and_then(|u| {
            let host = u.host_str()?.to_owned();
            std::net::ToSocketAddrs::to_socket_addrs(&(host, u.port().unwrap_or(5672)))
                .ok()?
                .next()
        });
        let reachable = addr.is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok()
        });
        if !reachable {
            println!(
                "dlr_thrower/interleaved: RabbitMQ queue left out, no broker at {} (set \
                 RABBITMQ_URL, or run `bash .ci/rabbitmq start`)",
                redact(&url)
            );
            return None;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let queue = format!("redeliver.bench.{}.{nanos}", std::process::id());
        let config = AmqpQueueConfig {
            wait_queue_prefix: format!("{queue}.wait."),
            queue,
            prefetch: 256,
            ..AmqpQueueConfig::new(url.clone())
        };
        let queue = AmqpDlrQueue::connect(config).await.expect("AMQP config");
        if !queue.is_connected().await {
            println!(
                "dlr_thrower/interleaved: RabbitMQ queue left out, {} did not accept a connection",
                redact(&url)
            );
            return None;
        }
        let (acked, exhausted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (a, e) = (Arc::clone(&acked), Arc::clone(&exhausted));
        let thrower = HttpDlrThrower::builder(super::config())
            .queue_with(Arc::new(queue))
            .on_outcome(move |o| {
                if o.is_acknowledged() {
                    a.fetch_add(1, Ordering::Relaxed);
                } else {
                    e.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .await
            .expect("AMQP thrower");
        println!(
            "dlr_thrower/interleaved: RabbitMQ queue at {}",
            redact(&url)
        );
        Some(Side {
            thrower,
            acked,
            exhausted,
        })
    }

    fn redact(url: &str) -> String {
        match url::Url::parse(url) {
            Ok(mut u) => {
                let _ = u.set_password(None);
                u.to_string()
            }
            Err(_) => "(RABBITMQ_URL is not a URL)".to_owned(),
        }
    }

    impl Side {
        /// DLRs/s for one slice: `throwers` tasks throw until it ends, then every DLR they
        /// threw is waited for (it may be in the broker, not in the thrower) and checked
        /// acknowledged.
        pub async fn rate(&self, url: &url::Url, throwers: usize, slice: Duration) -> f64 {
            let started = Instant::now();
            let deadline = started + slice;
            let before = self.acked.load(Ordering::Relaxed);
            let tasks: Vec<_> = (0..throwers)
                .map(|_| {
                    let (thrower, url) = (self.thrower.clone(), url.clone());
                    tokio::spawn(async move {
                        let mut thrown = 0u64;
                        while Instant::now() < deadline {
                            thrower
                                .throw(super::dlr(&url, thrown))
                                .await
                                .expect("confirmed by the broker");
                            thrown += 1;
                        }
                        thrown
                    })
                })
                .collect();
            let mut thrown = 0;
            for t in futures::future::join_all(tasks).await {
                thrown += t.expect("throwing task");
            }
            while self.acked.load(Ordering::Relaxed) - before < thrown {
                assert_eq!(
                    self.exhausted.load(Ordering::Relaxed),
                    0,
                    "a DLR was exhausted"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // Every DLR of the slice acknowledged, none lost or counted twice.
            assert_eq!(self.acked.load(Ordering::Relaxed) - before, thrown);
            thrown as f64 / started.elapsed().as_secs_f64()
        }
    }
}

/// Without the `dlr-amqp` feature there is no RabbitMQ side.
#[cfg(not(feature = "dlr-amqp"))]
mod amqp_side {
    pub struct Side {
        pub thrower: redeliver::dlr::HttpDlrThrower,
    }

    impl Side {
        pub async fn rate(&self, _: &url::Url, _: usize, _: std::time::Duration) -> f64 {
            unreachable!("no RabbitMQ side without the dlr-amqp feature")
        }
    }

    pub async fn start() -> Option<Side> {
        println!(
            "dlr_thrower/interleaved: RabbitMQ queue left out, the bench was built without the \
             dlr-amqp feature (`cargo bench --features dlr-amqp --bench dlr_thrower`)"
        );
        None
    }
}

fn bare_client(rt: &Runtime) -> reqwest::Client {
    rt.block_on(async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(CONCURRENCY)
            .tcp_nodelay(true)
            .build()
            .expect("client")
    })
}

/// Live heap per DLR waiting for its turn: DLRs bound for a receiver that never answers, one at
/// a time, so all but one wait in the thrower.
fn memory_per_pending(_: &mut Criterion) {
    const PENDING: u64 = 20_000;
    let server = runtime(1);
    let client_rt = runtime(1);
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let rcv = server
        .block_on(Receiver::start_on(
            any,
            Arc::new(|_: &str, _| Reply::Hang),
            Recording::Nothing,
        ))
        .expect("receiver");
    let url: url::Url = rcv.url("/dlr").parse().expect("url");
    client_rt.block_on(async {
        let cfg = DlrThrowerConfig {
            timeout: Duration::from_secs(3600),
            max_per_host: 1,
            ..config()
        };
        let thrower = HttpDlrThrower::builder(cfg)
            .on_outcome(|_| {})
            .build()
            .await
            .expect("thrower");
        let before = LIVE.load(Ordering::SeqCst);
        for n in 0..PENDING {
            thrower.throw(dlr(&url, n)).await.expect("accepted");
        }
        while rcv.total() < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = LIVE.load(Ordering::SeqCst);
        let per = (after - before) as f64 / PENDING as f64;
        println!(
            "dlr_thrower/memory_per_pending_dlr: {per:.0} bytes of heap per pending DLR \
             ({PENDING} pending, the Dlr value and its strings included)"
        );
        assert_eq!(thrower.pending() as u64, PENDING);
    });
    client_rt.shutdown_background();
}

criterion_group!(benches, throughput, memory_per_pending);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only where criterion measures too: not when it lists, tests or profiles the benches.
    let skip = ["--list", "--test", "--profile-time", "--help"];
    if !std::env::args().any(|a| skip.contains(&a.as_str())) {
        interleaved(interleave::filter().as_deref());
    }
}
