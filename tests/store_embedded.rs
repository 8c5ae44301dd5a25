//! The embedded store: the conformance suite, reopening, corrupt records, and `kill -9`.

use redeliver::store::PutMode;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::StreamExt;
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
