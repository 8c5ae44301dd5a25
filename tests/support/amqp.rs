//! What the AMQP queue's tests share: the broker from `RABBITMQ_URL` (started by `.ci/rabbitmq`)
//! and queue names of their own.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use redeliver::dlr::AmqpQueueConfig;

/// The broker's URL, or `None` after saying that the test is skipped.
pub fn broker(test: &str) -> Option<String> {
    match std::env::var("RABBITMQ_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "{test}: skipped, RABBITMQ_URL is not set (`bash .ci/rabbitmq start` and \
                 `eval \"$(bash .ci/rabbitmq env)\"` start a private broker)"
            );
            None
        }
    }
}

/// A queue configuration with names no other test or run uses.
pub fn config(url: &str, test: &str) -> AmqpQueueConfig {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let queue = format!("redeliver.test.{test}.{}.{nanos}", std::process::id());
    AmqpQueueConfig {
        wait_queue_prefix: format!("{queue}.delay."),
        queue,
        ..AmqpQueueConfig::new(url)
    }
}

/// Publishes `body` straight into `queue` (declared durable if need be), with `headers`, as a
/// persistent message: what a broken or hostile publisher could leave there.
pub async fn publish_raw(
    url: &str,
    queue: &str,
    body: &[u8],
    headers: Option<lapin::types::FieldTable>,
) {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    let mut props = lapin::BasicProperties::default().with_delivery_mode(2);
    if let Some(h) = headers {
        props = props.with_headers(h);
    }
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            lapin::options::BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .unwrap();
    let _ = connection.close(200, "bye".into()).await;
}

/// Headers carrying `value` as a waiting DLR's due time.
pub fn due_header(value: lapin::types::AMQPValue) -> lapin::types::FieldTable {
    let mut h = lapin::types::FieldTable::default();
    h.insert("x-redeliver-due-ms".into(), value);
    h
}

/// Milliseconds since the Unix epoch, `years` from now.
pub fn years_ahead_ms(years: i64) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        + years * 365 * 86_400_000
}

/// A thrower node on `queue` (connected, or the test fails) and the outcomes it reports.
pub async fn node(
    queue: AmqpQueueConfig,
    config: redeliver::dlr::DlrThrowerConfig,
) -> (
    redeliver::dlr::HttpDlrThrower,
    tokio::sync::mpsc::UnboundedReceiver<redeliver::dlr::DlrOutcome>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let queue = redeliver::dlr::AmqpDlrQueue::connect(queue).await.unwrap();
    assert!(
        queue.is_connected().await,
        "the broker at RABBITMQ_URL is down"
    );
    let thrower = redeliver::dlr::HttpDlrThrower::builder(config)
        .queue_with(std::sync::Arc::new(queue))
        .on_outcome(move |o| {
            let _ = tx.send(o);
        })
        .build()
        .await
        .unwrap();
    (thrower, rx)
}

/// Ready messages and consumers of the queue `name`, as the broker reports them (a passive
/// declare).
pub async fn queue_state(url: &str, name: &str) -> (u32, u32) {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let q = channel
        .queue_declare(
            name.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "bye".into()).await;
    (q.message_count(), q.consumer_count())
}
