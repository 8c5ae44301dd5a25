//! Receipts per second through the engine, against the bare store operations it wraps, store
//! round trips per receipt on each side, and bytes of memory per tracked message.
//!
//! `cargo bench --all-features --bench engine -- receipt --warm-up-time 2 --measurement-time 5`
//! (the criterion groups, then `receipt/interleaved`: both sides alternating in rounds, timed in
//! thread CPU time; `BENCH_PAIRS` sets the number of rounds)

use redeliver::store::PutMode;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

#[path = "support/interleave.rs"]
mod interleave;
/// Each side's store client counts the operations it hands to the `MemoryStore` under it: the
/// round trips a network store would make. The engine tests' client, so that every method of
/// the trait is forwarded (`MemoryStore`'s own `load_shared` and `update_shared` included).
#[path = "../tests/support/store_client.rs"]
mod store_client;

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, RecordingInjector, SMPP_CONTINUE, SmppDrDecision,
};
use redeliver::message::ReceiptClass;
use redeliver::message::{Bucket, Channel, Envelope, MsgId, StoredMessage};
use redeliver::retry::{DefaultAction, ReceiptOutcome, RetryEngine, SubmitEvent};
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState, ReceiptDate, ReceiptRules};
use redeliver::smpp::{Body, Pdu};
use redeliver::store::{MemoryStore, MessageStore};

/// Counts live heap bytes, to measure memory per tracked message.
struct CountingAlloc;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only adds counting.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// The seed's positive hook: delete and continue.
struct DeleteOnPositive;

#[async_trait]
impl DeliveryHooks for DeleteOnPositive {
    async fn smpp_handle_dr_positive(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        cx.delete(bucket, msgid).await?;
        Ok(SMPP_CONTINUE)
    }
}

const OPTIONS: &str = "[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n";

fn message() -> StoredMessage {
    let mut msg = StoredMessage::new(
        Channel::Smpp,
        Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "15551234567@smpp.example.com".into(),
        },
        &b"Your verification code is 471142. It expires in 10 minutes."[..],
    );
    for (k, v) in [
        ("source_addr_ton", "3"),
        ("source_addr_npi", "0"),
        ("source_addr", "12345"),
        ("dest_addr_ton", "1"),
        ("dest_addr_npi", "1"),
        ("destination_addr", "15551234567"),
        ("esm_class", "0"),
        ("registered_delivery", "1"),
        ("data_coding", "0"),
    ] {
        msg.metadata.insert(k.into(), v.into());
    }
    msg
}

fn engine(store: Arc<dyn MessageStore>) -> RetryEngine {
    RetryEngine::builder(store, Arc::new(RecordingInjector::new()))
        .options(MobilityConfig::from_toml_str(OPTIONS).expect("bench options"))
        .hooks(Arc::new(DeleteOnPositive))
        .build()
}

/// Stores `template` under `id` and returns the receipt frame for it (untimed setup).
fn stored_receipt(
    store: &MemoryStore,
    bucket: &Bucket,
    template: &StoredMessage,
    id: &str,
) -> Bytes {
    let msgid = MsgId::new(id).expect("msgid");
    futures::executor::block_on(store.save(bucket, &msgid, template, PutMode::Overwrite))
        .expect("save");
    receipt_frame(id)
}

/// A deliver_sm carrying a DELIVRD receipt for `id`, as an SMSC sends it.
fn receipt_frame(id: &str) -> Bytes {
    let receipt = DeliveryReceipt::new(id, MessageState::Delivered).with_dates(
        ReceiptDate::parse("submit date", "2611220600").expect("date"),
        ReceiptDate::parse("done date", "2611220601").expect("date"),
    );
    let dsm = receipt
        .to_deliver_sm("15551234567".into(), "12345".into())
        .expect("deliver_sm");
    Pdu::new(7, dsm).to_bytes().expect("encode")
}

fn receipts(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bucket = Bucket::new("MADR-12345").expect("bucket");
    let template = message();
    let mut group = c.benchmark_group("receipt");
    group.throughput(Throughput::Elements(1));

    let store = Arc::new(MemoryStore::new());
    let eng = engine(store.clone());
    let seq = AtomicU64::new(0);
    let scope = ScopeContext::binding("smsc-1");
    // Setup (not timed): the submission is stored and its receipt is on the wire.
    let setup = |store: &MemoryStore| {
        let id = format!("{:016x}", seq.fetch_add(1, Ordering::Relaxed));
        stored_receipt(store, &bucket, &template, &id)
    };
    group.bench_function(
        "engine: decode deliver_sm, classify, hook, load, delete",
        |b| {
            b.to_async(&rt).iter_batched(
                || setup(&store),
                |frame| {
                    let (eng, scope) = (&eng, &scope);
                    async move { engine_step(eng, scope, &frame).await }
                },
                BatchSize::SmallInput,
            )
        },
    );

    // The peer: the same decoding and store work without the engine (no hook, no bookkeeping).
    let bare = Arc::new(MemoryStore::new());
    let rules = ReceiptRules::default();
    group.bench_function("bare: decode deliver_sm, classify, load, delete", |b| {
        b.to_async(&rt).iter_batched(
            || setup(&bare),
            |frame| {
                let (bare, bucket, rules) = (&bare, &bucket, &rules);
                async move { bare_step(bare, bucket, rules, &frame).await }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Engine and bare side in alternating rounds of `ROUND` receipts each (which side goes first
/// alternates), timed in this thread's CPU time, so load from other processes falls on neither
/// side alone; the setup of each round (storing the messages, encoding the frames) is not
/// timed. Prints the medians per receipt and the median of the per-round ratios.
fn interleaved(_c: &mut Criterion) {
    const ROUND: usize = 2_000;
    if interleave::criterion_only()
        || interleave::filter().is_some_and(|f| !"receipt/interleaved".contains(f.as_str()))
    {
        return;
    }
    let pairs = interleave::Plan::new(15, std::time::Duration::ZERO).pairs;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bucket = Bucket::new("MADR-12345").expect("bucket");
    let template = message();
    let engine_store = Arc::new(MemoryStore::new());
    let eng = engine(engine_store.clone());
    let bare = Arc::new(MemoryStore::new());
    let scope = ScopeContext::binding("smsc-1");
    let rules = ReceiptRules::default();
    let mut seq = 0u64;
    let mut prepare = |store: &MemoryStore| -> Vec<Bytes> {
        (0..ROUND)
            .map(|_| {
                seq += 1;
                stored_receipt(store, &bucket, &template, &format!("il{seq:014x}"))
            })
            .collect()
    };
    let run_engine = |frames: Vec<Bytes>| {
        let start = cpu_time::ThreadTime::now();
        rt.block_on(async {
            for frame in &frames {
                engine_step(&eng, &scope, frame).await;
            }
        });
        start.elapsed().as_nanos() as f64 / ROUND as f64
    };
    let run_bare = |frames: Vec<Bytes>| {
        let start = cpu_time::ThreadTime::now();
        rt.block_on(async {
            for frame in &frames {
                bare_step(&bare, &bucket, &rules, frame).await;
            }
        });
        start.elapsed().as_nanos() as f64 / ROUND as f64
    };
    // One untimed round each to warm up.
    let frames = prepare(&engine_store);
    run_engine(frames);
    let frames = prepare(&bare);
    run_bare(frames);
    let (mut engine_ns, mut bare_ns) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        let for_engine = prepare(&engine_store);
        let for_bare = prepare(&bare);
        if pair % 2 == 0 {
            engine_ns.push(run_engine(for_engine));
            bare_ns.push(run_bare(for_bare));
        } else {
            bare_ns.push(run_bare(for_bare));
            engine_ns.push(run_engine(for_engine));
        }
    }
    assert!(engine_store.is_empty() && bare.is_empty());
    let ratios: Vec<f64> = engine_ns.iter().zip(&bare_ns).map(|(e, b)| e / b).collect();
    let (ratio, lo, hi) = interleave::summary(&ratios);
    let (e, elo, ehi) = interleave::summary(&engine_ns);
    let (b, ..) = interleave::summary(&bare_ns);
    println!(
        "receipt/interleaved ({pairs} pairs of {ROUND} receipts, thread CPU time): engine {:.2} µs per receipt ({:.0} receipts/s; rounds {:.2}–{:.2} µs), bare {:.2} µs; engine / bare {ratio:.2} (min {lo:.2}, max {hi:.2})",
        e / 1000.0,
        1e9 / e,
        elo / 1000.0,
        ehi / 1000.0,
        b / 1000.0,
    );
}

/// Store round trips per receipt, engine and bare, counted (not timed) over the same steps the
/// `receipt` group times.
fn round_trips(_c: &mut Criterion) {
    const N: u64 = 1_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bucket = Bucket::new("MADR-12345").expect("bucket");
    let template = message();
    let (engine_shared, bare_shared) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
    let engine_store = Arc::new(store_client::Client::new(engine_shared.clone()));
    let bare = store_client::Client::new(bare_shared.clone());
    let eng = engine(engine_store.clone());
    let scope = ScopeContext::binding("smsc-1");
    let rules = ReceiptRules::default();
    let (mut engine_ops, mut bare_ops) = (0, 0);
    let take = |c: &store_client::Client| c.ops.swap(0, Ordering::Relaxed);
    rt.block_on(async {
        for i in 0..N {
            let id = format!("rt{i:014x}");
            let msgid = MsgId::new(id.clone()).expect("msgid");
            for store in [&engine_shared, &bare_shared] {
                store
                    .save(&bucket, &msgid, &template, PutMode::Overwrite)
                    .await
                    .expect("save");
            }
            let frame = receipt_frame(&id);
            let Body::DeliverSm(dsm) = Pdu::decode(&frame).expect("decode").body else {
                unreachable!("the bench sends deliver_sm")
            };
            take(&engine_store);
            let out = eng.on_deliver_sm(&scope, &dsm).await.expect("receipt");
            assert!(
                matches!(out, ReceiptOutcome::Handled { ref msgid, .. } if msgid.as_str() == id),
                "{out:?}"
            );
            engine_ops += take(&engine_store);
            let receipt = DeliveryReceipt::from_deliver_sm(&dsm).expect("receipt");
            assert!(receipt.class(&rules) == ReceiptClass::Positive);
            take(&bare);
            assert!(bare.load(&bucket, &msgid).await.expect("load").is_some());
            assert!(bare.delete(&bucket, &msgid).await.expect("delete"));
            bare_ops += take(&bare);
        }
    });
    assert!(engine_shared.is_empty() && bare_shared.is_empty());
    println!(
        "store round trips per delivered receipt (MemoryStore, a positive hook that deletes): engine {:.2}, bare {:.2}",
        engine_ops as f64 / N as f64,
        bare_ops as f64 / N as f64
    );
}

/// Bytes of heap per tracked message: the engine's submit path into a MemoryStore.
fn memory_per_message(_c: &mut Criterion) {
    const N: usize = 20_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let store = Arc::new(MemoryStore::new());
    let eng = engine(store.clone());
    // Everything allocated from here on and still live at the end is what tracking costs:
    // the events are consumed, so only the store's copies (and the engine's state) remain.
    let before = LIVE.load(Ordering::Relaxed);
    rt.block_on(async {
        for i in 0..N {
            let ev = SubmitEvent {
                channel: Channel::Smpp,
                scope: ScopeContext::binding("smsc-1"),
                shortcode: Some("12345".into()),
                message: message(),
                part_ids: vec![format!("{i:016x}")],
                status: "ESME_ROK".into(),
            };
            eng.on_submit(ev).await.expect("submit");
        }
    });
    let after = LIVE.load(Ordering::Relaxed);
    let per = (after - before) as f64 / N as f64;
    println!(
        "memory per tracked message (MemoryStore, {}-byte body, 9 metadata fields): {per:.0} bytes",
        message().body.len()
    );
    assert_eq!(store.len(), N);
}

/// `ENGINE_BENCH_PROFILE=engine` (or `bare`) hands `ENGINE_BENCH_PROFILE_RUNS` receipts
/// (default 20 000) to that side's steps (the routine the `receipt` group times) and exits, for
/// a profiler. It works in rounds of 1 000, as the `receipt` group works in batches: the
/// messages are stored and their receipts encoded, then the receipts are handled in
/// `profile_engine` / `profile_bare`, and nothing else is, so callgrind can count them alone:
/// `ENGINE_BENCH_PROFILE=engine valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect=engine::profile_engine target/release/deps/engine-<hash>`
/// (`scripts/instructions engine` does this).
fn profile(side: &str) {
    const ROUND: usize = 1_000;
    let runs: usize = std::env::var("ENGINE_BENCH_PROFILE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    if side != "engine" && side != "bare" {
        panic!("ENGINE_BENCH_PROFILE: engine or bare");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bucket = Bucket::new("MADR-12345").expect("bucket");
    let template = message();
    let store = Arc::new(MemoryStore::new());
    let eng = engine(store.clone());
    let scope = ScopeContext::binding("smsc-1");
    let rules = ReceiptRules::default();
    let (mut engine_outs, mut bare_outs) = (Vec::new(), Vec::new());
    let mut done = 0;
    while done < runs {
        let frames: Vec<Bytes> = (done..runs.min(done + ROUND))
            .map(|i| stored_receipt(&store, &bucket, &template, &format!("{i:016x}")))
            .collect();
        let round = frames.len();
        done += round;
        if side == "engine" {
            engine_outs.reserve(frames.len());
            profile_engine(&rt, &eng, &scope, frames, &mut engine_outs);
        } else {
            bare_outs.reserve(frames.len());
            profile_bare(&rt, &store, &bucket, &rules, frames, &mut bare_outs);
        }
        assert!(store.is_empty());
        assert_eq!(engine_outs.len() + bare_outs.len(), round);
        engine_outs.clear();
        bare_outs.clear();
    }
    println!("receipt/{side}: {done} receipts");
}

/// The engine side of the `receipt` group, once per frame.
#[inline(never)]
fn profile_engine(
    rt: &tokio::runtime::Runtime,
    eng: &RetryEngine,
    scope: &ScopeContext,
    frames: Vec<Bytes>,
    outs: &mut Vec<ReceiptOutcome>,
) {
    rt.block_on(async {
        for frame in frames {
            outs.push(std::hint::black_box(engine_step(eng, scope, &frame).await));
        }
    });
}

/// One receipt through the engine, as every engine side of the `receipt` group handles it: the
/// hook deletes the message, so the default finds nothing to delete.
async fn engine_step(eng: &RetryEngine, scope: &ScopeContext, frame: &Bytes) -> ReceiptOutcome {
    let pdu = Pdu::decode(frame).expect("decode");
    let Body::DeliverSm(dsm) = pdu.body else {
        unreachable!("the bench sends deliver_sm")
    };
    let out = eng.on_deliver_sm(scope, &dsm).await.expect("receipt");
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                took_over: false,
                default_action: DefaultAction::Deleted(false),
                ..
            }
        ),
        "{out:?}"
    );
    out
}

/// The same receipt without the engine: decode, classify, load, delete.
async fn bare_step(
    bare: &MemoryStore,
    bucket: &Bucket,
    rules: &ReceiptRules,
    frame: &Bytes,
) -> (ReceiptClass, Option<StoredMessage>) {
    let pdu = Pdu::decode(frame).expect("decode");
    let Body::DeliverSm(dsm) = pdu.body else {
        unreachable!("the bench sends deliver_sm")
    };
    let receipt = DeliveryReceipt::from_deliver_sm(&dsm).expect("receipt");
    let class = receipt.class(rules);
    let msgid = MsgId::new(receipt.id).expect("msgid");
    let m = bare
        .load(bucket, &msgid)
        .await
        .expect("load")
        .map(|v| v.message);
    assert!(m.is_some() && class == ReceiptClass::Positive);
    assert!(bare.delete(bucket, &msgid).await.expect("delete"));
    (class, m)
}

/// The bare side of the `receipt` group, once per frame.
#[inline(never)]
fn profile_bare(
    rt: &tokio::runtime::Runtime,
    bare: &MemoryStore,
    bucket: &Bucket,
    rules: &ReceiptRules,
    frames: Vec<Bytes>,
    outs: &mut Vec<(ReceiptClass, Option<StoredMessage>)>,
) {
    rt.block_on(async {
        for frame in frames {
            outs.push(std::hint::black_box(
                bare_step(bare, bucket, rules, &frame).await,
            ));
        }
    });
}

criterion_group!(
    benches,
    receipts,
    interleaved,
    round_trips,
    memory_per_message
);

// `criterion_main!(benches)`, with the profile mode in front.
fn main() {
    if let Ok(side) = std::env::var("ENGINE_BENCH_PROFILE") {
        profile(&side);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
