//! The MM7 side of the engine: `SubmitRsp` in; `DeliveryReportReq` in, `DeliveryReportRsp` out.

use std::sync::Arc;

use super::{EngineError, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent, SubmitOutcome};
use crate::config::ScopeContext;
use crate::message::{Channel, Envelope, StoredMessage};
use crate::mm7::{
    Address, DefaultMm7Codec, DeliveryReportReq, DeliveryReportRsp, Mm7Codec, Mm7Message, Status,
    StatusCode, SubmitReq, SubmitRsp,
};

fn addresses(list: &[Address]) -> String {
    list.iter()
        .map(Address::value)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shortcode an MM7 address names, if it is one (`<ShortCode>`).
fn shortcode(address: Option<&Address>) -> Option<String> {
    match address {
        Some(Address::ShortCode(code)) => Some(code.clone()),
        _ => None,
    }
}

/// The stored form of a SubmitReq: the whole request re-encoded in its own release as the body
/// (a `multipart/related` HTTP body when it has content, so reinstating can send it again as
/// it was), and its elements by their schema names as metadata.
pub fn stored_message(envelope: Envelope, req: &SubmitReq) -> Result<StoredMessage, EngineError> {
    let encoded = DefaultMm7Codec::default()
        .encode(&Mm7Message::SubmitReq(req.clone()), &req.release)
        .map_err(|e| EngineError::NotStorable {
            what: "SubmitReq",
            source: Box::new(e),
        })?;
    let mut msg = StoredMessage::new(Channel::Mm7, envelope, encoded.body);
    msg.content_type = encoded.content_type;
    let si = &req.sender_identification;
    let optional: [(&str, Option<String>); 10] = [
        ("TransactionID", req.transaction_id.clone()),
        ("VASPID", si.vasp_id.clone()),
        ("VASID", si.vas_id.clone()),
        (
            "SenderAddress",
            si.sender_address.as_ref().map(|a| a.to_string()),
        ),
        ("ServiceCode", req.service_code.clone()),
        ("LinkedID", req.linked_id.clone()),
        ("Subject", req.subject.clone()),
        ("DeliveryReport", req.delivery_report.map(|b| b.to_string())),
        ("ReadReply", req.read_reply.map(|b| b.to_string())),
        ("ExpiryDate", req.expiry_date.clone()),
    ];
    msg.metadata
        .insert("MM7Version".to_owned(), req.mm7_version.clone());
    for (k, v) in optional {
        if let Some(v) = v {
            msg.metadata.insert(k.to_owned(), v);
        }
    }
    for (k, list) in [
        ("To", &req.recipients.to),
        ("Cc", &req.recipients.cc),
        ("Bcc", &req.recipients.bcc),
    ] {
        if !list.is_empty() {
            msg.metadata.insert(k.to_owned(), addresses(list));
        }
    }
    Ok(msg)
}

impl RetryEngine {
    /// A `SubmitReq` and the relay's `SubmitRsp` (3GPP TS 23.140 §8.2): stores the request
    /// when the status is 1xxx and the scope tracks it (`mm7_delivery_report`,
    /// `mm7_mstore_save_message`), under `MADR-<shortcode>` of its `SenderAddress` (or
    /// `MADR-MM7`) and the `MessageID` of the response.
    pub async fn on_submit_rsp(
        &self,
        scope: &ScopeContext,
        envelope: Envelope,
        req: &SubmitReq,
        rsp: &SubmitRsp,
    ) -> Result<SubmitOutcome, EngineError> {
        if !rsp.status.code.is_success() {
            tracing::debug!(status = %rsp.status.code, "mstore: SubmitReq refused; nothing to track");
            return Ok(SubmitOutcome::NotTracked(super::NotTracked::SubmitRefused));
        }
        let Some(message_id) = rsp.message_id.clone().filter(|id| !id.trim().is_empty()) else {
            return Err(EngineError::InvalidEvent(format!(
                "SubmitRsp: status {} without a MessageID",
                rsp.status.code
            )));
        };
        let message = stored_message(envelope, req)?;
        self.on_submit(SubmitEvent {
            channel: Channel::Mm7,
            scope: scope.clone(),
            shortcode: shortcode(req.sender_identification.sender_address.as_ref()),
            message,
            part_ids: vec![message_id],
            status: rsp.status.code.as_u16().to_string(),
        })
        .await
    }

    /// A `DeliveryReportReq` (3GPP TS 23.140 §8.4): runs `mm7_handle_DR_negative` or
    /// `mm7_handle_DR_positive` with it as `trx`, then the default, and only then builds the
    /// `DeliveryReportRsp` for the host to send (the seed: the hook runs before the response).
    ///
    /// The response is `1000 Success` whenever the report was taken in — handled, recorded,
    /// recognised as a duplicate, parked (its hook then runs when the submission is stored), or
    /// matched to nothing. It is `4004` (validation error) for a report whose MessageID cannot
    /// be used, and `3000` (server error) when the store failed, so the relay sends it again.
    pub async fn on_delivery_report(
        &self,
        scope: &ScopeContext,
        report: &DeliveryReportReq,
    ) -> (Result<ReceiptOutcome, EngineError>, DeliveryReportRsp) {
        let outcome = self.delivery_report_outcome(scope, report).await;
        let status = match &outcome {
            Ok(_) => Status::success(),
            Err(EngineError::Store(_)) => Status::new(StatusCode::ServerError),
            Err(_) => Status::new(StatusCode::ValidationError),
        };
        (outcome, report.response(status))
    }

    async fn delivery_report_outcome(
        &self,
        scope: &ScopeContext,
        report: &DeliveryReportReq,
    ) -> Result<ReceiptOutcome, EngineError> {
        let bucket = self.bucket_for(shortcode(Some(&report.sender)).as_deref())?;
        self.on_receipt(ReceiptEvent {
            channel: Channel::Mm7,
            scope: scope.clone(),
            bucket,
            message_id: report.message_id.clone(),
            class: report.mm_status.class(),
            state: report.mm_status.as_str().to_owned(),
            error: report.status_text.clone(),
            raw: None,
            smpp: None,
            mm7_report: Some(Arc::new(report.clone())),
        })
        .await
    }
}
