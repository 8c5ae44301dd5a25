//! What a node leaves unfinished when it dies is finished by another node's timer, found through
//! the store's due-time index (`MessageStore::due`), never by scanning:
//!
//! * a final state claimed by a node that died before its hook ran is taken over, and the hook
//!   runs exactly once over all the nodes that look;
//! * receipts parked in a record whose submission another node stored (and died before it
//!   applied them) are applied, and receipts parked by a node that went away are given up when
//!   their window ends, by a node that never saw them;
//! * on a Riak bucket with `allow_mult`, the part receipts of one message recorded at once on
//!   two nodes become siblings; the timer decides the message from the merged part states.
//! * on Riak, a node whose client never wrote to a bucket finds a claim left there through
//!   `RiakConfig::buckets`, without asking Riak for its bucket list.
//!
//! Every node is a `RetryEngine` with its own store client. A dying node is simulated by
//! aborting its task while a hook or a store operation of it never returns.

#[path = "support/events.rs"]
mod events;
#[path = "support/riak_server/mod.rs"]
mod riak_server;

#[path = "support/counting_hooks.rs"]
mod counting_hooks;
#[path = "support/store_client.rs"]
mod store_client;
use counting_hooks::Counting;
use store_client::Client;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redeliver::async_trait;
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, Injection, RecordingInjector, SmppDrDecision,
};
use redeliver::message::{Bucket, MsgId, ReceiptClass};
use redeliver::retry::{
    DefaultAction, EngineSettings, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent,
    SubmitOutcome, Unmatched,
};
use redeliver::store::{EmbeddedStore, MemoryStore, MessageStore, RiakStore};
use tokio::sync::{Barrier, Notify};

/// Long enough for anything here to finish; only there so a broken test fails instead of
/// hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// A receipt hook that never returns: its node is stuck (and then dies) between its claim and
/// the end of its hooks.
struct Stuck {
    entered: Arc<Notify>,
}

#[async_trait]
impl DeliveryHooks for Stuck {
    async fn smpp_handle_dr_negative(
        &self,
        _cx: &HookContext,
        _b: &Bucket,
        _m: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.entered.notify_one();
        futures::future::pending().await
    }
    async fn smpp_handle_dr_positive(
        &self,
        _cx: &HookContext,
        _b: &Bucket,
        _m: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.entered.notify_one();
        futures::future::pending().await
    }
}

/// A negative hook that takes over (`SMPP_DELIVERED`) and leaves the message stored.
#[derive(Default)]
struct TakesOver {
    runs: AtomicUsize,
}

#[async_trait]
impl DeliveryHooks for TakesOver {
    async fn smpp_handle_dr_negative(
        &self,
        _cx: &HookContext,
        _b: &Bucket,
        _m: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(redeliver::hooks::SMPP_DELIVERED)
    }
}

const OPTIONS: &str = "[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n";

fn engine(
    store: Arc<dyn MessageStore>,
    hooks: Arc<dyn DeliveryHooks>,
    spool: &Arc<RecordingInjector>,
    settings: EngineSettings,
) -> RetryEngine {
    RetryEngine::builder(store, spool.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .hooks(hooks)
        .settings(settings)
        .build()
}

use events::bucket;

fn submit(ids: &[&str]) -> SubmitEvent {
    events::smpp_submit(ScopeContext::binding("smsc-1"), "alice@example.com", ids)
}

fn receipt(id: &str, class: ReceiptClass, state: &str) -> ReceiptEvent {
    events::smpp_receipt(ScopeContext::binding("smsc-1"), id, class, state)
}

fn bounces(spool: &RecordingInjector) -> usize {
    spool
        .injections()
        .iter()
        .filter(|i| matches!(i, Injection::Bounce(_)))
        .count()
}

/// Settings whose claims can be taken over as soon as they are written: the node that claims
/// is the one that dies, so the test needs no clock.
fn no_lease() -> EngineSettings {
    EngineSettings {
        claim_lease: Duration::ZERO,
        ..EngineSettings::default()
    }
}

/// Node A claims a final state and dies in its hook; nodes B and C both run their timers at
/// once and the hook runs exactly once; a claim that finished is never taken over.
async fn a_claim_left_by_a_dead_node_is_finished_once(shared: Arc<dyn MessageStore>) {
    let spool = Arc::new(RecordingInjector::new());
    let hooks = Arc::new(Counting::default());
    let b = engine(
        Arc::new(Client::new(shared.clone())),
        hooks.clone(),
        &spool,
        EngineSettings::default(),
    );
    let c = engine(
        Arc::new(Client::new(shared.clone())),
        hooks.clone(),
        &spool,
        EngineSettings::default(),
    );
    for (id, class, state) in [
        ("lost-neg", ReceiptClass::Negative, "UNDELIV"),
        ("lost-pos", ReceiptClass::Positive, "DELIVRD"),
    ] {
        let out = b.on_submit(submit(&[id])).await.unwrap();
        assert!(matches!(out, SubmitOutcome::Stored { .. }), "{out:?}");
        let entered = Arc::new(Notify::new());
        let a = engine(
            Arc::new(Client::new(shared.clone())),
            Arc::new(Stuck {
                entered: entered.clone(),
            }),
            &spool,
            no_lease(),
        );
        let task = tokio::spawn(async move { a.on_receipt(receipt(id, class, state)).await });
        tokio::time::timeout(PATIENCE, entered.notified())
            .await
            .expect("node A reached its hook");
        // Node A dies with its claim written and its hook unfinished.
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        let bounced_before = bounces(&spool);

        let (from_b, from_c) = tokio::time::timeout(PATIENCE, async {
            tokio::join!(b.retry_parked_outcomes(), c.retry_parked_outcomes())
        })
        .await
        .expect("timers finished");
        let handled: Vec<_> = from_b
            .1
            .iter()
            .chain(&from_c.1)
            .filter(|o| matches!(o, Ok(ReceiptOutcome::Handled { .. })))
            .collect();
        assert_eq!(handled.len(), 1, "{from_b:?} {from_c:?}");
        assert_eq!(from_b.0.recovered + from_c.0.recovered, 1);
        let Ok(ReceiptOutcome::Handled {
            msgid,
            class: got,
            default_action,
            receipt,
            ..
        }) = handled[0]
        else {
            unreachable!()
        };
        assert_eq!(msgid.as_str(), id);
        assert_eq!(*got, class);
        assert_eq!(
            receipt.state, state,
            "the receipt is rebuilt from the history"
        );
        assert_eq!(receipt.scope.binding.as_deref(), Some("smsc-1"));
        match class {
            ReceiptClass::Negative => {
                assert_eq!(*default_action, DefaultAction::Bounced);
                assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
                assert_eq!(bounces(&spool), bounced_before + 1);
            }
            _ => {
                assert_eq!(*default_action, DefaultAction::Deleted(true));
                assert_eq!(bounces(&spool), bounced_before);
                assert_eq!(hooks.positive.load(Ordering::SeqCst), 1);
                let key = MsgId::new(id).unwrap();
                assert!(shared.load(&bucket(), &key).await.unwrap().is_none());
            }
        }
        // Finished: no node takes it over again.
        for node in [&b, &c] {
            let again = node.recover().await;
            assert!(again.is_empty(), "{again:?}");
        }
    }
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(hooks.positive.load(Ordering::SeqCst), 1);

    // A claim its own node finished is not due, even with no lease at all.
    let d = engine(
        Arc::new(Client::new(shared.clone())),
        hooks.clone(),
        &spool,
        no_lease(),
    );
    d.on_submit(submit(&["done"])).await.unwrap();
    let out = d
        .on_receipt(receipt("done", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Handled { .. }), "{out:?}");
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 2);
    for node in [&b, &c, &d] {
        let again = node.recover().await;
        assert!(again.is_empty(), "{again:?}");
    }
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 2);
    assert_eq!(bounces(&spool), 2);

    // Nor is one whose hook took over and left the message stored.
    let taker = Arc::new(TakesOver::default());
    let e = engine(
        Arc::new(Client::new(shared.clone())),
        taker.clone(),
        &spool,
        no_lease(),
    );
    e.on_submit(submit(&["kept"])).await.unwrap();
    let out = e
        .on_receipt(receipt("kept", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: true,
                default_action: DefaultAction::Skipped,
                ..
            }
        ),
        "{out:?}"
    );
    let kept = shared
        .load(&bucket(), &MsgId::new("kept").unwrap())
        .await
        .unwrap()
        .expect("the hook left it stored");
    assert_eq!(kept.due_millis(), None, "the finished claim has no lease");
    for node in [&b, &c, &e] {
        let again = node.recover().await;
        assert!(again.is_empty(), "{again:?}");
    }
    assert_eq!(taker.runs.load(Ordering::SeqCst), 1);
    assert_eq!(bounces(&spool), 2);
}

/// Node A parks a receipt and goes away; node B stores the submission over it and dies before
/// it applies the receipt; node C, which saw neither, applies it on its timer. A receipt parked
/// by A whose submission never comes is given up by C when its window ends.
async fn parked_receipts_are_applied_by_any_node(shared: Arc<dyn MessageStore>) {
    let spool = Arc::new(RecordingInjector::new());
    let hooks = Arc::new(Counting::default());
    {
        let a = engine(
            Arc::new(Client::new(shared.clone())),
            hooks.clone(),
            &spool,
            EngineSettings::default(),
        );
        let out = a
            .on_receipt(receipt("early", ReceiptClass::Negative, "UNDELIV"))
            .await
            .unwrap();
        assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
        let short = engine(
            Arc::new(Client::new(shared.clone())),
            hooks.clone(),
            &spool,
            EngineSettings {
                park_window: Duration::ZERO,
                ..EngineSettings::default()
            },
        );
        let out = short
            .on_receipt(receipt("never", ReceiptClass::Negative, "UNDELIV"))
            .await
            .unwrap();
        assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
        // Both dropped here: their memory of what they parked is gone.
    }
    // B's store client answers its first three operations (the create refused by the
    // placeholder, the load, the update over it) and then nothing.
    let mut client = Client::new(shared.clone());
    client.hang_from = Some(4);
    let hung = client.hung.clone();
    let b = engine(
        Arc::new(client),
        hooks.clone(),
        &spool,
        EngineSettings::default(),
    );
    let task = tokio::spawn(async move { b.on_submit(submit(&["early"])).await });
    tokio::time::timeout(PATIENCE, hung.notified())
        .await
        .expect("node B stored the submission");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let stored = shared
        .load(&bucket(), &MsgId::new("early").unwrap())
        .await
        .unwrap()
        .expect("the submission is stored");
    assert!(!stored.is_placeholder());
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 0);

    let c = engine(
        Arc::new(Client::new(shared.clone())),
        hooks.clone(),
        &spool,
        EngineSettings::default(),
    );
    let (report, outcomes) = tokio::time::timeout(PATIENCE, c.retry_parked_outcomes())
        .await
        .expect("timer finished");
    assert_eq!(report.applied, 1, "{outcomes:?}");
    assert_eq!(report.expired, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Ok(ReceiptOutcome::Handled {
                msgid,
                default_action: DefaultAction::Bounced,
                ..
            }) if msgid.as_str() == "early"
        )),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Ok(ReceiptOutcome::Unmatched {
                msgid,
                reason: Unmatched::Expired,
                ..
            }) if msgid.as_str() == "never"
        )),
        "{outcomes:?}"
    );
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(bounces(&spool), 1);
    // Nothing is left to do, on any node.
    let again = c.recover().await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
}

async fn both(make: impl Fn() -> Arc<dyn MessageStore>) {
    a_claim_left_by_a_dead_node_is_finished_once(make()).await;
    parked_receipts_are_applied_by_any_node(make()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store() {
    both(|| Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    both(|| {
        let path = dir
            .path()
            .join(format!("mstore-{}.redb", n.fetch_add(1, Ordering::SeqCst)));
        Arc::new(EmbeddedStore::open(path).unwrap())
    })
    .await;
}

/// Each node has its own `RiakStore` over a two-node in-tree Riak on a strongly consistent
/// bucket type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_consistent_type() {
    let a = riak_server::RiakServer::start().await;
    let b = a.join().await;
    let config = riak_server::consistent_config(&[&a, &b]);
    a_claim_left_by_a_dead_node_is_finished_once(Arc::new(RiakStore::new(config.clone()).unwrap()))
        .await;
    parked_receipts_are_applied_by_any_node(Arc::new(RiakStore::new(config).unwrap())).await;
}

/// Node A stores a submission, claims its final state and dies in its hook. Node B has a
/// `RiakStore` of its own that never wrote to that bucket and never asks Riak for its bucket
/// list: without the bucket in `RiakConfig::buckets` its timer cannot find the claim (the
/// documented limitation of `BucketListing::Never`); with it, it finishes the claim, and Riak's
/// bucket list is never asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_a_node_finds_claims_in_configured_buckets_it_never_wrote_to() {
    use redeliver::store::riak::BucketListing;
    let server = riak_server::RiakServer::start().await;
    let config = riak_server::consistent_config(&[&server]);
    let spool = Arc::new(RecordingInjector::new());
    let hooks = Arc::new(Counting::default());
    let store_a: Arc<dyn MessageStore> = Arc::new(RiakStore::new(config.clone()).unwrap());
    let submitter = engine(
        Arc::new(Client::new(store_a.clone())),
        hooks.clone(),
        &spool,
        no_lease(),
    );
    let out = submitter
        .on_submit(submit(&["lost-elsewhere"]))
        .await
        .unwrap();
    assert!(matches!(out, SubmitOutcome::Stored { .. }), "{out:?}");
    let entered = Arc::new(Notify::new());
    let a = engine(
        Arc::new(Client::new(store_a)),
        Arc::new(Stuck {
            entered: entered.clone(),
        }),
        &spool,
        no_lease(),
    );
    let task = tokio::spawn(async move {
        a.on_receipt(receipt("lost-elsewhere", ReceiptClass::Negative, "UNDELIV"))
            .await
    });
    tokio::time::timeout(PATIENCE, entered.notified())
        .await
        .expect("node A reached its hook");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let node_b = |config: redeliver::store::RiakConfig| {
        engine(
            Arc::new(Client::new(Arc::new(RiakStore::new(config).unwrap()))),
            hooks.clone(),
            &spool,
            EngineSettings::default(),
        )
    };
    let blind = node_b(config.clone().with_bucket_listing(BucketListing::Never));
    let (report, outcomes) = tokio::time::timeout(PATIENCE, blind.retry_parked_outcomes())
        .await
        .expect("timer finished");
    assert_eq!(report.recovered, 0, "{outcomes:?}");
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 0);

    let b = node_b(config.with_buckets([bucket().as_str()]));
    let (report, outcomes) = tokio::time::timeout(PATIENCE, b.retry_parked_outcomes())
        .await
        .expect("timer finished");
    assert_eq!(report.recovered, 1, "{outcomes:?}");
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(bounces(&spool), 1);
    assert_eq!(server.bucket_listings(), 0);
}

/// On an ordinary Riak bucket type with `allow_mult`, part 1's and part 2's DELIVRD reach two
/// nodes at once: both read the same version and both writes pass Riak's precondition check,
/// so the two part states become siblings and neither node sees the message complete. The
/// next timer (on any node) reads the merged record, which completes the message, and claims
/// it: the hook runs once and the message and its part copy are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_allow_mult_parts_recorded_at_once_are_decided_on_the_timer() {
    let server = riak_server::RiakServer::start_with(riak_server::Options {
        // Riak checks a conditional write by a read before it; writers inside this window all
        // pass (the real window is a few milliseconds; it is wide here so both nodes hit it).
        precondition_race: Duration::from_secs(2),
        ..riak_server::Options::default()
    })
    .await;
    let config = redeliver::store::RiakConfig::new([server.url()])
        .with_bucket_type(riak_server::ALLOW_MULT_TYPE);
    let spool = Arc::new(RecordingInjector::new());
    let hooks = Arc::new(Counting::default());
    let settings = EngineSettings {
        part_recheck: Some(Duration::ZERO),
        ..EngineSettings::default()
    };
    let barrier = Arc::new(Barrier::new(2));
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut client = Client::new(Arc::new(RiakStore::new(config.clone()).unwrap()));
        client.barrier = Some(barrier.clone());
        nodes.push(engine(
            Arc::new(client),
            hooks.clone(),
            &spool,
            settings.clone(),
        ));
    }
    let out = nodes[0].on_submit(submit(&["mp-a", "mp-b"])).await.unwrap();
    assert!(matches!(out, SubmitOutcome::Stored { .. }), "{out:?}");
    let (a, b) = (nodes[0].clone(), nodes[1].clone());
    let (part_a, part_b) = tokio::time::timeout(PATIENCE, async {
        tokio::join!(
            a.on_receipt(receipt("mp-a", ReceiptClass::Positive, "DELIVRD")),
            b.on_receipt(receipt("mp-b", ReceiptClass::Positive, "DELIVRD")),
        )
    })
    .await
    .expect("both receipts answered");
    for out in [&part_a, &part_b] {
        assert!(
            matches!(out, Ok(ReceiptOutcome::PartRecorded { .. })),
            "both parts recorded beside each other: {part_a:?} {part_b:?}"
        );
    }
    assert_eq!(hooks.positive.load(Ordering::SeqCst), 0);

    let (report, outcomes) = tokio::time::timeout(PATIENCE, nodes[1].retry_parked_outcomes())
        .await
        .expect("timer finished");
    assert_eq!(report.recovered, 1, "{outcomes:?}");
    assert!(
        matches!(
            outcomes.as_slice(),
            [Ok(ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                default_action: DefaultAction::Deleted(true),
                ..
            })]
        ),
        "{outcomes:?}"
    );
    assert_eq!(hooks.positive.load(Ordering::SeqCst), 1);
    let shared = RiakStore::new(config).unwrap();
    for key in ["mp-a", "mp-b"] {
        let key = MsgId::new(key).unwrap();
        assert!(
            shared.load(&bucket(), &key).await.unwrap().is_none(),
            "{key}"
        );
    }
    for node in &nodes {
        let again = node.recover().await;
        assert!(again.is_empty(), "{again:?}");
    }
    assert_eq!(hooks.positive.load(Ordering::SeqCst), 1);
}
