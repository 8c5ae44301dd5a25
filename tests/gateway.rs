//! The `gateway` example's whole flow, run in-process with a few messages: the summary the
//! gateway prints must agree with what the simulators say they did, and with the plan that
//! decides every message's fate.
//!
//! The example's files are compiled into this test as they are (`#[path]`), so the test runs
//! exactly the code `cargo run --example gateway` runs, minus the printing.

#[path = "../examples/gateway/app.rs"]
mod app;
#[path = "../examples/gateway/esme.rs"]
mod esme;
#[path = "../examples/gateway/gateway.rs"]
mod gateway;
#[path = "../examples/gateway/http.rs"]
mod http;
#[path = "../examples/gateway/mmsc.rs"]
mod mmsc;
#[path = "../examples/gateway/plan.rs"]
mod plan;
#[path = "../examples/gateway/policy.rs"]
mod policy;
#[path = "support/riak_server/mod.rs"]
mod riak_server;
#[path = "../examples/gateway/run.rs"]
mod run;
#[path = "../examples/gateway/smsc.rs"]
mod smsc;
#[path = "../examples/gateway/timeline.rs"]
mod timeline;
#[path = "../examples/gateway/vasp.rs"]
mod vasp;

use redeliver::store::PutMode;
use std::collections::BTreeMap;
use std::sync::Arc;

use run::{Options, StoreChoice, Summary};
use timeline::Timeline;

fn total(map: &BTreeMap<String, u64>) -> u64 {
    map.values().sum()
}

fn get(map: &BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

async fn run_with(opts: Options) -> Summary {
    match run::run(&opts, Arc::new(Timeline::silent()), None).await {
        Ok(s) => s,
        Err(e) => panic!("the gateway flow failed: {e}"),
    }
}

/// Every number of the summary, checked three ways: against the plan, against the
/// simulators' own counts, and against the engine's counters.
fn check(s: &Summary, n: usize) {
    let e = plan::expected(n);
    let g = &s.gateway;
    assert!(s.complete, "the run did not finish: {s:#?}");
    assert_eq!((s.messages, s.sms, s.mms), (n as u64, e.sms, e.mms));

    // What the gateway sent is what the simulators received, and what the plan says.
    assert_eq!(g.smpp_submits, e.smpp_submits);
    assert_eq!(s.smsc.submits, g.smpp_submits);
    assert_eq!(g.mm7_submits, e.mm7_submits);
    assert_eq!(s.mmsc.submits, g.mm7_submits);
    assert_eq!(s.mmsc.refused, 0);

    // Every receipt the SMSC sent reached the engine, in any id format and in any order.
    assert_eq!(g.smpp_receipts, total(&s.smsc.receipts));
    assert_eq!(s.smsc.deliver_sm_resps, g.smpp_receipts + g.intermediate);
    assert_eq!(g.intermediate, s.smsc.enroute_receipts);
    assert_eq!(g.intermediate, e.intermediate);
    assert_eq!(s.smsc.early_receipts, e.early_receipts);
    assert_eq!(g.smpp_parked, s.smsc.early_receipts);
    assert_eq!(g.mm7_reports, total(&s.mmsc.reports));
    assert_eq!(s.mmsc.reports_acknowledged, g.mm7_reports);
    assert_eq!(s.mmsc.reports_failed, 0);

    // How messages ended.
    assert_eq!(g.delivered, e.delivered);
    assert_eq!(
        g.delivered,
        get(&s.smsc.receipts, "DELIVRD") + get(&s.mmsc.reports, "Retrieved")
    );
    assert_eq!(g.rerouted, e.rerouted);
    assert_eq!(g.bounced, e.bounced);
    let negative = get(&s.smsc.receipts, "UNDELIV")
        + get(&s.smsc.receipts, "EXPIRED")
        + get(&s.mmsc.reports, "Expired")
        + get(&s.mmsc.reports, "Rejected");
    assert_eq!(g.rerouted + g.bounced, negative);
    assert_eq!(g.delivered + g.bounced, n as u64);
    assert_eq!(g.dsns, g.bounced);

    // The engine agrees, and kept only the bounced messages (for `mstore reinstate`).
    assert_eq!(g.stored, g.smpp_submits + g.mm7_submits);
    assert_eq!(s.engine.stored, g.stored);
    assert_eq!(s.engine.positive, g.delivered);
    assert_eq!(s.engine.negative, g.rerouted + g.bounced);
    assert_eq!(s.engine.rerouted, g.rerouted);
    assert_eq!(s.engine.bounced, g.bounced);
    assert_eq!(s.engine.intermediate, g.intermediate);
    assert!(s.engine.parked >= g.smpp_parked);
    assert_eq!(
        (
            s.engine.unmatched,
            s.engine.duplicates,
            s.engine.hook_errors,
            s.engine.store_errors
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(s.store_left, g.bounced);

    // Two DLRs per message (dlr-level 3), each acknowledged after the attempts the application
    // decided to fail.
    assert_eq!(g.dlrs_thrown, 2 * n as u64);
    assert_eq!(g.dlrs_acked_after, e.dlrs_acked_after);
    assert_eq!(g.dlrs_exhausted, 0);
    assert_eq!(s.app.dlrs, 2 * n as u64);
    assert_eq!(s.app.acked, 2 * n as u64);
    let attempts: u64 = g
        .dlrs_acked_after
        .iter()
        .map(|(a, k)| u64::from(*a) * k)
        .sum();
    assert_eq!(s.app.requests, attempts);
    assert_eq!(
        s.app.failed_500 + s.app.failed_not_ack,
        attempts - s.app.acked
    );
    assert_eq!(total(&s.app.receipt_status), n as u64);
    assert_eq!(
        get(&s.app.receipt_status, "DELIVRD") + get(&s.app.receipt_status, "Retrieved"),
        g.delivered
    );
    assert_eq!(s.app.refused, 0);

    // One SMPP session, opened and closed properly.
    assert_eq!((s.smsc.binds, s.smsc.unbinds, s.smsc.errors), (1, 1, 0));
    assert_eq!(g.errors, 0);
}

#[test]
fn the_plan_exercises_every_path_in_twenty_messages() {
    let e = plan::expected(20);
    assert!(e.sms > 0 && e.mms > 0);
    assert!(e.delivered > 0 && e.rerouted > 0 && e.bounced > 0);
    assert!(e.early_receipts > 0 && e.intermediate > 0);
    assert!(e.dlrs_acked_after.keys().any(|&a| a > 1));
    // A rerouted message that fails again is bounced, on both routes.
    assert!(
        (0..20).any(
            |i| plan::kind(i) == plan::Kind::Sms && plan::fate(i) == (true, plan::End::Bounced)
        )
    );
    assert!(
        (0..20).any(
            |i| plan::kind(i) == plan::Kind::Mms && plan::fate(i) == (true, plan::End::Bounced)
        )
    );
}

#[test]
fn recipient_numbers_name_their_message() {
    for i in [0, 7, 19, 12_345_678] {
        assert_eq!(plan::index_of(&plan::number(i)), Some(i));
        assert_eq!(
            plan::index_of(&format!("+{}@mm7.gateway.example", plan::number(i))),
            Some(i)
        );
    }
    assert_eq!(plan::index_of("4479123"), None);
    assert_eq!(plan::index_of("447900000x07"), None);
    assert_eq!(plan::index_of("15551234567"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_messages_on_the_embedded_store() {
    let s = run_with(Options::new(20)).await;
    check(&s, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_store_file_and_an_odd_count() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut opts = Options::new(23);
    opts.store = StoreChoice::Embedded(dir.path().join("mstore.redb"));
    let s = run_with(opts).await;
    check(&s, 23);
    assert!(s.store.starts_with("embedded "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_messages_on_riak() {
    let riak = riak_server::RiakServer::start().await;
    let mut opts = Options::new(20);
    opts.store = StoreChoice::Riak(vec![riak.host_port()]);
    let s = run_with(opts).await;
    check(&s, 20);
    assert!(riak.requests() > 0);
    // The gateway names its buckets, so its timers never have Riak list them.
    assert_eq!(riak.bucket_listings(), 0);
}

/// `RetryEngine::retry_parked_outcomes`, which the gateway's parking-lot timer uses, reports
/// what it applied: a receipt parked in the store whose submission was written beside it (as
/// Riak siblings merge a parked receipt into a concurrently stored submission) is applied by
/// the timer, and without the outcome the host would never learn the message was delivered.
#[tokio::test]
async fn the_parking_lot_timer_reports_what_it_applied() {
    use redeliver::config::{MobilityConfig, ScopeContext};
    use redeliver::hooks::RecordingInjector;
    use redeliver::message::{Bucket, Channel, Envelope, MsgId, ReceiptClass, StoredMessage};
    use redeliver::retry::{ReceiptOutcome, RetryEngine};
    use redeliver::smpp::receipt::{DeliveryReceipt, MessageState};
    use redeliver::store::{MemoryStore, MessageStore};

    let store = Arc::new(MemoryStore::new());
    let options =
        MobilityConfig::from_toml_str("[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n")
            .expect("options");
    let engine = RetryEngine::builder(store.clone(), Arc::new(RecordingInjector::new()))
        .options(options)
        .settings(redeliver::retry::EngineSettings {
            park_window: std::time::Duration::from_millis(50),
            ..Default::default()
        })
        .build();
    let scope = ScopeContext::binding("smsc");
    let receipt = DeliveryReceipt::new("42", MessageState::Delivered);
    let parked = engine
        .on_smpp_receipt(&scope, "12345", receipt)
        .await
        .expect("receipt");
    assert!(
        matches!(parked, ReceiptOutcome::Parked { .. }),
        "{parked:?}"
    );

    // The submission lands in the store beside the parked receipt, merged as siblings would
    // be, without passing through `on_submit`.
    let bucket = Bucket::new("MADR-12345").expect("bucket");
    let msgid = MsgId::new("42").expect("msgid");
    let placeholder = store
        .load(&bucket, &msgid)
        .await
        .expect("load")
        .expect("the receipt is parked in the store");
    assert!(placeholder.is_placeholder());
    let msg = StoredMessage::new(Channel::Smpp, Envelope::default(), &b"hi"[..])
        .merge(placeholder.message);
    assert!(!msg.is_placeholder());
    store
        .save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .expect("save");
    let (report, _) = engine.retry_parked_outcomes().await;
    assert_eq!((report.applied, report.still_parked), (0, 1), "not due yet");
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;

    let (report, outcomes) = engine.retry_parked_outcomes().await;
    assert_eq!((report.applied, report.still_parked), (1, 0));
    match outcomes.as_slice() {
        [
            Ok(ReceiptOutcome::Handled {
                msgid: m, class, ..
            }),
        ] => {
            assert_eq!((m, *class), (&msgid, ReceiptClass::Positive));
        }
        other => panic!("expected one handled receipt, got {other:?}"),
    }
    assert!(
        store
            .load(&bucket, &msgid)
            .await
            .expect("load")
            .map(|v| v.message)
            .is_none()
    );
    let (report, outcomes) = engine.retry_parked_outcomes().await;
    assert_eq!((report.applied, outcomes.len()), (0, 0));
}

/// The example's HTTP server refuses what it will not read whole, without allocating for it.
#[tokio::test]
async fn the_http_server_refuses_oversized_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let handler: http::Handler =
        Arc::new(|_req| Box::pin(async { http::Response::text("200 OK", "fine") }));
    let server = http::Server::start(listener, handler).expect("server");

    async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(request).await.expect("write");
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    let answer = exchange(
        server.addr,
        b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("fine"), "{answer}");

    let huge = format!(
        "POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        http::MAX_BODY + 1
    );
    let answer = exchange(server.addr, huge.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    assert!(answer.contains("over the"), "{answer}");

    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(10_000));
    let answer = exchange(server.addr, long_line.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");

    let chunked = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    let answer = exchange(server.addr, chunked).await;
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");

    let bad_length = b"POST /x HTTP/1.1\r\nContent-Length: lots\r\n\r\n";
    let answer = exchange(server.addr, bad_length).await;
    assert!(answer.contains("is not a number"), "{answer}");
}
