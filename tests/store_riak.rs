//! `RiakStore`: the conformance suite against the in-tree Riak server (default buckets and an
//! `allow_mult` bucket type) or a real Riak (`RIAK_URL`), and the store's handling of
//! siblings, tombstones, foreign objects and failing servers.

#[path = "support/riak_server.rs"]
mod riak_server;

use redeliver::store::PutMode;
use std::time::Duration;

use redeliver::message::{Bucket, MsgId};
use redeliver::store::{MessageStore, RiakConfig, RiakStore, StoreError, conformance};
use riak_server::{Fault, RiakServer};

fn store(servers: &[&RiakServer]) -> RiakStore {
    RiakStore::new(RiakConfig::new(servers.iter().map(|s| s.host_port()))).unwrap()
}

fn typed_store(server: &RiakServer) -> RiakStore {
    RiakStore::new(RiakConfig::new([server.url()]).with_bucket_type("redeliver")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_store_passes_the_conformance_suite() {
    if let Ok(url) = std::env::var("RIAK_URL") {
        // A real Riak: the same cases, and the bucket type if one is named.
        let store = RiakStore::new(RiakConfig::new(url.split(',').map(str::to_owned))).unwrap();
        if let Err(failure) = conformance::run_all(&store).await {
            panic!("real Riak at {url}: {failure}");
        }
        if let Ok(bucket_type) = std::env::var("RIAK_BUCKET_TYPE") {
            let store = RiakStore::new(
                RiakConfig::new(url.split(',').map(str::to_owned)).with_bucket_type(bucket_type),
            )
            .unwrap();
            if let Err(failure) = conformance::run_all(&store).await {
                panic!("real Riak at {url} with a bucket type: {failure}");
            }
        }
        return;
    }
    let server = RiakServer::start().await;
    if let Err(failure) = conformance::run_all(&store(&[&server])).await {
        panic!("in-tree Riak, default bucket type: {failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_store_passes_the_conformance_suite_with_allow_mult() {
    let server = RiakServer::start().await;
    if let Err(failure) = conformance::run_all(&typed_store(&server)).await {
        panic!("in-tree Riak, allow_mult bucket type: {failure}");
    }
}

fn ids() -> (Bucket, MsgId) {
    (
        Bucket::new("MADR-12345").unwrap(),
        MsgId::new("smsc/1+2 ü").unwrap(),
    )
}

#[tokio::test]
async fn siblings_are_resolved_to_the_latest_save_and_written_back() {
    let server = RiakServer::start().await;
    // Two stores share no vclocks, so their saves are concurrent: two siblings.
    let (first, second) = (typed_store(&server), typed_store(&server));
    let (bucket, msgid) = ids();
    let older = conformance::sample_message(1, b"older".to_vec());
    let newer = conformance::sample_message(2, b"newer".to_vec());
    first
        .save(&bucket, &msgid, &older, PutMode::Overwrite)
        .await
        .unwrap();
    second
        .save(&bucket, &msgid, &newer, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        server.sibling_count("redeliver", "MADR-12345", "smsc/1+2 ü"),
        2
    );
    assert_eq!(
        first
            .load(&bucket, &msgid)
            .await
            .unwrap()
            .map(|v| v.message),
        Some(newer.clone())
    );
    assert_eq!(
        server.sibling_count("redeliver", "MADR-12345", "smsc/1+2 ü"),
        1,
        "the resolution was written back"
    );
    assert_eq!(
        second
            .load(&bucket, &msgid)
            .await
            .unwrap()
            .map(|v| v.message),
        Some(newer)
    );
}

#[tokio::test]
async fn a_tombstone_sibling_never_wins() {
    let server = RiakServer::start().await;
    let (a, b) = (typed_store(&server), typed_store(&server));
    let (bucket, msgid) = ids();
    let msg = conformance::sample_message(3, b"again".to_vec());
    a.save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .unwrap();
    assert!(a.delete(&bucket, &msgid).await.unwrap());
    // A blind save right after the delete: Riak keeps the tombstone as a sibling.
    b.save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        server.sibling_count("redeliver", "MADR-12345", "smsc/1+2 ü"),
        2
    );
    assert_eq!(
        b.load(&bucket, &msgid).await.unwrap().map(|v| v.message),
        Some(msg)
    );
}

#[tokio::test]
async fn an_object_written_by_something_else_is_corrupt_and_alone() {
    let server = RiakServer::start().await;
    let store = store(&[&server]);
    let bucket = Bucket::new("MADR-1").unwrap();
    let good = conformance::sample_message(4, b"fine".to_vec());
    store
        .save(
            &bucket,
            &MsgId::new("good").unwrap(),
            &good,
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for (key, meta) in [("foreign", None), ("damaged", Some("notjson"))] {
        let mut put = client
            .put(format!("{}/buckets/MADR-1/keys/{key}", server.url()))
            .header("content-type", "text/plain")
            .body("value one");
        if let Some(value) = meta {
            for (name, v) in [
                ("x-riak-meta-redeliver", "1"),
                ("x-riak-meta-channel", "smpp"),
                ("x-riak-meta-mailfrom", "a"),
                ("x-riak-meta-rcptto", "b"),
                ("x-riak-meta-content-type", "text/plain"),
                ("x-riak-meta-submitted-at", "1.000000000"),
                ("x-riak-meta-expires-at", "2.000000000"),
                ("x-riak-meta-saved-at", "3"),
                ("x-riak-meta-metadata", value),
            ] {
                put = put.header(name, v);
            }
        }
        assert_eq!(put.send().await.unwrap().status(), 204);
    }
    for (key, why) in [
        ("foreign", "X-Riak-Meta-Redeliver is missing"),
        ("damaged", "X-Riak-Meta-Metadata"),
    ] {
        match store.load(&bucket, &MsgId::new(key).unwrap()).await {
            Err(e @ StoreError::Corrupt { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("riak")
                        && text.contains("MADR-1")
                        && text.contains(key)
                        && text.contains(why),
                    "{text}"
                );
            }
            other => panic!("{key}: expected Corrupt, got {other:?}"),
        }
    }
    assert_eq!(
        store
            .load(&bucket, &MsgId::new("good").unwrap())
            .await
            .unwrap()
            .map(|v| v.message),
        Some(good)
    );
}

#[tokio::test]
async fn requests_fail_over_to_a_healthy_server() {
    let healthy = RiakServer::start().await;
    let unavailable = healthy.join().await;
    unavailable.set_fault(Fault::Unavailable);
    let stopped = healthy.join().await;
    stopped.stop();
    let garbage = healthy.join().await;
    garbage.set_fault(Fault::Garbage);
    let store = store(&[&unavailable, &stopped, &garbage, &healthy]);
    let (bucket, msgid) = ids();
    // Every server is tried first at random; every operation must land on the healthy one.
    for n in 0..20u32 {
        let msg = conformance::sample_message(n, vec![n as u8]);
        store
            .save(&bucket, &msgid, &msg, PutMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(
            store
                .load(&bucket, &msgid)
                .await
                .unwrap()
                .map(|v| v.message),
            Some(msg)
        );
    }
    store.ping().await.unwrap();
    assert!(unavailable.requests() > 0, "the 503 server was tried");
    assert!(garbage.requests() > 0, "the garbage server was tried");
}

#[tokio::test]
async fn a_slow_server_times_out_and_the_next_one_answers() {
    let healthy = RiakServer::start().await;
    let slow = healthy.join().await;
    slow.set_fault(Fault::Hang);
    let config = RiakConfig::new([slow.host_port(), healthy.host_port()])
        .with_request_timeout(Duration::from_millis(300));
    let store = RiakStore::new(config).unwrap();
    let (bucket, msgid) = ids();
    let msg = conformance::sample_message(5, vec![5]);
    // Servers are picked at random: save until the slow one has been picked (the chance that
    // 64 picks all miss it is 2^-64), and every save must still succeed.
    for _ in 0..64 {
        store
            .save(&bucket, &msgid, &msg, PutMode::Overwrite)
            .await
            .unwrap();
        if slow.requests() > 0 {
            break;
        }
    }
    assert!(slow.requests() > 0, "the slow server was tried");

    let only_slow = RiakStore::new(
        RiakConfig::new([slow.host_port()]).with_request_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let err = only_slow.load(&bucket, &msgid).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&slow.host_port()) && text.contains("timed out"),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_that_stops_mid_body_times_out_and_the_next_one_answers() {
    let healthy = RiakServer::start().await;
    let stalling = healthy.join().await;
    let (bucket, msgid) = ids();
    let msg = conformance::sample_message(6, vec![6; 4096]);
    store(&[&healthy])
        .save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .unwrap();
    stalling.set_fault(Fault::StallBody);

    // Alone, the stalled read is a retryable timeout naming the server.
    let only_stalling = RiakStore::new(
        RiakConfig::new([stalling.host_port()])
            .with_request_timeout(Duration::from_millis(200))
            .with_operation_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let err = only_stalling.load(&bucket, &msgid).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&stalling.host_port()) && text.contains("timed out"),
        "{text}"
    );

    // With a healthy server beside it, every load gets the whole message.
    let both = RiakStore::new(
        RiakConfig::new([stalling.host_port(), healthy.host_port()])
            .with_request_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    // Servers are picked at random: load until the stalling one has been picked.
    for _ in 0..64 {
        assert_eq!(
            both.load(&bucket, &msgid).await.unwrap().map(|v| v.message),
            Some(msg.clone())
        );
        if stalling.requests() > 1 {
            break;
        }
    }
    assert!(stalling.requests() > 1, "the stalling server was tried");
}

#[tokio::test]
async fn when_no_server_answers_the_error_names_each_and_is_retryable() {
    let down = RiakServer::start().await;
    down.stop();
    let busy = down.join().await;
    busy.set_fault(Fault::Unavailable);
    let store = store(&[&down, &busy]);
    let (bucket, msgid) = ids();
    for err in [
        store.load(&bucket, &msgid).await.unwrap_err(),
        store
            .save(
                &bucket,
                &msgid,
                &conformance::sample_message(1, vec![]),
                PutMode::Overwrite,
            )
            .await
            .unwrap_err(),
        store.delete(&bucket, &msgid).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&down.host_port()) && text.contains("cannot connect"),
            "{text}"
        );
        assert!(
            text.contains(&busy.host_port()) && text.contains("503"),
            "{text}"
        );
        assert!(
            text.contains("MADR-12345") && text.contains("smsc/1+2 ü"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_500_is_a_backend_error_naming_the_server() {
    let server = RiakServer::start().await;
    server.set_fault(Fault::InternalError);
    let store = store(&[&server]);
    let (bucket, msgid) = ids();
    let err = store.load(&bucket, &msgid).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { .. }) && !err.is_retryable(),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&server.host_port()) && text.contains("500"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    for servers in [
        vec![],
        vec!["ftp://x:1".to_owned()],
        vec!["http://h:1/riak".to_owned()],
        vec!["::".to_owned()],
    ] {
        assert!(
            RiakStore::new(RiakConfig::new(servers.clone())).is_err(),
            "{servers:?}"
        );
    }
}

#[tokio::test]
async fn sweep_pages_through_the_index_and_keeps_other_applications_buckets() {
    use std::time::{Duration, SystemTime};
    let server = RiakServer::start().await;
    let mut config = RiakConfig::new([server.host_port()]);
    config.page_size = 3;
    let store = RiakStore::new(config).unwrap();
    let now = SystemTime::now();
    let ours = Bucket::new("MADR-777").unwrap();
    let theirs = Bucket::new("billing").unwrap();
    for n in 0..15u32 {
        let mut msg = conformance::sample_message(n, vec![n as u8]);
        msg.expires_at = if n < 10 {
            now - Duration::from_secs(60 + u64::from(n))
        } else {
            now + Duration::from_secs(60)
        };
        let id = MsgId::new(format!("m{n}")).unwrap();
        store
            .save(&ours, &id, &msg, PutMode::Overwrite)
            .await
            .unwrap();
        store
            .save(&theirs, &id, &msg, PutMode::Overwrite)
            .await
            .unwrap();
    }
    assert_eq!(store.sweep_expired(now).await.unwrap(), 10);
    let left: Vec<_> = futures::StreamExt::collect::<Vec<_>>(store.list(&ours)).await;
    assert_eq!(left.len(), 5);
    let untouched: Vec<_> = futures::StreamExt::collect::<Vec<_>>(store.list(&theirs)).await;
    assert_eq!(
        untouched.len(),
        15,
        "only buckets with the MADR- prefix are swept"
    );
    assert_eq!(store.sweep_expired(now).await.unwrap(), 0);
}

#[tokio::test]
async fn a_save_after_loading_a_tombstone_replaces_it() {
    let server = RiakServer::start().await;
    let store = typed_store(&server);
    let (bucket, msgid) = ids();
    let msg = conformance::sample_message(6, b"back".to_vec());
    store
        .save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .unwrap();
    assert!(store.delete(&bucket, &msgid).await.unwrap());
    // The 404 for the tombstone carries its vclock, which the next save sends.
    assert_eq!(
        store
            .load(&bucket, &msgid)
            .await
            .unwrap()
            .map(|v| v.message),
        None
    );
    store
        .save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        server.sibling_count("redeliver", "MADR-12345", "smsc/1+2 ü"),
        1
    );
    assert_eq!(
        store
            .load(&bucket, &msgid)
            .await
            .unwrap()
            .map(|v| v.message),
        Some(msg)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any msgid (any string without NUL) reaches Riak as its own key and comes back listed
    /// as itself: the percent-encoding is one-to-one.
    #[test]
    fn any_msgid_round_trips_through_riak(text in "[^\u{0}]{1,40}") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let server = RiakServer::start().await;
            let store = store(&[&server]);
            let bucket = Bucket::new("MADR-prop").unwrap();
            let msgid = MsgId::new(text.clone()).unwrap();
            let msg = conformance::sample_message(1, text.as_bytes().to_vec());
            store.save(&bucket, &msgid, &msg, PutMode::Overwrite).await.unwrap();
            assert_eq!(store.load(&bucket, &msgid).await.unwrap().map(|v| v.message), Some(msg));
            let listed: Vec<MsgId> = futures::StreamExt::collect::<Vec<_>>(store.list(&bucket))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(listed, vec![msgid.clone()]);
            assert!(store.delete(&bucket, &msgid).await.unwrap());
            server.stop();
        });
    }
}
