//! The HTTP thrower against a real receiver on loopback: wire format, ack rule, every fault kind,
//! attempt counts, per-host isolation and the destination policy.

#[path = "support/dlr_receiver.rs"]
mod receiver;

use std::time::Duration;

use receiver::{Receiver, Reply};
use redeliver::dlr::{
    AckRule, AttemptError, DestinationPolicy, Dlr, DlrLevel, DlrMethod, DlrOutcome, DlrThrower,
    DlrThrowerConfig, HttpDlrThrower, ReceiptParams, ThrowError,
};
use tokio::sync::mpsc;

fn config() -> DlrThrowerConfig {
    DlrThrowerConfig {
        timeout: Duration::from_secs(5),
        retry_delay: Duration::from_millis(10),
        max_retries: 2,
        ..DlrThrowerConfig::default()
    }
}

async fn thrower(
    config: DlrThrowerConfig,
) -> (HttpDlrThrower, mpsc::UnboundedReceiver<DlrOutcome>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let t = HttpDlrThrower::builder(config)
        .on_outcome(move |o| {
            let _ = tx.send(o);
        })
        .build()
        .await
        .unwrap();
    (t, rx)
}

async fn run_one(config: DlrThrowerConfig, dlr: Dlr) -> DlrOutcome {
    let (t, mut rx) = thrower(config).await;
    t.throw(dlr).await.unwrap();
    t.idle().await;
    let outcome = rx.recv().await.unwrap();
    assert!(rx.try_recv().is_err(), "one DLR, one outcome");
    outcome
}

fn level1(url: &str, method: DlrMethod, id: &str) -> Dlr {
    Dlr::level1(url.parse().unwrap(), method, id, "ESME_ROK", "smsc-01")
}

fn receipt() -> ReceiptParams {
    ReceiptParams {
        id_smsc: "2567".into(),
        sub: "001".into(),
        dlvrd: "001".into(),
        subdate: "1311022338".into(),
        donedate: "1311022339".into(),
        err: "000".into(),
        text: "Hello foo bar & friends, more".into(),
    }
}

fn names(r: &receiver::Request) -> Vec<&str> {
    r.params.iter().map(|(k, _)| k.as_str()).collect()
}

#[tokio::test]
async fn parameters_headers_and_order_for_each_level_and_method() {
    let rcv = Receiver::start(receiver::always_ack()).await.unwrap();
    let (t, mut rx) = thrower(config()).await;
    for method in [DlrMethod::Get, DlrMethod::Post] {
        let url = rcv.url("/dlr?token=a%20b");
        t.throw(level1(&url, method, &format!("l1-{method}")))
            .await
            .unwrap();
        for level in [DlrLevel::Terminal, DlrLevel::All] {
            let dlr = Dlr::level2(
                url.parse().unwrap(),
                method,
                level,
                format!("l{level}-{method}"),
                "DELIVRD",
                "smsc-01",
                receipt(),
            );
            t.throw(dlr).await.unwrap();
        }
    }
    t.idle().await;
    let mut acked = 0;
    while let Ok(o) = rx.try_recv() {
        assert!(o.is_acknowledged(), "{o:?}");
        assert_eq!(o.attempts(), 1);
        acked += 1;
    }
    assert_eq!(acked, 6);
    let requests = rcv.requests();
    assert_eq!(requests.len(), 6);
    for r in &requests {
        let id = r.param("id").unwrap();
        let (level, method) = id.split_once('-').unwrap();
        assert_eq!(r.method, method);
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.header("accept"), Some("text/plain"));
        assert!(r.header("user-agent").unwrap().starts_with("redeliver/"));
        if method == "GET" {
            assert!(r.target.starts_with("/dlr?token=a%20b&id="), "{}", r.target);
            assert_eq!(r.body, "");
        } else {
            assert_eq!(r.target, "/dlr?token=a%20b");
        }
        let params: Vec<_> = if method == "GET" {
            // The URL's own parameter comes first, then the DLR's.
            assert_eq!(r.params[0], ("token".into(), "a b".into()));
            r.params[1..].to_vec()
        } else {
            r.params.clone()
        };
        let got = receiver::Request {
            params,
            ..r.clone()
        };
        match level {
            "l1" => {
                assert_eq!(names(&got), ["id", "level", "message_status", "connector"]);
                assert_eq!(got.param("level"), Some("1"));
                assert_eq!(got.param("message_status"), Some("ESME_ROK"));
            }
            _ => {
                assert_eq!(
                    names(&got),
                    [
                        "id",
                        "level",
                        "message_status",
                        "connector",
                        "id_smsc",
                        "sub",
                        "dlvrd",
                        "subdate",
                        "donedate",
                        "err",
                        "text"
                    ]
                );
                assert_eq!(got.param("level"), Some(&level[1..]));
                assert_eq!(got.param("message_status"), Some("DELIVRD"));
                assert_eq!(got.param("id_smsc"), Some("2567"));
                assert_eq!(got.param("subdate"), Some("1311022338"));
                assert_eq!(got.param("text"), Some("Hello foo bar & frie"));
            }
        }
        assert_eq!(got.param("connector"), Some("smsc-01"));
    }
    // Spaces travel as `+`, as Python's urlencode writes them.
    let post = requests
        .iter()
        .find(|r| r.param("id") == Some("l2-POST"))
        .unwrap();
    assert!(
        post.body.ends_with("&text=Hello+foo+bar+%26+frie"),
        "{}",
        post.body
    );
}

#[tokio::test]
async fn every_fault_kind_is_retried_exactly_max_retries_times() {
    for (fault, timeout) in [
        (Reply::Status500, 5_000),
        (Reply::WrongBody, 5_000),
        (Reply::Hang, 200),
        (Reply::Reset, 5_000),
        (Reply::Redirect, 5_000),
        (Reply::Huge, 5_000),
    ] {
        let rcv = Receiver::start(std::sync::Arc::new(move |_: &str, _| fault))
            .await
            .unwrap();
        let cfg = DlrThrowerConfig {
            timeout: Duration::from_millis(timeout),
            ..config()
        };
        let outcome = run_one(cfg, level1(&rcv.url("/dlr"), DlrMethod::Post, "f")).await;
        let DlrOutcome::Exhausted {
            attempts,
            last_error,
            ..
        } = outcome
        else {
            panic!("{fault:?}: {outcome:?}");
        };
        assert_eq!(attempts, 3, "{fault:?}: 1 + max_retries attempts");
        assert_eq!(
            rcv.attempts("f"),
            3,
            "{fault:?}: the receiver saw each attempt"
        );
        match (fault, &last_error) {
            (Reply::Status500, AttemptError::Status { status: 500, .. })
            | (Reply::Redirect, AttemptError::Status { status: 302, .. })
            | (Reply::WrongBody, AttemptError::NotAcknowledged { status: 200, .. })
            | (Reply::Hang, AttemptError::Timeout(_))
            | (Reply::Reset, AttemptError::Transport(_)) => {}
            (Reply::Huge, AttemptError::NotAcknowledged { body, .. }) => {
                assert!(body.len() <= 256 && body.starts_with("ACK/Jasmin"));
            }
            _ => panic!("{fault:?}: unexpected error {last_error:?}"),
        }
    }
    // Redirects were not followed.
    let rcv = Receiver::start(std::sync::Arc::new(|_: &str, _| Reply::Redirect))
        .await
        .unwrap();
    run_one(config(), level1(&rcv.url("/dlr"), DlrMethod::Get, "r")).await;
    assert!(rcv.requests().iter().all(|r| r.target.starts_with("/dlr?")));
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported() {
    let url = receiver::refused_url().await.unwrap();
    let outcome = run_one(config(), level1(&url, DlrMethod::Post, "x")).await;
    match outcome {
        DlrOutcome::Exhausted {
            attempts: 3,
            last_error: AttemptError::Connect(_),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failing_receiver_that_recovers_gets_the_dlr_acknowledged() {
    for fault in [Reply::Status500, Reply::WrongBody, Reply::Reset] {
        let rcv = Receiver::start(receiver::fail_first(2, fault))
            .await
            .unwrap();
        let outcome = run_one(config(), level1(&rcv.url("/"), DlrMethod::Get, "ok")).await;
        assert!(outcome.is_acknowledged(), "{fault:?}: {outcome:?}");
        assert_eq!(outcome.attempts(), 3);
        assert_eq!(rcv.attempts("ok"), 3);
    }
    // One retry short of what the receiver needs: exhausted, never a fourth request.
    let rcv = Receiver::start(receiver::fail_first(3, Reply::Status500))
        .await
        .unwrap();
    let outcome = run_one(config(), level1(&rcv.url("/"), DlrMethod::Post, "no")).await;
    assert!(!outcome.is_acknowledged());
    assert_eq!(rcv.attempts("no"), 3);
}

#[tokio::test]
async fn ack_rule_and_give_up_statuses_are_configurable() {
    let rcv = Receiver::start(std::sync::Arc::new(|_: &str, _| Reply::WrongBody))
        .await
        .unwrap();
    let any = DlrThrowerConfig {
        ack: AckRule::Any2xx,
        ..config()
    };
    let outcome = run_one(any, level1(&rcv.url("/"), DlrMethod::Post, "a")).await;
    assert!(outcome.is_acknowledged(), "{outcome:?}");
    let custom = DlrThrowerConfig {
        ack: AckRule::StatusAndBody {
            status: 200,
            body: "OK".into(),
        },
        ..config()
    };
    assert!(
        run_one(custom, level1(&rcv.url("/"), DlrMethod::Post, "b"))
            .await
            .is_acknowledged()
    );

    let rcv = Receiver::start(std::sync::Arc::new(|_: &str, _| Reply::Status404))
        .await
        .unwrap();
    let give_up = DlrThrowerConfig {
        give_up_on: vec![404, 410],
        ..config()
    };
    let outcome = run_one(give_up, level1(&rcv.url("/"), DlrMethod::Post, "g")).await;
    assert!(
        matches!(
            outcome,
            DlrOutcome::Exhausted {
                attempts: 1,
                last_error: AttemptError::Status { status: 404, .. },
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(rcv.attempts("g"), 1);
    // Without the setting a 404 is retried like any failure, as Jasmin does.
    let outcome = run_one(config(), level1(&rcv.url("/"), DlrMethod::Post, "h")).await;
    assert_eq!(outcome.attempts(), 3);
}

#[tokio::test]
async fn a_hanging_host_does_not_hold_up_other_hosts() {
    let dead = Receiver::start(std::sync::Arc::new(|_: &str, _| Reply::Hang))
        .await
        .unwrap();
    let live = Receiver::start(receiver::always_ack()).await.unwrap();
    let cfg = DlrThrowerConfig {
        timeout: Duration::from_secs(600),
        max_concurrency: 4,
        max_per_host: 2,
        ..config()
    };
    let (t, mut rx) = thrower(cfg).await;
    for n in 0..20 {
        t.throw(level1(
            &dead.url("/"),
            DlrMethod::Post,
            &format!("dead-{n}"),
        ))
        .await
        .unwrap();
    }
    for n in 0..50 {
        t.throw(level1(
            &live.url("/"),
            DlrMethod::Post,
            &format!("live-{n}"),
        ))
        .await
        .unwrap();
    }
    // A guard against a hang, not a speed check: if the dead host took every slot, the live
    // DLRs would never be delivered.
    let live_outcomes = async {
        for _ in 0..50 {
            let o = rx.recv().await.unwrap();
            assert!(
                o.dlr().id.starts_with("live-") && o.is_acknowledged(),
                "{o:?}"
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(120), live_outcomes)
        .await
        .expect("live DLRs were held up by the hanging host");
    assert_eq!(live.total(), 50);
    // The hanging host only ever got its own share of slots.
    assert!(dead.total() <= 2, "{}", dead.total());
    assert_eq!(t.pending(), 20);
}

#[tokio::test]
async fn destination_policy_guards_caller_supplied_urls() {
    let (t, _rx) = thrower(config()).await;
    let metadata = level1(
        "http://169.254.169.254/latest/meta-data/",
        DlrMethod::Get,
        "m",
    );
    assert!(matches!(
        t.throw(metadata).await,
        Err(ThrowError::Refused { .. })
    ));
    let mapped = level1("http://[::ffff:169.254.169.254]/", DlrMethod::Get, "m6");
    assert!(matches!(
        t.throw(mapped).await,
        Err(ThrowError::Refused { .. })
    ));
    for bad in [
        "ftp://example.com/dlr",
        "file:///etc/passwd",
        "data:text/plain,x",
    ] {
        let dlr = Dlr::level1(bad.parse().unwrap(), DlrMethod::Get, "s", "ESME_ROK", "c");
        assert!(
            matches!(t.throw(dlr).await, Err(ThrowError::UnsupportedUrl { .. })),
            "{bad}"
        );
    }

    // A host name is checked after resolution: `localhost` resolves to loopback only.
    let rcv = Receiver::start(receiver::always_ack()).await.unwrap();
    let by_name = format!("http://localhost:{}/dlr", rcv.addr.port());
    let strict = DlrThrowerConfig {
        destinations: DestinationPolicy::public_only(),
        ..config()
    };
    let outcome = run_one(strict.clone(), level1(&by_name, DlrMethod::Post, "n")).await;
    assert!(
        matches!(
            outcome,
            DlrOutcome::Exhausted {
                attempts: 1,
                last_error: AttemptError::Destination(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(rcv.total(), 0);

    let mut allowed = strict;
    allowed
        .destinations
        .allow
        .push("127.0.0.0/8".parse().unwrap());
    allowed.destinations.allow.push("::1".parse().unwrap());
    let outcome = run_one(allowed, level1(&by_name, DlrMethod::Post, "n")).await;
    assert!(outcome.is_acknowledged(), "{outcome:?}");
}

#[tokio::test]
async fn ipv4_addresses_written_in_ipv6_are_refused_as_their_ipv4() {
    // Refused at `throw`, before any connection: nothing here is ever contacted.
    let (t, _rx) = thrower(config()).await;
    for url in [
        "http://[::169.254.169.254]/",
        "http://[::ffff:0:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
    ] {
        let outcome = t.throw(level1(url, DlrMethod::Get, "m")).await;
        assert!(
            matches!(outcome, Err(ThrowError::Refused { .. })),
            "{url}: {outcome:?}"
        );
    }
    let (strict, _rx) = thrower(DlrThrowerConfig {
        destinations: DestinationPolicy::public_only(),
        ..config()
    })
    .await;
    for url in ["http://[::7f00:1]:9/", "http://[64:ff9b::a00:5]/"] {
        let outcome = strict.throw(level1(url, DlrMethod::Get, "m")).await;
        assert!(
            matches!(outcome, Err(ThrowError::Refused { .. })),
            "{url}: {outcome:?}"
        );
    }

    // A deny range written in IPv4-mapped form applies to resolved names too.
    let rcv = Receiver::start(receiver::always_ack()).await.unwrap();
    let by_name = format!("http://localhost:{}/dlr", rcv.addr.port());
    let mapped_deny = DlrThrowerConfig {
        destinations: DestinationPolicy {
            allow: Vec::new(),
            deny: vec!["::ffff:7f00:0/104".parse().unwrap(), "::1".parse().unwrap()],
        },
        ..config()
    };
    let outcome = run_one(mapped_deny, level1(&by_name, DlrMethod::Post, "n")).await;
    assert!(
        matches!(
            outcome,
            DlrOutcome::Exhausted {
                last_error: AttemptError::Destination(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(rcv.total(), 0);
}

#[tokio::test]
async fn rate_limited_host_still_delivers_everything() {
    let rcv = Receiver::start(receiver::always_ack()).await.unwrap();
    let cfg = DlrThrowerConfig {
        rate_per_host: Some(200.0),
        ..config()
    };
    let (t, mut rx) = thrower(cfg).await;
    for n in 0..20 {
        t.throw(level1(&rcv.url("/"), DlrMethod::Post, &n.to_string()))
            .await
            .unwrap();
    }
    t.idle().await;
    let mut n = 0;
    while let Ok(o) = rx.try_recv() {
        assert!(o.is_acknowledged());
        n += 1;
    }
    assert_eq!(n, 20);
    assert_eq!(rcv.total(), 20);
}
