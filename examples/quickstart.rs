//! Quick start: a hook that reroutes failed SMS, wired to the engine the way an SMPP client
//! would call it. Runs as `cargo run --example quickstart`.
use std::sync::Arc;

use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, RecordingInjector, SMPP_DELIVERED, SmppDrDecision,
};
use redeliver::message::{Bucket, Envelope, MsgId};
use redeliver::retry::RetryEngine;
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState};
use redeliver::smpp::{CommandStatus, SubmitSm, SubmitSmResp};
use redeliver::store::{MemoryStore, MessageStore};

/// The seed's `smpp_handle_DR_negative`: load the message, reroute it to MM7, delete it, and
/// answer `SMPP_DELIVERED` so no bounce goes to the sender.
struct RerouteToMm7;

#[redeliver::async_trait]
impl DeliveryHooks for RerouteToMm7 {
    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        if let Some(msg) = cx.load(bucket, msgid).await? {
            msg.inject(msg.mailfrom(), "15551234567@mm7.example.com")
                .await?;
            cx.delete(bucket, msgid).await?;
        }
        Ok(SMPP_DELIVERED)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Production: RiakStore or EmbeddedStore, and the host's spool as the Injector.
    let store = Arc::new(MemoryStore::new());
    let spool = Arc::new(RecordingInjector::new());
    let engine = RetryEngine::builder(store.clone(), spool.clone())
        .options(MobilityConfig::from_toml_str(
            "[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n",
        )?)
        .hooks(Arc::new(RerouteToMm7))
        .build();
    let scope = ScopeContext::binding("smsc-1");

    // The SMPP client got submit_sm_resp ESME_ROK with message_id "abc": keep the message.
    let submit = SubmitSm {
        source_addr: "12345".into(),
        destination_addr: "15551234567".into(),
        short_message: "hello".as_bytes().to_vec().into(),
        ..SubmitSm::default()
    };
    let resp = SubmitSmResp {
        message_id: "abc".to_owned().into(),
        ..SubmitSmResp::default()
    };
    let envelope = Envelope {
        mailfrom: "alice@example.com".into(),
        rcptto: "15551234567@smpp.example.com".into(),
    };
    engine
        .on_submit_sm_resp(&scope, envelope, &submit, CommandStatus::Ok, &resp)
        .await?;
    let bucket = Bucket::new("MADR-12345")?;
    let msgid = MsgId::new("abc")?;
    assert!(store.load(&bucket, &msgid).await?.is_some());

    // Later the SMSC sends an UNDELIV receipt for it: the hook reroutes the message.
    let receipt = DeliveryReceipt::new("abc", MessageState::Undeliverable)
        .to_deliver_sm("15551234567".into(), "12345".into())?;
    let outcome = engine.on_deliver_sm(&scope, &receipt).await?;
    println!("receipt outcome: {outcome:?}");

    assert_eq!(spool.injections().len(), 1, "rerouted once");
    assert!(store.load(&bucket, &msgid).await?.is_none(), "deleted");
    println!("rerouted: {:?}", spool.injections());
    Ok(())
}
