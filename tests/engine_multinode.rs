//! Several gateway nodes sharing one store: each node is its own `RetryEngine` with its own
//! store client (here a handle with a delay on every operation, as a network store has), and
//! receipts for one message reach different nodes at the same time.
//!
//! The guarantees under test: a hook runs once per final state, every part of a multipart
//! message counts, a submission never replaces a different live message, and receipts parked by
//! a node that goes away are applied by the node that stores their submission.

#[path = "support/events.rs"]
mod events;
#[path = "support/riak_server/mod.rs"]
mod riak_server;

#[path = "support/counting_hooks.rs"]
mod counting_hooks;
#[path = "support/store_client.rs"]
mod store_client;
use counting_hooks::Counting;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use store_client::Client;

use futures::future::join_all;
use redeliver::async_trait;
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{Injection, RecordingInjector};
use redeliver::message::{Bucket, MsgId, ReceiptClass};
use redeliver::retry::{
    DefaultAction, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent, SubmitOutcome,
};
use redeliver::store::{EmbeddedStore, MemoryStore, MessageStore, RiakStore};

const OPTIONS: &str = r#"
[global]
smpp_registered_delivery = "SMSC_Delivery"
[binding.hexsmsc]
submit_msgid_format = "hexadecimal"
receipt_msgid_format = "hexadecimal"
[binding.decsmsc]
submit_msgid_format = "decimal"
receipt_msgid_format = "decimal"
"#;

struct Cluster {
    nodes: Vec<RetryEngine>,
    hooks: Arc<Counting>,
    spool: Arc<RecordingInjector>,
    shared: Arc<dyn MessageStore>,
}

/// How one node gets its own client of the shared store.
type Connect = Arc<dyn Fn() -> Arc<dyn MessageStore> + Send + Sync>;

/// One client per node over `shared`, each with a delay of 1 ms on every operation.
fn delayed(shared: Arc<dyn MessageStore>) -> Connect {
    Arc::new(move || {
        Arc::new(Client::delayed(shared.clone(), Duration::from_millis(1))) as Arc<dyn MessageStore>
    })
}

impl Cluster {
    fn new(shared: Arc<dyn MessageStore>, connect: &Connect, nodes: usize) -> Self {
        let hooks = Arc::new(Counting::default());
        let spool = Arc::new(RecordingInjector::new());
        let nodes = (0..nodes)
            .map(|_| self::node(connect, &hooks, &spool))
            .collect();
        Self {
            nodes,
            hooks,
            spool,
            shared,
        }
    }

    fn bounces(&self) -> usize {
        self.spool
            .injections()
            .iter()
            .filter(|i| matches!(i, Injection::Bounce(_)))
            .count()
    }
}

fn node(connect: &Connect, hooks: &Arc<Counting>, spool: &Arc<RecordingInjector>) -> RetryEngine {
    RetryEngine::builder(connect(), spool.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .hooks(hooks.clone())
        .build()
}

use events::bucket;

fn submit(binding: &str, from: &str, ids: &[String]) -> SubmitEvent {
    events::smpp_submit(ScopeContext::binding(binding), from, ids)
}

fn receipt(binding: &str, id: &str, class: ReceiptClass, state: &str) -> ReceiptEvent {
    events::smpp_receipt(ScopeContext::binding(binding), id, class, state)
}

fn stored(out: &SubmitOutcome) -> bool {
    matches!(out, SubmitOutcome::Stored { collided_parts, .. } if collided_parts.is_empty())
}

/// 200 messages; each final UNDELIV receipt reaches every node at once.
async fn duplicate_finals_run_the_hook_once(cluster: &Cluster) {
    const N: usize = 200;
    for n in 0..N {
        let out = cluster.nodes[n % cluster.nodes.len()]
            .on_submit(submit("smsc-1", "alice@example.com", &[format!("dup-{n}")]))
            .await
            .unwrap();
        assert!(stored(&out), "{out:?}");
    }
    let all = join_all((0..N).map(|n| {
        let nodes = cluster.nodes.clone();
        async move {
            join_all(nodes.iter().map(|node| {
                node.on_receipt(receipt(
                    "smsc-1",
                    &format!("dup-{n}"),
                    ReceiptClass::Negative,
                    "UNDELIV",
                ))
            }))
            .await
        }
    }))
    .await;
    let mut handled = 0;
    for per_message in all {
        let mut here = 0;
        for out in per_message {
            match out.unwrap() {
                ReceiptOutcome::Handled {
                    default_action: DefaultAction::Bounced,
                    ..
                } => here += 1,
                ReceiptOutcome::Duplicate { .. } => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(here, 1, "one node handles each message");
        handled += here;
    }
    assert_eq!(handled, N);
    assert_eq!(cluster.hooks.negative.load(Ordering::SeqCst), N);
    assert_eq!(cluster.bounces(), N);
}

/// 100 two-part messages; part 1's DELIVRD reaches one node while part 2's reaches another.
async fn parts_on_different_nodes_all_count(cluster: &Cluster) {
    const N: usize = 100;
    let before = cluster.hooks.positive.load(Ordering::SeqCst);
    for n in 0..N {
        let out = cluster.nodes[0]
            .on_submit(submit(
                "smsc-1",
                "alice@example.com",
                &[format!("mp-{n}-a"), format!("mp-{n}-b")],
            ))
            .await
            .unwrap();
        assert!(stored(&out), "{out:?}");
    }
    let k = cluster.nodes.len();
    let outcomes = join_all((0..N).flat_map(|n| {
        let a = cluster.nodes[n % k].clone();
        let b = cluster.nodes[(n + 1) % k].clone();
        [
            tokio::spawn(async move {
                a.on_receipt(receipt(
                    "smsc-1",
                    &format!("mp-{n}-a"),
                    ReceiptClass::Positive,
                    "DELIVRD",
                ))
                .await
            }),
            tokio::spawn(async move {
                b.on_receipt(receipt(
                    "smsc-1",
                    &format!("mp-{n}-b"),
                    ReceiptClass::Positive,
                    "DELIVRD",
                ))
                .await
            }),
        ]
    }))
    .await;
    let mut delivered = 0;
    for out in outcomes {
        match out.unwrap().unwrap() {
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            } => delivered += 1,
            ReceiptOutcome::PartRecorded { .. } => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(delivered, N, "every two-part message is delivered once");
    assert_eq!(cluster.hooks.positive.load(Ordering::SeqCst) - before, N);
    for n in 0..N {
        for part in ["a", "b"] {
            let key = MsgId::new(format!("mp-{n}-{part}")).unwrap();
            assert!(
                cluster
                    .shared
                    .load(&bucket(), &key)
                    .await
                    .unwrap()
                    .is_none(),
                "mp-{n}-{part} left behind"
            );
        }
    }
}

/// Two bindings whose SMSCs hand out the same id under different spellings (hex `10`, decimal
/// `16`): the second submission is refused as a collision, and the receipt finds the first.
async fn colliding_ids_never_replace_a_live_message(cluster: &Cluster) {
    let first = cluster.nodes[0]
        .on_submit(submit("hexsmsc", "first@example.com", &["10".into()]))
        .await
        .unwrap();
    assert!(stored(&first), "{first:?}");
    let second = cluster.nodes[1 % cluster.nodes.len()]
        .on_submit(submit("decsmsc", "second@example.com", &["16".into()]))
        .await
        .unwrap();
    let SubmitOutcome::Collision {
        msgid,
        existing_message_id,
        ..
    } = &second
    else {
        panic!("expected a collision, got {second:?}");
    };
    assert_eq!(msgid.as_str(), "16");
    assert_eq!(existing_message_id.as_deref(), Some("10"));
    let kept = cluster
        .shared
        .load(&bucket(), msgid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.envelope.mailfrom, "first@example.com");
    // The same submission handed in twice is no collision.
    let again = cluster.nodes[0]
        .on_submit(submit("hexsmsc", "first@example.com", &["10".into()]))
        .await
        .unwrap();
    assert!(stored(&again), "{again:?}");
    let bounces = cluster.bounces();
    let out = cluster.nodes[0]
        .on_receipt(receipt("hexsmsc", "10", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Handled { .. }), "{out:?}");
    let dsn = cluster
        .spool
        .injections()
        .into_iter()
        .rev()
        .find_map(|i| match i {
            Injection::Bounce(d) => Some(d),
            _ => None,
        });
    assert_eq!(cluster.bounces(), bounces + 1);
    assert_eq!(dsn.unwrap().rcptto, "first@example.com");
}

/// Node 0 parks 50 early receipts in the store and goes away; node 1 stores the submissions
/// and applies them, each once.
async fn receipts_parked_by_a_lost_node_are_applied(connect: &Connect) {
    let hooks = Arc::new(Counting::default());
    let spool = Arc::new(RecordingInjector::new());
    const N: usize = 50;
    {
        let lost = node(connect, &hooks, &spool);
        for n in 0..N {
            let out = lost
                .on_receipt(receipt(
                    "smsc-1",
                    &format!("early-{n}"),
                    ReceiptClass::Negative,
                    "UNDELIV",
                ))
                .await
                .unwrap();
            assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
        }
        // Dropped here: its memory is gone.
    }
    let survivor = node(connect, &hooks, &spool);
    let mut applied = 0;
    for n in 0..N {
        let out = survivor
            .on_submit(submit(
                "smsc-1",
                "alice@example.com",
                &[format!("early-{n}")],
            ))
            .await
            .unwrap();
        let SubmitOutcome::Stored { applied: a, .. } = out else {
            panic!("not stored: {out:?}");
        };
        for o in a {
            assert!(
                matches!(
                    o,
                    Ok(ReceiptOutcome::Handled {
                        default_action: DefaultAction::Bounced,
                        ..
                    })
                ),
                "{o:?}"
            );
            applied += 1;
        }
    }
    assert_eq!(applied, N);
    assert_eq!(hooks.negative.load(Ordering::SeqCst), N);
}

/// Every scenario on fresh stores from `make`: the shared store (to look at it directly) and
/// how a node connects to it.
async fn all_scenarios<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (Arc<dyn MessageStore>, Connect)>,
{
    for nodes in [2, 3] {
        let (shared, connect) = make().await;
        let cluster = Cluster::new(shared, &connect, nodes);
        duplicate_finals_run_the_hook_once(&cluster).await;
        parts_on_different_nodes_all_count(&cluster).await;
        colliding_ids_never_replace_a_live_message(&cluster).await;
    }
    let (_, connect) = make().await;
    receipts_parked_by_a_lost_node_are_applied(&connect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_shared_by_several_nodes() {
    all_scenarios(|| async {
        let shared: Arc<dyn MessageStore> = Arc::new(MemoryStore::new());
        (shared.clone(), delayed(shared))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_shared_by_several_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    all_scenarios(|| {
        let path = dir
            .path()
            .join(format!("mstore-{}.redb", n.fetch_add(1, Ordering::SeqCst)));
        async move {
            let shared: Arc<dyn MessageStore> = Arc::new(EmbeddedStore::open(path).unwrap());
            (shared.clone(), delayed(shared))
        }
    })
    .await;
}

/// Each engine has its own `RiakStore` (its own HTTP connections) over a two-node in-tree Riak
/// cluster, on a strongly consistent bucket type, where conditional writes are atomic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_consistent_type_shared_by_several_nodes() {
    let servers = Arc::new(std::sync::Mutex::new(Vec::new()));
    all_scenarios(|| {
        let servers = servers.clone();
        async move {
            let a = riak_server::RiakServer::start().await;
            let b = a.join().await;
            let config = riak_server::consistent_config(&[&a, &b]);
            servers.lock().unwrap().push((a, b));
            let shared: Arc<dyn MessageStore> = Arc::new(RiakStore::new(config.clone()).unwrap());
            let connect: Connect = Arc::new(move || {
                Arc::new(RiakStore::new(config.clone()).unwrap()) as Arc<dyn MessageStore>
            });
            (shared, connect)
        }
    })
    .await;
}

/// Store round trips per event without contention: a submission 1 (create), an intermediate
/// receipt 2 (load, update), a failure 3 (load, claim, the claim marked finished after the
/// bounce), a delivery 3 (load, claim, delete; with a positive hook that deletes, the default's
/// delete is not repeated), a receipt before its submission 2 (load, create a placeholder) and
/// its submission then 3 (create, load the placeholder, update) plus the receipt's own work.
#[tokio::test]
async fn store_round_trips_per_event() {
    let store = Arc::new(Client::new(Arc::new(MemoryStore::new())));
    let engine = RetryEngine::builder(store.clone(), Arc::new(RecordingInjector::new()))
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .build();
    let ops = || store.ops.swap(0, Ordering::SeqCst);
    engine
        .on_submit(submit("smsc-1", "a@example.com", &["r1".into()]))
        .await
        .unwrap();
    assert_eq!(ops(), 1, "submission");
    engine
        .on_receipt(receipt(
            "smsc-1",
            "r1",
            ReceiptClass::Intermediate,
            "ENROUTE",
        ))
        .await
        .unwrap();
    assert_eq!(ops(), 2, "intermediate");
    engine
        .on_receipt(receipt("smsc-1", "r1", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert_eq!(ops(), 3, "failure");
    engine
        .on_receipt(receipt("smsc-1", "r1", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert_eq!(ops(), 1, "duplicate");
    engine
        .on_submit(submit("smsc-1", "a@example.com", &["r2".into()]))
        .await
        .unwrap();
    ops();
    engine
        .on_receipt(receipt("smsc-1", "r2", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    assert_eq!(ops(), 3, "delivery");
    // With the seed's positive hook, which deletes the message itself, the default does not
    // delete it a second time.
    let with_hook = RetryEngine::builder(store.clone(), Arc::new(RecordingInjector::new()))
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .hooks(Arc::new(DeleteOnPositive))
        .build();
    with_hook
        .on_submit(submit("smsc-1", "a@example.com", &["r4".into()]))
        .await
        .unwrap();
    ops();
    let out = with_hook
        .on_receipt(receipt("smsc-1", "r4", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: false,
                default_action: DefaultAction::Deleted(false),
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(ops(), 3, "delivery with a hook that deletes");
    engine
        .on_receipt(receipt("smsc-1", "r3", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert_eq!(ops(), 2, "early receipt");
    engine
        .on_submit(submit("smsc-1", "a@example.com", &["r3".into()]))
        .await
        .unwrap();
    // create (refused), load, update over the placeholder; then the drain: load, and the
    // parked receipt's load, claim and mark of the finished claim; and a last load that finds
    // nothing more parked.
    assert_eq!(ops(), 8, "submission with a parked receipt");
}

/// The seed's positive hook: delete the message and continue.
struct DeleteOnPositive;

#[async_trait]
impl redeliver::hooks::DeliveryHooks for DeleteOnPositive {
    async fn smpp_handle_dr_positive(
        &self,
        cx: &redeliver::hooks::HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<redeliver::hooks::SmppDrDecision, redeliver::hooks::HookError> {
        cx.delete(bucket, msgid).await?;
        Ok(redeliver::hooks::SMPP_CONTINUE)
    }
}

/// A claim whose write landed but was answered "unavailable" is not a claim lost: when the
/// receipt is tried again it finds its own claim and runs the hook and the bounce, once.
#[tokio::test]
async fn an_ambiguous_claim_is_finished_by_its_own_receipt() {
    let store = Arc::new(Client::new(Arc::new(MemoryStore::new())));
    store.ambiguous.store(true, Ordering::SeqCst);
    let hooks = Arc::new(Counting::default());
    let spool = Arc::new(RecordingInjector::new());
    let engine = RetryEngine::builder(store.clone(), spool.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .hooks(hooks.clone())
        .build();
    engine
        .on_submit(submit("smsc-1", "a@example.com", &["amb".into()]))
        .await
        .unwrap();
    let out = engine
        .on_receipt(receipt("smsc-1", "amb", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 0);
    let (report, outcomes) = engine.retry_parked_outcomes().await;
    assert_eq!(report.applied, 1, "{outcomes:?}");
    assert!(
        matches!(
            outcomes.as_slice(),
            [Ok(ReceiptOutcome::Handled {
                default_action: DefaultAction::Bounced,
                ..
            })]
        ),
        "{outcomes:?}"
    );
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
    // Another node's duplicate is still a duplicate.
    let other = RetryEngine::builder(store.clone(), spool.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .hooks(hooks.clone())
        .build();
    let out = other
        .on_receipt(receipt("smsc-1", "amb", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    assert_eq!(hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(
        spool
            .injections()
            .iter()
            .filter(|i| matches!(i, Injection::Bounce(_)))
            .count(),
        1
    );
}

/// One node on an ordinary Riak bucket type (conditions checked by a read before the write, so
/// two writers can both win): the same final receipt handled twice at once by one node still
/// runs the hook once, because the node never races itself on a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_on_an_ordinary_riak_bucket_runs_the_hook_once() {
    const N: usize = 100;
    let riak = riak_server::RiakServer::start().await;
    let config = redeliver::store::RiakConfig::new([riak.url()]);
    let shared: Arc<dyn MessageStore> = Arc::new(RiakStore::new(config.clone()).unwrap());
    let connect: Connect = Arc::new(move || {
        Arc::new(RiakStore::new(config.clone()).unwrap()) as Arc<dyn MessageStore>
    });
    let cluster = Cluster::new(shared, &connect, 1);
    let node = &cluster.nodes[0];
    for n in 0..N {
        let out = node
            .on_submit(submit("smsc-1", "alice@example.com", &[format!("one-{n}")]))
            .await
            .unwrap();
        assert!(stored(&out), "{out:?}");
    }
    let all = join_all((0..N).map(|n| async move {
        join_all((0..2).map(|_| {
            node.on_receipt(receipt(
                "smsc-1",
                &format!("one-{n}"),
                ReceiptClass::Negative,
                "UNDELIV",
            ))
        }))
        .await
    }))
    .await;
    for per_message in all {
        let handled = per_message
            .into_iter()
            .filter(|out| matches!(out, Ok(ReceiptOutcome::Handled { .. })))
            .count();
        assert_eq!(handled, 1, "one of the two copies is handled");
    }
    assert_eq!(cluster.hooks.negative.load(Ordering::SeqCst), N);
    assert_eq!(cluster.bounces(), N);
}
