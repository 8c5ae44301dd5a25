//! The durable queue: DLRs survive a `kill -9` and a restart with their attempt budget and are
//! never re-sent once acknowledged.

#[path = "support/dlr_receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use receiver::{Receiver, Reply};
use redeliver::dlr::{
    AttemptError, Dlr, DlrMethod, DlrOutcome, DlrThrower, DlrThrowerConfig, HttpDlrThrower,
};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const CHILD_ENV: &str = "REDELIVER_DLR_QUEUE_CHILD";
const COUNT: usize = 50;
const HANG_FROM: usize = 25;

fn config() -> DlrThrowerConfig {
    DlrThrowerConfig {
        timeout: Duration::from_secs(600),
        retry_delay: Duration::from_millis(50),
        max_retries: 3,
        ..DlrThrowerConfig::default()
    }
}

fn dlr(url: &str, n: usize) -> Dlr {
    Dlr::level1(
        url.parse().unwrap(),
        DlrMethod::Post,
        format!("q-{n}"),
        "ESME_ROK",
        "c",
    )
}

fn index(id: &str) -> usize {
    id.trim_start_matches("q-").parse().unwrap()
}

/// The child side of `kill_9_mid_run_loses_nothing_and_resets_no_budget`: throws into the queue
/// and runs until it is killed.
#[tokio::test]
#[ignore = "run by kill_9_mid_run_loses_nothing_and_resets_no_budget in a child process"]
async fn queue_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by the kill -9 test, which sets the env var");
    let (path, url) = spec.split_once('|').unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&acked);
    let thrower = HttpDlrThrower::builder(config())
        .queue(path)
        .on_outcome(move |o| {
            assert!(o.is_acknowledged(), "{o:?}");
            println!("acked {}", a.fetch_add(1, Ordering::SeqCst) + 1);
        })
        .build()
        .await
        .unwrap();
    for n in 0..COUNT {
        thrower.throw(dlr(url, n)).await.unwrap();
    }
    println!("thrown {COUNT}");
    std::future::pending::<()>().await;
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_mid_run_loses_nothing_and_resets_no_budget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlr.redb");
    let server = Runtime::new().unwrap();
    // Two failures for everyone; the third attempt is acknowledged for the first half and hangs
    // for the second half, so that the kill lands with those attempts in flight; any later
    // attempt is acknowledged.
    let behaviour = Arc::new(|id: &str, attempt: u32| match attempt {
        1 | 2 => Reply::Status500,
        3 if index(id) >= HANG_FROM => Reply::Hang,
        _ => Reply::Ack,
    });
    let rcv = server.block_on(Receiver::start(behaviour)).unwrap();
    let url = rcv.url("/dlr");

    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "queue_child", "--ignored", "--nocapture"])
            .env(CHILD_ENV, format!("{}|{url}", path.display()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Read on a thread that drains to the end, so that the child never writes to a closed pipe.
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wanted = format!("acked {HANG_FROM}");
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv() {
        let done = line == wanted;
        seen.push(line);
        if done {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&wanted), "child output: {seen:?}");
    // Every hanging third attempt has reached the receiver before the kill.
    while rcv.total() < (COUNT * 3) as u64 {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the child stopped on its own ({status}) after {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    assert_eq!(rcv.total(), (COUNT * 3) as u64);

    let restarted = Runtime::new().unwrap();
    let outcomes = restarted.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let thrower = HttpDlrThrower::builder(config())
            .queue(&path)
            .on_outcome(move |o| {
                let _ = tx.send(o);
            })
            .build()
            .await
            .unwrap();
        thrower.idle().await;
        drop(thrower);
        let mut outcomes = BTreeMap::new();
        while let Some(o) = rx.recv().await {
            outcomes.insert(index(&o.dlr().id), o);
        }
        outcomes
    });

    // Only the DLRs in flight at the kill were pending; the acknowledged ones were not resent.
    let resumed: BTreeSet<usize> = outcomes.keys().copied().collect();
    assert_eq!(resumed, (HANG_FROM..COUNT).collect());
    for (n, o) in &outcomes {
        // Attempt 4 of 4: the three made before the kill still count.
        assert!(
            matches!(o, DlrOutcome::Acknowledged { attempts: 4, .. }),
            "q-{n}: {o:?}"
        );
    }
    for n in 0..COUNT {
        let expected = if n < HANG_FROM { 3 } else { 4 };
        assert_eq!(rcv.attempts(&format!("q-{n}")), expected, "q-{n}");
    }
    restarted.shutdown_timeout(Duration::from_secs(10));
    // Nothing is left behind.
    let again = Runtime::new().unwrap();
    again.block_on(async {
        let thrower = HttpDlrThrower::builder(config())
            .queue(&path)
            .build()
            .await
            .unwrap();
        assert_eq!(thrower.pending(), 0);
    });
}

#[test]
fn restart_during_the_last_attempt_spends_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlr.redb");
    let server = Runtime::new().unwrap();
    let rcv = server
        .block_on(Receiver::start(Arc::new(|_: &str, _| Reply::Hang)))
        .unwrap();
    let cfg = DlrThrowerConfig {
        max_retries: 0,
        ..config()
    };

    let first = Runtime::new().unwrap();
    first.block_on(async {
        let thrower = HttpDlrThrower::builder(cfg.clone())
            .queue(&path)
            .build()
            .await
            .unwrap();
        thrower.throw(dlr(&rcv.url("/"), 7)).await.unwrap();
        while rcv.total() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    // Stops the runtime with the attempt in flight, as a crash would.
    first.shutdown_timeout(Duration::from_secs(10));

    let second = Runtime::new().unwrap();
    let outcome = second.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let thrower = HttpDlrThrower::builder(cfg)
            .queue(&path)
            .on_outcome(move |o| {
                let _ = tx.send(o);
            })
            .build()
            .await
            .unwrap();
        thrower.idle().await;
        rx.recv().await.unwrap()
    });
    assert!(
        matches!(
            outcome,
            DlrOutcome::Exhausted {
                attempts: 1,
                last_error: AttemptError::Interrupted,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(rcv.total(), 1, "no attempt beyond the budget");
}

#[test]
fn acknowledged_and_exhausted_dlrs_leave_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlr.redb");
    let server = Runtime::new().unwrap();
    let rcv = server
        .block_on(Receiver::start(Arc::new(|id: &str, _| {
            if index(id).is_multiple_of(2) {
                Reply::Ack
            } else {
                Reply::Status500
            }
        })))
        .unwrap();
    let cfg = DlrThrowerConfig {
        retry_delay: Duration::from_millis(1),
        max_retries: 1,
        ..config()
    };
    let first = Runtime::new().unwrap();
    let acked = first.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let thrower = HttpDlrThrower::builder(cfg.clone())
            .queue(&path)
            .on_outcome(move |o| {
                let _ = tx.send(o);
            })
            .build()
            .await
            .unwrap();
        for n in 0..10 {
            thrower.throw(dlr(&rcv.url("/"), n)).await.unwrap();
        }
        thrower.idle().await;
        drop(thrower);
        let mut acked = 0;
        while let Some(o) = rx.recv().await {
            acked += usize::from(o.is_acknowledged());
        }
        acked
    });
    first.shutdown_timeout(Duration::from_secs(10));
    assert_eq!(acked, 5);
    assert_eq!(rcv.total(), 5 + 5 * 2);

    let second = Runtime::new().unwrap();
    second.block_on(async {
        let thrower = HttpDlrThrower::builder(cfg)
            .queue(&path)
            .build()
            .await
            .unwrap();
        assert_eq!(thrower.pending(), 0);
    });
    assert_eq!(rcv.total(), 15);
}

#[test]
fn a_crash_counts_an_attempt_not_made_only_for_the_few_dlrs_counted_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlr.redb");
    let server = Runtime::new().unwrap();
    // The first DLR hangs on its first attempt and holds the destination's only slot; the others
    // wait behind it.
    let rcv = server
        .block_on(Receiver::start(Arc::new(|id: &str, attempt| {
            if id == "q-0" && attempt == 1 {
                Reply::Hang
            } else {
                Reply::Ack
            }
        })))
        .unwrap();
    let cfg = DlrThrowerConfig {
        max_per_host: 1,
        max_concurrency: 1,
        ..config()
    };
    const THROWN: usize = 20;
    let first = Runtime::new().unwrap();
    first.block_on(async {
        let thrower = HttpDlrThrower::builder(cfg.clone())
            .queue(&path)
            .build()
            .await
            .unwrap();
        for n in 0..THROWN {
            thrower.throw(dlr(&rcv.url("/"), n)).await.unwrap();
        }
        while rcv.total() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Let the DLRs waiting for the slot count what they may.
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    first.shutdown_timeout(Duration::from_secs(10));
    assert_eq!(rcv.total(), 1);

    let second = Runtime::new().unwrap();
    let outcomes = second.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let thrower = HttpDlrThrower::builder(cfg)
            .queue(&path)
            .on_outcome(move |o| {
                let _ = tx.send(o);
            })
            .build()
            .await
            .unwrap();
        thrower.idle().await;
        drop(thrower);
        let mut outcomes = Vec::new();
        while let Some(o) = rx.recv().await {
            outcomes.push(o);
        }
        outcomes
    });
    assert_eq!(outcomes.len(), THROWN);
    let mut counted_not_made = 0;
    for o in &outcomes {
        assert!(o.is_acknowledged(), "{o:?}");
        let made = rcv.attempts(&o.dlr().id);
        assert!(o.attempts() >= made, "{o:?}: {made} made");
        counted_not_made += o.attempts() - made;
    }
    // q-0's hanging attempt was made and counted; of the 19 waiting, at most 16 per slot were
    // counted ahead of their attempt.
    assert_eq!(rcv.attempts("q-0"), 2);
    assert!(
        (1..=16).contains(&counted_not_made),
        "{counted_not_made} attempts counted but not made"
    );
}

#[test]
fn a_clean_shutdown_charges_only_the_attempts_that_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlr.redb");
    let server = Runtime::new().unwrap();
    // The first DLR's first attempt hangs until the thrower's timeout and holds the
    // destination's only slot; the others wait behind it, some counted ahead of their slot.
    let rcv = server
        .block_on(Receiver::start(Arc::new(|id: &str, attempt| {
            if id == "q-0" && attempt == 1 {
                Reply::Hang
            } else {
                Reply::Ack
            }
        })))
        .unwrap();
    let cfg = DlrThrowerConfig {
        timeout: Duration::from_secs(1),
        max_per_host: 1,
        max_concurrency: 1,
        ..config()
    };
    const THROWN: usize = 30;
    let first = Runtime::new().unwrap();
    let released = first.block_on(async {
        let thrower = HttpDlrThrower::builder(cfg.clone())
            .queue(&path)
            .on_outcome(|o| panic!("no outcome before the shutdown: {o:?}"))
            .build()
            .await
            .unwrap();
        for n in 0..THROWN {
            thrower.throw(dlr(&rcv.url("/"), n)).await.unwrap();
        }
        while rcv.total() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let released = thrower.shutdown().await;
        assert!(matches!(
            thrower.throw(dlr(&rcv.url("/"), THROWN)).await,
            Err(redeliver::dlr::ThrowError::ShutDown { .. })
        ));
        assert_eq!(thrower.pending(), 0);
        released
    });
    // q-0's attempt timed out (it is retried later); nobody else got a slot.
    assert_eq!(rcv.total(), 1);
    assert_eq!(released, THROWN);

    // The file was closed by the shutdown: it opens again in this process at once.
    let second = Runtime::new().unwrap();
    let outcomes = second.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let thrower = HttpDlrThrower::builder(cfg)
            .queue(&path)
            .on_outcome(move |o| {
                let _ = tx.send(o);
            })
            .build()
            .await
            .unwrap();
        assert_eq!(thrower.pending(), THROWN);
        thrower.idle().await;
        drop(thrower);
        let mut outcomes = Vec::new();
        while let Some(o) = rx.recv().await {
            outcomes.push(o);
        }
        outcomes
    });
    assert_eq!(outcomes.len(), THROWN);
    for o in &outcomes {
        assert!(o.is_acknowledged(), "{o:?}");
        // Every attempt counted was made: none charged for a DLR that only waited.
        assert_eq!(o.attempts(), rcv.attempts(&o.dlr().id), "{o:?}");
    }
    assert_eq!(rcv.attempts("q-0"), 2);
}
