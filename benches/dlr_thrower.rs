//! DLRs per second to a local receiver that acknowledges, for `HttpDlrThrower` (in memory and
//! with the durable queue) against a bare reqwest loop making the same requests in the same run;
//! then the memory each pending DLR costs.

#[path = "../tests/support/dlr_receiver.rs"]
mod receiver;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

    let bare = client_rt.block_on(async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(CONCURRENCY)
            .tcp_nodelay(true)
            .build()
            .expect("client")
    });
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
    let durable_outcomes = Arc::new(AtomicU64::new(0));
    let durable_acked = Arc::new(AtomicU64::new(0));
    let (o, a) = (Arc::clone(&durable_outcomes), Arc::clone(&durable_acked));
    let durable = client_rt
        .block_on(
            HttpDlrThrower::builder(config())
                .queue(dir.path().join("bench.redb"))
                .on_outcome(move |outcome| {
                    o.fetch_add(1, Ordering::Relaxed);
                    if outcome.is_acknowledged() {
                        a.fetch_add(1, Ordering::Relaxed);
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
            let outcomes_before = durable_outcomes.load(Ordering::Relaxed);
            let acked_before = durable_acked.load(Ordering::Relaxed);
            futures::stream::iter(0..BATCH)
                .for_each_concurrent(256, |n| {
                    let t = &durable;
                    let d = dlr(&url, n);
                    async move { t.throw(d).await.expect("accepted") }
                })
                .await;
            durable.idle().await;
            assert_eq!(
                durable_outcomes.load(Ordering::Relaxed) - outcomes_before,
                BATCH,
                "every DLR thrown through the durable queue got an outcome"
            );
            assert_eq!(
                durable_acked.load(Ordering::Relaxed) - acked_before,
                BATCH,
                "every DLR thrown through the durable queue was acknowledged"
            );
        })
    });
    group.finish();
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
criterion_main!(benches);
