//! The RabbitMQ queue's metrics, read from a Prometheus recorder: DLRs held in and moved out of
//! the wait queues, paused wait classes, broker connections. Its own test binary: a process has
//! one `metrics` recorder.

#[path = "support/amqp.rs"]
mod amqp;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/dlr_receiver.rs"]
mod receiver;

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use prometheus::value;
use receiver::{Receiver, Reply};
use redeliver::dlr::{
    AmqpQueueConfig, Dlr, DlrMethod, DlrOutcome, DlrThrower, DlrThrowerConfig, HttpDlrThrower,
};
use tokio::sync::mpsc;

const COUNT: usize = 20;

/// Throws `COUNT` DLRs that fail once, through a node on `queue`, retried after `delay`; returns
/// the thrower (kept until the end) and its outcomes.
async fn throw_failing_once(
    queue: AmqpQueueConfig,
    rcv: &Receiver,
    prefix: &str,
    delay: Duration,
) -> (HttpDlrThrower, mpsc::UnboundedReceiver<DlrOutcome>) {
    let config = DlrThrowerConfig {
        retry_delay: delay,
        max_retries: 2,
        ..DlrThrowerConfig::default()
    };
    let (thrower, rx) = amqp::node(queue, config).await;
    for n in 0..COUNT {
        let url = rcv.url("/dlr").parse().unwrap();
        let d = Dlr::level1(
            url,
            DlrMethod::Post,
            format!("{prefix}-{n}"),
            "ESME_ROK",
            "c",
        );
        thrower.throw(d).await.unwrap();
    }
    (thrower, rx)
}

async fn all_acknowledged_twice_attempted(rx: &mut mpsc::UnboundedReceiver<DlrOutcome>) {
    for _ in 0..COUNT {
        let o = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an outcome within 30 s")
            .unwrap();
        assert!(
            matches!(o, DlrOutcome::Acknowledged { attempts: 2, .. }),
            "{o:?}"
        );
    }
}

/// The page once `done` says so, or after two seconds.
async fn settled(page: &impl Fn() -> String, done: impl Fn(&str) -> bool) -> String {
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let p = page();
        if done(&p) || tokio::time::Instant::now() > until {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_queue_metrics_follow_the_dlrs() {
    let Some(url) = amqp::broker("amqp_metrics") else {
        return;
    };
    let recorder = PrometheusBuilder::new().install_recorder().unwrap();
    let rcv = Receiver::start(receiver::fail_first(1, Reply::Status500))
        .await
        .unwrap();
    let delay = Duration::from_secs(3);
    let page = || recorder.render();
    let held = |p: &str| value(p, "redeliver_dlr_wait_held", "");
    let moved = |p: &str, reason: &str| {
        value(
            p,
            "redeliver_dlr_wait_moves_total",
            &format!("reason=\"{reason}\""),
        )
    };

    // A node that may hold a DLR for 10 minutes holds every one of them until it is due.
    let (holding, mut rx) =
        throw_failing_once(amqp::config(&url, "metrics_holding"), &rcv, "h", delay).await;
    let started = tokio::time::Instant::now();
    while rcv.total() < COUNT as u64 {
        assert!(started.elapsed() < delay, "{} first attempts", rcv.total());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Each one is parked in the wait queue and delivered to the node, which holds it.
    while held(&page()) < COUNT as f64 && started.elapsed() < delay {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(held(&page()), COUNT as f64, "{}", page());
    all_acknowledged_twice_attempted(&mut rx).await;
    // A move is counted once its commit is confirmed, which can come after the DLR's next
    // attempt on the work queue's channel.
    let p = settled(&page, |p| moved(p, "due") >= COUNT as f64).await;
    assert_eq!(held(&p), 0.0, "{p}");
    assert_eq!(moved(&p, "due"), COUNT as f64, "{p}");
    assert_eq!(moved(&p, "implausible"), 0.0, "{p}");
    drop(holding);

    // A node that holds at most 1 s pauses the class until its head is within reach; a
    // message whose due time is a thousand years ahead is moved on at once.
    let brief = AmqpQueueConfig {
        max_hold: Duration::from_secs(1),
        ..amqp::config(&url, "metrics_brief")
    };
    amqp::publish_raw(
        &brief.url,
        &brief.wait_queue(delay).unwrap(),
        b"not a DLR",
        Some(amqp::due_header(lapin::types::AMQPValue::LongLongInt(
            amqp::years_ahead_ms(1000),
        ))),
    )
    .await;
    let (_brief, mut rx) = throw_failing_once(brief, &rcv, "b", delay).await;
    all_acknowledged_twice_attempted(&mut rx).await;
    let p = settled(&page, |p| moved(p, "due") >= 2.0 * COUNT as f64).await;
    assert_eq!(held(&p), 0.0, "{p}");
    assert_eq!(moved(&p, "due"), 2.0 * COUNT as f64, "{p}");
    assert_eq!(moved(&p, "implausible"), 1.0, "{p}");
    assert!(
        value(&p, "redeliver_dlr_wait_pauses_total", "") >= 1.0,
        "{p}"
    );
    // Both nodes connected once and never lost the broker.
    let connections = |result: &str| {
        value(
            &p,
            "redeliver_dlr_amqp_connections_total",
            &format!("result=\"{result}\""),
        )
    };
    assert_eq!(connections("up"), 2.0, "{p}");
    assert_eq!(connections("lost") + connections("refused"), 0.0, "{p}");
}
