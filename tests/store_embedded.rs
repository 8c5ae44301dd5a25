//! The embedded store: the conformance suite, reopening, corrupt records, and `kill -9`.

use redeliver::store::PutMode;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::StreamExt;
use redb::ReadableTable;
use redeliver::message::{Bucket, Channel, Envelope, MsgId, StoredMessage};
use redeliver::store::{EmbeddedStore, MessageStore, StoreError, conformance};

const CHILD_ENV: &str = "REDELIVER_KILL9_CHILD_DB";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path().join("store.redb")).unwrap();
    if let Err(failure) = conformance::run_all(&store).await {
        panic!("{failure}");
    }
}

#[tokio::test]
async fn messages_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bucket = Bucket::new("MADR-12345").unwrap();
    let msg = conformance::sample_message(9, vec![0, 1, 2, 255]);
    {
        let store = EmbeddedStore::open(&path).unwrap();
        store
            .save(
                &bucket,
                &MsgId::new("kept").unwrap(),
                &msg,
                PutMode::Overwrite,
            )
            .await
            .unwrap();
        assert_eq!(store.path(), path.as_path());
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let back = store
        .load(&bucket, &MsgId::new("kept").unwrap())
        .await
        .unwrap()
        .map(|v| v.message);
    assert_eq!(back, Some(msg));
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_for_that_message_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bucket = Bucket::new("MADR-1").unwrap();
    let good = conformance::sample_message(1, b"fine".to_vec());
    {
        let store = EmbeddedStore::open(&path).unwrap();
        store
            .save(
                &bucket,
                &MsgId::new("good").unwrap(),
                &good,
                PutMode::Overwrite,
            )
            .await
            .unwrap();
    }
    {
        // Something else writes garbage under two keys of the store's table.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<(&str, &str), &[u8]> =
                redb::TableDefinition::new("messages");
            let mut table = txn.open_table(table).unwrap();
            table
                .insert(
                    ("MADR-1", "garbage"),
                    b"\0\0\0\0\0\0\0\x01RDV1\xff\xff\xff\xffjunk".as_slice(),
                )
                .unwrap();
            table
                .insert(("MADR-1", "short"), b"\x01".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    for bad in ["garbage", "short"] {
        match store.load(&bucket, &MsgId::new(bad).unwrap()).await {
            Err(e @ StoreError::Corrupt { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("embedded") && text.contains("MADR-1") && text.contains(bad),
                    "{text}"
                );
            }
            other => panic!("{bad}: expected a Corrupt error, got {other:?}"),
        }
    }
    let back = store
        .load(&bucket, &MsgId::new("good").unwrap())
        .await
        .unwrap()
        .map(|v| v.message);
    assert_eq!(back, Some(good));
    let listed: Vec<_> = store.list(&bucket).collect().await;
    assert_eq!(listed.len(), 3);
    assert!(
        store
            .delete(&bucket, &MsgId::new("garbage").unwrap())
            .await
            .unwrap()
    );
}

fn expected(n: u64) -> StoredMessage {
    // A different 1 KiB body per message, every byte value used.
    let body: Vec<u8> = (0..1024u64)
        .map(|i| ((i * 31 + n * 7919) % 256) as u8)
        .collect();
    let mut msg = StoredMessage::new(
        Channel::Smpp,
        Envelope {
            mailfrom: format!("sender-{n}@example.com"),
            rcptto: "12405678910@smpp.example.com".into(),
        },
        body,
    );
    msg.submitted_at = UNIX_EPOCH + Duration::new(1_800_000_000 + n, 1);
    msg.expires_at = UNIX_EPOCH + Duration::new(4_000_000_000 + n, 2);
    msg.metadata.insert("seq".into(), n.to_string());
    msg
}

/// Run in a child process by `an_acknowledged_save_survives_kill_9`: saves messages from 8
/// concurrent tasks and prints `ACK <n>` after each save returned, until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by an_acknowledged_save_survives_kill_9"]
async fn kill9_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Arc::new(EmbeddedStore::open(path).unwrap());
    let bucket = Bucket::new("MADR-kill9").unwrap();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, bucket, next) = (store.clone(), bucket.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let msgid = MsgId::new(format!("msg/{n}")).unwrap();
                store
                    .save(&bucket, &msgid, &expected(n), PutMode::Overwrite)
                    .await
                    .unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {n}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    // The writers never finish: the parent kills this process.
    futures::future::select_all(tasks).await.0.unwrap();
}

#[tokio::test]
async fn an_acknowledged_save_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill9.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill9_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    // Kill it mid-stream, once it has acknowledged a few hundred saves.
    while acked.len() < 300 {
        let line = lines
            .next()
            .expect("child stopped before it was killed")
            .unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked.push(n.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    // Acknowledgements already in the pipe count too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(Ok(n)) = line.strip_prefix("ACK ").map(str::parse::<u64>) {
            acked.push(n);
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    let store = EmbeddedStore::open(&path).unwrap();
    let bucket = Bucket::new("MADR-kill9").unwrap();
    for n in &acked {
        let msgid = MsgId::new(format!("msg/{n}")).unwrap();
        let back = store
            .load(&bucket, &msgid)
            .await
            .unwrap()
            .map(|v| v.message);
        assert_eq!(
            back,
            Some(expected(*n)),
            "acknowledged message {n} after kill -9"
        );
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-store.redb");
    std::fs::write(
        &path,
        b"this is a text file, not a redb database\n".repeat(100),
    )
    .unwrap();
    let err = EmbeddedStore::open(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("embedded") && text.contains("not-a-store.redb"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is a text file, not a redb database\n".repeat(100),
        "the file was left as it was"
    );
}

/// A small deterministic generator (xorshift64*), so a failing round can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Where each record lies in the file: from its 8-byte expiry to the end of its checksum.
fn record_spans(file: &[u8], body_len: usize) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(at) = file[from..]
        .windows(4)
        .position(|w| w == b"RDV2")
        .map(|p| p + from)
    {
        from = at + 4;
        let Some(len) = file.get(at + 4..at + 8) else {
            break;
        };
        let head = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let end = at + 8 + head + body_len + 4;
        if at >= 8 && end <= file.len() {
            spans.push((at - 8, end));
        }
    }
    spans
}

#[derive(Debug, Default)]
struct FlipTally {
    rounds: usize,
    in_records: usize,
    refused_at_open: usize,
    rounds_with_corrupt: usize,
    rounds_all_exact: usize,
    loads_exact: usize,
    loads_corrupt: usize,
    loads_other_error: usize,
    loads_missing: usize,
    verify_flagged: usize,
}

/// Flips one bit of a cleanly closed store file per round, mostly inside records: every
/// message is then read back exactly or refused with an error, never returned altered; one
/// whose key was changed by the flip is missing under its key and reported by `verify`.
/// `REDELIVER_BITFLIP_ROUNDS` sets the number of rounds (default 300).
#[tokio::test]
async fn flipped_bits_are_reported_never_returned() {
    const MESSAGES: u64 = 40;
    const BODY: usize = 1024;
    let rounds: usize = std::env::var("REDELIVER_BITFLIP_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.redb");
    let bucket = Bucket::new("MADR-flip").unwrap();
    let msgid = |n: u64| MsgId::new(format!("flip-{n}")).unwrap();
    {
        let store = EmbeddedStore::open(&clean).unwrap();
        for n in 0..MESSAGES {
            store
                .save(&bucket, &msgid(n), &expected(n), PutMode::Overwrite)
                .await
                .unwrap();
        }
        assert!(store.verify().await.unwrap().is_clean());
    }
    let original = std::fs::read(&clean).unwrap();
    let spans = record_spans(&original, BODY);
    assert!(
        spans.len() >= MESSAGES as usize,
        "found {} records in the file",
        spans.len()
    );
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut tally = FlipTally {
        rounds,
        ..FlipTally::default()
    };
    let damaged = dir.path().join("damaged.redb");
    for round in 0..rounds {
        // Two rounds in three flip a bit inside a record, the third anywhere in the file.
        let (from, to) = if round % 3 < 2 {
            tally.in_records += 1;
            spans[rng.below(spans.len())]
        } else {
            (0, original.len())
        };
        let bit = from * 8 + rng.below((to - from) * 8);
        let mut bytes = original.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&damaged, &bytes).unwrap();

        let Ok(store) = EmbeddedStore::open(&damaged) else {
            tally.refused_at_open += 1;
            continue;
        };
        let mut corrupt = false;
        let mut missing = false;
        let mut exact = 0;
        for n in 0..MESSAGES {
            match store.load(&bucket, &msgid(n)).await {
                Ok(Some(m)) => {
                    assert_eq!(
                        m.message,
                        expected(n),
                        "round {round}, bit {bit}: message {n} altered"
                    );
                    exact += 1;
                }
                Ok(None) => {
                    tally.loads_missing += 1;
                    missing = true;
                }
                Err(StoreError::Corrupt { .. }) => {
                    tally.loads_corrupt += 1;
                    corrupt = true;
                }
                Err(_) => tally.loads_other_error += 1,
            }
        }
        tally.loads_exact += exact;
        if exact == MESSAGES as usize {
            tally.rounds_all_exact += 1;
        }
        // A key changed by the flip is listed under its new name: it must not load either.
        let listed: Vec<_> = store.list(&bucket).collect().await;
        for id in listed.into_iter().flatten() {
            let known = (0..MESSAGES).any(|n| msgid(n) == id);
            if !known {
                let got = store.load(&bucket, &id).await;
                assert!(
                    !matches!(got, Ok(Some(_))),
                    "round {round}, bit {bit}: unknown key {id} loaded"
                );
            }
        }
        let report = store.verify().await.unwrap();
        if corrupt {
            tally.rounds_with_corrupt += 1;
        }
        // A message that is missing (its key was changed by the flip) or refused shows up in
        // the walk too.
        assert!(
            !(corrupt || missing) || !report.is_clean(),
            "round {round}, bit {bit}: a load failed but verify found nothing"
        );
        if !report.is_clean() {
            tally.verify_flagged += 1;
        }
    }
    eprintln!("bit flips, {} rounds: {tally:?}", tally.rounds);
    // Flips inside records must have been caught, not only flips in unused pages.
    assert!(tally.loads_corrupt > 0, "{tally:?}");
}

#[tokio::test]
async fn verify_lists_damaged_records_and_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bucket = Bucket::new("MADR-v").unwrap();
    {
        let store = EmbeddedStore::open(&path).unwrap();
        for n in 0..20 {
            let id = MsgId::new(format!("m{n}")).unwrap();
            store
                .save(&bucket, &id, &expected(n), PutMode::Overwrite)
                .await
                .unwrap();
        }
        let report = store.verify().await.unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(
            (report.records, report.checked, report.unchecked),
            (20, 20, 0)
        );
        assert_eq!(report.index_entries, 20);
    }
    let messages: redb::TableDefinition<(&str, &str), &[u8]> =
        redb::TableDefinition::new("messages");
    let expiry: redb::TableDefinition<(u64, &str, &str), ()> = redb::TableDefinition::new("expiry");
    {
        // Damage behind the store's back: a changed body byte, a record moved to another key,
        // an index entry removed, and one left without its message.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(messages).unwrap();
            let mut value = table
                .get(("MADR-v", "m3"))
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let last = value.len() - 10;
            value[last] ^= 0x20;
            table.insert(("MADR-v", "m3"), value.as_slice()).unwrap();
            let moved = table
                .get(("MADR-v", "m4"))
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            table
                .insert(("MADR-v", "m4-copy"), moved.as_slice())
                .unwrap();
            let mut index = txn.open_table(expiry).unwrap();
            let at = u64::from_be_bytes(moved[..8].try_into().unwrap());
            index.insert((at, "MADR-v", "m4-copy"), ()).unwrap();
            let m5 = table
                .get(("MADR-v", "m5"))
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let at5 = u64::from_be_bytes(m5[..8].try_into().unwrap());
            index.remove((at5, "MADR-v", "m5")).unwrap();
            index.insert((7, "MADR-v", "gone"), ()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let report = store.verify().await.unwrap();
    assert_eq!(report.records, 21);
    assert_eq!(report.damaged_total, 4, "{report:#?}");
    let find = |id: &str| {
        report
            .damaged
            .iter()
            .find(|d| d.msgid == id)
            .map(|d| d.reason.as_str())
            .unwrap_or_else(|| panic!("{id} not reported: {report:#?}"))
    };
    assert!(find("m3").contains("checksum mismatch"));
    assert!(find("m4-copy").contains("checksum mismatch"));
    assert!(find("m5").contains("missing from the expiry index"));
    assert!(find("gone").contains("without its message"));
    for (id, corrupt) in [
        ("m3", true),
        ("m4-copy", true),
        ("m4", false),
        ("m5", false),
    ] {
        let got = store.load(&bucket, &MsgId::new(id).unwrap()).await;
        assert_eq!(
            matches!(got, Err(StoreError::Corrupt { .. })),
            corrupt,
            "{id}: {got:?}"
        );
    }
}

#[tokio::test]
async fn records_written_before_the_checksum_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bucket = Bucket::new("MADR-old").unwrap();
    let id = MsgId::new("old").unwrap();
    {
        let store = EmbeddedStore::open(&path).unwrap();
        store
            .save(&bucket, &id, &expected(1), PutMode::Overwrite)
            .await
            .unwrap();
    }
    {
        // Rewrite the record in the RDV1 layout: no checksum at the end.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<(&str, &str), &[u8]> =
                redb::TableDefinition::new("messages");
            let mut table = txn.open_table(def).unwrap();
            let mut value = table
                .get(("MADR-old", "old"))
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            value.truncate(value.len() - 4);
            value[8..12].copy_from_slice(b"RDV1");
            table.insert(("MADR-old", "old"), value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(
        store.load(&bucket, &id).await.unwrap().map(|v| v.message),
        Some(expected(1))
    );
    let report = store.verify().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.checked, report.unchecked), (0, 1));
    // Saved again, it is written with its checksum.
    store
        .save(&bucket, &id, &expected(1), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(store.verify().await.unwrap().checked, 1);
}

/// A message with a body of `kib` KiB, different for each `n`.
fn sized(n: u64, kib: usize) -> StoredMessage {
    let mut msg = expected(n);
    msg.body = (0..kib * 1024)
        .map(|i| (i as u64 * 131 + n) as u8)
        .collect::<Vec<u8>>()
        .into();
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_gives_free_space_back_on_demand_and_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bucket = Bucket::new("MADR-c").unwrap();
    let id = |n: u64| MsgId::new(format!("c{n}")).unwrap();
    let kept = |n: u64| n.is_multiple_of(10);
    {
        let store = EmbeddedStore::open(&path).unwrap();
        // 160 messages of 64 KiB, saved 16 at a time so commits are shared.
        for batch in 0..10u64 {
            let saves = (0..16).map(|k| {
                let (store, bucket) = (store.clone(), bucket.clone());
                let n = batch * 16 + k;
                async move {
                    store
                        .save(&bucket, &id(n), &sized(n, 64), PutMode::Overwrite)
                        .await
                }
            });
            for r in futures::future::join_all(saves).await {
                r.unwrap();
            }
        }
        let full = store.space().await.unwrap();
        assert!(full.live_bytes > 160 * 64 * 1024, "{full:?}");
        for n in (0..160).filter(|n| !kept(*n)) {
            assert!(store.delete(&bucket, &id(n)).await.unwrap());
        }
        let report = store.compact().await.unwrap();
        eprintln!("compact on demand: {report:?}");
        assert!(report.before.mostly_free(), "{report:?}");
        assert!(
            report.after.file_bytes * 2 < report.before.file_bytes,
            "{report:?}"
        );
        assert!(report.after.live_bytes >= 16 * 64 * 1024, "{report:?}");
        for n in 0..160 {
            let back = store
                .load(&bucket, &id(n))
                .await
                .unwrap()
                .map(|v| v.message);
            assert_eq!(back, kept(n).then(|| sized(n, 64)), "{n}");
        }
        // Fill it again and free most of it, the last message kept so that redb cannot just
        // cut the file's free tail off, then close: opening compacts by itself.
        for n in 200..360u64 {
            store
                .save(&bucket, &id(n), &sized(n, 64), PutMode::Overwrite)
                .await
                .unwrap();
        }
        for n in (200..360u64).filter(|n| n % 20 != 19) {
            store.delete(&bucket, &id(n)).await.unwrap();
        }
    }
    let grown = std::fs::metadata(&path).unwrap().len();
    let store = EmbeddedStore::open(&path).unwrap();
    let reopened = store.space().await.unwrap();
    eprintln!("at open: {grown} bytes before, {reopened:?} after");
    assert!(reopened.file_bytes * 2 < grown, "{grown} -> {reopened:?}");
    assert!(!reopened.mostly_free(), "{reopened:?}");
    assert!(store.verify().await.unwrap().is_clean());
}

/// After every other small message is deleted, most pages are half empty; compaction rewrites
/// the messages so the file ends up close to the live data, not only without its free pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_packs_half_empty_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path().join("store.redb")).unwrap();
    let bucket = Bucket::new("MADR-p").unwrap();
    let ids: Vec<MsgId> = (0..4000)
        .map(|n| MsgId::new(format!("p{n:05}")).unwrap())
        .collect();
    for chunk in ids.chunks(64) {
        let saves = chunk.iter().enumerate().map(|(k, id)| {
            let store = store.clone();
            let bucket = bucket.clone();
            async move {
                store
                    .save(&bucket, id, &expected(k as u64), PutMode::Overwrite)
                    .await
            }
        });
        for r in futures::future::join_all(saves).await {
            r.unwrap();
        }
    }
    for chunk in ids.chunks(128) {
        let deletes = chunk.iter().step_by(2).map(|id| store.delete(&bucket, id));
        for r in futures::future::join_all(deletes).await {
            assert!(r.unwrap());
        }
    }
    let report = store.compact().await.unwrap();
    eprintln!("packed: {report:?}");
    let after = report.after;
    assert!(
        after.allocated_bytes < after.live_bytes * 3 / 2,
        "{report:?}"
    );
    assert!(
        after.file_bytes < report.before.file_bytes / 2,
        "{report:?}"
    );
    assert!(store.verify().await.unwrap().is_clean());
    for (n, id) in ids.iter().enumerate() {
        let back = store.load(&bucket, id).await.unwrap().map(|v| v.message);
        assert_eq!(back.is_some(), n % 2 == 1, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_that_frees_most_of_the_file_compacts_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path().join("store.redb")).unwrap();
    let bucket = Bucket::new("MADR-s").unwrap();
    let now = std::time::SystemTime::now();
    // 160 messages of 64 KiB, all but every tenth already expired.
    for batch in 0..10u64 {
        let saves = (0..16).map(|k| {
            let (store, bucket) = (store.clone(), bucket.clone());
            let n = batch * 16 + k;
            async move {
                let mut msg = sized(n, 64);
                msg.expires_at = if n.is_multiple_of(10) {
                    now + Duration::from_secs(3600)
                } else {
                    now - Duration::from_secs(60)
                };
                store
                    .save(
                        &bucket,
                        &MsgId::new(format!("s{n}")).unwrap(),
                        &msg,
                        PutMode::Overwrite,
                    )
                    .await
            }
        });
        for r in futures::future::join_all(saves).await {
            r.unwrap();
        }
    }
    let before = store.space().await.unwrap();
    assert_eq!(store.sweep_expired(now).await.unwrap(), 144);
    let after = store.space().await.unwrap();
    eprintln!("sweep: {before:?} -> {after:?}");
    assert!(
        after.file_bytes * 2 < before.file_bytes,
        "{before:?} -> {after:?}"
    );
    assert!(!after.mostly_free(), "{after:?}");
    let listed: Vec<_> = store.list(&bucket).collect().await;
    assert_eq!(listed.len(), 16);
    assert!(store.verify().await.unwrap().is_clean());
}
