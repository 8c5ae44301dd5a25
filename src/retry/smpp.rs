//! The SMPP side of the engine: `submit_sm_resp` in, `deliver_sm` / `data_sm` receipts in.

use std::sync::Arc;

use bytes::Bytes;

use super::{EngineError, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent, SubmitOutcome};
use crate::config::ScopeContext;
use crate::message::{Channel, Envelope, StoredMessage};
use crate::smpp::receipt::DeliveryReceipt;
use crate::smpp::{CommandStatus, DataSm, DeliverSm, EsmClass, SubmitSm, SubmitSmResp, Tlvs};

/// The user data of a short message without its user data header (3GPP TS 23.040 §9.2.3.24:
/// the first octet is the header's length), when `esm_class` says one is present.
fn user_data(esm_class: EsmClass, data: &Bytes) -> Bytes {
    if esm_class.udhi()
        && let Some(&udhl) = data.first()
    {
        let start = 1 + udhl as usize;
        if start <= data.len() {
            return data.slice(start..);
        }
    }
    data.clone()
}

/// The short message of a submit_sm, or its `message_payload` TLV when `short_message` is
/// empty (SMPP 3.4 §5.3.2.32).
fn payload(submit: &SubmitSm) -> Bytes {
    if submit.short_message.is_empty() {
        submit.tlvs.message_payload().unwrap_or_default()
    } else {
        submit.short_message.clone()
    }
}

fn insert_tlvs(msg: &mut StoredMessage, tlvs: &Tlvs) {
    for (tag, value) in tlvs.raw() {
        msg.metadata.insert(
            format!("tlv_0x{:04x}", tag.0),
            crate::util::hex_lower(&value),
        );
    }
}

/// The stored form of a submission of one or more submit_sm parts: the metadata of the first
/// part by SMPP 3.4 field names (TLVs as `tlv_0x<tag>` in hex), and as body the short message
/// (or `message_payload`) — for several parts, their user data concatenated without the user
/// data headers, so the body is the whole message.
pub fn stored_message(envelope: Envelope, parts: &[&SubmitSm]) -> StoredMessage {
    let body: Bytes = match parts {
        [one] => payload(one),
        many => {
            let mut whole = Vec::new();
            for part in many {
                whole.extend_from_slice(&user_data(part.esm_class, &payload(part)));
            }
            Bytes::from(whole)
        }
    };
    let mut msg = StoredMessage::new(Channel::Smpp, envelope, body);
    if let Some(first) = parts.first() {
        let fields: [(&str, String); 16] = [
            (
                "service_type",
                first.service_type.to_string_lossy().into_owned(),
            ),
            ("source_addr_ton", first.source_addr_ton.to_string()),
            ("source_addr_npi", first.source_addr_npi.to_string()),
            (
                "source_addr",
                first.source_addr.to_string_lossy().into_owned(),
            ),
            ("dest_addr_ton", first.dest_addr_ton.to_string()),
            ("dest_addr_npi", first.dest_addr_npi.to_string()),
            (
                "destination_addr",
                first.destination_addr.to_string_lossy().into_owned(),
            ),
            ("esm_class", first.esm_class.0.to_string()),
            ("protocol_id", first.protocol_id.to_string()),
            ("priority_flag", first.priority_flag.to_string()),
            (
                "schedule_delivery_time",
                first.schedule_delivery_time.to_string_lossy().into_owned(),
            ),
            (
                "validity_period",
                first.validity_period.to_string_lossy().into_owned(),
            ),
            (
                "registered_delivery",
                first.registered_delivery.0.to_string(),
            ),
            (
                "replace_if_present_flag",
                first.replace_if_present_flag.to_string(),
            ),
            ("data_coding", first.data_coding.0.to_string()),
            ("sm_default_msg_id", first.sm_default_msg_id.to_string()),
        ];
        for (k, v) in fields {
            msg.metadata.insert(k.to_owned(), v);
        }
        insert_tlvs(&mut msg, &first.tlvs);
        if parts.len() > 1 {
            msg.metadata
                .insert("parts".to_owned(), parts.len().to_string());
        }
    }
    msg
}

impl RetryEngine {
    /// A `submit_sm` and its `submit_sm_resp` (SMPP 3.4 §4.4): stores the message when the
    /// response is `ESME_ROK` and the scope tracks it. `status` is the response's
    /// `command_status`; the bucket comes from the submit_sm's `source_addr` (the shortcode).
    pub async fn on_submit_sm_resp(
        &self,
        scope: &ScopeContext,
        envelope: Envelope,
        submit: &SubmitSm,
        status: CommandStatus,
        resp: &SubmitSmResp,
    ) -> Result<SubmitOutcome, EngineError> {
        self.on_submit_sm_parts(scope, envelope, &[(submit, status, resp)])
            .await
    }

    /// Every part of a concatenated message with its response, in part order: stored as one
    /// message that a receipt for any part finds (see
    /// [`MultipartRule`](super::MultipartRule)). Nothing is stored unless every part was
    /// accepted with `ESME_ROK`.
    pub async fn on_submit_sm_parts(
        &self,
        scope: &ScopeContext,
        envelope: Envelope,
        parts: &[(&SubmitSm, CommandStatus, &SubmitSmResp)],
    ) -> Result<SubmitOutcome, EngineError> {
        let Some((first, _, _)) = parts.first() else {
            return Err(EngineError::InvalidEvent(
                "submit_sm: no part was given".to_owned(),
            ));
        };
        if let Some((_, status, _)) = parts.iter().find(|(_, s, _)| *s != CommandStatus::Ok) {
            tracing::debug!(%status, "mstore: submit_sm refused; nothing to track");
            return Ok(SubmitOutcome::NotTracked(super::NotTracked::SubmitRefused));
        }
        let mut part_ids = Vec::with_capacity(parts.len());
        for (i, (_, _, resp)) in parts.iter().enumerate() {
            let id = resp.message_id.to_string_lossy();
            if id.trim().is_empty() {
                return Err(EngineError::InvalidEvent(format!(
                    "submit_sm_resp of part {}: ESME_ROK with an empty message_id",
                    i + 1
                )));
            }
            part_ids.push(id.into_owned());
        }
        let submits: Vec<&SubmitSm> = parts.iter().map(|(s, _, _)| *s).collect();
        let shortcode = first.source_addr.to_string_lossy().into_owned();
        self.on_submit(SubmitEvent {
            channel: Channel::Smpp,
            scope: scope.clone(),
            shortcode: Some(shortcode),
            message: stored_message(envelope, &submits),
            part_ids,
            status: CommandStatus::Ok.to_string(),
        })
        .await
    }

    /// A `deliver_sm` carrying an SMSC delivery receipt (SMPP 3.4 §4.6.1, Appendix B). The
    /// bucket comes from its `destination_addr` (the shortcode the message was sent from). An
    /// error when `esm_class` does not mark it as a receipt or the receipt cannot be read.
    pub async fn on_deliver_sm(
        &self,
        scope: &ScopeContext,
        pdu: &DeliverSm,
    ) -> Result<ReceiptOutcome, EngineError> {
        if !pdu.esm_class.is_delivery_receipt() {
            return Err(EngineError::NotAReceipt(format!(
                "deliver_sm: esm_class 0x{:02x} is not a delivery receipt",
                pdu.esm_class.0
            )));
        }
        let receipt = DeliveryReceipt::from_deliver_sm(pdu)?;
        self.on_smpp_receipt(scope, &pdu.destination_addr.to_string_lossy(), receipt)
            .await
    }

    /// A `data_sm` carrying a delivery receipt (SMPP 3.4 §4.7.1), as [`on_deliver_sm`].
    ///
    /// [`on_deliver_sm`]: RetryEngine::on_deliver_sm
    pub async fn on_data_sm(
        &self,
        scope: &ScopeContext,
        pdu: &DataSm,
    ) -> Result<ReceiptOutcome, EngineError> {
        if !pdu.esm_class.is_delivery_receipt() {
            return Err(EngineError::NotAReceipt(format!(
                "data_sm: esm_class 0x{:02x} is not a delivery receipt",
                pdu.esm_class.0
            )));
        }
        let receipt = DeliveryReceipt::from_data_sm(pdu)?;
        self.on_smpp_receipt(scope, &pdu.destination_addr.to_string_lossy(), receipt)
            .await
    }

    /// A delivery receipt already read, for the shortcode it was addressed to: classified with
    /// [`EngineSettings::receipt_rules`](super::EngineSettings::receipt_rules) and handled as
    /// [`on_receipt`](RetryEngine::on_receipt) does.
    pub async fn on_smpp_receipt(
        &self,
        scope: &ScopeContext,
        shortcode: &str,
        receipt: DeliveryReceipt,
    ) -> Result<ReceiptOutcome, EngineError> {
        let class = receipt.class(&self.inner.settings.receipt_rules);
        let bucket = self.bucket_for(Some(shortcode))?;
        self.on_receipt(ReceiptEvent {
            channel: Channel::Smpp,
            scope: scope.clone(),
            bucket,
            message_id: receipt.id.clone(),
            class,
            state: receipt.stat.clone(),
            error: receipt.err.clone(),
            // Valid UTF-8 (nearly every receipt: it is ASCII) is copied as it is; the lossy
            // conversion's character-by-character scan is only for the rest.
            raw: receipt.raw.as_ref().map(|r| match std::str::from_utf8(r) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(r).into_owned(),
            }),
            smpp: Some(Arc::new(receipt)),
            #[cfg(feature = "mm7")]
            mm7_report: None,
        })
        .await
    }
}
