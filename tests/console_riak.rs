//! The console over a Riak store (the in-tree server on loopback).

#[path = "support/riak_server/mod.rs"]
mod riak_server;

use redeliver::store::PutMode;
use std::sync::Arc;

use redeliver::config::MstoreModuleConfig;
use redeliver::console::{Console, ConsoleStatus};
use redeliver::hooks::{Injection, RecordingInjector};
use redeliver::message::{Bucket, Channel, Envelope, MsgId, StoredMessage};
use redeliver::store::{MessageStore, RiakStore};
use riak_server::{Fault, RiakServer};

#[tokio::test]
async fn display_reinstate_delete_over_riak() {
    let server = RiakServer::start().await;
    // The servers come from the seed's stanza, as a Momentum host would configure them.
    let conf = format!("mstore {{\n  servers = (\"{}\")\n}}\n", server.host_port());
    let stanza = MstoreModuleConfig::from_ecelerity_conf(&conf).unwrap();
    let store = Arc::new(RiakStore::new(stanza.riak_config()).unwrap());
    let injector = Arc::new(RecordingInjector::new());
    let msg = StoredMessage::new(
        Channel::Mm7,
        Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "+15551234567@mm7.example.com".into(),
        },
        &b"MM7 content"[..],
    );
    store
        .save(
            &Bucket::mm7(),
            &MsgId::new("m 1").unwrap(),
            &msg,
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let console = Console::new(store.clone(), injector.clone());

    let out = console
        .execute("mstore display MADR-MM7 \"m 1\" full")
        .await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
    assert!(out.text.contains("channel: mm7"), "{}", out.text);
    assert!(out.text.ends_with("MM7 content"), "{}", out.text);

    let out = console
        .execute("mstore reinstate MADR-MM7 \"m 1\" 12405678910@smpp.example.com")
        .await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
    assert!(matches!(
        injector.injections().as_slice(),
        [Injection::Reroute { .. }]
    ));

    // A Riak that answers 503 is a failure, never "not found".
    server.set_fault(Fault::Unavailable);
    let out = console.execute("mstore display MADR-MM7 \"m 1\"").await;
    assert_eq!(out.status, ConsoleStatus::Failed, "{}", out.text);
    server.set_fault(Fault::None);

    let out = console.execute("mstore delete MADR-MM7 \"m 1\"").await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
    let out = console.execute("mstore display MADR-MM7 \"m 1\"").await;
    assert_eq!(out.status, ConsoleStatus::NotFound, "{}", out.text);
}
