//! `RiakStore`: the conformance suite against the in-tree Riak server (the default type, an
//! `allow_mult` bucket type and a strongly consistent one) or a real Riak (`RIAK_URL`, with
//! `RIAK_BUCKET_TYPE` naming an `allow_mult` type and `RIAK_CONSISTENT_TYPE` a type created with
//! `{"props":{"consistent":true}}`), and the store's handling of siblings, tombstones, foreign
//! objects, consistent types and failing servers, and which buckets `due` and `sweep_expired`
//! ask (`RiakConfig::buckets`, `bucket_listing`; against a real Riak without the check that the
//! bucket list was not asked for, which only the in-tree server can count).

#[path = "support/riak_server/mod.rs"]
mod riak_server;

use redeliver::store::PutMode;
use std::time::Duration;

use futures::future::join_all;
use redeliver::message::{Bucket, MsgId, StoredMessage};
use redeliver::store::riak::BucketListing;
use redeliver::store::{MessageStore, RiakConfig, RiakStore, StoreError, conformance};
use riak_server::{ALLOW_MULT_TYPE, CONSISTENT_TYPE, Fault, KeyFault, RiakServer};

fn store(servers: &[&RiakServer]) -> RiakStore {
    RiakStore::new(RiakConfig::new(servers.iter().map(|s| s.host_port()))).unwrap()
}

fn typed_store(server: &RiakServer) -> RiakStore {
    RiakStore::new(RiakConfig::new([server.url()]).with_bucket_type(ALLOW_MULT_TYPE)).unwrap()
}

fn consistent_store(servers: &[&RiakServer]) -> RiakStore {
    RiakStore::new(riak_server::consistent_config(servers)).unwrap()
}

/// The cases Riak can honour on an ordinary bucket type. Concurrent creates can all "win"
/// there (Riak checks `If-None-Match` by a read before the write); with `allow_mult = false`
/// concurrent updates overwrite each other, and with `allow_mult = true` concurrent overwrites
/// become siblings that merge instead of one winning whole.
async fn run_ordinary(store: &RiakStore, allow_mult: bool) -> Result<(), conformance::Failure> {
    conformance::save_load_delete(store).await?;
    conformance::overwrite(store).await?;
    conformance::missing_keys(store).await?;
    conformance::odd_keys(store).await?;
    conformance::large_and_binary_bodies(store).await?;
    conformance::conditional_saves(store).await?;
    if allow_mult {
        conformance::concurrent_updates_lose_nothing(store).await?;
    } else {
        conformance::concurrent_saves_of_one_key(store).await?;
    }
    conformance::listing(store).await?;
    conformance::sweep(store).await?;
    conformance::due_index(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_store_passes_the_conformance_suite() {
    if let Ok(url) = std::env::var("RIAK_URL") {
        // A real Riak: the same cases, and those of the bucket types that are named.
        let config = || RiakConfig::new(url.split(',').map(str::to_owned));
        let store = RiakStore::new(config()).unwrap();
        if let Err(failure) = run_ordinary(&store, false).await {
            panic!("real Riak at {url}: {failure}");
        }
        if let Ok(bucket_type) = std::env::var("RIAK_BUCKET_TYPE") {
            let store = RiakStore::new(config().with_bucket_type(&bucket_type)).unwrap();
            if let Err(failure) = run_ordinary(&store, true).await {
                panic!("real Riak at {url}, bucket type {bucket_type}: {failure}");
            }
            assert_no_create_is_lost(&store, "MADR-create-race").await;
        }
        if let Ok(bucket_type) = std::env::var("RIAK_CONSISTENT_TYPE") {
            let store = RiakStore::new(config().with_bucket_type(&bucket_type)).unwrap();
            assert!(
                store.is_consistent().await.unwrap(),
                "{bucket_type} is not consistent"
            );
            if let Err(failure) = conformance::run_all(&store).await {
                panic!("real Riak at {url}, consistent bucket type {bucket_type}: {failure}");
            }
        }
        return;
    }
    let server = RiakServer::start().await;
    if let Err(failure) = run_ordinary(&store(&[&server]), false).await {
        panic!("in-tree Riak, default bucket type: {failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_store_passes_the_conformance_suite_with_allow_mult() {
    let server = RiakServer::start().await;
    if let Err(failure) = run_ordinary(&typed_store(&server), true).await {
        panic!("in-tree Riak, allow_mult bucket type: {failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riak_store_passes_the_whole_conformance_suite_on_a_consistent_type() {
    let server = RiakServer::start().await;
    let other = server.join().await;
    // Two nodes, each request to either: the claims hold across nodes.
    let store = consistent_store(&[&server, &other]);
    assert!(store.is_consistent().await.unwrap());
    if let Err(failure) = conformance::run_all(&store).await {
        panic!("in-tree Riak, consistent bucket type: {failure}");
    }
}

/// [`conformance::WRITERS`] stores (no shared vclocks) create one key at once, 10 times; every
/// writer's metadata ends up in the merged message.
async fn assert_no_create_is_lost(store: &RiakStore, bucket: &str) -> usize {
    let bucket = Bucket::new(bucket).unwrap();
    // One store per writer (no shared vclocks), each round on a key of its own.
    let stores: Vec<RiakStore> = (0..conformance::WRITERS)
        .map(|_| RiakStore::new(store.config().clone()).unwrap())
        .collect();
    // Connections open before the race, so the creates start together.
    for s in &stores {
        s.ping().await.unwrap();
    }
    let mut winners = 0;
    for round in 0..10 {
        let msgid = MsgId::new(format!("race-{round}-{}", std::process::id())).unwrap();
        let writers: Vec<StoredMessage> = (0..conformance::WRITERS)
            .map(|w| {
                let mut msg = conformance::sample_message(40 + w as u32, vec![w as u8; 8]);
                msg.metadata.insert(format!("writer.{w}"), "created".into());
                msg
            })
            .collect();
        let results = join_all(
            stores
                .iter()
                .zip(&writers)
                .map(|(s, m)| s.save(&bucket, &msgid, m, PutMode::Create)),
        )
        .await;
        let mut won = Vec::new();
        for (w, result) in results.into_iter().enumerate() {
            match result {
                Ok(_) => won.push(w),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => panic!("round {round}, writer {w}: {e}"),
            }
        }
        assert!(!won.is_empty(), "round {round}: no create succeeded");
        winners += won.len();
        let merged = store.load(&bucket, &msgid).await.unwrap().unwrap();
        for w in &won {
            assert!(
                merged.metadata.contains_key(&format!("writer.{w}")),
                "round {round}: writer {w} was told it created the message, but its write is lost: {:?}",
                merged.metadata
            );
        }
        store.delete(&bucket, &msgid).await.unwrap();
    }
    winners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_on_an_allow_mult_type_may_all_win_but_none_is_lost() {
    let server = RiakServer::start().await;
    let winners = assert_no_create_is_lost(&typed_store(&server), "MADR-create-race").await;
    // Riak's If-None-Match is a read before the write: more than one writer per key wins.
    assert!(
        winners > 10,
        "{winners} winners in 10 rounds: the precondition race is not modelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_on_the_default_type_win_and_overwrite_silently() {
    // Measured on Riak KV 3.2.2: several "winners" per key, all but one overwritten.
    let server = RiakServer::start().await;
    let bucket = Bucket::new("MADR-lww").unwrap();
    let stores: Vec<RiakStore> = (0..8).map(|_| store(&[&server])).collect();
    // Connections open before the race, so the creates start together.
    for s in &stores {
        s.ping().await.unwrap();
    }
    let msgs: Vec<StoredMessage> = (0..8)
        .map(|w| conformance::sample_message(60 + w, vec![w as u8]))
        .collect();
    let mut most = 0;
    for round in 0..20 {
        let key = format!("race-{round}");
        let msgid = MsgId::new(key.as_str()).unwrap();
        let results = join_all(
            stores
                .iter()
                .zip(&msgs)
                .map(|(s, m)| s.save(&bucket, &msgid, m, PutMode::Create)),
        )
        .await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert!(won >= 1, "round {round}: {results:?}");
        most = most.max(won);
        let stored = stores[0].load(&bucket, &msgid).await.unwrap().unwrap();
        assert!(msgs.contains(&stored.message), "one whole write is stored");
        assert_eq!(server.sibling_count("default", "MADR-lww", &key), 1);
        if most > 1 {
            return;
        }
    }
    panic!("one winner in each of 20 rounds: the precondition race is not modelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_on_a_consistent_type_have_one_winner_across_nodes() {
    let a = RiakServer::start().await;
    let b = a.join().await;
    let bucket = Bucket::new("MADR-claims").unwrap();
    let stores: Vec<RiakStore> = (0..8)
        .map(|w| consistent_store(&[if w % 2 == 0 { &a } else { &b }]))
        .collect();
    for round in 0..20 {
        let msgid = MsgId::new(format!("claim-{round}")).unwrap();
        let msgs: Vec<StoredMessage> = (0..8)
            .map(|w| conformance::sample_message(80 + w, vec![w as u8]))
            .collect();
        let results = join_all(
            stores
                .iter()
                .zip(&msgs)
                .map(|(s, m)| s.save(&bucket, &msgid, m, PutMode::Create)),
        )
        .await;
        let winners: Vec<usize> = (0..8).filter(|&w| results[w].is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (w, r) in results.iter().enumerate() {
            assert!(
                r.is_ok() || matches!(r, Err(StoreError::AlreadyExists { .. })),
                "writer {w}: {r:?}"
            );
        }
        let stored = stores[0].load(&bucket, &msgid).await.unwrap().unwrap();
        assert_eq!(stored.message, msgs[winners[0]]);
    }
}

fn ids() -> (Bucket, MsgId) {
    (
        Bucket::new("MADR-12345").unwrap(),
        MsgId::new("smsc/1+2 ü").unwrap(),
    )
}

/// What the store wrote for `msg`, as raw headers and body, for writing siblings by hand.
async fn stored_form(
    server: &RiakServer,
    msg: &StoredMessage,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let store = typed_store(server);
    let bucket = Bucket::new("MADR-forms").unwrap();
    // A key of its own each time: a tombstone left by an earlier call would be a sibling.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let key = format!(
        "form-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let id = MsgId::new(key.as_str()).unwrap();
    store
        .save(&bucket, &id, msg, PutMode::Overwrite)
        .await
        .unwrap();
    let response = reqwest::get(format!(
        "{}/types/{ALLOW_MULT_TYPE}/buckets/MADR-forms/keys/{key}",
        server.url()
    ))
    .await
    .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in response.headers() {
        let n = name.as_str();
        if n.starts_with("x-riak-meta-") || n.starts_with("x-riak-index-") || n == "content-type" {
            headers.insert(name.clone(), value.clone());
        }
    }
    let body = response.bytes().await.unwrap().to_vec();
    assert!(store.delete(&bucket, &id).await.unwrap());
    (headers, body)
}

#[tokio::test]
async fn a_load_merges_every_sibling_writes_the_merge_back_and_its_version_descends() {
    let server = RiakServer::start().await;
    let (bucket, msgid) = ids();
    let mut older = conformance::sample_message(1, b"older".to_vec());
    older
        .metadata
        .insert("redeliver.part.1.state".into(), "positive".into());
    let mut newer = conformance::sample_message(2, b"newer".to_vec());
    newer
        .metadata
        .insert("redeliver.part.2.state".into(), "negative".into());
    // Two blind PUTs, as two nodes without each other's vclock would write them.
    let client = reqwest::Client::new();
    for msg in [&older, &newer] {
        let (headers, body) = stored_form(&server, msg).await;
        let put = client
            .put(format!(
                "{}/types/{ALLOW_MULT_TYPE}/buckets/MADR-12345/keys/smsc%2F1%2B2%20%C3%BC",
                server.url()
            ))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 204);
    }
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        2
    );
    let store = typed_store(&server);
    let loaded = store.load(&bucket, &msgid).await.unwrap().unwrap();
    let expected = older.clone().merge(newer.clone());
    assert_eq!(loaded.message, expected);
    assert_eq!(loaded.metadata["redeliver.part.1.state"], "positive");
    assert_eq!(loaded.metadata["redeliver.part.2.state"], "negative");
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        1,
        "the merge was written back"
    );
    // The version is the write-back's: an update from it replaces the merge, no sibling.
    let mut next = loaded.message.clone();
    next.metadata.insert("after".into(), "merge".into());
    let other = typed_store(&server);
    other
        .save(
            &bucket,
            &msgid,
            &next,
            PutMode::Update(loaded.version.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        1
    );
    assert_eq!(
        other.load(&bucket, &msgid).await.unwrap().unwrap().message,
        next
    );
    // And the version it replaced is stale now.
    assert!(matches!(
        other
            .save(&bucket, &msgid, &older, PutMode::Update(loaded.version))
            .await,
        Err(StoreError::Precondition { .. })
    ));
}

#[tokio::test]
async fn a_save_beside_siblings_gives_a_version_no_update_can_use_until_a_load_merged_them() {
    let server = RiakServer::start().await;
    // Two stores share no vclocks, so their saves are concurrent.
    let (first, second) = (typed_store(&server), typed_store(&server));
    let (bucket, msgid) = ids();
    let mut one = conformance::sample_message(1, b"one".to_vec());
    one.metadata.insert("one".into(), "x".into());
    let mut two = conformance::sample_message(2, b"two".to_vec());
    two.metadata.insert("two".into(), "y".into());
    let clean = first
        .save(&bucket, &msgid, &one, PutMode::Overwrite)
        .await
        .unwrap();
    let beside = second
        .save(&bucket, &msgid, &two, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        2
    );
    // Updating from either version would replace the other writer's message.
    let mut changed = two.clone();
    changed.metadata.insert("lost".into(), "one's".into());
    for version in [beside, clean] {
        match second
            .save(&bucket, &msgid, &changed, PutMode::Update(version.clone()))
            .await
        {
            Err(StoreError::Precondition { .. }) => {}
            other => panic!("update from {version:?}: {other:?}"),
        }
    }
    let loaded = first.load(&bucket, &msgid).await.unwrap().unwrap();
    assert_eq!(loaded.message, one.clone().merge(two.clone()));
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        1
    );
    let mut next = loaded.message.clone();
    next.metadata.insert("after".into(), "merge".into());
    second
        .save(&bucket, &msgid, &next, PutMode::Update(loaded.version))
        .await
        .unwrap();
    assert_eq!(
        second.load(&bucket, &msgid).await.unwrap().unwrap().message,
        next
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
    // A blind save right after the delete: Riak keeps the tombstone as a sibling; the load
    // leaves it out and writes back the live one.
    b.save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        2
    );
    assert_eq!(
        b.load(&bucket, &msgid).await.unwrap().map(|v| v.message),
        Some(msg)
    );
    assert_eq!(
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
        1
    );
}

#[tokio::test]
async fn the_consistent_type_is_detected_from_the_type_properties() {
    let server = RiakServer::start().await;
    let detected =
        RiakStore::new(RiakConfig::new([server.url()]).with_bucket_type(CONSISTENT_TYPE)).unwrap();
    assert!(detected.is_consistent().await.unwrap());
    assert!(
        detected.is_consistent().await.unwrap(),
        "asked once, remembered"
    );
    assert_eq!(server.requests(), 1);
    assert!(!typed_store(&server).is_consistent().await.unwrap());
    assert!(!store(&[&server]).is_consistent().await.unwrap());
    let configured = RiakStore::new(
        RiakConfig::new([server.url()])
            .with_bucket_type(ALLOW_MULT_TYPE)
            .with_consistent(true),
    )
    .unwrap();
    assert!(configured.is_consistent().await.unwrap());
    let unknown =
        RiakStore::new(RiakConfig::new([server.url()]).with_bucket_type("nosuchtype")).unwrap();
    let e = unknown.is_consistent().await.unwrap_err();
    assert!(
        e.to_string().contains("nosuchtype") && e.to_string().contains(&server.host_port()),
        "{e}"
    );
}

#[tokio::test]
async fn on_a_consistent_type_blind_overwrites_and_deletes_read_the_vclock_first() {
    let server = RiakServer::start().await;
    let (bucket, msgid) = ids();
    let first = conformance::sample_message(1, b"first".to_vec());
    let second = conformance::sample_message(2, b"second".to_vec());
    consistent_store(&[&server])
        .save(&bucket, &msgid, &first, PutMode::Overwrite)
        .await
        .unwrap();
    // Another store knows no vclock: Riak refuses its blind PUT (412), the store reads and
    // writes again.
    let other = consistent_store(&[&server]);
    other
        .save(&bucket, &msgid, &second, PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        other.load(&bucket, &msgid).await.unwrap().unwrap().message,
        second
    );
    // Riak answers 204 to any delete there; the store still tells.
    let third = consistent_store(&[&server]);
    assert!(third.delete(&bucket, &msgid).await.unwrap());
    assert!(!third.delete(&bucket, &msgid).await.unwrap());
    assert!(third.load(&bucket, &msgid).await.unwrap().is_none());
}

#[tokio::test]
async fn on_a_consistent_type_a_503_is_unavailable_never_absent_or_lost() {
    let server = RiakServer::start().await;
    let store = RiakStore::new(
        RiakConfig::new([server.url()])
            .with_bucket_type(CONSISTENT_TYPE)
            .with_retries(0, Duration::from_millis(1)),
    )
    .unwrap();
    let (bucket, msgid) = ids();
    let msg = conformance::sample_message(1, b"m".to_vec());
    let version = store
        .save(&bucket, &msgid, &msg, PutMode::Create)
        .await
        .unwrap();
    server.set_key_fault("MADR-12345", "smsc/1+2 ü", KeyFault::Unavailable);
    let is_unavailable = |r: &Result<_, StoreError>| matches!(r, Err(e) if e.is_retryable());
    let load = store.load(&bucket, &msgid).await.map(|_| ());
    assert!(is_unavailable(&load), "{load:?}");
    let create = store
        .save(&bucket, &msgid, &msg, PutMode::Create)
        .await
        .map(|_| ());
    assert!(is_unavailable(&create), "{create:?}");
    let update = store
        .save(&bucket, &msgid, &msg, PutMode::Update(version.clone()))
        .await
        .map(|_| ());
    assert!(is_unavailable(&update), "{update:?}");
    server.set_key_fault("MADR-12345", "smsc/1+2 ü", KeyFault::None);
    store
        .save(&bucket, &msgid, &msg, PutMode::Update(version))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_412_after_an_attempt_that_may_have_written_is_unavailable_not_a_lost_claim() {
    // One node writes and then answers 503 (its answer lost); the other answers 412 to the
    // retried create. Whether the claim was won cannot be told from that.
    let good = RiakServer::start().await;
    let flaky = good.join().await;
    flaky.set_fault(Fault::ServeThenUnavailable);
    let bucket = Bucket::new("MADR-ambiguous").unwrap();
    let mut unknown = 0;
    for n in 0..24 {
        let store = consistent_store(&[&good, &flaky]);
        let msgid = MsgId::new(format!("claim-{n}")).unwrap();
        let msg = conformance::sample_message(n, vec![1]);
        match store.save(&bucket, &msgid, &msg, PutMode::Create).await {
            // The good node was asked first.
            Ok(_) => {}
            Err(e) if e.is_retryable() => {
                assert!(e.to_string().contains("cannot be told"), "{e}");
                unknown += 1;
            }
            Err(e) => panic!("claim {n}: {e:?}"),
        }
        // Either way the message was stored once.
        assert_eq!(
            consistent_store(&[&good])
                .load(&bucket, &msgid)
                .await
                .unwrap()
                .unwrap()
                .message,
            msg
        );
    }
    assert!(
        unknown > 0,
        "the flaky node was never asked first in 24 tries"
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
        server.sibling_count(ALLOW_MULT_TYPE, "MADR-12345", "smsc/1+2 ü"),
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

/// Where the bucket tests run: a real Riak when `RIAK_URL` is set (then there is no server to
/// count requests on), the in-tree server otherwise. The config names the servers only.
async fn bucket_test_target() -> (Option<RiakServer>, RiakConfig) {
    match std::env::var("RIAK_URL") {
        Ok(url) => (None, RiakConfig::new(url.split(',').map(str::to_owned))),
        Err(_) => {
            let server = RiakServer::start().await;
            let config = RiakConfig::new([server.url()]);
            (Some(server), config)
        }
    }
}

/// A bucket of the `MADR-` prefix no other run has written to (a real Riak keeps old runs').
fn unique_bucket(tag: &str) -> Bucket {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Bucket::new(format!("MADR-buckets-{tag}-{stamp:x}")).unwrap()
}

/// A message whose due time (`redeliver.due`) passed a minute before `now`.
fn due_message(seed: u32, now: std::time::SystemTime) -> StoredMessage {
    let mut msg = conformance::sample_message(seed, vec![seed as u8; 4]);
    let due = redeliver::message::epoch_millis(now - Duration::from_secs(60));
    msg.metadata
        .insert(redeliver::message::META_DUE.to_owned(), due.to_string());
    msg
}

async fn save(store: &RiakStore, bucket: &Bucket, msgid: &str, msg: &StoredMessage) -> MsgId {
    let msgid = MsgId::new(msgid).unwrap();
    store
        .save(bucket, &msgid, msg, PutMode::Overwrite)
        .await
        .unwrap();
    msgid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_buckets_are_asked_without_listing_the_buckets() {
    let (server, base) = bucket_test_target().await;
    let now = std::time::SystemTime::now();
    let (bucket, empty) = (unique_bucket("configured"), unique_bucket("empty"));
    // Another gateway node's client writes a due record and an expired message.
    let writer = RiakStore::new(base.clone()).unwrap();
    let due = save(&writer, &bucket, "due-elsewhere", &due_message(1, now)).await;
    let mut expired = conformance::sample_message(2, vec![2; 4]);
    expired.expires_at = now - Duration::from_secs(60);
    let gone = save(&writer, &bucket, "expired-elsewhere", &expired).await;

    let config = base.with_buckets([bucket.as_str(), empty.as_str()]);
    assert_eq!(
        config.bucket_listing,
        BucketListing::UnlessBucketsConfigured
    );
    let reader = RiakStore::new(config).unwrap();
    let found = reader.due(now, 1000).await.unwrap();
    assert_eq!(found, [(bucket.clone(), due.clone())]);
    assert_eq!(reader.sweep_expired(now).await.unwrap(), 1);
    assert!(reader.load(&bucket, &gone).await.unwrap().is_none());
    assert!(reader.load(&bucket, &due).await.unwrap().is_some());
    assert_eq!(reader.due(now, 1000).await.unwrap().len(), 1);
    if let Some(server) = &server {
        assert_eq!(
            server.bucket_listings(),
            0,
            "configured buckets: Riak's bucket list is never asked for"
        );
    }
    reader.delete(&bucket, &due).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_listing_or_configured_buckets_only_buckets_this_client_saved_into_are_asked() {
    let (server, base) = bucket_test_target().await;
    let now = std::time::SystemTime::now();
    let theirs = unique_bucket("theirs");
    let writer = RiakStore::new(base.clone()).unwrap();
    let due = save(&writer, &theirs, "due-theirs", &due_message(3, now)).await;

    let reader = RiakStore::new(base.with_bucket_listing(BucketListing::Never)).unwrap();
    // The documented limitation: a bucket only another client wrote to is not asked.
    assert_eq!(reader.due(now, 1000).await.unwrap(), []);
    assert_eq!(reader.sweep_expired(now).await.unwrap(), 0);
    // Once this client saves into it (any record, with a due time or not), it is.
    let plain = save(
        &reader,
        &theirs,
        "plain",
        &conformance::sample_message(4, vec![4]),
    )
    .await;
    assert_eq!(
        reader.due(now, 1000).await.unwrap(),
        [(theirs.clone(), due.clone())]
    );
    // Buckets outside the sweep prefix are not remembered.
    let other = Bucket::new(format!("billing-{}", unique_bucket("x").as_str())).unwrap();
    let elsewhere = save(&reader, &other, "due-billing", &due_message(5, now)).await;
    assert_eq!(
        reader.due(now, 1000).await.unwrap(),
        [(theirs.clone(), due.clone())]
    );
    if let Some(server) = &server {
        assert_eq!(server.bucket_listings(), 0);
    }
    for (bucket, msgid) in [(&theirs, &due), (&theirs, &plain), (&other, &elsewhere)] {
        reader.delete(bucket, msgid).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_bucket_list_is_asked_for_at_most_once_a_minute() {
    let (server, base) = bucket_test_target().await;
    let now = std::time::SystemTime::now();
    let (theirs, named) = (unique_bucket("listed"), unique_bucket("named"));
    let writer = RiakStore::new(base.clone()).unwrap();
    let due = save(&writer, &theirs, "due-listed", &due_message(6, now)).await;
    let listings = || server.as_ref().map(RiakServer::bucket_listings);

    // No buckets configured: the listing finds the bucket another client wrote to, as before.
    let reader = RiakStore::new(base.clone()).unwrap();
    let found = reader.due(now, 100_000).await.unwrap();
    assert!(found.contains(&(theirs.clone(), due.clone())), "{found:?}");
    reader.due(now, 100_000).await.unwrap();
    reader.sweep_expired(now).await.unwrap();
    if server.is_some() {
        assert_eq!(
            listings(),
            Some(1),
            "one listing serves due and the sweep for a minute"
        );
    }

    // Buckets configured and listing asked for explicitly: both.
    let both = RiakStore::new(
        base.with_buckets([named.as_str()])
            .with_bucket_listing(BucketListing::Every(Duration::from_secs(60))),
    )
    .unwrap();
    let found = both.due(now, 100_000).await.unwrap();
    assert!(found.contains(&(theirs.clone(), due.clone())), "{found:?}");
    if server.is_some() {
        assert_eq!(listings(), Some(2));
    }
    writer.delete(&theirs, &due).await.unwrap();
}

/// A failed listing of the buckets (Riak answers `500 {error,timeout}` when the key walk behind
/// it times out) does not stop `due` while other buckets are known: those are asked and the
/// listing is tried again at the next call. With no bucket known, `due` reports the failure.
/// In-tree server only: a real Riak's listing cannot be made to fail on demand.
#[tokio::test]
async fn a_failed_bucket_listing_falls_back_to_the_buckets_known() {
    let server = RiakServer::start().await;
    let now = std::time::SystemTime::now();
    let named = Bucket::new("MADR-named").unwrap();
    let writer = store(&[&server]);
    let due = save(&writer, &named, "due-named", &due_message(7, now)).await;
    server.set_bucket_listing_fails(true);

    let blind = store(&[&server]);
    let err = blind.due(now, 100).await.unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");

    let reader = RiakStore::new(
        RiakConfig::new([server.url()])
            .with_buckets([named.as_str()])
            .with_bucket_listing(BucketListing::Every(Duration::from_secs(60))),
    )
    .unwrap();
    let before = server.bucket_listings();
    let found = reader.due(now, 100).await.unwrap();
    assert_eq!(found, vec![(named.clone(), due.clone())]);
    reader.due(now, 100).await.unwrap();
    assert_eq!(
        server.bucket_listings(),
        before + 2,
        "a failed listing is tried again"
    );
    server.set_bucket_listing_fails(false);
    reader.due(now, 100).await.unwrap();
    reader.due(now, 100).await.unwrap();
    assert_eq!(
        server.bucket_listings(),
        before + 3,
        "a listing that worked holds for its interval"
    );
}

#[tokio::test]
async fn configured_buckets_must_be_bucket_names() {
    for bad in ["", "MADR-1/2", "MADR-\n"] {
        let err =
            RiakStore::new(RiakConfig::default().with_buckets(["MADR-MM7", bad])).unwrap_err();
        assert!(matches!(err, StoreError::Config { .. }), "{err}");
    }
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

/// What the sibling merge in `RiakStore` relies on from `StoredMessage::merge`: siblings of one
/// submission, each with its own part state, receipt and metadata, merge to the same message in
/// any order (a 300 lists them in no promised order, and two readers must write back alike),
/// and merging a message with itself changes nothing.
#[test]
fn siblings_merge_alike_in_any_order() {
    use redeliver::message::HistoryEvent;
    let base = conformance::sample_message(7, b"submitted".to_vec());
    let sibling = |n: usize, state: &str| {
        let mut m = base.clone();
        m.metadata
            .insert(format!("redeliver.part.{n}.state"), state.to_owned());
        m.metadata.insert(format!("node.{n}"), "seen".into());
        m.record(HistoryEvent::Note {
            text: format!("receipt for part {n}"),
        });
        m
    };
    let siblings = [
        sibling(1, "positive"),
        sibling(2, "negative"),
        sibling(3, "positive"),
    ];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let merged: Vec<StoredMessage> = orders
        .iter()
        .map(|order| {
            order
                .iter()
                .map(|&i| siblings[i].clone())
                .reduce(StoredMessage::merge)
                .unwrap()
        })
        .collect();
    for m in &merged[1..] {
        assert_eq!(m, &merged[0]);
    }
    let m = &merged[0];
    for n in 1..=3 {
        assert!(m.metadata.contains_key(&format!("node.{n}")));
        assert!(m.history.iter().any(|e| matches!(&e.event,
            HistoryEvent::Note { text } if text == &format!("receipt for part {n}"))));
    }
    assert_eq!(m.metadata["redeliver.part.2.state"], "negative");
    assert_eq!(m.clone().merge(m.clone()), *m);
    // A positive and a negative final state of the same part: negative, either way round.
    let (pos, neg) = (sibling(4, "positive"), sibling(4, "negative"));
    assert_eq!(
        pos.clone().merge(neg.clone()).metadata["redeliver.part.4.state"],
        "negative"
    );
    assert_eq!(
        neg.merge(pos).metadata["redeliver.part.4.state"],
        "negative"
    );
}
