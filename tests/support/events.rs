//! Engine events for the tests: an SMPP submission and its receipt as a binding hands them to
//! the engine, on shortcode 12345 (bucket `MADR-12345`).
#![allow(dead_code)]

use redeliver::config::ScopeContext;
use redeliver::message::{Bucket, Channel, Envelope, ReceiptClass, StoredMessage};
use redeliver::retry::{ReceiptEvent, SubmitEvent};

/// The bucket of shortcode 12345.
pub fn bucket() -> Bucket {
    Bucket::new("MADR-12345").unwrap()
}

/// A submission from `from` to 15551234567, text `hello`, accepted (`ESME_ROK`) with the
/// message ids `ids` (one per part).
pub fn smpp_submit(scope: ScopeContext, from: &str, ids: &[impl AsRef<str>]) -> SubmitEvent {
    SubmitEvent {
        channel: Channel::Smpp,
        scope,
        shortcode: Some("12345".into()),
        message: StoredMessage::new(
            Channel::Smpp,
            Envelope {
                mailfrom: from.into(),
                rcptto: "15551234567@sms.example.com".into(),
            },
            &b"hello"[..],
        ),
        part_ids: ids.iter().map(|id| id.as_ref().to_owned()).collect(),
        status: "ESME_ROK".into(),
    }
}

/// A receipt for message id `id` in `class`, with the receipt's `stat` `state` and no error.
pub fn smpp_receipt(
    scope: ScopeContext,
    id: &str,
    class: ReceiptClass,
    state: &str,
) -> ReceiptEvent {
    ReceiptEvent {
        channel: Channel::Smpp,
        scope,
        bucket: bucket(),
        message_id: id.into(),
        class,
        state: state.into(),
        error: None,
        raw: None,
        smpp: None,
        mm7_report: None,
    }
}
