//! Receipts as they really arrive: before their submit, in another id format, per part of a
//! multipart message, twice, and while the store is down.

#[path = "support/counting_hooks.rs"]
mod counting_hooks;
#[path = "support/events.rs"]
mod events;
#[path = "support/store_client.rs"]
mod store_client;
use counting_hooks::Counting;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use store_client::{Client, Loads};

use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{Injection, RecordingInjector};
use redeliver::message::{MsgId, ReceiptClass};
use redeliver::retry::{
    DefaultAction, EngineError, EngineSettings, MultipartRule, ParkReason, ReceiptEvent,
    ReceiptOutcome, RetryEngine, SubmitEvent, SubmitOutcome, Unmatched,
};
use redeliver::store::{MemoryStore, MessageStore, StoreError};

const OPTIONS: &str = r#"
[global]
smpp_registered_delivery = "SMSC_Delivery"
[binding.hexsmsc]
submit_msgid_format = "hexadecimal"
receipt_msgid_format = "decimal"
[binding.decsmsc]
submit_msgid_format = "decimal"
receipt_msgid_format = "hexadecimal"
"#;

struct Fixture {
    engine: RetryEngine,
    store: Arc<Client>,
    /// What `store` forwards to.
    memory: Arc<MemoryStore>,
    injector: Arc<RecordingInjector>,
    hooks: Arc<Counting>,
}

fn fixture(settings: EngineSettings) -> Fixture {
    let memory = Arc::new(MemoryStore::new());
    let store = Arc::new(Client::new(memory.clone()));
    let injector = Arc::new(RecordingInjector::new());
    let hooks = Arc::new(Counting::default());
    let engine = RetryEngine::builder(store.clone(), injector.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .settings(settings)
        .hooks(hooks.clone())
        .build();
    Fixture {
        engine,
        store,
        memory,
        injector,
        hooks,
    }
}

use events::bucket as b;

fn id(s: &str) -> MsgId {
    MsgId::new(s).unwrap()
}

fn submit_on(binding: &str, ids: &[&str]) -> SubmitEvent {
    events::smpp_submit(ScopeContext::binding(binding), "alice@example.com", ids)
}

fn receipt_on(binding: &str, msgid: &str, class: ReceiptClass, state: &str) -> ReceiptEvent {
    events::smpp_receipt(ScopeContext::binding(binding), msgid, class, state)
}

fn delivrd(msgid: &str) -> ReceiptEvent {
    receipt_on("smsc-1", msgid, ReceiptClass::Positive, "DELIVRD")
}

fn undeliv(msgid: &str) -> ReceiptEvent {
    receipt_on("smsc-1", msgid, ReceiptClass::Negative, "UNDELIV")
}

fn bounces(f: &Fixture) -> usize {
    f.injector
        .injections()
        .iter()
        .filter(|i| matches!(i, Injection::Bounce(_)))
        .count()
}

#[tokio::test]
async fn a_receipt_before_its_submit_is_parked_then_applied() {
    let f = fixture(EngineSettings::default());
    let out = f.engine.on_receipt(undeliv("early")).await.unwrap();
    assert_eq!(
        out,
        ReceiptOutcome::Parked {
            bucket: b(),
            msgid: id("early"),
            reason: ParkReason::NotYetStored
        }
    );
    assert_eq!(bounces(&f), 0, "not bounced by mistake");
    assert_eq!(f.engine.parked_len(), 1);

    let out = f
        .engine
        .on_submit(submit_on("smsc-1", &["early"]))
        .await
        .unwrap();
    let SubmitOutcome::Stored { applied, .. } = out else {
        panic!("not stored: {out:?}");
    };
    assert!(
        matches!(
            applied.as_slice(),
            [Ok(ReceiptOutcome::Handled {
                class: ReceiptClass::Negative,
                default_action: DefaultAction::Bounced,
                ..
            })]
        ),
        "{applied:?}"
    );
    assert_eq!(f.engine.parked_len(), 0);
    assert_eq!(f.hooks.negative.load(Ordering::SeqCst), 1);
    let c = f.engine.counters();
    assert_eq!((c.parked, c.negative, c.unmatched), (1, 1, 0));
}

#[tokio::test]
async fn several_early_receipts_apply_in_arrival_order() {
    let f = fixture(EngineSettings::default());
    f.engine
        .on_receipt(receipt_on(
            "smsc-1",
            "m",
            ReceiptClass::Intermediate,
            "ENROUTE",
        ))
        .await
        .unwrap();
    f.engine.on_receipt(delivrd("m")).await.unwrap();
    let SubmitOutcome::Stored { applied, .. } = f
        .engine
        .on_submit(submit_on("smsc-1", &["m"]))
        .await
        .unwrap()
    else {
        panic!("not stored");
    };
    assert!(
        matches!(applied[0], Ok(ReceiptOutcome::Intermediate { .. })),
        "{applied:?}"
    );
    assert!(
        matches!(
            applied[1],
            Ok(ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            })
        ),
        "{applied:?}"
    );
}

#[tokio::test]
async fn parked_receipts_expire_after_their_window() {
    let f = fixture(EngineSettings {
        park_window: Duration::ZERO,
        ..EngineSettings::default()
    });
    f.engine.on_receipt(undeliv("never")).await.unwrap();
    let report = f.engine.retry_parked().await;
    assert_eq!((report.expired, report.still_parked), (1, 0));
    assert_eq!(f.engine.parked_len(), 0);
    assert_eq!(f.engine.counters().unmatched, 1);
    assert_eq!(bounces(&f), 0);
}

#[tokio::test]
async fn parked_receipts_are_applied_by_the_node_that_stores_the_submission() {
    let f = fixture(EngineSettings {
        park_window: Duration::from_millis(50),
        ..EngineSettings::default()
    });
    f.engine.on_receipt(delivrd("other-node")).await.unwrap();
    // Another engine (another process, same store) stores the submission: the receipt parked
    // in the store is applied there, once.
    let other_hooks = Arc::new(Counting::default());
    let other = RetryEngine::builder(f.store.clone(), f.injector.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .hooks(other_hooks.clone())
        .build();
    let out = other
        .on_submit(submit_on("smsc-1", &["other-node"]))
        .await
        .unwrap();
    let SubmitOutcome::Stored { applied, .. } = out else {
        panic!("not stored: {out:?}");
    };
    assert!(
        matches!(
            applied.as_slice(),
            [Ok(ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            })]
        ),
        "{applied:?}"
    );
    assert_eq!(other_hooks.positive.load(Ordering::SeqCst), 1);
    // The node that parked it finds nothing left to do when its window ends.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let report = f.engine.retry_parked().await;
    assert_eq!(
        (report.applied, report.expired, report.still_parked),
        (0, 0, 0)
    );
    assert_eq!(f.hooks.positive.load(Ordering::SeqCst), 0);
    assert!(f.memory.is_empty(), "delivered and deleted");
}

#[tokio::test]
async fn parking_in_the_store_is_bounded_per_msgid() {
    let f = fixture(EngineSettings {
        max_parked_per_key: 1,
        ..EngineSettings::default()
    });
    f.engine.on_receipt(undeliv("a")).await.unwrap();
    let out = f.engine.on_receipt(delivrd("a")).await.unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Unmatched {
                reason: Unmatched::ParkingFull,
                ..
            }
        ),
        "{out:?}"
    );
    // Another msgid has its own room.
    let out = f.engine.on_receipt(undeliv("b")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
    assert_eq!(f.engine.counters().unmatched, 1);
}

#[tokio::test]
async fn parking_in_the_store_is_bounded_by_bytes() {
    let f = fixture(EngineSettings {
        max_parked_bytes_per_key: 2048,
        ..EngineSettings::default()
    });
    let mut big = undeliv("a");
    big.raw = Some("x".repeat(4096));
    let out = f.engine.on_receipt(big).await.unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Unmatched {
                reason: Unmatched::ParkingFull,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.memory.is_empty(), "nothing parked");
}

#[tokio::test]
async fn receipts_held_in_memory_are_bounded_by_count_and_bytes() {
    for settings in [
        EngineSettings {
            max_parked: 1,
            ..EngineSettings::default()
        },
        EngineSettings {
            max_parked_bytes: 3000,
            ..EngineSettings::default()
        },
    ] {
        let f = fixture(settings);
        f.store.answer_loads(Loads::Unavailable);
        let mut first = undeliv("a");
        first.raw = Some("x".repeat(1500));
        let out = f.engine.on_receipt(first).await.unwrap();
        assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
        let mut second = undeliv("b");
        second.raw = Some("x".repeat(1500));
        let out = f.engine.on_receipt(second).await.unwrap();
        assert!(
            matches!(
                out,
                ReceiptOutcome::Unmatched {
                    reason: Unmatched::ParkingFull,
                    ..
                }
            ),
            "{out:?}"
        );
        assert_eq!(f.engine.counters().unmatched, 1);
        assert_eq!(f.engine.parked_len(), 1);
    }
}

#[tokio::test]
async fn message_ids_are_matched_across_formats_per_scope() {
    let f = fixture(EngineSettings::default());
    // Hex in submit_sm_resp, decimal in the receipt.
    f.engine
        .on_submit(submit_on("hexsmsc", &["000004D2"]))
        .await
        .unwrap();
    assert!(f.store.load(&b(), &id("1234")).await.unwrap().is_some());
    let out = f
        .engine
        .on_receipt(receipt_on(
            "hexsmsc",
            "1234",
            ReceiptClass::Positive,
            "DELIVRD",
        ))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Handled { .. }), "{out:?}");

    // The reverse, with leading zeros and lower case.
    f.engine
        .on_submit(submit_on("decsmsc", &["00000255"]))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt_on(
            "decsmsc",
            "000ff",
            ReceiptClass::Positive,
            "DELIVRD",
        ))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Handled { .. }), "{out:?}");

    // A scope without formats compares strings: "7777" does not find "00007777".
    f.engine
        .on_submit(submit_on("smsc-1", &["00007777"]))
        .await
        .unwrap();
    let out = f.engine.on_receipt(delivrd("7777")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
}

#[tokio::test]
async fn multipart_all_parts_fails_fast_and_runs_the_hook_once() {
    let f = fixture(EngineSettings::default());
    let out = f
        .engine
        .on_submit(submit_on("smsc-1", &["p1", "p2", "p3"]))
        .await
        .unwrap();
    assert!(matches!(&out, SubmitOutcome::Stored { msgid, .. } if msgid.as_str() == "p1"));
    // A receipt for any part finds the message.
    assert_eq!(f.memory.len(), 3);
    let stored = f.store.load(&b(), &id("p3")).await.unwrap().unwrap();
    assert_eq!(stored.resource.part_ids, vec!["p1", "p2", "p3"]);

    let out = f.engine.on_receipt(delivrd("p2")).await.unwrap();
    assert_eq!(
        out,
        ReceiptOutcome::PartRecorded {
            bucket: b(),
            msgid: id("p1"),
            part: 1
        }
    );
    let out = f.engine.on_receipt(undeliv("p3")).await.unwrap();
    assert!(
        matches!(&out, ReceiptOutcome::Handled { msgid, class: ReceiptClass::Negative, .. } if msgid.as_str() == "p1"),
        "{out:?}"
    );
    // The part copies are gone; the message itself is kept after the bounce.
    assert_eq!(f.memory.len(), 1);
    let out = f.engine.on_receipt(delivrd("p1")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    let out = f.engine.on_receipt(delivrd("p2")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    assert_eq!(f.hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(f.hooks.positive.load(Ordering::SeqCst), 0);
    assert_eq!(bounces(&f), 1);
}

#[tokio::test]
async fn multipart_all_parts_delivered_needs_every_part() {
    let f = fixture(EngineSettings::default());
    f.engine
        .on_submit(submit_on("smsc-1", &["p1", "p2"]))
        .await
        .unwrap();
    let out = f.engine.on_receipt(delivrd("p1")).await.unwrap();
    assert!(
        matches!(out, ReceiptOutcome::PartRecorded { part: 0, .. }),
        "{out:?}"
    );
    // The same part again does not complete the message.
    let out = f.engine.on_receipt(delivrd("p1")).await.unwrap();
    assert!(
        matches!(out, ReceiptOutcome::PartRecorded { .. }),
        "{out:?}"
    );
    let out = f.engine.on_receipt(delivrd("p2")).await.unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                default_action: DefaultAction::Deleted(true),
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.memory.is_empty());
    assert_eq!(f.hooks.positive.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn multipart_any_part_and_first_part_rules() {
    let f = fixture(EngineSettings {
        multipart: MultipartRule::AnyPart,
        ..EngineSettings::default()
    });
    f.engine
        .on_submit(submit_on("smsc-1", &["a1", "a2"]))
        .await
        .unwrap();
    let out = f.engine.on_receipt(undeliv("a1")).await.unwrap();
    assert!(
        matches!(out, ReceiptOutcome::PartRecorded { .. }),
        "{out:?}"
    );
    let out = f.engine.on_receipt(delivrd("a2")).await.unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            }
        ),
        "{out:?}"
    );

    let f = fixture(EngineSettings {
        multipart: MultipartRule::FirstPart,
        ..EngineSettings::default()
    });
    f.engine
        .on_submit(submit_on("smsc-1", &["f1", "f2"]))
        .await
        .unwrap();
    let out = f.engine.on_receipt(undeliv("f2")).await.unwrap();
    assert!(
        matches!(out, ReceiptOutcome::PartRecorded { part: 1, .. }),
        "{out:?}"
    );
    let out = f.engine.on_receipt(delivrd("f1")).await.unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            }
        ),
        "{out:?}"
    );
}

#[test]
fn multipart_rules_decide_as_documented() {
    use ReceiptClass::{Negative as N, Positive as P};
    let all = MultipartRule::AllParts;
    assert_eq!(all.decide(&[Some(P), None]), None);
    assert_eq!(all.decide(&[Some(P), Some(P)]), Some(P));
    assert_eq!(all.decide(&[None, Some(N)]), Some(N));
    let any = MultipartRule::AnyPart;
    assert_eq!(any.decide(&[Some(N), None]), None);
    assert_eq!(any.decide(&[Some(N), Some(P)]), Some(P));
    assert_eq!(any.decide(&[Some(N), Some(N)]), Some(N));
    let first = MultipartRule::FirstPart;
    assert_eq!(first.decide(&[None, Some(N)]), None);
    assert_eq!(first.decide(&[Some(N), Some(P)]), Some(N));
    assert_eq!(all.decide(&[]), None);
}

#[tokio::test]
async fn multipart_submissions_are_checked() {
    let f = fixture(EngineSettings::default());
    let err = f
        .engine
        .on_submit(submit_on("smsc-1", &["x", "x"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    let err = f
        .engine
        .on_submit(submit_on("smsc-1", &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidEvent(_)), "{err:?}");
    let many: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let err = f
        .engine
        .on_submit(submit_on("smsc-1", &many))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("300 part ids"), "{err}");
    assert!(f.memory.is_empty());
}

#[tokio::test]
async fn duplicate_receipts_run_the_hook_once() {
    let f = fixture(EngineSettings::default());
    f.engine
        .on_submit(submit_on("smsc-1", &["d"]))
        .await
        .unwrap();
    f.engine
        .on_submit(submit_on("smsc-1", &["n"]))
        .await
        .unwrap();
    f.engine.on_receipt(delivrd("d")).await.unwrap();
    let out = f.engine.on_receipt(delivrd("d")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    assert_eq!(f.engine.parked_len(), 0, "a duplicate is not parked");
    f.engine.on_receipt(undeliv("n")).await.unwrap();
    // Kept after the bounce: the stored final state recognises the duplicate.
    let out = f.engine.on_receipt(undeliv("n")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    // A contradicting final state later does not run the other hook either.
    let out = f.engine.on_receipt(delivrd("n")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    assert_eq!(f.hooks.positive.load(Ordering::SeqCst), 1);
    assert_eq!(f.hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(bounces(&f), 1);
    assert_eq!(f.engine.counters().duplicates, 3);
}

#[tokio::test]
async fn concurrent_duplicates_run_the_hook_once() {
    let f = fixture(EngineSettings::default());
    f.engine
        .on_submit(submit_on("smsc-1", &["c"]))
        .await
        .unwrap();
    let (a, b2) = tokio::join!(
        f.engine.on_receipt(undeliv("c")),
        f.engine.on_receipt(undeliv("c"))
    );
    let outs = [a.unwrap(), b2.unwrap()];
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, ReceiptOutcome::Handled { .. }))
            .count(),
        1,
        "{outs:?}"
    );
    assert_eq!(f.hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(bounces(&f), 1);
}

#[tokio::test]
async fn intermediate_receipts_only_go_into_the_history() {
    let f = fixture(EngineSettings::default());
    f.engine
        .on_submit(submit_on("smsc-1", &["i"]))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt_on(
            "smsc-1",
            "i",
            ReceiptClass::Intermediate,
            "ENROUTE",
        ))
        .await
        .unwrap();
    assert!(
        matches!(out, ReceiptOutcome::Intermediate { .. }),
        "{out:?}"
    );
    let m = f.store.load(&b(), &id("i")).await.unwrap().unwrap();
    assert_eq!(m.history.len(), 2);
    assert_eq!(
        f.hooks.positive.load(Ordering::SeqCst) + f.hooks.negative.load(Ordering::SeqCst),
        0
    );
    assert_eq!(f.engine.counters().intermediate, 1);
    // Still open: the final receipt is handled normally.
    let out = f.engine.on_receipt(delivrd("i")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Handled { .. }), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_store_parks_the_receipt_instead_of_losing_it() {
    let f = fixture(EngineSettings::default());
    f.engine
        .on_submit(submit_on("smsc-1", &["u"]))
        .await
        .unwrap();
    f.store.answer_loads(Loads::Unavailable);
    let out = f.engine.on_receipt(undeliv("u")).await.unwrap();
    assert_eq!(
        out,
        ReceiptOutcome::Parked {
            bucket: b(),
            msgid: id("u"),
            reason: ParkReason::StoreUnavailable
        }
    );
    assert_eq!(bounces(&f), 0);
    assert_eq!(f.engine.retry_parked().await.still_parked, 1);
    f.store.answer_loads(Loads::Healthy);
    // Held receipts are tried again with a growing delay, not on every tick.
    let report = f.engine.retry_parked().await;
    assert_eq!((report.applied, report.still_parked), (0, 1));
    tokio::time::advance(Duration::from_secs(2)).await;
    let report = f.engine.retry_parked().await;
    assert_eq!(report.applied, 1);
    assert_eq!(f.hooks.negative.load(Ordering::SeqCst), 1);
    assert_eq!(bounces(&f), 1);
}

#[tokio::test]
async fn an_unavailable_store_has_its_own_window() {
    let f = fixture(EngineSettings {
        unavailable_window: Duration::ZERO,
        ..EngineSettings::default()
    });
    f.store.answer_loads(Loads::Unavailable);
    f.engine.on_receipt(undeliv("u")).await.unwrap();
    assert_eq!(f.engine.retry_parked().await.expired, 1);
}

#[tokio::test]
async fn a_corrupt_object_is_an_error_not_a_miss() {
    let f = fixture(EngineSettings::default());
    f.store.answer_loads(Loads::Corrupt);
    let err = f.engine.on_receipt(undeliv("c")).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Store(e) if matches!(**e, StoreError::Corrupt { .. })),
        "{err:?}"
    );
    assert_eq!(f.engine.parked_len(), 0);
    assert_eq!(f.engine.counters().store_errors, 1);
}

#[tokio::test]
async fn a_receipt_with_an_unusable_id_is_refused() {
    let f = fixture(EngineSettings::default());
    let err = f.engine.on_receipt(undeliv("  ")).await.unwrap_err();
    assert!(err.to_string().contains("receipt message id"), "{err}");
    let err = f.engine.on_receipt(undeliv("a\0b")).await.unwrap_err();
    assert!(matches!(err, EngineError::Address { .. }), "{err:?}");
}

/// Windows too long to add to a clock park receipts instead of panicking.
#[tokio::test]
async fn windows_past_the_clocks_range_do_not_panic() {
    let f = fixture(EngineSettings {
        park_window: Duration::MAX,
        unavailable_window: Duration::MAX,
        ..EngineSettings::default()
    });
    let out = f.engine.on_receipt(undeliv("far")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
    f.store.answer_loads(Loads::Unavailable);
    let out = f.engine.on_receipt(undeliv("far2")).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Parked { .. }), "{out:?}");
    let report = f.engine.retry_parked().await;
    assert_eq!(report.still_parked, 2);
    f.store.answer_loads(Loads::Healthy);
    let out = f
        .engine
        .on_submit(submit_on("smsc-1", &["far"]))
        .await
        .unwrap();
    assert!(
        matches!(out, SubmitOutcome::Stored { ref applied, .. } if applied.len() == 1),
        "{out:?}"
    );
}
