//! The conformance suite every [`MessageStore`] backend must pass (feature `test-util`).
//!
//! It checks the contract written on [`MessageStore`] — the behaviour the seed's
//! `msys.mstore.save/load/delete` relies on — so a host that writes its own store (the seed's
//! "alternate storage") can prove it behaves like the built-in ones:
//!
//! ```no_run
//! # async fn demo() {
//! use redeliver::store::{MemoryStore, conformance};
//! let store = MemoryStore::new();
//! if let Err(failure) = conformance::run_all(&store).await {
//!     panic!("{failure}");
//! }
//! # }
//! ```
//!
//! Every case works in buckets of its own, named `MADR-conformance-<case>-<nonce>`, so the suite
//! can run against a shared server (a real Riak) without touching other data, and several runs
//! can share one store.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use futures::future::join_all;

use super::{MessageStore, PutMode, SharedVersioned, StoreError};
use crate::message::{Bucket, Channel, Envelope, HistoryEvent, MsgId, Resource, StoredMessage};

/// A conformance case that did not hold: which case, and what the store did instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The case's name (the function's name in this module).
    pub case: &'static str,
    /// What was expected and what happened.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.case, self.message)
    }
}

impl std::error::Error for Failure {}

/// Result of one case.
pub type CaseResult = Result<(), Failure>;

fn fail(case: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        case,
        message: message.into(),
    }
}

fn ensure(case: &'static str, ok: bool, message: impl FnOnce() -> String) -> CaseResult {
    if ok {
        Ok(())
    } else {
        Err(fail(case, message()))
    }
}

static NONCE: AtomicU64 = AtomicU64::new(0);

/// A bucket no other case or run uses.
fn fresh_bucket(case: &'static str, tag: &str) -> Result<Bucket, Failure> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NONCE.fetch_add(1, Ordering::Relaxed);
    Bucket::new(format!("MADR-conformance-{case}{tag}-{stamp:x}-{n}"))
        .map_err(|e| fail(case, format!("bucket name: {e}")))
}

fn id(case: &'static str, text: &str) -> Result<MsgId, Failure> {
    MsgId::new(text).map_err(|e| fail(case, format!("msgid {text:?}: {e}")))
}

/// A message whose every part depends on `seed`, so two messages differ in every part.
pub fn sample_message(seed: u32, body: Vec<u8>) -> StoredMessage {
    let mut msg = StoredMessage::new(
        if seed.is_multiple_of(2) {
            Channel::Smpp
        } else {
            Channel::Mm7
        },
        Envelope {
            mailfrom: format!("sender{seed}@example.com"),
            rcptto: format!("1240567{seed:04}@smpp.example.com"),
        },
        body,
    );
    msg.content_type = if seed.is_multiple_of(2) {
        "application/octet-stream".into()
    } else {
        format!("multipart/related; boundary=\"b-{seed}\"; type=\"application/smil\"")
    };
    msg.metadata
        .insert("data_coding".into(), (seed % 9).to_string());
    msg.metadata
        .insert("source_addr".into(), format!("12345 ü \"quoted\" {seed}"));
    msg.metadata
        .insert("Subject".into(), format!("line one\nline two, seed {seed}"));
    msg.metadata
        .insert(format!("tlv_0x{:04x}", 0x1400 + seed % 16), "0a0b".into());
    msg.resource = Resource {
        binding: Some(format!("binding-{seed}")),
        binding_group: Some("group".into()),
        domain: Some("smpp.example.com".into()),
        message_id: Some(format!("smsc-{seed}")),
        part_ids: vec![format!("p1-{seed}"), format!("p2-{seed}")],
    };
    // Whole and odd sub-second times: stores must keep nanoseconds.
    msg.submitted_at = UNIX_EPOCH + Duration::new(1_700_000_000 + u64::from(seed), 123_456_789);
    msg.expires_at = SystemTime::now() + Duration::from_secs(3600) + Duration::from_nanos(7);
    msg.record(HistoryEvent::Submitted {
        message_id: Some(format!("smsc-{seed}")),
        status: "ESME_ROK".into(),
    });
    msg.record(HistoryEvent::Receipt {
        message_id: format!("smsc-{seed}"),
        state: "ENROUTE".into(),
        error: Some("000".into()),
    });
    msg
}

async fn expect_loaded(
    store: &dyn MessageStore,
    case: &'static str,
    bucket: &Bucket,
    msgid: &MsgId,
    want: Option<&StoredMessage>,
) -> CaseResult {
    let got = store
        .load(bucket, msgid)
        .await
        .map_err(|e| fail(case, format!("load {bucket}/{msgid:?}: {e}")))?;
    ensure(case, got.as_ref().map(|v| &v.message) == want, || {
        match (&got, want) {
            (None, Some(_)) => {
                format!("load {bucket}/{msgid:?}: missing, expected the saved message")
            }
            (Some(_), None) => format!("load {bucket}/{msgid:?}: found a message, expected none"),
            _ => format!("load {bucket}/{msgid:?}: got {got:?}, expected {want:?}"),
        }
    })
}

async fn save(
    store: &dyn MessageStore,
    case: &'static str,
    bucket: &Bucket,
    msgid: &MsgId,
    msg: &StoredMessage,
) -> CaseResult {
    store
        .save(bucket, msgid, msg, PutMode::Overwrite)
        .await
        .map(drop)
        .map_err(|e| fail(case, format!("save {bucket}/{msgid:?}: {e}")))
}

async fn delete(
    store: &dyn MessageStore,
    case: &'static str,
    bucket: &Bucket,
    msgid: &MsgId,
) -> Result<bool, Failure> {
    store
        .delete(bucket, msgid)
        .await
        .map_err(|e| fail(case, format!("delete {bucket}/{msgid:?}: {e}")))
}

async fn listed(
    store: &dyn MessageStore,
    case: &'static str,
    bucket: &Bucket,
) -> Result<Vec<MsgId>, Failure> {
    let mut ids = Vec::new();
    let mut stream = store.list(bucket);
    while let Some(item) = stream.next().await {
        ids.push(item.map_err(|e| fail(case, format!("list {bucket}: {e}")))?);
    }
    Ok(ids)
}

/// Save, load back the same message, delete, and load nothing.
pub async fn save_load_delete(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "save_load_delete";
    let bucket = fresh_bucket(CASE, "")?;
    let msgid = id(CASE, "msg-1")?;
    let msg = sample_message(1, b"hello".to_vec());
    save(store, CASE, &bucket, &msgid, &msg).await?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&msg)).await?;
    let existed = delete(store, CASE, &bucket, &msgid).await?;
    ensure(CASE, existed, || {
        "delete of a saved message returned false".into()
    })?;
    expect_loaded(store, CASE, &bucket, &msgid, None).await
}

/// A second save replaces the first whole; a save after a delete stores the new message.
pub async fn overwrite(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "overwrite";
    let bucket = fresh_bucket(CASE, "")?;
    let msgid = id(CASE, "msg")?;
    let first = sample_message(2, b"first".to_vec());
    let mut second = sample_message(3, b"second, longer body".to_vec());
    second.metadata.clear();
    second.history.clear();
    save(store, CASE, &bucket, &msgid, &first).await?;
    save(store, CASE, &bucket, &msgid, &second).await?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&second)).await?;
    // What the engine does: load, record a receipt, save again.
    let mut third = second.clone();
    third.record(HistoryEvent::Note {
        text: "updated".into(),
    });
    save(store, CASE, &bucket, &msgid, &third).await?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&third)).await?;
    delete(store, CASE, &bucket, &msgid).await?;
    let fourth = sample_message(4, b"after delete".to_vec());
    save(store, CASE, &bucket, &msgid, &fourth).await?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&fourth)).await?;
    delete(store, CASE, &bucket, &msgid).await.map(drop)
}

/// Loading a missing msgid (in a used and an unused bucket) gives `None`; deleting one gives
/// `false`, also when it was deleted just before.
pub async fn missing_keys(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "missing_keys";
    let bucket = fresh_bucket(CASE, "")?;
    let unused = fresh_bucket(CASE, "-unused")?;
    let present = id(CASE, "present")?;
    let absent = id(CASE, "absent")?;
    save(store, CASE, &bucket, &present, &sample_message(5, vec![5])).await?;
    expect_loaded(store, CASE, &bucket, &absent, None).await?;
    expect_loaded(store, CASE, &unused, &absent, None).await?;
    let existed = delete(store, CASE, &unused, &absent).await?;
    ensure(CASE, !existed, || {
        "delete of a missing msgid returned true".into()
    })?;
    ensure(CASE, delete(store, CASE, &bucket, &present).await?, || {
        "first delete returned false".into()
    })?;
    ensure(CASE, !delete(store, CASE, &bucket, &present).await?, || {
        "second delete of the same msgid returned true".into()
    })?;
    expect_loaded(store, CASE, &bucket, &present, None).await
}

/// The msgids the issue names (`/`, `?`, `%`, spaces, non-ASCII) and the ones Riak's URL rules
/// make tricky (`+`, `..`, `#`, an encoded `%2F`) round-trip, each to its own message, and
/// buckets with spaces and non-ASCII work too.
pub async fn odd_keys(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "odd_keys";
    const IDS: &[&str] = &[
        "a/b",
        "a%2Fb",
        "sp ace",
        " lead",
        "ümlaut",
        "..",
        ".",
        "?q",
        "#x",
        "+plus",
        "a+b",
        "100%",
        "%",
        "&amp;=x",
        "tab\there",
        "日本語",
        "\u{1F600}",
        "back\\slash",
        "'\"<>",
    ];
    let bucket = fresh_bucket(CASE, " sp ü")?;
    for (n, text) in IDS.iter().enumerate() {
        let msgid = id(CASE, text)?;
        let msg = sample_message(100 + n as u32, text.as_bytes().to_vec());
        save(store, CASE, &bucket, &msgid, &msg).await?;
    }
    for (n, text) in IDS.iter().enumerate() {
        let msgid = id(CASE, text)?;
        let msg = sample_message(100 + n as u32, text.as_bytes().to_vec());
        let got = store
            .load(&bucket, &msgid)
            .await
            .map_err(|e| fail(CASE, format!("load {text:?}: {e}")))?;
        ensure(
            CASE,
            got.as_ref().map(|m| (&m.body, &m.envelope)) == Some((&msg.body, &msg.envelope)),
            || format!("msgid {text:?} did not round-trip to its own message: got {got:?}"),
        )?;
    }
    let listed: BTreeSet<String> = listed(store, CASE, &bucket)
        .await?
        .into_iter()
        .map(String::from)
        .collect();
    let want: BTreeSet<String> = IDS.iter().map(|s| (*s).to_owned()).collect();
    ensure(CASE, listed == want, || {
        format!("listing gave {listed:?}, expected {want:?}")
    })?;
    for text in IDS {
        let msgid = id(CASE, text)?;
        ensure(CASE, delete(store, CASE, &bucket, &msgid).await?, || {
            format!("delete {text:?} returned false")
        })?;
    }
    Ok(())
}

/// A 1 MiB body with every byte value, an empty body, and a message with empty metadata and
/// history round-trip byte for byte.
pub async fn large_and_binary_bodies(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "large_and_binary_bodies";
    let bucket = fresh_bucket(CASE, "")?;
    let large: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut bare = StoredMessage::new(Channel::Smpp, Envelope::default(), Vec::new());
    bare.expires_at = SystemTime::now() + Duration::from_secs(60);
    let cases = [
        ("large", sample_message(10, large)),
        ("all-bytes", sample_message(11, all_bytes)),
        (
            "crlf",
            sample_message(12, b"\r\n--boundary\r\n\r\n".to_vec()),
        ),
        ("empty", bare),
    ];
    for (name, msg) in &cases {
        let msgid = id(CASE, name)?;
        save(store, CASE, &bucket, &msgid, msg).await?;
        expect_loaded(store, CASE, &bucket, &msgid, Some(msg)).await?;
        delete(store, CASE, &bucket, &msgid).await?;
    }
    Ok(())
}

/// 16 concurrent saves of one msgid leave exactly one of them, whole.
pub async fn concurrent_saves_of_one_key(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "concurrent_saves_of_one_key";
    let bucket = fresh_bucket(CASE, "")?;
    let msgid = id(CASE, "contended")?;
    let versions: Vec<StoredMessage> = (0..16)
        .map(|n| sample_message(200 + n, vec![n as u8; 100 + n as usize * 37]))
        .collect();
    let results = join_all(
        versions
            .iter()
            .map(|m| store.save(&bucket, &msgid, m, PutMode::Overwrite)),
    )
    .await;
    for result in results {
        result.map_err(|e| fail(CASE, format!("concurrent save: {e}")))?;
    }
    // Twice: a store that resolves conflicts on read must give the same answer every time.
    let first = store
        .load(&bucket, &msgid)
        .await
        .map_err(|e| fail(CASE, format!("load: {e}")))?
        .ok_or_else(|| fail(CASE, "no message after 16 concurrent saves"))?
        .into_message();
    ensure(CASE, versions.contains(&first), || {
        format!("loaded message is none of the saved versions: {first:?}")
    })?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&first)).await?;
    ensure(CASE, delete(store, CASE, &bucket, &msgid).await?, || {
        "delete after concurrent saves returned false".into()
    })?;
    expect_loaded(store, CASE, &bucket, &msgid, None).await
}

/// Listing gives each msgid of the bucket once, none of another bucket's, and none deleted.
pub async fn listing(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "listing";
    let bucket = fresh_bucket(CASE, "")?;
    let other = fresh_bucket(CASE, "-other")?;
    let empty = fresh_bucket(CASE, "-empty")?;
    let mut want = BTreeSet::new();
    // More than one page of every backend's listing, saved 64 at a time.
    let msg = sample_message(7, vec![1]);
    let ids = (0..1100u32)
        .map(|n| id(CASE, &format!("m{n:05}")))
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in ids.chunks(64) {
        for result in join_all(
            chunk
                .iter()
                .map(|m| store.save(&bucket, m, &msg, PutMode::Overwrite)),
        )
        .await
        {
            result.map_err(|e| fail(CASE, format!("save: {e}")))?;
        }
    }
    want.extend(ids);
    save(
        store,
        CASE,
        &other,
        &id(CASE, "elsewhere")?,
        &sample_message(1, vec![]),
    )
    .await?;
    for n in (0..1100u32).step_by(10) {
        let msgid = id(CASE, &format!("m{n:05}"))?;
        delete(store, CASE, &bucket, &msgid).await?;
        want.remove(&msgid);
    }
    let got = listed(store, CASE, &bucket).await?;
    let unique: BTreeSet<MsgId> = got.iter().cloned().collect();
    ensure(CASE, unique.len() == got.len(), || {
        format!(
            "listing repeated msgids: {} listed, {} distinct",
            got.len(),
            unique.len()
        )
    })?;
    ensure(CASE, unique == want, || {
        let extra: Vec<_> = unique.difference(&want).take(5).collect();
        let lost: Vec<_> = want.difference(&unique).take(5).collect();
        format!("listing differs: unexpected {extra:?}, missing {lost:?}")
    })?;
    let none = listed(store, CASE, &empty).await?;
    ensure(CASE, none.is_empty(), || {
        format!("an unused bucket listed {none:?}")
    })?;
    let want: Vec<MsgId> = want.into_iter().collect();
    for chunk in want.chunks(64) {
        for result in join_all(chunk.iter().map(|m| store.delete(&bucket, m))).await {
            result.map_err(|e| fail(CASE, format!("delete: {e}")))?;
        }
    }
    delete(store, CASE, &other, &id(CASE, "elsewhere")?)
        .await
        .map(drop)
}

/// `sweep_expired(now)` deletes what expired at or before `now` in every bucket and keeps the
/// rest; a message saved again with a later expiry is kept.
pub async fn sweep(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "sweep";
    let first = fresh_bucket(CASE, "-a")?;
    let second = fresh_bucket(CASE, "-b")?;
    let now = SystemTime::now();
    let mut expired = Vec::new();
    let mut kept = Vec::new();
    for (n, bucket) in [&first, &second, &first].into_iter().enumerate() {
        let n = n as u32;
        let mut old = sample_message(300 + n, vec![3; 10]);
        old.expires_at = now - Duration::from_secs(3600 * u64::from(n + 1));
        let msgid = id(CASE, &format!("old {n}/ü"))?;
        save(store, CASE, bucket, &msgid, &old).await?;
        expired.push((bucket.clone(), msgid));
        let mut young = sample_message(400 + n, vec![4; 10]);
        young.expires_at = now + Duration::from_secs(3600);
        let msgid = id(CASE, &format!("young {n}"))?;
        save(store, CASE, bucket, &msgid, &young).await?;
        kept.push((bucket.clone(), msgid, young));
    }
    let mut exact = sample_message(500, vec![5]);
    exact.expires_at = now;
    let exact_id = id(CASE, "exactly now")?;
    save(store, CASE, &second, &exact_id, &exact).await?;
    expired.push((second.clone(), exact_id));
    // Saved expired, then saved again with a later expiry: the later save decides.
    let renewed_id = id(CASE, "renewed")?;
    let mut renewed = sample_message(600, vec![6]);
    renewed.expires_at = now - Duration::from_secs(60);
    save(store, CASE, &first, &renewed_id, &renewed).await?;
    renewed.expires_at = now + Duration::from_secs(7200);
    save(store, CASE, &first, &renewed_id, &renewed).await?;
    kept.push((first.clone(), renewed_id, renewed));

    let removed = store
        .sweep_expired(now)
        .await
        .map_err(|e| fail(CASE, format!("sweep_expired: {e}")))?;
    // Other users of a shared store may have expired messages too, so at least ours.
    ensure(CASE, removed >= expired.len() as u64, || {
        format!(
            "sweep_expired removed {removed}, expected at least {}",
            expired.len()
        )
    })?;
    for (bucket, msgid) in &expired {
        expect_loaded(store, CASE, bucket, msgid, None).await?;
    }
    for (bucket, msgid, msg) in &kept {
        expect_loaded(store, CASE, bucket, msgid, Some(msg)).await?;
        delete(store, CASE, bucket, msgid).await?;
    }
    Ok(())
}

/// How many writers the concurrency cases run at once.
pub const WRITERS: usize = 8;

/// Conditional saves: `Create` writes only a new key, `Update` only the version it names, a
/// stale or foreign version is refused with a conflict, and an `Update` of a deleted key fails.
pub async fn conditional_saves(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "conditional_saves";
    let bucket = fresh_bucket(CASE, "")?;
    let msgid = id(CASE, "cond")?;
    let first = sample_message(700, vec![7; 10]);
    let second = sample_message(701, vec![8; 11]);
    let third = sample_message(702, vec![9; 12]);
    let v1 = store
        .save(&bucket, &msgid, &first, PutMode::Create)
        .await
        .map_err(|e| fail(CASE, format!("create of a new key: {e}")))?;
    match store.save(&bucket, &msgid, &second, PutMode::Create).await {
        Err(StoreError::AlreadyExists { .. }) => {}
        other => {
            return Err(fail(
                CASE,
                format!("second create: {other:?}, expected AlreadyExists"),
            ));
        }
    }
    expect_loaded(store, CASE, &bucket, &msgid, Some(&first)).await?;
    let loaded = store
        .load(&bucket, &msgid)
        .await
        .map_err(|e| fail(CASE, format!("load: {e}")))?
        .ok_or_else(|| fail(CASE, "created message is missing"))?;
    ensure(
        CASE,
        loaded.version == v1 || !v1.as_str().is_empty(),
        || format!("load gave version {}, save gave {}", loaded.version, v1),
    )?;
    store
        .save(
            &bucket,
            &msgid,
            &second,
            PutMode::Update(loaded.version.clone()),
        )
        .await
        .map_err(|e| fail(CASE, format!("update with the loaded version: {e}")))?;
    match store
        .save(
            &bucket,
            &msgid,
            &third,
            PutMode::Update(loaded.version.clone()),
        )
        .await
    {
        Err(e) if e.is_conflict() => {}
        other => {
            return Err(fail(
                CASE,
                format!("update with a stale version: {other:?}, expected Precondition"),
            ));
        }
    }
    expect_loaded(store, CASE, &bucket, &msgid, Some(&second)).await?;
    let current = store
        .load(&bucket, &msgid)
        .await
        .map_err(|e| fail(CASE, format!("load: {e}")))?
        .ok_or_else(|| fail(CASE, "updated message is missing"))?;
    delete(store, CASE, &bucket, &msgid).await?;
    match store
        .save(&bucket, &msgid, &third, PutMode::Update(current.version))
        .await
    {
        Err(e) if e.is_conflict() => {}
        other => {
            return Err(fail(
                CASE,
                format!("update of a deleted key: {other:?}, expected Precondition"),
            ));
        }
    }
    expect_loaded(store, CASE, &bucket, &msgid, None).await?;
    store
        .save(&bucket, &msgid, &third, PutMode::Create)
        .await
        .map_err(|e| fail(CASE, format!("create after delete: {e}")))?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&third)).await?;
    delete(store, CASE, &bucket, &msgid).await.map(drop)
}

/// [`WRITERS`] concurrent `Create`s of one new key: exactly one succeeds, the others get
/// `AlreadyExists`, and the stored message is the winner's.
pub async fn concurrent_creates_have_one_winner(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "concurrent_creates_have_one_winner";
    for round in 0..10u32 {
        let bucket = fresh_bucket(CASE, "")?;
        let msgid = id(CASE, &format!("contended-{round}"))?;
        let versions: Vec<StoredMessage> = (0..WRITERS as u32)
            .map(|n| sample_message(800 + n, vec![n as u8; 50 + n as usize]))
            .collect();
        let results = join_all(
            versions
                .iter()
                .map(|m| store.save(&bucket, &msgid, m, PutMode::Create)),
        )
        .await;
        let mut winners = Vec::new();
        for (n, result) in results.into_iter().enumerate() {
            match result {
                Ok(_) => winners.push(n),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(fail(CASE, format!("create {n}: {e}"))),
            }
        }
        ensure(CASE, winners.len() == 1, || {
            format!(
                "round {round}: {} creates succeeded ({winners:?}), expected 1",
                winners.len()
            )
        })?;
        expect_loaded(store, CASE, &bucket, &msgid, Some(&versions[winners[0]])).await?;
        delete(store, CASE, &bucket, &msgid).await?;
    }
    Ok(())
}

/// [`WRITERS`] writers each add their own metadata key to one message, 5 times each, by
/// load → change → `Update(version)`, reloading on a conflict. No update is lost: every key of
/// every writer is in the final message.
pub async fn concurrent_updates_lose_nothing(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "concurrent_updates_lose_nothing";
    const ROUNDS: usize = 5;
    let bucket = fresh_bucket(CASE, "")?;
    let msgid = id(CASE, "counter")?;
    save(store, CASE, &bucket, &msgid, &sample_message(900, vec![1])).await?;
    let writer = |w: usize| {
        let (bucket, msgid) = (bucket.clone(), msgid.clone());
        async move {
            for round in 0..ROUNDS {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    if attempts > 500 {
                        return Err(fail(CASE, format!("writer {w}: 500 conflicts in a row")));
                    }
                    let loaded = store
                        .load(&bucket, &msgid)
                        .await
                        .map_err(|e| fail(CASE, format!("writer {w}: load: {e}")))?
                        .ok_or_else(|| fail(CASE, format!("writer {w}: message vanished")))?;
                    let mut msg = loaded.message;
                    msg.metadata
                        .insert(format!("writer.{w}.{round}"), "done".to_owned());
                    match store
                        .save(&bucket, &msgid, &msg, PutMode::Update(loaded.version))
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if e.is_conflict() => {
                            tokio::task::yield_now().await;
                        }
                        Err(e) => return Err(fail(CASE, format!("writer {w}: update: {e}"))),
                    }
                }
            }
            Ok::<(), Failure>(())
        }
    };
    for result in join_all((0..WRITERS).map(writer)).await {
        result?;
    }
    let last = store
        .load(&bucket, &msgid)
        .await
        .map_err(|e| fail(CASE, format!("load: {e}")))?
        .ok_or_else(|| fail(CASE, "message vanished"))?;
    let missing: Vec<String> = (0..WRITERS)
        .flat_map(|w| (0..ROUNDS).map(move |r| format!("writer.{w}.{r}")))
        .filter(|k| !last.metadata.contains_key(k))
        .collect();
    ensure(CASE, missing.is_empty(), || {
        format!("lost updates: {missing:?}")
    })?;
    delete(store, CASE, &bucket, &msgid).await.map(drop)
}

/// The msgids of `bucket` that [`MessageStore::due`] finds at `now`, sorted, each once.
async fn due_in(
    store: &dyn MessageStore,
    case: &'static str,
    bucket: &Bucket,
    now: SystemTime,
) -> Result<Vec<String>, Failure> {
    let found = store
        .due(now, 100_000)
        .await
        .map_err(|e| fail(case, format!("due: {e}")))?;
    let mut mine: Vec<String> = found
        .into_iter()
        .filter(|(b, _)| b == bucket)
        .map(|(_, m)| m.as_str().to_owned())
        .collect();
    mine.sort();
    mine.dedup();
    Ok(mine)
}

/// The due-time index: a record saved with [`META_DUE`](crate::message::META_DUE) at or before
/// `now` is found by [`MessageStore::due`], a later one or one without is not, and saving it
/// again without a due time or deleting it takes it out.
pub async fn due_index(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "due_index";
    let bucket = fresh_bucket(CASE, "")?;
    let with_due = |seed: u32, due: Option<u64>| {
        let mut msg = sample_message(seed, vec![1; 4]);
        if let Some(at) = due {
            msg.metadata
                .insert(crate::message::META_DUE.to_owned(), at.to_string());
        }
        msg
    };
    let now = SystemTime::now();
    let past = crate::message::epoch_millis(now - Duration::from_secs(60));
    let future = crate::message::epoch_millis(now + Duration::from_secs(3600));
    let (early, late, never) = (id(CASE, "early")?, id(CASE, "late")?, id(CASE, "never")?);
    save(store, CASE, &bucket, &early, &with_due(800, Some(past))).await?;
    save(store, CASE, &bucket, &late, &with_due(801, Some(future))).await?;
    save(store, CASE, &bucket, &never, &with_due(802, None)).await?;
    // Other users of a shared store may have due records too: only ours are judged.
    let got = due_in(store, CASE, &bucket, now).await?;
    ensure(CASE, got == ["early"], || {
        format!("due found {got:?}, expected [\"early\"]")
    })?;
    save(store, CASE, &bucket, &early, &with_due(800, None)).await?;
    save(store, CASE, &bucket, &late, &with_due(801, Some(past))).await?;
    let got = due_in(store, CASE, &bucket, now).await?;
    ensure(CASE, got == ["late"], || {
        format!("after saving again, due found {got:?}, expected [\"late\"]")
    })?;
    for msgid in [&early, &late, &never] {
        delete(store, CASE, &bucket, msgid).await?;
    }
    let got = due_in(store, CASE, &bucket, now).await?;
    ensure(CASE, got.is_empty(), || {
        format!("after deleting, due found {got:?}, expected nothing")
    })
}

/// [`MessageStore::load_shared`] and [`MessageStore::update_shared`]: an edit of the version
/// loaded is written (and indexed by its due time), a reader keeps the message it read, and an
/// edit of a stale or deleted version writes nothing.
pub async fn shared_updates(store: &dyn MessageStore) -> CaseResult {
    const CASE: &str = "shared_updates";
    let bucket = fresh_bucket(CASE, "")?;
    let msgid = id(CASE, "shared")?;
    let first = sample_message(900, vec![3; 9]);
    save(store, CASE, &bucket, &msgid, &first).await?;
    let load = || async {
        store
            .load_shared(&bucket, &msgid)
            .await
            .map_err(|e| fail(CASE, format!("load_shared: {e}")))
    };
    let loaded = load()
        .await?
        .ok_or_else(|| fail(CASE, "load_shared: the saved message is missing"))?;
    ensure(CASE, *loaded.message == first, || {
        format!(
            "load_shared gave {:?}, expected the saved message",
            loaded.message
        )
    })?;
    let reader = loaded.message.clone();
    let stale = loaded.version.clone();
    let past = crate::message::epoch_millis(SystemTime::now() - Duration::from_secs(60));
    let mut edit = |m: &mut StoredMessage| {
        m.metadata
            .insert(crate::message::META_DUE.to_owned(), past.to_string());
        m.metadata.insert("edited".to_owned(), "1".to_owned());
    };
    let (version, written) = store
        .update_shared(&bucket, &msgid, loaded, &mut edit)
        .await
        .map_err(|e| fail(CASE, format!("update_shared of the loaded version: {e}")))?;
    let mut want = first.clone();
    edit(&mut want);
    ensure(CASE, *written == want, || {
        format!("update_shared returned {written:?}, expected {want:?}")
    })?;
    ensure(CASE, *reader == first, || {
        "a reader's message changed under it".to_owned()
    })?;
    expect_loaded(store, CASE, &bucket, &msgid, Some(&want)).await?;
    let got = due_in(store, CASE, &bucket, SystemTime::now()).await?;
    ensure(CASE, got == ["shared"], || {
        format!("after update_shared, due found {got:?}, expected [\"shared\"]")
    })?;
    let current = load()
        .await?
        .ok_or_else(|| fail(CASE, "the updated message is missing"))?;
    ensure(CASE, current.version == version, || {
        format!(
            "load_shared gave version {}, update_shared gave {version}",
            current.version
        )
    })?;
    // A stale version: nothing is written, the edit is not seen.
    let stale = SharedVersioned {
        message: current.message.clone(),
        version: stale,
    };
    let mut other = |m: &mut StoredMessage| {
        m.metadata.insert("stale".to_owned(), "1".to_owned());
    };
    match store
        .update_shared(&bucket, &msgid, stale, &mut other)
        .await
    {
        Err(e) if e.is_conflict() => {}
        other => {
            return Err(fail(
                CASE,
                format!("update_shared of a stale version: {other:?}, expected Precondition"),
            ));
        }
    }
    expect_loaded(store, CASE, &bucket, &msgid, Some(&want)).await?;
    delete(store, CASE, &bucket, &msgid).await?;
    match store
        .update_shared(&bucket, &msgid, current, &mut other)
        .await
    {
        Err(e) if e.is_conflict() => {}
        other => {
            return Err(fail(
                CASE,
                format!("update_shared of a deleted key: {other:?}, expected Precondition"),
            ));
        }
    }
    expect_loaded(store, CASE, &bucket, &msgid, None).await?;
    let got = due_in(store, CASE, &bucket, SystemTime::now()).await?;
    ensure(CASE, got.is_empty(), || {
        format!("after deleting, due found {got:?}, expected nothing")
    })
}

/// Runs every case, in order, and reports all that failed.
pub async fn run_all(store: &dyn MessageStore) -> Result<(), Failure> {
    let results = [
        save_load_delete(store).await,
        overwrite(store).await,
        missing_keys(store).await,
        odd_keys(store).await,
        large_and_binary_bodies(store).await,
        concurrent_saves_of_one_key(store).await,
        conditional_saves(store).await,
        concurrent_creates_have_one_winner(store).await,
        concurrent_updates_lose_nothing(store).await,
        listing(store).await,
        sweep(store).await,
        due_index(store).await,
        shared_updates(store).await,
    ];
    let failures: Vec<Failure> = results.into_iter().filter_map(Result::err).collect();
    match failures.as_slice() {
        [] => Ok(()),
        [one] => Err(one.clone()),
        many => Err(Failure {
            case: "run_all",
            message: many
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}
