//! Errors keep their causes: a host can follow `source()` and downcast it.
#![cfg(all(
    feature = "riak",
    feature = "embedded",
    feature = "engine",
    feature = "dlr-http"
))]

use std::error::Error as _;

use redeliver::hooks::{HookError, InjectError};
use redeliver::message::{Bucket, MsgId};
use redeliver::store::{EmbeddedStore, MessageStore, RiakConfig, RiakStore, StoreError};

#[test]
fn a_bad_riak_server_is_a_config_error_with_the_parse_error_as_source() {
    let err = RiakStore::new(RiakConfig::new(["http://[::1"])).unwrap_err();
    assert!(matches!(err, StoreError::Config { .. }), "{err:?}");
    let source = err.source().expect("a source");
    assert!(
        source.downcast_ref::<url::ParseError>().is_some(),
        "{source:?}"
    );
}

#[tokio::test]
async fn an_unreachable_riak_is_unavailable_with_the_http_error_as_source() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = RiakConfig::new([format!("127.0.0.1:{port}")]);
    config.retries = 0;
    let store = RiakStore::new(config).unwrap();
    let err = store
        .load(
            &Bucket::new("MADR-12345").unwrap(),
            &MsgId::new("k").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let source = err.source().expect("a source");
    assert!(
        source.downcast_ref::<reqwest::Error>().is_some(),
        "{source:?}"
    );
}

#[test]
fn an_embedded_file_that_cannot_be_opened_keeps_the_database_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a database file.
    let err = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.source().is_some(), "{err:?}");
}

#[derive(Debug, thiserror::Error)]
#[error("route table missing")]
struct HostError;

#[test]
fn hook_and_inject_errors_carry_the_hosts_own_error() {
    let hook = HookError::Other(Box::new(HostError));
    assert!(hook.source().unwrap().downcast_ref::<HostError>().is_some());
    assert_eq!(hook.to_string(), "hook: route table missing");
    let inject = InjectError::Spool(Box::new(HostError));
    assert!(
        inject
            .source()
            .unwrap()
            .downcast_ref::<HostError>()
            .is_some()
    );
    // Text converts too.
    let text = HookError::Other("scripted".into());
    assert_eq!(text.source().unwrap().to_string(), "scripted");
}

#[tokio::test]
async fn a_dlr_queue_file_that_cannot_be_opened_keeps_the_database_error() {
    use redeliver::dlr::{BuildError, DlrThrowerConfig, HttpDlrThrower, QueueError};
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a queue file.
    let err = HttpDlrThrower::builder(DlrThrowerConfig::default())
        .queue(dir.path())
        .build()
        .await
        .unwrap_err();
    let BuildError::Queue(queue) = &err else {
        panic!("expected a queue error, got {err:?}");
    };
    assert!(matches!(queue, QueueError::Storage { .. }), "{queue:?}");
    assert!(queue.source().is_some(), "{queue:?}");
}
