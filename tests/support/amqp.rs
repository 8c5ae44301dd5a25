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
