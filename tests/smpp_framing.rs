//! The tokio framing adapter carries a submit → response → receipt exchange over a stream, and
//! the receipt's id is matched to the submission's id across formats.
#![cfg(feature = "smpp")]

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use redeliver::message::ReceiptClass;
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState, ReceiptRules};
use redeliver::smpp::{
    Body, CommandStatus, DecodeError, FramingError, MessageIdFormat, Pdu, RegisteredDelivery,
    SmppFraming, SubmitSm, SubmitSmResp, Tlvs,
};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;

#[tokio::test]
async fn submit_response_and_receipt_over_a_stream() {
    let (esme_io, smsc_io) = tokio::io::duplex(64);
    let mut esme = Framed::new(esme_io, SmppFraming::new());
    let mut smsc = Framed::new(smsc_io, SmppFraming::new());

    let smsc_task = tokio::spawn(async move {
        let Some(Ok(pdu)) = smsc.next().await else {
            return Err("no submit_sm".to_owned());
        };
        let Body::SubmitSm(submit) = &pdu.body else {
            return Err(format!("expected submit_sm, got {pdu:?}"));
        };
        if !submit.registered_delivery.wants_receipt() {
            return Err("receipt not requested".into());
        }
        // This SMSC answers with a hex id and writes the receipt id in decimal.
        let resp = Pdu::new(
            pdu.sequence_number,
            Body::SubmitSmResp(SubmitSmResp {
                message_id: "00FF10".into(),
                tlvs: Tlvs::new(),
            }),
        );
        smsc.send(resp).await.map_err(|e| e.to_string())?;
        let receipt = DeliveryReceipt::new("65296", MessageState::Delivered);
        let deliver = receipt
            .to_deliver_sm(submit.destination_addr.clone(), submit.source_addr.clone())
            .map_err(|e| e.to_string())?;
        // No receipted_message_id TLV: the text is all the ESME gets.
        let deliver = redeliver::smpp::DeliverSm {
            tlvs: Tlvs::new(),
            ..deliver
        };
        smsc.send(Pdu::new(1, deliver))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    });

    let submit = SubmitSm {
        source_addr: "12345".into(),
        destination_addr: "447700900123".into(),
        registered_delivery: RegisteredDelivery::SMSC_DELIVERY,
        short_message: Bytes::from_static(b"hello"),
        ..SubmitSm::default()
    };
    esme.send(Pdu::new(9, submit))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = esme.next().await;
    let Some(Ok(Pdu {
        sequence_number: 9,
        command_status: CommandStatus::Ok,
        body: Body::SubmitSmResp(resp),
    })) = resp
    else {
        panic!("{resp:?}")
    };
    let deliver = esme.next().await;
    let Some(Ok(Pdu {
        body: Body::DeliverSm(deliver),
        ..
    })) = deliver
    else {
        panic!("{deliver:?}")
    };
    assert!(deliver.esm_class.is_delivery_receipt());
    let receipt = DeliveryReceipt::from_deliver_sm(&deliver).unwrap_or_else(|e| panic!("{e}"));
    assert!(MessageIdFormat::same_id(
        &resp.message_id.to_string_lossy(),
        MessageIdFormat::Hexadecimal,
        &receipt.id,
        MessageIdFormat::Decimal,
    ));
    assert_eq!(
        ReceiptRules::default().classify(&receipt),
        ReceiptClass::Positive
    );
    assert_eq!(smsc_task.await.ok(), Some(Ok(())));
}

#[tokio::test]
async fn oversized_command_length_ends_the_stream() {
    let (mut raw, io) = tokio::io::duplex(64);
    let mut framed = Framed::new(io, SmppFraming::new().max_command_length(1024));
    raw.write_all(&[0, 0, 0x10, 0, 0, 0, 0, 4])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let next = framed.next().await;
    assert!(
        matches!(
            &next,
            Some(Err(FramingError::Decode(
                DecodeError::CommandLengthTooLarge {
                    command_length: 4096,
                    max: 1024
                }
            )))
        ),
        "{next:?}"
    );
}

#[tokio::test]
async fn eof_in_the_middle_of_a_pdu_is_reported() {
    let (mut raw, io) = tokio::io::duplex(64);
    let mut framed = Framed::new(io, SmppFraming::new());
    raw.write_all(&[0, 0, 0, 0x10, 0, 0, 0, 0x15])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(raw);
    let next = framed.next().await;
    assert!(matches!(&next, Some(Err(FramingError::Io(_)))), "{next:?}");
}
