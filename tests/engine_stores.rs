//! The engine over the real backends: the embedded store, and Riak (the in-tree server on
//! loopback), including a Riak that answers 503.

#[path = "support/events.rs"]
mod events;
#[path = "support/riak_server/mod.rs"]
mod riak_server;

use std::sync::Arc;

use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{Injection, RecordingInjector};
use redeliver::message::{Bucket, Channel, Envelope, MsgId, ReceiptClass, StoredMessage};
use redeliver::retry::{
    DefaultAction, ParkReason, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent,
    SubmitOutcome,
};
use redeliver::store::{EmbeddedStore, MessageStore, RiakConfig, RiakStore};
use riak_server::{Fault, RiakServer};

const OPTIONS: &str = "[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n";

fn engine(store: Arc<dyn MessageStore>) -> (RetryEngine, Arc<RecordingInjector>) {
    let injector = Arc::new(RecordingInjector::new());
    let engine = RetryEngine::builder(store, injector.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .build();
    (engine, injector)
}

fn submit(id: &str, parts: &[&str]) -> SubmitEvent {
    let mut ids = vec![id.to_owned()];
    ids.extend(parts.iter().map(|p| (*p).to_owned()));
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
            (0u8..=255).collect::<Vec<u8>>(),
        ),
        part_ids: ids,
        status: "ESME_ROK".into(),
    }
}

fn receipt(id: &str, class: ReceiptClass, state: &str) -> ReceiptEvent {
    events::smpp_receipt(ScopeContext::default(), id, class, state)
}

/// The same life cycle on any backend: multipart store, part receipts, bounce, duplicate.
async fn life_cycle(store: Arc<dyn MessageStore>) {
    let (engine, injector) = engine(store.clone());
    let out = engine.on_submit(submit("a/1 ?", &["a/2 %"])).await.unwrap();
    assert!(matches!(out, SubmitOutcome::Stored { .. }), "{out:?}");
    let bucket = Bucket::new("MADR-12345").unwrap();
    let copy = store
        .load(&bucket, &MsgId::new("a/2 %").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copy.body.len(), 256, "binary body kept");
    let out = engine
        .on_receipt(receipt("a/2 %", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    assert!(
        matches!(out, ReceiptOutcome::PartRecorded { part: 1, .. }),
        "{out:?}"
    );
    let out = engine
        .on_receipt(receipt("a/1 ?", ReceiptClass::Negative, "EXPIRED"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                default_action: DefaultAction::Bounced,
                ..
            }
        ),
        "{out:?}"
    );
    let out = engine
        .on_receipt(receipt("a/1 ?", ReceiptClass::Negative, "EXPIRED"))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
    assert_eq!(
        injector
            .injections()
            .iter()
            .filter(|i| matches!(i, Injection::Bounce(_)))
            .count(),
        1
    );
    // The copy for the second part is gone; the message stays for reinstating.
    assert!(
        store
            .load(&bucket, &MsgId::new("a/2 %").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .load(&bucket, &MsgId::new("a/1 ?").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn life_cycle_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path().join("m.redb")).unwrap());
    life_cycle(store).await;
}

#[tokio::test]
async fn life_cycle_on_riak() {
    let server = RiakServer::start().await;
    let store = Arc::new(RiakStore::new(RiakConfig::new([server.url()])).unwrap());
    life_cycle(store).await;
}

#[tokio::test]
async fn a_riak_503_parks_the_receipt_and_it_is_applied_later() {
    let server = RiakServer::start().await;
    let store = Arc::new(RiakStore::new(RiakConfig::new([server.url()])).unwrap());
    let (engine, injector) = engine(store);
    engine.on_submit(submit("r1", &[])).await.unwrap();

    server.set_fault(Fault::Unavailable);
    let out = engine
        .on_receipt(receipt("r1", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Parked {
                reason: ParkReason::StoreUnavailable,
                ..
            }
        ),
        "a 503 is not 'not found': {out:?}"
    );
    assert!(
        injector.injections().is_empty(),
        "no bounce while the store is down"
    );

    server.set_fault(Fault::None);
    let report = engine.retry_parked().await;
    assert_eq!(report.applied, 1, "{report:?}");
    assert_eq!(injector.injections().len(), 1);
}
