//! A RabbitMQ restart with 1,000 DLRs queued and their receiver down loses none of them. Its own
//! test binary, so that the restart cannot cut the other AMQP tests' connections.

#[path = "support/amqp.rs"]
mod amqp;
#[path = "support/dlr_receiver.rs"]
mod receiver;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use receiver::{Receiver, Recording};
use redeliver::dlr::{
    AmqpDlrQueue, AmqpQueueConfig, Dlr, DlrMethod, DlrThrower, DlrThrowerConfig, HttpDlrThrower,
};
use tokio::sync::mpsc;

const COUNT: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_with_1000_dlrs_queued_and_the_receiver_down_loses_none() {
    let Some(url) = amqp::broker("broker_restart") else {
        return;
    };
    let Ok(restart) = std::env::var("REDELIVER_RABBITMQ_RESTART") else {
        eprintln!(
            "broker_restart: skipped, REDELIVER_RABBITMQ_RESTART is not set (`.ci/rabbitmq env` \
             sets it for the private broker)"
        );
        return;
    };
    // The receiver's port, closed until after the restart.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dlr_url: url::Url = format!("http://{addr}/dlr").parse().unwrap();
    let queue = AmqpQueueConfig {
        reconnect_min: Duration::from_millis(200),
        reconnect_max: Duration::from_secs(1),
        ..amqp::config(&url, "broker_restart")
    };
    let config = DlrThrowerConfig {
        timeout: Duration::from_secs(2),
        retry_delay: Duration::from_millis(500),
        // Enough for the restart and then some: the budget is not what is tested here.
        max_retries: 1000,
        ..DlrThrowerConfig::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let q = AmqpDlrQueue::connect(queue).await.unwrap();
    assert!(q.is_connected().await, "the broker at RABBITMQ_URL is down");
    let thrower = HttpDlrThrower::builder(config)
        .queue_with(Arc::new(q))
        .on_outcome(move |o| {
            let _ = tx.send(o);
        })
        .build()
        .await
        .unwrap();
    for n in 0..COUNT {
        let d = Dlr::level1(
            dlr_url.clone(),
            DlrMethod::Post,
            format!("r-{n}"),
            "ESME_ROK",
            "c",
        );
        thrower.throw(d).await.unwrap();
    }
    // Every DLR has failed at least once against the closed port before the restart.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let status = tokio::process::Command::new("sh")
        .args(["-c", &restart])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "{restart}: {status}");

    let rcv = Receiver::start_on(addr, receiver::always_ack(), Recording::Counts)
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while acked.len() < COUNT {
        let o = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {COUNT} acknowledged after the restart ({} requests)",
                    acked.len(),
                    rcv.total()
                )
            })
            .unwrap();
        assert!(o.is_acknowledged(), "{o:?}");
        assert!(acked.insert(o.dlr().id.clone()), "{}: twice", o.dlr().id);
    }
    for n in 0..COUNT {
        assert!(rcv.attempts(&format!("r-{n}")) >= 1);
    }
}
