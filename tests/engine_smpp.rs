//! The SMPP adapters: submit_sm_resp in, deliver_sm / data_sm receipts in, from wire bytes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{Injection, RecordingInjector};
use redeliver::message::{Bucket, Envelope, MsgId, ReceiptClass};
use redeliver::retry::{
    DefaultAction, EngineError, EngineSettings, NotTracked, ReceiptOutcome, RetryEngine,
    SubmitOutcome,
};
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState, ReceiptRules};
use redeliver::smpp::{
    Body, CommandStatus, DataSm, DeliverSm, EsmClass, Pdu, SubmitSm, SubmitSmResp, Tlv, Tlvs,
};
use redeliver::store::{MemoryStore, MessageStore};

const OPTIONS: &str = r#"
[global]
smpp_registered_delivery = "SMSC_Delivery"
[binding.hexsmsc]
submit_msgid_format = "hexadecimal"
receipt_msgid_format = "decimal"
"#;

fn engine(settings: EngineSettings) -> (RetryEngine, Arc<MemoryStore>, Arc<RecordingInjector>) {
    let store = Arc::new(MemoryStore::new());
    let injector = Arc::new(RecordingInjector::new());
    let engine = RetryEngine::builder(store.clone(), injector.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap())
        .settings(settings)
        .build();
    (engine, store, injector)
}

/// Encodes and decodes a PDU, so the adapters see what came off the wire.
fn wire(pdu: Pdu) -> Pdu {
    let mut buf = BytesMut::new();
    pdu.encode(&mut buf).unwrap();
    Pdu::decode(&buf.freeze()).unwrap()
}

fn submit_sm(text: &'static [u8]) -> SubmitSm {
    let Body::SubmitSm(s) = wire(Pdu::new(
        1,
        SubmitSm {
            source_addr: "12345".into(),
            destination_addr: "15551234567".into(),
            short_message: Bytes::from_static(text),
            tlvs: Tlvs::from_tlvs(&[Tlv::UserMessageReference(7)]).unwrap(),
            ..SubmitSm::default()
        },
    ))
    .body
    else {
        unreachable!()
    };
    s
}

fn resp(id: &str) -> SubmitSmResp {
    SubmitSmResp {
        message_id: id.to_owned().into(),
        ..SubmitSmResp::default()
    }
}

fn envelope() -> Envelope {
    Envelope {
        mailfrom: "alice@example.com".into(),
        rcptto: "15551234567@smpp.example.com".into(),
    }
}

fn receipt_pdu(id: &str, state: MessageState) -> DeliverSm {
    let d = DeliveryReceipt::new(id, state)
        .to_deliver_sm("15551234567".into(), "12345".into())
        .unwrap();
    let Body::DeliverSm(d) = wire(Pdu::new(2, d)).body else {
        unreachable!()
    };
    d
}

fn b() -> Bucket {
    Bucket::new("MADR-12345").unwrap()
}

#[tokio::test]
async fn submit_sm_resp_stores_the_submission_with_its_fields() {
    let (engine, store, _) = engine(EngineSettings::default());
    let cx = ScopeContext::binding("smsc-1");
    let out = engine
        .on_submit_sm_resp(
            &cx,
            envelope(),
            &submit_sm(b"hello"),
            CommandStatus::Ok,
            &resp("abc"),
        )
        .await
        .unwrap();
    assert!(matches!(out, SubmitOutcome::Stored { .. }), "{out:?}");
    let m = store
        .load(&b(), &MsgId::new("abc").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.body[..], b"hello");
    assert_eq!(m.metadata["source_addr"], "12345");
    assert_eq!(m.metadata["destination_addr"], "15551234567");
    assert_eq!(m.metadata["registered_delivery"], "0");
    // user_message_reference (0x0204) = 7, two octets.
    assert_eq!(m.metadata["tlv_0x0204"], "0007");
    assert_eq!(m.resource.message_id.as_deref(), Some("abc"));
}

#[tokio::test]
async fn a_refused_or_idless_submit_is_not_tracked() {
    let (engine, store, _) = engine(EngineSettings::default());
    let cx = ScopeContext::default();
    let out = engine
        .on_submit_sm_resp(
            &cx,
            envelope(),
            &submit_sm(b"x"),
            CommandStatus::from(0x0000_000B),
            &SubmitSmResp::default(),
        )
        .await
        .unwrap();
    assert!(
        matches!(out, SubmitOutcome::NotTracked(NotTracked::SubmitRefused)),
        "{out:?}"
    );
    let err = engine
        .on_submit_sm_resp(
            &cx,
            envelope(),
            &submit_sm(b"x"),
            CommandStatus::Ok,
            &resp(""),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty message_id"), "{err}");
    assert!(store.is_empty());
}

#[tokio::test]
async fn deliver_sm_receipts_run_through_the_engine() {
    let (engine, store, injector) = engine(EngineSettings::default());
    let cx = ScopeContext::binding("smsc-1");
    for id in ["ok", "bad", "wait"] {
        engine
            .on_submit_sm_resp(
                &cx,
                envelope(),
                &submit_sm(b"x"),
                CommandStatus::Ok,
                &resp(id),
            )
            .await
            .unwrap();
    }
    let out = engine
        .on_deliver_sm(&cx, &receipt_pdu("ok", MessageState::Delivered))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                default_action: DefaultAction::Deleted(true),
                ..
            }
        ),
        "{out:?}"
    );
    let out = engine
        .on_deliver_sm(&cx, &receipt_pdu("bad", MessageState::Undeliverable))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Negative,
                default_action: DefaultAction::Bounced,
                ..
            }
        ),
        "{out:?}"
    );
    let injections = injector.injections();
    let [Injection::Bounce(dsn)] = injections.as_slice() else {
        panic!("one bounce expected");
    };
    assert!(
        dsn.message
            .contains("Diagnostic-Code: X-SMPP; UNDELIV 000\r\n"),
        "{}",
        dsn.message
    );
    let out = engine
        .on_deliver_sm(&cx, &receipt_pdu("wait", MessageState::Enroute))
        .await
        .unwrap();
    assert!(
        matches!(out, ReceiptOutcome::Intermediate { .. }),
        "{out:?}"
    );
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn hex_submit_ids_match_decimal_receipt_ids() {
    let (engine, _, _) = engine(EngineSettings::default());
    let cx = ScopeContext::binding("hexsmsc");
    engine
        .on_submit_sm_resp(
            &cx,
            envelope(),
            &submit_sm(b"x"),
            CommandStatus::Ok,
            &resp("0A1B2C"),
        )
        .await
        .unwrap();
    // 0x0A1B2C = 662316; the receipt text writes it with leading zeros.
    let text = b"id:0000662316 sub:001 dlvrd:001 submit date:2611220600 done date:2611220601 stat:DELIVRD err:000 text:x";
    let pdu = DeliverSm {
        source_addr: "15551234567".into(),
        destination_addr: "12345".into(),
        esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
        short_message: Bytes::from_static(text),
        ..DeliverSm::default()
    };
    let out = engine.on_deliver_sm(&cx, &pdu).await.unwrap();
    assert!(matches!(out, ReceiptOutcome::Handled { .. }), "{out:?}");
}

#[tokio::test]
async fn data_sm_receipts_are_read_from_their_tlvs() {
    let (engine, _, _) = engine(EngineSettings::default());
    let cx = ScopeContext::default();
    engine
        .on_submit_sm_resp(
            &cx,
            envelope(),
            &submit_sm(b"x"),
            CommandStatus::Ok,
            &resp("d1"),
        )
        .await
        .unwrap();
    let pdu = DataSm {
        source_addr: "15551234567".into(),
        destination_addr: "12345".into(),
        esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
        tlvs: Tlvs::from_tlvs(&[
            Tlv::ReceiptedMessageId("d1".into()),
            Tlv::MessageState(MessageState::Expired),
        ])
        .unwrap(),
        ..DataSm::default()
    };
    let out = engine.on_data_sm(&cx, &pdu).await.unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Negative,
                ..
            }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn non_receipts_and_unreadable_receipts_are_errors() {
    let (engine, _, _) = engine(EngineSettings::default());
    let cx = ScopeContext::default();
    let mo = DeliverSm {
        destination_addr: "12345".into(),
        short_message: Bytes::from_static(b"hi there"),
        ..DeliverSm::default()
    };
    let err = engine.on_deliver_sm(&cx, &mo).await.unwrap_err();
    assert!(matches!(err, EngineError::NotAReceipt(_)), "{err:?}");
    assert!(err.to_string().contains("esm_class 0x00"), "{err}");
    let garbled = DeliverSm {
        destination_addr: "12345".into(),
        esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
        short_message: Bytes::from_static(b"sub:001 dlvrd:001"),
        ..DeliverSm::default()
    };
    let err = engine.on_deliver_sm(&cx, &garbled).await.unwrap_err();
    assert!(matches!(err, EngineError::Receipt(_)), "{err:?}");
    let err = engine
        .on_data_sm(&cx, &DataSm::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotAReceipt(_)), "{err:?}");
}

#[tokio::test]
async fn receipt_rules_are_configurable() {
    let (engine, _, _) = engine(EngineSettings {
        receipt_rules: ReceiptRules::default()
            .with_state(MessageState::Accepted, ReceiptClass::Positive),
        ..EngineSettings::default()
    });
    let cx = ScopeContext::default();
    engine
        .on_submit_sm_resp(
            &cx,
            envelope(),
            &submit_sm(b"x"),
            CommandStatus::Ok,
            &resp("acc"),
        )
        .await
        .unwrap();
    let out = engine
        .on_deliver_sm(&cx, &receipt_pdu("acc", MessageState::Accepted))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn concatenated_parts_are_one_message_without_their_headers() {
    let (engine, store, _) = engine(EngineSettings::default());
    let cx = ScopeContext::default();
    let part = |n: u8, text: &[u8]| {
        let mut sm = vec![0x05, 0x00, 0x03, 0x2a, 0x02, n];
        sm.extend_from_slice(text);
        SubmitSm {
            source_addr: "12345".into(),
            destination_addr: "15551234567".into(),
            esm_class: EsmClass(EsmClass::UDHI),
            short_message: Bytes::from(sm),
            ..SubmitSm::default()
        }
    };
    let (p1, p2) = (part(1, b"Hello, "), part(2, b"world"));
    let (r1, r2) = (resp("m-1"), resp("m-2"));
    let out = engine
        .on_submit_sm_parts(
            &cx,
            envelope(),
            &[(&p1, CommandStatus::Ok, &r1), (&p2, CommandStatus::Ok, &r2)],
        )
        .await
        .unwrap();
    assert!(
        matches!(&out, SubmitOutcome::Stored { msgid, .. } if msgid.as_str() == "m-1"),
        "{out:?}"
    );
    let m = store
        .load(&b(), &MsgId::new("m-2").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.body[..], b"Hello, world");
    assert_eq!(m.metadata["parts"], "2");
    assert_eq!(m.resource.part_ids, vec!["m-1", "m-2"]);

    engine
        .on_deliver_sm(&cx, &receipt_pdu("m-2", MessageState::Delivered))
        .await
        .unwrap();
    let out = engine
        .on_deliver_sm(&cx, &receipt_pdu("m-1", MessageState::Delivered))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(store.is_empty());
}
