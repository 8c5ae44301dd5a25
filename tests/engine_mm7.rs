//! The MM7 adapters and hooks: SubmitRsp in, DeliveryReportReq in, DeliveryReportRsp out.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, Injection, MM7_CONTINUE, MM7_DELIVERED, Mm7DrDecision,
    RecordingInjector,
};
use redeliver::message::{Bucket, Channel, Envelope, MsgId, ReceiptClass};
use redeliver::mm7::{
    Address, ContentPart, DefaultMm7Codec, DeliveryReportReq, Mm7Codec, Mm7Message, Recipients,
    Release, SenderIdentification, Status, StatusCode, SubmitReq,
};
use redeliver::retry::{
    DefaultAction, NotTracked, ParkReason, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitOutcome,
};
use redeliver::store::{MemoryStore, MessageStore};

const OPTIONS: &str = "[domain.\"mm7.example.com\"]\nmm7_delivery_report = true\n";

fn cx() -> ScopeContext {
    ScopeContext::domain("mm7.example.com")
}

/// The seed's MM7 example: on negative, reroute to an SMPP domain and delete, MM7_DELIVERED;
/// on positive, delete and MM7_CONTINUE. Records the trx it was given.
#[derive(Default)]
struct SeedMm7Example {
    seen: Mutex<Vec<(String, String)>>,
    positive_answer: Option<Mm7DrDecision>,
}

#[async_trait]
impl DeliveryHooks for SeedMm7Example {
    async fn mm7_handle_dr_negative(
        &self,
        cx: &HookContext,
        trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        self.seen
            .lock()
            .unwrap()
            .push((trx.message_id.clone(), trx.mm_status.as_str().to_owned()));
        if let Some(msg) = cx.load(bucket, msgid).await? {
            msg.inject(
                "delivery_failure@test.com",
                "12405678910@smpp.messagesystems.com",
            )
            .await?;
            cx.delete(bucket, msgid).await?;
        }
        Ok(MM7_DELIVERED)
    }

    async fn mm7_handle_dr_positive(
        &self,
        _cx: &HookContext,
        trx: &DeliveryReportReq,
        _bucket: &Bucket,
        _msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        self.seen
            .lock()
            .unwrap()
            .push((trx.message_id.clone(), trx.mm_status.as_str().to_owned()));
        Ok(self.positive_answer.unwrap_or(MM7_CONTINUE))
    }
}

fn engine(
    hooks: Option<Arc<SeedMm7Example>>,
) -> (RetryEngine, Arc<MemoryStore>, Arc<RecordingInjector>) {
    let store = Arc::new(MemoryStore::new());
    let injector = Arc::new(RecordingInjector::new());
    let mut b = RetryEngine::builder(store.clone(), injector.clone())
        .options(MobilityConfig::from_toml_str(OPTIONS).unwrap());
    if let Some(h) = hooks {
        b = b.hooks(h);
    }
    (b.build(), store, injector)
}

fn submit_req() -> SubmitReq {
    let mut req = SubmitReq::new(
        "t-1",
        Release::Rel6Mm7_1_4,
        Recipients {
            to: vec![Address::Number("+15551234567".into())],
            ..Recipients::default()
        },
    );
    req.sender_identification = SenderIdentification {
        vasp_id: Some("vasp".into()),
        vas_id: None,
        sender_address: Some(Address::ShortCode("12345".into())),
    };
    req.delivery_report = Some(true);
    req.subject = Some("Hello".into());
    req.parts = vec![ContentPart::new("text/plain", &b"Hello from MM7"[..])];
    req
}

fn envelope() -> Envelope {
    Envelope {
        mailfrom: "alice@example.com".into(),
        rcptto: "15551234567@mm7.example.com".into(),
    }
}

/// A DeliveryReportReq as a relay sends it, decoded.
fn report(message_id: &str, status: &str) -> DeliveryReportReq {
    let xml = format!(
        r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
  <env:Header><mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4" env:mustUnderstand="1">dr-{message_id}</mm7:TransactionID></env:Header>
  <env:Body><DeliveryReportReq xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">
    <MM7Version>6.8.0</MM7Version><MessageID>{message_id}</MessageID>
    <Recipient><Number>+15551234567</Number></Recipient><Sender><ShortCode>12345</ShortCode></Sender>
    <Date>2026-11-22T06:00:00Z</Date><MMStatus>{status}</MMStatus><StatusText>relay says {status}</StatusText>
  </DeliveryReportReq></env:Body></env:Envelope>"#
    );
    match DefaultMm7Codec::default()
        .decode(None, xml.as_bytes())
        .unwrap()
    {
        Mm7Message::DeliveryReportReq(r) => r,
        other => panic!("decoded {other:?}"),
    }
}

fn b() -> Bucket {
    Bucket::new("MADR-12345").unwrap()
}

async fn submit(engine: &RetryEngine, id: &str) -> SubmitOutcome {
    let req = submit_req();
    let rsp = req.response(Status::success(), Some(id.into()));
    engine
        .on_submit_rsp(&cx(), envelope(), &req, &rsp)
        .await
        .unwrap()
}

#[tokio::test]
async fn submit_rsp_stores_the_whole_request() {
    let (engine, store, _) = engine(None);
    let out = submit(&engine, "mm7-1").await;
    assert!(
        matches!(&out, SubmitOutcome::Stored { bucket, .. } if *bucket == b()),
        "{out:?}"
    );
    let m = store
        .load(&b(), &MsgId::new("mm7-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.channel, Channel::Mm7);
    assert!(
        m.content_type.starts_with("multipart/related"),
        "{}",
        m.content_type
    );
    assert_eq!(m.metadata["To"], "+15551234567");
    assert_eq!(m.metadata["Subject"], "Hello");
    assert_eq!(m.metadata["VASPID"], "vasp");
    // The stored body decodes back to the same request.
    let again = DefaultMm7Codec::default()
        .decode(Some(&m.content_type), &m.body)
        .unwrap();
    let Mm7Message::SubmitReq(again) = again else {
        panic!("not a SubmitReq");
    };
    assert_eq!(again.parts[0].body, b"Hello from MM7");
}

#[tokio::test]
async fn nothing_is_stored_outside_the_scope_or_after_a_refusal() {
    let (engine, store, _) = engine(None);
    let req = submit_req();
    let rsp = req.response(Status::success(), Some("x".into()));
    let out = engine
        .on_submit_rsp(
            &ScopeContext::domain("other.example.com"),
            envelope(),
            &req,
            &rsp,
        )
        .await
        .unwrap();
    assert!(matches!(
        out,
        SubmitOutcome::NotTracked(NotTracked::ReceiptsNotRequested)
    ));
    let refused = req.response(Status::new(StatusCode::ServiceUnavailable), None);
    let out = engine
        .on_submit_rsp(&cx(), envelope(), &req, &refused)
        .await
        .unwrap();
    assert!(matches!(
        out,
        SubmitOutcome::NotTracked(NotTracked::SubmitRefused)
    ));
    let no_id = req.response(Status::success(), None);
    assert!(
        engine
            .on_submit_rsp(&cx(), envelope(), &req, &no_id)
            .await
            .is_err()
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn seed_mm7_example_reroutes_before_the_response() {
    let hooks = Arc::new(SeedMm7Example::default());
    let (engine, store, injector) = engine(Some(hooks.clone()));
    submit(&engine, "neg").await;
    let (out, rsp) = engine
        .on_delivery_report(&cx(), &report("neg", "Expired"))
        .await;
    assert!(
        matches!(
            out,
            Ok(ReceiptOutcome::Handled {
                class: ReceiptClass::Negative,
                took_over: true,
                default_action: DefaultAction::Skipped,
                ..
            })
        ),
        "{out:?}"
    );
    assert_eq!(rsp.status.code, StatusCode::Success);
    assert_eq!(rsp.transaction_id.as_deref(), Some("dr-neg"));
    assert_eq!(
        injector.injections(),
        vec![Injection::Reroute {
            from: "delivery_failure@test.com".into(),
            to: "12405678910@smpp.messagesystems.com".into()
        }]
    );
    assert!(store.is_empty());
    assert_eq!(
        *hooks.seen.lock().unwrap(),
        vec![("neg".into(), "Expired".into())]
    );
}

#[tokio::test]
async fn every_negative_status_is_negative_and_bounces_by_default() {
    for status in [
        "Expired",
        "Rejected",
        "Unrecognised",
        "Unrecognized",
        "DeliveryConditionNotMet",
    ] {
        let (engine, _, injector) = engine(None);
        submit(&engine, "m").await;
        let (out, rsp) = engine.on_delivery_report(&cx(), &report("m", status)).await;
        assert!(
            matches!(
                out,
                Ok(ReceiptOutcome::Handled {
                    class: ReceiptClass::Negative,
                    default_action: DefaultAction::Bounced,
                    ..
                })
            ),
            "{status}: {out:?}"
        );
        assert_eq!(rsp.status.code, StatusCode::Success);
        let injections = injector.injections();
        let [Injection::Bounce(dsn)] = injections.as_slice() else {
            panic!("{status}: one bounce expected");
        };
        assert!(
            dsn.message.contains("Diagnostic-Code: X-MM7; "),
            "{}",
            dsn.message
        );
    }
}

#[tokio::test]
async fn positive_return_value_is_not_used() {
    let hooks = Arc::new(SeedMm7Example {
        positive_answer: Some(MM7_DELIVERED),
        ..SeedMm7Example::default()
    });
    let (engine, store, _) = engine(Some(hooks));
    submit(&engine, "pos").await;
    let (out, _) = engine
        .on_delivery_report(&cx(), &report("pos", "Retrieved"))
        .await;
    assert!(
        matches!(
            out,
            Ok(ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                took_over: false,
                default_action: DefaultAction::Deleted(true),
                ..
            })
        ),
        "{out:?}"
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn intermediate_and_early_reports_are_acknowledged() {
    let (engine, _, injector) = engine(None);
    let (out, rsp) = engine
        .on_delivery_report(&cx(), &report("early", "Rejected"))
        .await;
    assert!(
        matches!(
            out,
            Ok(ReceiptOutcome::Parked {
                reason: ParkReason::NotYetStored,
                ..
            })
        ),
        "{out:?}"
    );
    assert_eq!(rsp.status.code, StatusCode::Success);
    let SubmitOutcome::Stored { applied, .. } = submit(&engine, "early").await else {
        panic!("not stored");
    };
    assert!(
        matches!(applied[0], Ok(ReceiptOutcome::Handled { .. })),
        "{applied:?}"
    );
    assert_eq!(
        injector.injections().len(),
        1,
        "bounced once the submit landed"
    );

    submit(&engine, "fwd").await;
    for status in ["Forwarded", "Deferred", "Indeterminate"] {
        let (out, _) = engine
            .on_delivery_report(&cx(), &report("fwd", status))
            .await;
        assert!(
            matches!(out, Ok(ReceiptOutcome::Intermediate { .. })),
            "{status}: {out:?}"
        );
    }
}

#[tokio::test]
async fn an_unusable_message_id_gets_a_validation_error() {
    let (engine, _, _) = engine(None);
    let mut r = report("x", "Expired");
    r.message_id = "   ".into();
    let (out, rsp) = engine.on_delivery_report(&cx(), &r).await;
    assert!(out.is_err());
    assert_eq!(rsp.status.code, StatusCode::ValidationError);
}

#[tokio::test]
async fn neutral_mm7_events_give_the_hooks_a_report() {
    let hooks = Arc::new(SeedMm7Example::default());
    let (engine, _, _) = engine(Some(hooks.clone()));
    submit(&engine, "n1").await;
    let out = engine
        .on_receipt(ReceiptEvent {
            channel: Channel::Mm7,
            scope: cx(),
            bucket: b(),
            message_id: "n1".into(),
            class: ReceiptClass::Negative,
            state: "Rejected".into(),
            error: None,
            raw: None,
            smpp: None,
            mm7_report: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        *hooks.seen.lock().unwrap(),
        vec![("n1".into(), "Rejected".into())]
    );
}
