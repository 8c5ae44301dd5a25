//! `RiakStore` in a cluster: request parameters and what Riak answers under them when replicas
//! live on fallback vnodes, "could not tell" kept apart from "not found", nodes marked down,
//! probed and brought back, failover within one call, bounded retries, per-server metrics, and
//! the conformance suite against several nodes (an in-tree cluster, or a real one when
//! `RIAK_CLUSTER_URLS` names its nodes, comma-separated, with `RIAK_CONSISTENT_TYPE` naming a
//! strongly consistent bucket type): the whole suite on a consistent type, and on the default
//! type the cases Riak can honour there.

#[path = "support/riak_server/mod.rs"]
mod riak_server;

use redeliver::store::PutMode;
use std::time::Duration;

use redeliver::message::{Bucket, MsgId};
use redeliver::store::riak::{Quorum, RequestParams, ServerMetrics};
use redeliver::store::{MessageStore, RiakConfig, RiakStore, StoreError, conformance};
use riak_server::{CONSISTENT_TYPE, Fault, KeyFault, RiakServer};

/// Three nodes sharing one data set.
async fn cluster() -> (RiakServer, RiakServer, RiakServer) {
    let a = RiakServer::start().await;
    let b = a.join().await;
    let c = a.join().await;
    (a, b, c)
}

fn config(nodes: &[&RiakServer]) -> RiakConfig {
    RiakConfig::new(nodes.iter().map(|n| n.url()))
        .with_request_timeout(Duration::from_millis(500))
        .with_retries(2, Duration::from_millis(10))
        .with_down_backoff(Duration::from_millis(20), Duration::from_millis(100))
}

fn store(nodes: &[&RiakServer]) -> RiakStore {
    RiakStore::new(config(nodes)).unwrap()
}

fn bucket() -> Bucket {
    Bucket::new("MADR-555").unwrap()
}

fn id(n: u32) -> MsgId {
    MsgId::new(format!("msg-{n}")).unwrap()
}

fn metrics_of(store: &RiakStore, node: &RiakServer) -> ServerMetrics {
    store
        .metrics()
        .into_iter()
        .find(|m| m.server == node.url())
        .unwrap()
}

/// The cases Riak can honour on the default bucket type (`allow_mult = false`): concurrent
/// creates can all "win" there and concurrent updates overwrite each other silently.
async fn run_default_type(store: &RiakStore) -> Result<(), conformance::Failure> {
    conformance::save_load_delete(store).await?;
    conformance::overwrite(store).await?;
    conformance::missing_keys(store).await?;
    conformance::odd_keys(store).await?;
    conformance::large_and_binary_bodies(store).await?;
    conformance::concurrent_saves_of_one_key(store).await?;
    conformance::conditional_saves(store).await?;
    conformance::listing(store).await?;
    conformance::sweep(store).await?;
    conformance::due_index(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_against_a_cluster() {
    if let Ok(urls) = std::env::var("RIAK_CLUSTER_URLS") {
        let servers: Vec<String> = urls
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let store = RiakStore::new(RiakConfig::new(servers.clone())).unwrap();
        if let Err(failure) = run_default_type(&store).await {
            panic!("real Riak cluster at {urls}: {failure}");
        }
        if let Ok(bucket_type) = std::env::var("RIAK_CONSISTENT_TYPE") {
            let store =
                RiakStore::new(RiakConfig::new(servers).with_bucket_type(&bucket_type)).unwrap();
            if let Err(failure) = conformance::run_all(&store).await {
                panic!("real Riak cluster at {urls}, consistent type {bucket_type}: {failure}");
            }
        }
        return;
    }
    let (a, b, c) = cluster().await;
    let store = store(&[&a, &b, &c]);
    if let Err(failure) = run_default_type(&store).await {
        panic!("in-tree 3-node cluster: {failure}");
    }
    for node in [&a, &b, &c] {
        assert!(
            metrics_of(&store, node).requests > 0,
            "every node takes requests"
        );
    }
    let consistent =
        RiakStore::new(config(&[&a, &b, &c]).with_bucket_type(CONSISTENT_TYPE)).unwrap();
    if let Err(failure) = conformance::run_all(&consistent).await {
        panic!("in-tree 3-node cluster, consistent bucket type: {failure}");
    }
}

#[tokio::test]
async fn a_fallback_not_found_is_never_taken_for_absence_with_the_defaults() {
    let (a, b, c) = cluster().await;
    let store = store(&[&a, &b, &c]);
    let msg = conformance::sample_message(1, b"held by one primary".to_vec());
    store
        .save(&bucket(), &id(1), &msg, PutMode::Overwrite)
        .await
        .unwrap();
    // Two of the three replicas were on the node that went down; fallbacks answer first.
    a.set_key_fault("MADR-555", "msg-1", KeyFault::Fallbacks { holding: 1 });

    assert_eq!(
        store
            .load(&bucket(), &id(1))
            .await
            .unwrap()
            .map(|v| v.message),
        Some(msg)
    );

    // What Riak's own defaults (r=quorum, notfound_ok=true) answer: a false "not found".
    let riak_defaults = RequestParams::bucket_defaults();
    assert_eq!(
        store
            .load_with(&bucket(), &id(1), &riak_defaults)
            .await
            .unwrap(),
        None
    );
    // notfound_ok=false alone is not enough: with r=quorum the two "not found"s reach the
    // failure threshold before the primary answers.
    let quorum_strict = RequestParams::default().with_r(Quorum::Quorum);
    assert_eq!(
        store
            .load_with(&bucket(), &id(1), &quorum_strict)
            .await
            .unwrap(),
        None
    );
    // With two primaries holding it, Riak's defaults find it too.
    a.set_key_fault("MADR-555", "msg-1", KeyFault::Fallbacks { holding: 2 });
    assert!(
        store
            .load_with(&bucket(), &id(1), &riak_defaults)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_missing_message_is_still_not_found() {
    let (a, b, c) = cluster().await;
    let store = store(&[&a, &b, &c]);
    a.set_key_fault("MADR-555", "msg-9", KeyFault::Fallbacks { holding: 1 });
    assert_eq!(
        store
            .load(&bucket(), &id(9))
            .await
            .unwrap()
            .map(|v| v.message),
        None
    );
    assert_eq!(
        store
            .load(&bucket(), &id(10))
            .await
            .unwrap()
            .map(|v| v.message),
        None
    );
    // A 404 that is not Riak's "not found" (an unknown bucket type) proves nothing.
    let typed = RiakStore::new(config(&[&a]).with_bucket_type("nosuchtype")).unwrap();
    let err = typed.load(&bucket(), &id(9)).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("Unknown bucket type"), "{err}");
}

#[tokio::test]
async fn an_unmet_quorum_or_a_503_is_unavailable_never_absent() {
    let (a, b, c) = cluster().await;
    let store = store(&[&a, &b, &c]);
    let msg = conformance::sample_message(2, b"x".to_vec());
    store
        .save(&bucket(), &id(2), &msg, PutMode::Overwrite)
        .await
        .unwrap();

    a.set_key_fault("MADR-555", "msg-2", KeyFault::Fallbacks { holding: 1 });
    let pr2 = RequestParams::default().with_pr(Quorum::Count(2));
    let err = store.load_with(&bucket(), &id(2), &pr2).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.to_string().contains("PR-value unsatisfied: 1/2"),
        "{err}"
    );

    let r_all = RequestParams::default().with_r(Quorum::All);
    a.set_key_fault("MADR-555", "msg-2", KeyFault::Fallbacks { holding: 2 });
    // r=all with notfound_ok=false: the first "not found" already makes r unreachable, and
    // Riak answers "not found" when nothing else came back yet.
    assert_eq!(
        store.load_with(&bucket(), &id(2), &r_all).await.unwrap(),
        None
    );
    // r=all with notfound_ok=true: two answers are values, one a "not found" counted as
    // an answer: the merge finds the object.
    let r_all_nf_ok = r_all.clone().with_notfound_ok(Some(true));
    assert!(
        store
            .load_with(&bucket(), &id(2), &r_all_nf_ok)
            .await
            .unwrap()
            .is_some()
    );
    let pw3 = RequestParams::default().with_pw(Quorum::All);
    let err = store
        .save_with(&bucket(), &id(2), &msg, PutMode::Overwrite, &pw3)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.to_string().contains("PW-value unsatisfied: 2/3"),
        "{err}"
    );
    // The default pw=0 lets fallbacks take the write.
    store
        .save(&bucket(), &id(2), &msg, PutMode::Overwrite)
        .await
        .unwrap();

    a.set_key_fault("MADR-555", "msg-2", KeyFault::Unavailable);
    for err in [
        store.load(&bucket(), &id(2)).await.unwrap_err(),
        store
            .save(&bucket(), &id(2), &msg, PutMode::Overwrite)
            .await
            .unwrap_err(),
        store.delete(&bucket(), &id(2)).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("request timed out"), "{text}");
        // Three servers, three rounds: every server tried in each round.
        assert!(text.contains("9 attempts"), "{text}");
    }
    // A 503 is the cluster's answer, not a dead node: nobody is marked down.
    assert!(
        store
            .metrics()
            .iter()
            .all(|m| !m.down && m.marked_down == 0)
    );

    a.set_key_fault("MADR-555", "msg-2", KeyFault::None);
    assert_eq!(
        store
            .load(&bucket(), &id(2))
            .await
            .unwrap()
            .map(|v| v.message),
        Some(msg)
    );
}

#[tokio::test]
async fn quorum_values_riak_refuses_are_a_backend_error() {
    let (a, _b, _c) = cluster().await;
    let store = store(&[&a]);
    let r5 = RequestParams::default().with_r(Quorum::Count(5));
    let err = store.load_with(&bucket(), &id(3), &r5).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { .. }) && !err.is_retryable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("n value of 3"), "{err}");
    let w5 = RequestParams::default().with_dw(Quorum::Count(5));
    let msg = conformance::sample_message(3, vec![]);
    let err = store
        .save_with(&bucket(), &id(3), &msg, PutMode::Overwrite, &w5)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}

#[tokio::test]
async fn the_configured_parameters_go_with_each_operation() {
    let (a, b, c) = cluster().await;
    let config = config(&[&a, &b, &c])
        .with_load_params(RequestParams::bucket_defaults())
        .with_save_params(RequestParams::default().with_pw(Quorum::Count(2)));
    let store = RiakStore::new(config).unwrap();
    let msg = conformance::sample_message(4, b"y".to_vec());
    a.set_key_fault("MADR-555", "msg-4", KeyFault::Fallbacks { holding: 1 });
    // save uses pw=2: refused while only one primary is reachable.
    assert!(
        store
            .save(&bucket(), &id(4), &msg, PutMode::Overwrite)
            .await
            .unwrap_err()
            .is_retryable()
    );
    a.set_key_fault("MADR-555", "msg-4", KeyFault::None);
    store
        .save(&bucket(), &id(4), &msg, PutMode::Overwrite)
        .await
        .unwrap();
    // load uses Riak's defaults: the false "not found" comes through.
    a.set_key_fault("MADR-555", "msg-4", KeyFault::Fallbacks { holding: 1 });
    assert_eq!(
        store
            .load(&bucket(), &id(4))
            .await
            .unwrap()
            .map(|v| v.message),
        None
    );
}

#[tokio::test]
async fn a_refusing_node_is_marked_down_skipped_probed_and_brought_back() {
    let (a, b, c) = cluster().await;
    // A long backoff: the down node must not be tried again on its own during the test.
    let config = config(&[&a, &b, &c])
        .with_down_backoff(Duration::from_secs(3600), Duration::from_secs(3600));
    let store = RiakStore::new(config).unwrap();
    b.stop();
    for n in 0..30 {
        let msg = conformance::sample_message(n, vec![n as u8]);
        store
            .save(&bucket(), &id(n), &msg, PutMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(
            store
                .load(&bucket(), &id(n))
                .await
                .unwrap()
                .map(|v| v.message),
            Some(msg)
        );
    }
    let down = metrics_of(&store, &b);
    assert!(down.down, "{down:?}");
    assert_eq!(down.marked_down, 1, "{down:?}");
    assert_eq!(
        down.requests, 1,
        "skipped after the first refusal: {down:?}"
    );
    assert_eq!(down.failures, 1, "{down:?}");
    assert_eq!(down.failovers, 1, "the request went on to another node");
    assert!(
        down.down_reason
            .as_deref()
            .is_some_and(|r| r.contains("cannot connect")),
        "{down:?}"
    );

    b.restart().await;
    assert_eq!(store.probe_down_servers().await, 1);
    let back = metrics_of(&store, &b);
    assert!(
        !back.down && back.probes == 1 && back.down_reason.is_none(),
        "{back:?}"
    );
    assert!(back.down_time > Duration::ZERO, "{back:?}");
    // Picked at random among three: within 200 operations it is used again.
    for n in 0..200 {
        store
            .load(&bucket(), &id(n % 30))
            .await
            .unwrap()
            .map(|v| v.message);
        if metrics_of(&store, &b).requests > back.requests {
            return;
        }
    }
    panic!(
        "the node that came back is never used: {:?}",
        store.metrics()
    );
}

#[tokio::test]
async fn a_down_node_is_probed_on_its_own_once_its_backoff_ends() {
    let a = RiakServer::start().await;
    let b = a.join().await;
    let store = store(&[&a, &b]);
    b.stop();
    let msg = conformance::sample_message(5, vec![5]);
    // Until b is marked down at least once.
    for _ in 0..100 {
        store
            .save(&bucket(), &id(5), &msg, PutMode::Overwrite)
            .await
            .unwrap();
        if metrics_of(&store, &b).down {
            break;
        }
    }
    assert!(metrics_of(&store, &b).down);
    b.restart().await;
    // Requests go on; once the (20 to 100 ms) backoff is over, one of them starts a /ping probe
    // in the background and b comes back.
    for _ in 0..500 {
        store
            .load(&bucket(), &id(5))
            .await
            .unwrap()
            .map(|v| v.message);
        let m = metrics_of(&store, &b);
        if !m.down {
            assert!(m.probes >= 1, "{m:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("b never came back: {:?}", store.metrics());
}

#[tokio::test]
async fn a_hanging_node_times_out_is_marked_down_and_the_call_fails_over() {
    let (a, b, _c) = cluster().await;
    b.set_fault(Fault::Hang);
    let store = RiakStore::new(
        config(&[&a, &b])
            .with_request_timeout(Duration::from_millis(200))
            .with_down_backoff(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .unwrap();
    let msg = conformance::sample_message(6, vec![6]);
    // b is tried when it is picked first; 40 saves make that all but certain.
    for _ in 0..40 {
        store
            .save(&bucket(), &id(6), &msg, PutMode::Overwrite)
            .await
            .unwrap();
    }
    let m = metrics_of(&store, &b);
    assert!(m.down, "{m:?}");
    assert!(m.requests <= 1, "{m:?}");
    if m.requests == 1 {
        assert!(
            m.down_reason
                .as_deref()
                .is_some_and(|r| r.contains("timed out")),
            "{m:?}"
        );
    }
}

#[tokio::test]
async fn one_operation_is_bounded_by_its_timeout() {
    let a = RiakServer::start().await;
    a.set_fault(Fault::Hang);
    let store = RiakStore::new(
        RiakConfig::new([a.url()])
            .with_request_timeout(Duration::from_secs(60))
            .with_operation_timeout(Duration::from_millis(300))
            .with_retries(50, Duration::from_millis(10)),
    )
    .unwrap();
    // A liveness guard, not a speed check: without the operation bound this would hang for
    // minutes.
    let err = tokio::time::timeout(Duration::from_secs(60), store.load(&bucket(), &id(7)))
        .await
        .expect("load returned")
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn no_retries_means_one_round() {
    let a = RiakServer::start().await;
    a.set_fault(Fault::Unavailable);
    let store = RiakStore::new(config(&[&a]).with_retries(0, Duration::ZERO)).unwrap();
    let err = store.load(&bucket(), &id(8)).await.unwrap_err();
    assert!(err.to_string().contains("1 attempts"), "{err}");
    assert_eq!(a.requests(), 1);
    assert_eq!(metrics_of(&store, &a).failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lost_mid_stream_loses_no_message_and_is_used_again_when_it_returns() {
    const N: u32 = 300;
    let (a, b, c) = cluster().await;
    let store = store(&[&a, &b, &c]);
    let mut saved = Vec::new();
    for n in 0..N {
        let msg = conformance::sample_message(n, format!("body {n}").into_bytes());
        store
            .save(&bucket(), &id(n), &msg, PutMode::Overwrite)
            .await
            .unwrap();
        saved.push(msg);
    }

    b.stop();
    // The replicas b held are now on fallbacks: a third of the keys had two of their three
    // replicas on b, the others one.
    for n in 0..N {
        let holding = if n % 3 == 0 { 1 } else { 2 };
        a.set_key_fault(
            "MADR-555",
            &format!("msg-{n}"),
            KeyFault::Fallbacks { holding },
        );
    }
    for (n, msg) in saved.iter().enumerate() {
        let got = store.load(&bucket(), &id(n as u32)).await;
        assert_eq!(
            got.ok().flatten().map(|v| v.message).as_ref(),
            Some(msg),
            "msg-{n} reported missing"
        );
    }
    // Saves keep succeeding (fallbacks take the writes) and are readable.
    for n in N..N + 100 {
        let msg = conformance::sample_message(n, vec![1, 2, 3]);
        store
            .save(&bucket(), &id(n), &msg, PutMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(
            store
                .load(&bucket(), &id(n))
                .await
                .unwrap()
                .map(|v| v.message),
            Some(msg)
        );
    }
    let while_down = metrics_of(&store, &b);
    assert!(
        while_down.down && while_down.marked_down >= 1,
        "{while_down:?}"
    );

    b.restart().await;
    for n in 0..N {
        a.set_key_fault("MADR-555", &format!("msg-{n}"), KeyFault::None);
    }
    let mut used_again = false;
    for n in 0..1000 {
        let msg = conformance::sample_message(n, vec![9]);
        store
            .save(&bucket(), &id(N + 100 + n), &msg, PutMode::Overwrite)
            .await
            .unwrap();
        if metrics_of(&store, &b).requests > while_down.requests {
            used_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(used_again, "b is never used again: {:?}", store.metrics());
    let back = metrics_of(&store, &b);
    assert!(!back.down && back.probes >= 1, "{back:?}");
}

mod engine {
    //! The engine over a degraded cluster: receipts for messages whose replicas are on
    //! fallbacks are handled, not taken for "not stored"; an unmet quorum parks them.

    use std::sync::Arc;

    use redeliver::config::{MobilityConfig, ScopeContext};
    use redeliver::hooks::{Injection, RecordingInjector};
    use redeliver::message::{Bucket, Channel, Envelope, ReceiptClass, StoredMessage};
    use redeliver::retry::{
        DefaultAction, ParkReason, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent,
    };

    use super::{KeyFault, cluster, store};

    fn submit(id: &str) -> SubmitEvent {
        SubmitEvent {
            channel: Channel::Smpp,
            scope: ScopeContext::default(),
            shortcode: Some("12345".into()),
            message: StoredMessage::new(
                Channel::Smpp,
                Envelope {
                    mailfrom: "alice@example.com".into(),
                    rcptto: "15551234567@smpp.example.com".into(),
                },
                b"hello".to_vec(),
            ),
            part_ids: vec![id.to_owned()],
            status: "ESME_ROK".into(),
        }
    }

    fn receipt(id: &str) -> ReceiptEvent {
        ReceiptEvent {
            channel: Channel::Smpp,
            scope: ScopeContext::default(),
            bucket: Bucket::new("MADR-12345").unwrap(),
            message_id: id.into(),
            class: ReceiptClass::Negative,
            state: "UNDELIV".into(),
            error: None,
            raw: None,
            smpp: None,
            mm7_report: None,
        }
    }

    #[tokio::test]
    async fn receipts_for_messages_on_fallbacks_are_handled_and_a_503_parks() {
        let (a, b, c) = cluster().await;
        let store = Arc::new(store(&[&a, &b, &c]));
        let injector = Arc::new(RecordingInjector::new());
        let engine = RetryEngine::builder(store, injector.clone())
            .options(
                MobilityConfig::from_toml_str(
                    "[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n",
                )
                .unwrap(),
            )
            .build();
        for n in 0..6 {
            engine.on_submit(submit(&format!("r{n}"))).await.unwrap();
        }
        b.stop();
        for n in 0..6 {
            a.set_key_fault(
                "MADR-12345",
                &format!("r{n}"),
                KeyFault::Fallbacks { holding: 1 },
            );
        }
        a.set_key_fault("MADR-12345", "r5", KeyFault::Unavailable);
        for n in 0..5 {
            let out = engine.on_receipt(receipt(&format!("r{n}"))).await.unwrap();
            assert!(
                matches!(
                    out,
                    ReceiptOutcome::Handled {
                        default_action: DefaultAction::Bounced,
                        ..
                    }
                ),
                "r{n}: {out:?}"
            );
        }
        let out = engine.on_receipt(receipt("r5")).await.unwrap();
        assert!(
            matches!(
                out,
                ReceiptOutcome::Parked {
                    reason: ParkReason::StoreUnavailable,
                    ..
                }
            ),
            "{out:?}"
        );
        let bounces = |i: &RecordingInjector| {
            i.injections()
                .iter()
                .filter(|x| matches!(x, Injection::Bounce(_)))
                .count()
        };
        assert_eq!(bounces(&injector), 5);
        a.set_key_fault("MADR-12345", "r5", KeyFault::None);
        let report = engine.retry_parked().await;
        assert_eq!(report.applied, 1, "{report:?}");
        assert_eq!(bounces(&injector), 6);
    }
}
