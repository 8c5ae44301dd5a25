//! The RabbitMQ DLR queue against a real broker (`RABBITMQ_URL`, started by `.ci/rabbitmq`):
//! confirmed throws, retries through the wait queues, budgets that hold across nodes, a node
//! killed with SIGKILL mid-stream, and a broker that cannot be reached.

#[path = "support/amqp.rs"]
mod amqp;
#[path = "support/dlr_receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use receiver::{Receiver, Reply};
use redeliver::dlr::{
    AmqpDlrQueue, AmqpQueueConfig, AttemptError, Dlr, DlrMethod, DlrOutcome, DlrThrower,
    DlrThrowerConfig, HttpDlrThrower, QueueError, ThrowError,
};
use tokio::sync::mpsc;

const CHILD_ENV: &str = "REDELIVER_DLR_AMQP_CHILD";

fn dlr(url: &str, n: usize) -> Dlr {
    Dlr::level1(
        url.parse().unwrap(),
        DlrMethod::Post,
        format!("a-{n}"),
        "ESME_ROK",
        "c",
    )
}

fn index(id: &str) -> usize {
    id.trim_start_matches("a-").parse().unwrap()
}

fn thrower_config(max_retries: u32) -> DlrThrowerConfig {
    DlrThrowerConfig {
        timeout: Duration::from_secs(5),
        retry_delay: Duration::from_millis(100),
        max_retries,
        ..DlrThrowerConfig::default()
    }
}

use amqp::node;

/// Collects outcomes until there are `count` of them; fails after `within`.
async fn outcomes(
    rx: &mut mpsc::UnboundedReceiver<DlrOutcome>,
    count: usize,
    within: Duration,
) -> BTreeMap<usize, DlrOutcome> {
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + within;
    while seen.len() < count {
        let o = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {count} outcomes after {within:?}", seen.len()))
            .expect("outcome channel open");
        let n = index(&o.dlr().id);
        assert!(seen.insert(n, o).is_none(), "a-{n}: two outcomes");
    }
    seen
}

#[tokio::test]
async fn thrown_dlrs_are_confirmed_retried_through_wait_queues_and_acknowledged() {
    let Some(url) = amqp::broker("retried_through_wait_queues") else {
        return;
    };
    // Ids divisible by 3 fail twice, so they go round the wait queue twice.
    let rcv = Receiver::start(Arc::new(|id: &str, attempt| {
        if index(id).is_multiple_of(3) && attempt <= 2 {
            Reply::Status500
        } else {
            Reply::Ack
        }
    }))
    .await
    .unwrap();
    let (thrower, mut rx) = node(amqp::config(&url, "retried"), thrower_config(3)).await;
    for n in 0..60 {
        thrower.throw(dlr(&rcv.url("/dlr"), n)).await.unwrap();
    }
    let seen = outcomes(&mut rx, 60, Duration::from_secs(30)).await;
    for (n, o) in &seen {
        let want = if n % 3 == 0 { 3 } else { 1 };
        assert!(
            matches!(o, DlrOutcome::Acknowledged { attempts, .. } if *attempts == want),
            "a-{n}: {o:?}"
        );
        assert_eq!(rcv.attempts(&format!("a-{n}")), want, "a-{n}");
    }
    // Nothing more arrives: every delivery was acknowledged to the broker.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.try_recv().is_err());
    assert_eq!(rcv.total(), 40 + 20 * 3);
}

#[tokio::test]
async fn the_budget_is_one_plus_max_retries_then_the_dlr_is_exhausted() {
    let Some(url) = amqp::broker("budget") else {
        return;
    };
    let rcv = Receiver::start(Arc::new(|_: &str, _| Reply::Status500))
        .await
        .unwrap();
    let (thrower, mut rx) = node(amqp::config(&url, "budget"), thrower_config(2)).await;
    for n in 0..10 {
        thrower.throw(dlr(&rcv.url("/"), n)).await.unwrap();
    }
    let seen = outcomes(&mut rx, 10, Duration::from_secs(30)).await;
    for (n, o) in &seen {
        assert!(
            matches!(
                o,
                DlrOutcome::Exhausted {
                    attempts: 3,
                    last_error: AttemptError::Status { status: 500, .. },
                    ..
                }
            ),
            "a-{n}: {o:?}"
        );
        assert_eq!(rcv.attempts(&format!("a-{n}")), 3);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rcv.total(), 30);
}

#[tokio::test]
async fn a_clean_shutdown_charges_only_the_attempts_that_started() {
    let Some(url) = amqp::broker("clean_shutdown") else {
        return;
    };
    // a-0's first attempt hangs until the thrower's timeout and holds the only slot; the others
    // are delivered to the node (prefetch) and wait, some as tasks, some in the lease channel.
    let rcv = Receiver::start(Arc::new(|id: &str, attempt| {
        if id == "a-0" && attempt == 1 {
            Reply::Hang
        } else {
            Reply::Ack
        }
    }))
    .await
    .unwrap();
    let queue = amqp::config(&url, "clean_shutdown");
    let cfg = DlrThrowerConfig {
        timeout: Duration::from_secs(1),
        max_per_host: 1,
        max_concurrency: 1,
        ..thrower_config(3)
    };
    const THROWN: usize = 40;
    let (first, mut first_rx) = node(
        AmqpQueueConfig {
            prefetch: 20,
            ..queue.clone()
        },
        cfg.clone(),
    )
    .await;
    for n in 0..THROWN {
        first.throw(dlr(&rcv.url("/"), n)).await.unwrap();
    }
    while rcv.total() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.shutdown().await;
    assert!(matches!(
        first.throw(dlr(&rcv.url("/"), THROWN)).await,
        Err(ThrowError::ShutDown { .. })
    ));
    assert!(first_rx.try_recv().is_err(), "no outcome on the first node");
    assert_eq!(rcv.total(), 1);

    // Another node takes everything over: each DLR is charged the attempts it had, no more.
    let (_second, mut rx) = node(queue, cfg).await;
    let seen = outcomes(&mut rx, THROWN, Duration::from_secs(60)).await;
    for (n, o) in &seen {
        assert!(o.is_acknowledged(), "a-{n}: {o:?}");
        assert_eq!(
            o.attempts(),
            rcv.attempts(&format!("a-{n}")),
            "a-{n}: {o:?}"
        );
    }
    assert_eq!(rcv.attempts("a-0"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_limits_hold_on_each_node_and_outcomes_come_from_the_node_that_finished() {
    let Some(url) = amqp::broker("per_node_limits") else {
        return;
    };
    // Every first attempt hangs until the thrower's timeout: what reaches the receiver while
    // the DLRs wait is what the nodes' limits let through.
    let rcv = Receiver::start(Arc::new(|_: &str, attempt| {
        if attempt == 1 {
            Reply::Hang
        } else {
            Reply::Ack
        }
    }))
    .await
    .unwrap();
    let queue = AmqpQueueConfig {
        // Each node holds at most half of the DLRs, so both get some.
        prefetch: 10,
        ..amqp::config(&url, "per_node_limits")
    };
    let cfg = DlrThrowerConfig {
        timeout: Duration::from_secs(2),
        max_per_host: 2,
        max_concurrency: 64,
        ..thrower_config(3)
    };
    const THROWN: usize = 20;
    let (a, mut a_rx) = node(queue.clone(), cfg.clone()).await;
    let (b, mut b_rx) = node(queue, cfg).await;
    for n in 0..THROWN {
        a.throw(dlr(&rcv.url("/"), n)).await.unwrap();
    }
    // Every DLR is on one of the two nodes, ten each; two requests each reached the receiver.
    while a.pending() + b.pending() < THROWN || rcv.total() < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!((a.pending(), b.pending()), (10, 10));
    assert_eq!(
        rcv.total(),
        4,
        "more than max_per_host requests from one node"
    );

    // The hanging attempts time out and everything is retried and acknowledged; each outcome is
    // reported once, on one node.
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut per_node = [0usize; 2];
    while seen.len() < THROWN {
        let (o, on) = tokio::select! {
            Some(o) = a_rx.recv() => (o, "a"),
            Some(o) = b_rx.recv() => (o, "b"),
        };
        assert!(o.is_acknowledged(), "{o:?}");
        assert_eq!(o.attempts(), rcv.attempts(&o.dlr().id), "{o:?}");
        per_node[usize::from(on == "b")] += 1;
        assert!(
            seen.insert(o.dlr().id.clone(), on).is_none(),
            "{o:?}: twice"
        );
    }
    assert!(per_node[0] > 0 && per_node[1] > 0, "{per_node:?}");
    a.shutdown().await;
    b.shutdown().await;
    assert!(a_rx.try_recv().is_err() && b_rx.try_recv().is_err());
}

#[tokio::test]
async fn an_unreachable_broker_is_a_retryable_throw_error() {
    // A port on 127.0.0.1 where nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = AmqpQueueConfig {
        confirm_timeout: Duration::from_millis(500),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        ..AmqpQueueConfig::new(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"))
    };
    let queue = AmqpDlrQueue::connect(cfg).await.unwrap();
    assert!(!queue.is_connected().await);
    let thrower = HttpDlrThrower::builder(thrower_config(1))
        .queue_with(Arc::new(queue))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = thrower
        .throw(dlr("http://127.0.0.1:9/dlr", 1))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    match &err {
        ThrowError::Queue {
            source: source @ QueueError::Unavailable { .. },
            ..
        } => assert!(source.is_retryable()),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("broker unavailable") && text.contains("retry later"),
        "{text}"
    );
    assert!(!text.contains("guest:guest"), "credentials in {text}");
    assert_eq!(thrower.pending(), 0);
}

#[tokio::test]
async fn a_node_that_reconnects_after_losing_its_connection_goes_on() {
    let Some(url) = amqp::broker("reconnect") else {
        return;
    };
    // The broker closes connections whose name it is told to; here the connection is cut from
    // the client side instead, by closing every channel through a second client would need
    // management rights, so the test uses a proxy on 127.0.0.1 that it can cut.
    let broker_addr = url::Url::parse(&url).unwrap();
    let upstream = format!(
        "{}:{}",
        broker_addr.host_str().unwrap(),
        broker_addr.port().unwrap_or(5672)
    );
    let proxy = Proxy::start(upstream).await;
    let mut via_proxy = broker_addr.clone();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    let cfg = AmqpQueueConfig {
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
        ..amqp::config(via_proxy.as_str(), "reconnect")
    };
    let rcv = Receiver::start(receiver::always_ack()).await.unwrap();
    let (thrower, mut rx) = node(cfg, thrower_config(3)).await;
    for n in 0..10 {
        thrower.throw(dlr(&rcv.url("/"), n)).await.unwrap();
    }
    outcomes(&mut rx, 10, Duration::from_secs(20)).await;

    proxy.cut().await;
    // Until it has reconnected, a throw fails with a retryable error, or is stored; either way
    // nothing is lost: keep throwing until it is accepted.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refused = 0;
    for n in 10..20 {
        loop {
            match thrower.throw(dlr(&rcv.url("/"), n)).await {
                Ok(()) => break,
                Err(ThrowError::Queue { source, .. }) if source.is_retryable() => {
                    refused += 1;
                    assert!(Instant::now() < deadline, "never reconnected");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    }
    assert!(refused > 0, "the cut was not seen");
    let seen = outcomes(&mut rx, 10, Duration::from_secs(20)).await;
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (10..20).collect::<Vec<_>>()
    );
}

/// A TCP proxy on 127.0.0.1 whose connections can all be cut at once.
struct Proxy {
    port: u16,
    cut: Arc<tokio::sync::Notify>,
    /// Held by every connection made since the last cut.
    current: Arc<Mutex<Arc<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(tokio::sync::Notify::new());
        let current = Arc::new(Mutex::new(Arc::new(())));
        let (c, cur) = (Arc::clone(&cut), Arc::clone(&current));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let cut = Arc::clone(&c);
                let token = Arc::clone(&cur.lock().unwrap());
                tokio::spawn(async move {
                    let notified = cut.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        biased;
                        () = notified => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                    drop(token);
                });
            }
        });
        Self { port, cut, current }
    }

    /// Cuts every connection made so far and returns once they are all closed, so that nothing
    /// sent after this reaches the broker through them.
    async fn cut(&self) {
        let old = std::mem::replace(&mut *self.current.lock().unwrap(), Arc::new(()));
        self.cut.notify_waiters();
        while Arc::strong_count(&old) > 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One thrower node in its own process, for `a_node_killed_…`: consumes the queue and prints
/// `outcome <id> acked|exhausted <attempts>` per DLR it finishes. Its spec is
/// `url|queue|timeout seconds[|retry delay ms]`.
#[tokio::test]
#[ignore = "run by a_node_killed_mid_stream_loses_nothing_and_overspends_no_budget"]
async fn amqp_node_child() {
    let spec = std::env::var(CHILD_ENV).expect("set by the parent test");
    let mut parts = spec.split('|');
    let (url, queue, timeout) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let retry_ms: u64 = parts.next().map_or(100, |ms| ms.parse().unwrap());
    let queue_cfg = AmqpQueueConfig {
        queue: queue.to_owned(),
        wait_queue_prefix: format!("{queue}.delay."),
        prefetch: 20,
        ..AmqpQueueConfig::new(url)
    };
    let cfg = DlrThrowerConfig {
        timeout: Duration::from_secs_f64(timeout.parse().unwrap()),
        retry_delay: Duration::from_millis(retry_ms),
        max_retries: MAX_RETRIES,
        ..DlrThrowerConfig::default()
    };
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let queue = AmqpDlrQueue::connect(queue_cfg).await.unwrap();
    let _thrower = HttpDlrThrower::builder(cfg)
        .queue_with(Arc::new(queue))
        .on_outcome(move |o| {
            let what = if o.is_acknowledged() {
                "acked"
            } else {
                "exhausted"
            };
            let mut out = out.lock().unwrap();
            let _ = writeln!(out, "outcome {} {what} {}", o.dlr().id, o.attempts());
            let _ = out.flush();
        })
        .build()
        .await
        .unwrap();
    println!("ready");
    std::future::pending::<()>().await;
}

const MAX_RETRIES: u32 = 2;

/// Per DLR id: the node that reported it, `acked` or `exhausted`, and the attempts it counted.
type Outcomes = HashMap<String, Vec<(&'static str, String, u32)>>;

fn record(outcomes: &mut Outcomes, node: &'static str, line: &str) {
    if let Some(rest) = line.strip_prefix("outcome ") {
        let mut f = rest.split(' ');
        let (id, what, attempts) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        outcomes.entry(id.to_owned()).or_default().push((
            node,
            what.to_owned(),
            attempts.parse().unwrap(),
        ));
    }
}

/// Records the nodes' lines until `count` DLRs have an outcome (a minute at most between two
/// lines), then for `quiet` more, so that late duplicates show.
fn collect(
    lines: &std::sync::mpsc::Receiver<(&'static str, String)>,
    outcomes: &mut Outcomes,
    count: usize,
    quiet: Duration,
    context: impl Fn() -> String,
) {
    while outcomes.len() < count {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok((node, line)) => record(outcomes, node, &line),
            Err(_) => panic!("{} of {count} outcomes; {}", outcomes.len(), context()),
        }
    }
    let until = Instant::now() + quiet;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Ok((node, line)) = lines.recv_timeout(left) {
            record(outcomes, node, &line);
        }
    }
}

/// A node that only throws (it consumes nothing), after it has thrown `count` DLRs to `url`.
async fn throw_only(queue: &AmqpQueueConfig, url: &str, count: usize) -> HttpDlrThrower {
    let q = AmqpDlrQueue::connect(AmqpQueueConfig {
        consume: false,
        ..queue.clone()
    })
    .await
    .unwrap();
    let t = HttpDlrThrower::builder(thrower_config(MAX_RETRIES))
        .queue_with(Arc::new(q))
        .build()
        .await
        .unwrap();
    for n in 0..count {
        t.throw(dlr(url, n)).await.unwrap();
    }
    assert_eq!(t.pending(), 0, "a publishing-only node attempts nothing");
    t
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_node(
    name: &'static str,
    spec: String,
    lines: std::sync::mpsc::Sender<(&'static str, String)>,
) -> KillOnDrop {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "amqp_node_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send((name, line));
        }
    });
    KillOnDrop(child)
}

#[test]
fn a_node_killed_mid_stream_loses_nothing_and_overspends_no_budget() {
    let Some(url) = amqp::broker("node_killed_mid_stream") else {
        return;
    };
    const COUNT: usize = 300;
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Every fifth DLR hangs on its first attempt; node A waits for ever on it, node B gives up
    // after a second and retries. Every seventh fails its first two attempts, and every 35th
    // (both) is exhausted if a node died holding it. The rest are acknowledged at once.
    let rcv = rt
        .block_on(Receiver::start(Arc::new(|id: &str, attempt| {
            let n = index(id);
            if n.is_multiple_of(5) && attempt == 1 {
                Reply::Hang
            } else if n.is_multiple_of(7) && attempt <= 2 {
                Reply::Status500
            } else {
                Reply::Ack
            }
        })))
        .unwrap();
    let queue = amqp::config(&url, "two_nodes");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let spec = |timeout: &str| format!("{url}|{}|{timeout}", queue.queue);
    let mut a = spawn_node("a", spec("600"), lines_tx.clone());
    let _b = spawn_node("b", spec("1"), lines_tx);
    let mut ready = 0;
    while ready < 2 {
        let (_, line) = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("nodes ready");
        ready += usize::from(line == "ready");
    }

    // This process only throws.
    let publisher = rt.block_on(throw_only(&queue, &rcv.url("/dlr"), COUNT));

    // Kill A once both nodes have made a good part of the attempts, with hanging ones in
    // flight on it.
    let mut outcomes: Outcomes = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rcv.total() < (COUNT / 2) as u64 {
        assert!(Instant::now() < deadline, "only {} attempts", rcv.total());
        while let Ok((node, line)) = lines.try_recv() {
            record(&mut outcomes, node, &line);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // A hanging first attempt still open after 3 s is on A: B gives up on its own after 1 s.
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        while let Ok((node, line)) = lines.try_recv() {
            record(&mut outcomes, node, &line);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let held_by_a: Vec<String> = (0..COUNT)
        .step_by(5)
        .map(|n| format!("a-{n}"))
        .filter(|id| rcv.attempts(id) == 1)
        .collect();
    assert!(!held_by_a.is_empty(), "A held no hanging DLR");
    eprintln!(
        "killing node A while it holds {} hanging DLRs",
        held_by_a.len()
    );
    a.0.kill().unwrap(); // SIGKILL
    a.0.wait().unwrap();
    let killed_at = rcv.total();

    // Late duplicates would arrive within a few retry delays.
    collect(&lines, &mut outcomes, COUNT, Duration::from_secs(2), || {
        format!("attempts {} (killed at {killed_at})", rcv.total())
    });
    let max_attempts = 1 + MAX_RETRIES;
    for n in 0..COUNT {
        let id = format!("a-{n}");
        let got = outcomes.get(&id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(got.len(), 1, "{id}: outcomes {got:?}");
        let (node, what, attempts) = &got[0];
        let made = rcv.attempts(&id);
        assert!(made >= 1, "{id}: never attempted");
        assert!(made <= max_attempts, "{id}: {made} attempts");
        assert!(*attempts <= max_attempts, "{id}: {got:?}");
        // The outcome counts every attempt made, and at most one that was not.
        assert!(
            *attempts == made || *attempts == made + 1,
            "{id}: outcome says {attempts}, receiver saw {made}"
        );
        if what == "exhausted" {
            assert_eq!(*attempts, max_attempts, "{id}: {got:?}");
        }
        if held_by_a.contains(&id) {
            // Delivered again to B after the kill, with A's attempt counted.
            assert_eq!(*node, "b", "{id}: {got:?}");
            assert!(made >= 2 && *attempts >= 2, "{id}: {got:?}, {made} made");
        }
    }
    drop(publisher);
    rt.shutdown_timeout(Duration::from_secs(5));
}

#[test]
fn a_node_killed_while_its_dlrs_wait_for_their_retry_leaves_them_to_another_node() {
    let Some(url) = amqp::broker("node_killed_while_waiting") else {
        return;
    };
    const COUNT: usize = 100;
    const RETRY_MS: u64 = 5000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Every DLR fails its first attempt, then is acknowledged.
    let rcv = rt
        .block_on(Receiver::start(receiver::fail_first(1, Reply::Status500)))
        .unwrap();
    let queue = amqp::config(&url, "killed_while_waiting");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let spec = format!("{url}|{}|5|{RETRY_MS}", queue.queue);
    let mut a = spawn_node("a", spec.clone(), lines_tx.clone());
    while lines
        .recv_timeout(Duration::from_secs(30))
        .expect("node A ready")
        .1
        != "ready"
    {}

    let publisher = rt.block_on(throw_only(&queue, &rcv.url("/dlr"), COUNT));
    let thrown = Instant::now();
    // Node A makes every first attempt and parks each DLR in its wait queue, holding the
    // first ones of the queue (its prefetch) until they are due.
    while rcv.total() < COUNT as u64 {
        assert!(
            thrown.elapsed() < Duration::from_secs(30),
            "{} first attempts",
            rcv.total()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    a.0.kill().unwrap(); // SIGKILL
    a.0.wait().unwrap();
    assert!(
        thrown.elapsed() < Duration::from_millis(RETRY_MS),
        "node A lived until the retries were due ({:?}): the test needs it killed before",
        thrown.elapsed()
    );
    assert_eq!(rcv.total(), COUNT as u64, "a retry before it was due");

    // Node B never published to that wait queue: it consumes every wait class from the start.
    let (b_tx, b_lines) = std::sync::mpsc::channel();
    let _b = spawn_node("b", spec, b_tx);
    let mut outcomes: Outcomes = HashMap::new();
    collect(
        &b_lines,
        &mut outcomes,
        COUNT,
        Duration::from_secs(1),
        || format!("from node B; {} attempts", rcv.total()),
    );
    // No node reported anything else, A before it died included.
    while let Ok((node, line)) = lines.try_recv() {
        record(&mut outcomes, node, &line);
    }
    for n in 0..COUNT {
        let id = format!("a-{n}");
        let got = outcomes.get(&id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(got, [("b", "acked".to_owned(), 2)], "{id}");
        assert_eq!(rcv.attempts(&id), 2, "{id}");
    }
    drop(publisher);
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// The wait queue of `config` for `delay`: (ready messages, consumers), as the broker reports.
async fn wait_queue_state(config: &AmqpQueueConfig, delay: Duration) -> (u32, u32) {
    amqp::queue_state(&config.url, &config.wait_queue(delay).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_dlrs_are_held_until_due_only_within_max_hold() {
    let Some(url) = amqp::broker("held_within_max_hold") else {
        return;
    };
    const COUNT: usize = 30;
    let delay = Duration::from_secs(6);
    let rcv = Receiver::start(receiver::fail_first(1, Reply::Status500))
        .await
        .unwrap();
    let config = DlrThrowerConfig {
        retry_delay: delay,
        ..thrower_config(MAX_RETRIES)
    };
    // One node may hold a DLR 10 minutes (the default), the other 1 second.
    let holding = amqp::config(&url, "held_holding");
    let brief = AmqpQueueConfig {
        max_hold: Duration::from_secs(1),
        ..amqp::config(&url, "held_brief")
    };
    let (t_holding, mut rx_holding) = node(holding.clone(), config.clone()).await;
    let (t_brief, mut rx_brief) = node(brief.clone(), config).await;
    let thrown = tokio::time::Instant::now();
    for n in 0..COUNT {
        t_holding.throw(dlr(&rcv.url("/hold"), n)).await.unwrap();
        t_brief
            .throw(dlr(&rcv.url("/brief"), COUNT + n))
            .await
            .unwrap();
    }
    while rcv.total() < 2 * COUNT as u64 {
        assert!(thrown.elapsed() < delay, "{} first attempts", rcv.total());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(thrown.elapsed() < delay, "the retries are due already");
    // Held: every one delivered to the node (none ready), the node consuming. Due in more than
    // max_hold: none held (all ready in the queue), nobody consuming, except for the moments
    // (every max_hold) when the node looks at the queue's head again.
    let mut brief_states = Vec::new();
    for _ in 0..5 {
        assert_eq!(wait_queue_state(&holding, delay).await, (0, 1));
        brief_states.push(wait_queue_state(&brief, delay).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        brief_states.contains(&(COUNT as u32, 0)),
        "{brief_states:?}"
    );
    // No retry before its delay (each first attempt came after `thrown`).
    tokio::time::sleep_until(thrown + delay - Duration::from_millis(300)).await;
    assert_eq!(rcv.total(), 2 * COUNT as u64);

    for rx in [&mut rx_holding, &mut rx_brief] {
        let seen = outcomes(rx, COUNT, Duration::from_secs(60)).await;
        for (n, o) in &seen {
            assert!(
                matches!(o, DlrOutcome::Acknowledged { attempts: 2, .. }),
                "a-{n}: {o:?}"
            );
        }
    }
    assert_eq!(rcv.total(), 4 * COUNT as u64);
    // Both wait queues are empty and consumed again.
    assert_eq!(wait_queue_state(&holding, delay).await, (0, 1));
    assert_eq!(wait_queue_state(&brief, delay).await, (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_messages_at_the_head_of_a_wait_queue_do_not_hold_it_up() {
    let Some(url) = amqp::broker("broken_wait_heads") else {
        return;
    };
    let delay = Duration::from_secs(2);
    // A prefetch of 2: a head the node could not move would keep everything behind it waiting.
    let cfg = AmqpQueueConfig {
        prefetch: 2,
        ..amqp::config(&url, "broken_wait_heads")
    };
    let wait_queue = cfg.wait_queue(delay).unwrap();
    let unreadable = format!("{}.unreadable", cfg.queue);
    // Ahead of every DLR in the wait queue: a due time a thousand years ahead, no due time, a
    // due time that is not a number; none of the bodies is a DLR.
    for headers in [
        Some(amqp::due_header(lapin::types::AMQPValue::LongLongInt(
            amqp::years_ahead_ms(1000),
        ))),
        None,
        Some(amqp::due_header(lapin::types::AMQPValue::LongString(
            "soon".into(),
        ))),
    ] {
        amqp::publish_raw(&cfg.url, &wait_queue, b"not a DLR", headers).await;
    }
    let rcv = Receiver::start(receiver::fail_first(1, Reply::Status500))
        .await
        .unwrap();
    let (thrower, mut rx) = node(
        cfg.clone(),
        DlrThrowerConfig {
            retry_delay: delay,
            ..thrower_config(MAX_RETRIES)
        },
    )
    .await;
    for n in 0..10 {
        thrower.throw(dlr(&rcv.url("/dlr"), n)).await.unwrap();
    }
    let seen = outcomes(&mut rx, 10, Duration::from_secs(30)).await;
    for (n, o) in &seen {
        assert!(
            matches!(o, DlrOutcome::Acknowledged { attempts: 2, .. }),
            "a-{n}: {o:?}"
        );
    }
    // The three broken messages went on to the work queue, whose consumer parked them.
    assert_eq!(amqp::queue_state(&cfg.url, &unreadable).await.0, 3);
    assert_eq!(amqp::queue_state(&cfg.url, &wait_queue).await.0, 0);
}

#[cfg(feature = "amqps")]
#[tokio::test]
async fn amqps_trusting_the_brokers_ca_delivers_and_an_unknown_ca_is_refused() {
    let (Ok(url), Ok(ca)) = (
        std::env::var("RABBITMQ_TLS_URL"),
        std::env::var("REDELIVER_RABBITMQ_CA"),
    ) else {
        eprintln!(
            "amqps: skipped, RABBITMQ_TLS_URL or REDELIVER_RABBITMQ_CA is not set (`.ci/rabbitmq \
             env` sets them for the private broker)"
        );
        return;
    };
    // The broker's certificate is signed by a CA of its own: trusted through `tls_ca_file`.
    let rcv = Receiver::start(receiver::fail_first(1, Reply::Status500))
        .await
        .unwrap();
    let trusting = AmqpQueueConfig {
        tls_ca_file: Some(ca.clone().into()),
        ..amqp::config(&url, "amqps")
    };
    let (thrower, mut rx) = node(trusting, thrower_config(MAX_RETRIES)).await;
    for n in 0..10 {
        thrower.throw(dlr(&rcv.url("/dlr"), n)).await.unwrap();
    }
    // Through the work queue and a wait queue, over TLS.
    for (n, o) in outcomes(&mut rx, 10, Duration::from_secs(20)).await {
        assert!(
            matches!(o, DlrOutcome::Acknowledged { attempts: 2, .. }),
            "a-{n}: {o:?}"
        );
    }

    // Without it the system's roots do not know that CA: no connection, and a throw is refused
    // as retryable.
    let untrusting = AmqpQueueConfig {
        confirm_timeout: Duration::from_secs(1),
        ..amqp::config(&url, "amqps_untrusted")
    };
    let queue = AmqpDlrQueue::connect(untrusting).await.unwrap();
    assert!(!queue.is_connected().await);
    let refusing = HttpDlrThrower::builder(thrower_config(MAX_RETRIES))
        .queue_with(Arc::new(queue))
        .build()
        .await
        .unwrap();
    match refusing.throw(dlr(&rcv.url("/dlr"), 99)).await {
        Err(ThrowError::Queue { source, .. }) => assert!(source.is_retryable(), "{source}"),
        other => panic!("{other:?}"),
    }

    // A CA file without a certificate in it is a configuration error, named.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let err = AmqpDlrQueue::connect(AmqpQueueConfig {
        tls_ca_file: Some(bad),
        ..amqp::config(&url, "amqps_bad_ca")
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}
