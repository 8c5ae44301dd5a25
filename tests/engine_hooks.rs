//! The six hooks' outcomes and defaults, how several hooks combine, and the seed's Lua API.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, InjectError, Injection, MM7_CONTINUE, MM7_DELIVERED,
    MSTORE_CONTINUE, MSTORE_DONE, Mm7DrDecision, RecordingInjector, SMPP_CONTINUE, SMPP_DELIVERED,
    SmppDrDecision, StoreDecision,
};
use redeliver::message::{Bucket, Channel, Envelope, MsgId, ReceiptClass, StoredMessage};
use redeliver::retry::{
    DefaultAction, META_FINAL, NotTracked, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent,
    SubmitOutcome,
};
use redeliver::store::{MemoryStore, MessageStore};

const TRACKED: &str = r#"
[global]
smpp_registered_delivery = "SMSC_Delivery"
mm7_delivery_report = true
"#;

/// A hook that records every call and answers what it was told to.
#[derive(Default)]
struct Scripted {
    name: &'static str,
    store: Option<StoreDecision>,
    negative: Option<SmppDrDecision>,
    positive: Option<SmppDrDecision>,
    fail: bool,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn log(&self, what: &str, msgid: &MsgId) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{}:{what}:{msgid}", self.name));
    }
}

#[async_trait]
impl DeliveryHooks for Scripted {
    async fn smpp_store_submit(
        &self,
        _cx: &HookContext,
        _msg: &StoredMessage,
        _bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        self.log("store", msgid);
        if self.fail {
            return Err(HookError::Other("scripted failure".into()));
        }
        Ok(self.store.unwrap_or(MSTORE_CONTINUE))
    }

    async fn smpp_handle_dr_negative(
        &self,
        _cx: &HookContext,
        _bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.log("negative", msgid);
        if self.fail {
            return Err(HookError::Other("scripted failure".into()));
        }
        Ok(self.negative.unwrap_or(SMPP_CONTINUE))
    }

    async fn smpp_handle_dr_positive(
        &self,
        _cx: &HookContext,
        _bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.log("positive", msgid);
        Ok(self.positive.unwrap_or(SMPP_CONTINUE))
    }

    async fn mm7_store_submit(
        &self,
        _cx: &HookContext,
        _msg: &StoredMessage,
        _bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        self.log("mm7_store", msgid);
        Ok(self.store.unwrap_or(MSTORE_CONTINUE))
    }
}

/// The seed's SMPP example: on negative, load, reroute to e-mail, delete, SMPP_DELIVERED; on
/// positive, delete and SMPP_CONTINUE.
struct SeedSmppExample;

#[async_trait]
impl DeliveryHooks for SeedSmppExample {
    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        if let Some(msg) = cx.load(bucket, msgid).await? {
            msg.inject(msg.mailfrom(), "john@example.messagesystems.com")
                .await?;
            cx.delete(bucket, msgid).await?;
        }
        Ok(SMPP_DELIVERED)
    }

    async fn smpp_handle_dr_positive(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        cx.delete(bucket, msgid).await?;
        Ok(SMPP_CONTINUE)
    }
}

struct Fixture {
    engine: RetryEngine,
    store: Arc<MemoryStore>,
    injector: Arc<RecordingInjector>,
}

fn fixture(options: &str, hooks: Vec<Arc<dyn DeliveryHooks>>) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let injector = Arc::new(RecordingInjector::new());
    let mut b = RetryEngine::builder(store.clone(), injector.clone())
        .options(MobilityConfig::from_toml_str(options).unwrap());
    for h in hooks {
        b = b.hooks(h);
    }
    Fixture {
        engine: b.build(),
        store,
        injector,
    }
}

fn message(channel: Channel) -> StoredMessage {
    StoredMessage::new(
        channel,
        Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "15551234567@sms.example.com".into(),
        },
        &b"hello"[..],
    )
}

fn submit(channel: Channel, id: &str) -> SubmitEvent {
    SubmitEvent {
        channel,
        scope: ScopeContext::binding("smsc-1"),
        shortcode: Some("12345".into()),
        message: message(channel),
        part_ids: vec![id.into()],
        status: "ESME_ROK".into(),
    }
}

fn receipt(id: &str, class: ReceiptClass, state: &str) -> ReceiptEvent {
    ReceiptEvent {
        channel: Channel::Smpp,
        scope: ScopeContext::binding("smsc-1"),
        bucket: Bucket::new("MADR-12345").unwrap(),
        message_id: id.into(),
        class,
        state: state.into(),
        error: Some("001".into()),
        raw: None,
        smpp: None,
        mm7_report: None,
    }
}

fn b() -> Bucket {
    Bucket::new("MADR-12345").unwrap()
}

fn id(s: &str) -> MsgId {
    MsgId::new(s).unwrap()
}

#[test]
fn return_codes_carry_the_seeds_numbers() {
    assert_eq!(MSTORE_CONTINUE.code(), 0);
    assert_eq!(MSTORE_DONE.code(), 1);
    assert_eq!(SMPP_CONTINUE.code(), 0);
    assert_eq!(SMPP_DELIVERED.code(), 3);
    assert_eq!(MM7_CONTINUE.code(), 0);
    assert_eq!(MM7_DELIVERED.code(), 3);
    assert_eq!(StoreDecision::from_code(0), MSTORE_CONTINUE);
    assert_eq!(StoreDecision::from_code(7), MSTORE_DONE);
    assert_eq!(SmppDrDecision::from_code(3), Some(SMPP_DELIVERED));
    assert_eq!(SmppDrDecision::from_code(1), None);
    assert_eq!(Mm7DrDecision::from_code(0), Some(MM7_CONTINUE));
    assert_eq!(SMPP_DELIVERED.to_string(), "SMPP_DELIVERED (3)");
    assert_eq!(MSTORE_DONE.to_string(), "MSTORE_DONE (1)");
}

#[tokio::test]
async fn submit_is_stored_under_the_seeds_bucket_and_msgid() {
    let f = fixture(TRACKED, vec![]);
    let out = f
        .engine
        .on_submit(submit(Channel::Smpp, "abc"))
        .await
        .unwrap();
    assert!(
        matches!(&out, SubmitOutcome::Stored { bucket, msgid, applied, .. } if bucket.as_str() == "MADR-12345" && msgid.as_str() == "abc" && applied.is_empty()),
        "{out:?}"
    );
    let stored = f.store.load(&b(), &id("abc")).await.unwrap().unwrap();
    assert_eq!(stored.resource.message_id.as_deref(), Some("abc"));
    assert_eq!(stored.resource.binding.as_deref(), Some("smsc-1"));
    assert_eq!(f.engine.counters().stored, 1);

    let out = f
        .engine
        .on_submit(submit(Channel::Mm7, "mm7-1"))
        .await
        .unwrap();
    assert!(matches!(out, SubmitOutcome::Stored { .. }), "{out:?}");
}

#[tokio::test]
async fn bucket_falls_back_to_madr_mm7() {
    let f = fixture(
        &format!("{TRACKED}mm7_mstore_bucket_use_shortcode = false\n"),
        vec![],
    );
    f.engine
        .on_submit(submit(Channel::Mm7, "m1"))
        .await
        .unwrap();
    assert!(
        f.store
            .load(&Bucket::mm7(), &id("m1"))
            .await
            .unwrap()
            .is_some()
    );
    let f = fixture(TRACKED, vec![]);
    let mut ev = submit(Channel::Mm7, "m2");
    ev.shortcode = None;
    f.engine.on_submit(ev).await.unwrap();
    assert!(
        f.store
            .load(&Bucket::mm7(), &id("m2"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn nothing_is_stored_unless_the_scope_asks_for_receipts_and_saving() {
    let f = fixture("", vec![]);
    let out = f
        .engine
        .on_submit(submit(Channel::Smpp, "a"))
        .await
        .unwrap();
    assert!(matches!(
        out,
        SubmitOutcome::NotTracked(NotTracked::ReceiptsNotRequested)
    ));
    let out = f.engine.on_submit(submit(Channel::Mm7, "a")).await.unwrap();
    assert!(matches!(
        out,
        SubmitOutcome::NotTracked(NotTracked::ReceiptsNotRequested)
    ));

    let f = fixture(
        r#"
        [global]
        smpp_registered_delivery = "SMSC_Delivery"
        [binding."smsc-1"]
        mm7_mstore_save_message = false
        "#,
        vec![],
    );
    let out = f
        .engine
        .on_submit(submit(Channel::Smpp, "a"))
        .await
        .unwrap();
    assert!(matches!(
        out,
        SubmitOutcome::NotTracked(NotTracked::SavingDisabled)
    ));
    assert!(f.store.is_empty());
    assert_eq!(f.engine.counters().not_tracked, 1);
}

#[tokio::test]
async fn store_hook_done_skips_storage_and_stops_later_hooks() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let first = Arc::new(Scripted {
        name: "first",
        store: Some(MSTORE_DONE),
        calls: calls.clone(),
        ..Scripted::default()
    });
    let second = Arc::new(Scripted {
        name: "second",
        calls: calls.clone(),
        ..Scripted::default()
    });
    let f = fixture(TRACKED, vec![first, second]);
    let out = f
        .engine
        .on_submit(submit(Channel::Smpp, "abc"))
        .await
        .unwrap();
    assert!(matches!(out, SubmitOutcome::HookDone { .. }), "{out:?}");
    assert!(f.store.is_empty());
    assert_eq!(*calls.lock().unwrap(), vec!["first:store:abc"]);
    assert_eq!(f.engine.counters().store_skipped, 1);

    // mm7_store_submit answers for MM7 submissions.
    let out = f.engine.on_submit(submit(Channel::Mm7, "m")).await.unwrap();
    assert!(matches!(out, SubmitOutcome::HookDone { .. }), "{out:?}");
    assert_eq!(calls.lock().unwrap().last().unwrap(), "first:mm7_store:m");
}

#[tokio::test]
async fn every_hook_continuing_lets_the_default_store() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let hooks: Vec<Arc<dyn DeliveryHooks>> = ["a", "b"]
        .into_iter()
        .map(|name| {
            Arc::new(Scripted {
                name,
                calls: calls.clone(),
                ..Scripted::default()
            }) as Arc<dyn DeliveryHooks>
        })
        .collect();
    let f = fixture(TRACKED, hooks);
    f.engine
        .on_submit(submit(Channel::Smpp, "x"))
        .await
        .unwrap();
    assert_eq!(*calls.lock().unwrap(), vec!["a:store:x", "b:store:x"]);
    assert_eq!(f.store.len(), 1);
}

#[tokio::test]
async fn a_failing_hook_counts_as_continue() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let f = fixture(
        TRACKED,
        vec![Arc::new(Scripted {
            name: "bad",
            fail: true,
            calls,
            ..Scripted::default()
        })],
    );
    f.engine
        .on_submit(submit(Channel::Smpp, "x"))
        .await
        .unwrap();
    assert_eq!(f.store.len(), 1);
    let out = f
        .engine
        .on_receipt(receipt("x", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: false,
                default_action: DefaultAction::Bounced,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(f.engine.counters().hook_errors, 2);
}

#[tokio::test]
async fn negative_default_bounces_an_rfc3464_dsn_and_keeps_the_message() {
    let f = fixture(TRACKED, vec![]);
    f.engine
        .on_submit(submit(Channel::Smpp, "abc"))
        .await
        .unwrap();
    let mut ev = receipt("abc", ReceiptClass::Negative, "EXPIRED");
    ev.error = Some("0x0b\r\nBcc: evil@example.com".into());
    let out = f.engine.on_receipt(ev.clone()).await.unwrap();
    assert_eq!(
        out,
        ReceiptOutcome::Handled {
            bucket: b(),
            msgid: id("abc"),
            receipt: std::sync::Arc::new(ev),
            matched: id("abc"),
            class: ReceiptClass::Negative,
            took_over: false,
            default_action: DefaultAction::Bounced,
        }
    );
    let inj = f.injector.injections();
    let [Injection::Bounce(dsn)] = inj.as_slice() else {
        panic!("expected one bounce, got {inj:?}");
    };
    assert_eq!(dsn.rcptto, "alice@example.com");
    assert_eq!(dsn.mailfrom, "");
    assert_eq!(dsn.status, "5.4.7");
    let m = &dsn.message;
    assert!(m.contains("Content-Type: multipart/report; report-type=delivery-status;"));
    assert!(m.contains("Content-Type: message/delivery-status\r\n"));
    assert!(m.contains("Final-Recipient: rfc822; 15551234567@sms.example.com\r\n"));
    assert!(m.contains("Action: failed\r\nStatus: 5.4.7\r\n"));
    assert!(m.contains("Diagnostic-Code: X-SMPP; EXPIRED 0x0b  Bcc: evil@example.com\r\n"));
    assert!(
        !m.contains("\r\nBcc:"),
        "header injection through the receipt"
    );
    assert!(m.contains("To: <alice@example.com>\r\n"));
    // Every line ends in CRLF.
    assert!(!m.replace("\r\n", "").contains('\n'));

    let kept = f.store.load(&b(), &id("abc")).await.unwrap().unwrap();
    assert_eq!(
        kept.metadata.get(META_FINAL).map(String::as_str),
        Some("negative")
    );
    let c = f.engine.counters();
    assert_eq!((c.negative, c.bounced), (1, 1));
}

#[tokio::test]
async fn negative_delivered_suppresses_the_bounce() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let f = fixture(
        TRACKED,
        vec![Arc::new(Scripted {
            name: "h",
            negative: Some(SMPP_DELIVERED),
            calls: calls.clone(),
            ..Scripted::default()
        })],
    );
    f.engine
        .on_submit(submit(Channel::Smpp, "abc"))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt("abc", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: true,
                default_action: DefaultAction::Skipped,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.injector.injections().is_empty());
    assert_eq!(calls.lock().unwrap().last().unwrap(), "h:negative:abc");
}

#[tokio::test]
async fn no_bounce_to_a_null_sender() {
    let f = fixture(TRACKED, vec![]);
    let mut ev = submit(Channel::Smpp, "abc");
    ev.message.envelope.mailfrom = "<>".into();
    f.engine.on_submit(ev).await.unwrap();
    let out = f
        .engine
        .on_receipt(receipt("abc", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                default_action: DefaultAction::NoBounce,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.injector.injections().is_empty());
}

#[tokio::test]
async fn positive_default_deletes_and_delivered_keeps() {
    let f = fixture(TRACKED, vec![]);
    f.engine
        .on_submit(submit(Channel::Smpp, "abc"))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt("abc", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                class: ReceiptClass::Positive,
                took_over: false,
                default_action: DefaultAction::Deleted(true),
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.store.is_empty());
    assert!(f.injector.injections().is_empty(), "no bounce on positive");

    let f = fixture(
        TRACKED,
        vec![Arc::new(Scripted {
            name: "keep",
            positive: Some(SMPP_DELIVERED),
            ..Scripted::default()
        })],
    );
    f.engine
        .on_submit(submit(Channel::Smpp, "abc"))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt("abc", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: true,
                default_action: DefaultAction::Skipped,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(f.store.len(), 1);
    assert_eq!(f.engine.counters().positive, 1);
    // The kept message carries its final state, so a duplicate is recognised from the store.
    let kept = f.store.load(&b(), &id("abc")).await.unwrap().unwrap();
    assert_eq!(
        kept.metadata.get(META_FINAL).map(String::as_str),
        Some("positive")
    );
    assert_eq!(kept.history.len(), 2);
    let out = f
        .engine
        .on_receipt(receipt("abc", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    assert!(matches!(out, ReceiptOutcome::Duplicate { .. }), "{out:?}");
}

#[tokio::test]
async fn seed_smpp_example_reroutes_and_deletes() {
    let f = fixture(TRACKED, vec![Arc::new(SeedSmppExample)]);
    f.engine
        .on_submit(submit(Channel::Smpp, "neg"))
        .await
        .unwrap();
    f.engine
        .on_submit(submit(Channel::Smpp, "pos"))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt("neg", ReceiptClass::Negative, "UNDELIV"))
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
        f.injector.injections(),
        vec![Injection::Reroute {
            from: "alice@example.com".into(),
            to: "john@example.messagesystems.com".into(),
        }]
    );
    let out = f
        .engine
        .on_receipt(receipt("pos", ReceiptClass::Positive, "DELIVRD"))
        .await
        .unwrap();
    // The hook deleted it already; the default's delete finds nothing.
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                default_action: DefaultAction::Deleted(false),
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.store.is_empty());
    let c = f.engine.counters();
    assert_eq!(
        (c.rerouted, c.bounced, c.positive, c.negative),
        (1, 0, 1, 1)
    );
}

/// Reroutes only messages that expired; lets the default bounce the others.
struct RerouteExpired;

#[async_trait]
impl DeliveryHooks for RerouteExpired {
    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        let expired = cx.receipt().is_some_and(|r| r.state == "EXPIRED");
        if !expired {
            return Ok(SMPP_CONTINUE);
        }
        if let Some(msg) = cx.load(bucket, msgid).await? {
            msg.inject(msg.mailfrom(), "retry@mm7.example.com").await?;
        }
        Ok(SMPP_DELIVERED)
    }

    async fn smpp_store_submit(
        &self,
        cx: &HookContext,
        _msg: &StoredMessage,
        _bucket: &Bucket,
        _msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        if cx.receipt().is_some() {
            return Err(HookError::Other("a store hook has no receipt".into()));
        }
        Ok(MSTORE_CONTINUE)
    }
}

#[tokio::test]
async fn receipt_hooks_see_the_receipt() {
    let f = fixture(TRACKED, vec![Arc::new(RerouteExpired)]);
    f.engine
        .on_submit(submit(Channel::Smpp, "e"))
        .await
        .unwrap();
    f.engine
        .on_submit(submit(Channel::Smpp, "u"))
        .await
        .unwrap();
    let out = f
        .engine
        .on_receipt(receipt("e", ReceiptClass::Negative, "EXPIRED"))
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
    let out = f
        .engine
        .on_receipt(receipt("u", ReceiptClass::Negative, "UNDELIV"))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            ReceiptOutcome::Handled {
                took_over: false,
                default_action: DefaultAction::Bounced,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(f.engine.counters().hook_errors, 0);
    assert!(matches!(
        f.injector.injections()[0],
        Injection::Reroute { .. }
    ));
}

#[tokio::test]
async fn hook_context_is_the_lua_api() {
    let f = fixture(TRACKED, vec![]);
    let cx = f
        .engine
        .hook_context(&ScopeContext::domain("sms.example.com"));
    assert_eq!(cx.scope().domain.as_deref(), Some("sms.example.com"));
    let msg = message(Channel::Smpp);
    cx.save(&msg, &b(), &id("k")).await.unwrap();
    let loaded = cx.load(&b(), &id("k")).await.unwrap().unwrap();
    assert_eq!(loaded.mailfrom(), "alice@example.com");
    loaded.inject_same_route().await.unwrap();
    loaded
        .inject("bounce@example.com", "12405678910@mm7.example.com")
        .await
        .unwrap();
    assert!(matches!(
        loaded.inject("a@b", "not an address").await,
        Err(InjectError::BadAddress { address }) if address == "not an address"
    ));
    assert!(cx.delete(&b(), &id("k")).await.unwrap());
    assert!(!cx.delete(&b(), &id("k")).await.unwrap());
    assert!(cx.load(&b(), &id("k")).await.unwrap().is_none());
    assert_eq!(
        f.injector.injections(),
        vec![
            Injection::Same {
                rcptto: "15551234567@sms.example.com".into()
            },
            Injection::Reroute {
                from: "bounce@example.com".into(),
                to: "12405678910@mm7.example.com".into()
            },
        ]
    );
    let c = f.engine.counters();
    assert_eq!((c.injected, c.rerouted), (1, 1));
}
