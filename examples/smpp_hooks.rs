//! The seed's SMPP hook example (`smpp_store_submit`, `smpp_handle_DR_negative`,
//! `smpp_handle_DR_positive`), rewritten in Rust and run end to end on loopback.
//!
//! ```sh
//! cargo run --example smpp_hooks
//! ```
//!
//! A small SMSC listens on 127.0.0.1; the gateway binds to it, submits three messages and
//! feeds every `submit_sm_resp` and `deliver_sm` receipt to the [`RetryEngine`], which keeps the
//! messages in an embedded store (a temporary file). The SMSC behaves like real ones do: it
//! returns hex ids in `submit_sm_resp` and decimal ids in the receipt text, sends an
//! intermediate `ENROUTE` and a duplicate `UNDELIV`, and answers one receipt before its
//! `submit_sm_resp`. The example prints what happened and exits 0 when the counters are what
//! the seed's hooks should produce.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use redeliver::bounce::Dsn;
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, InjectError, Injector, MSTORE_CONTINUE, SMPP_CONTINUE,
    SMPP_DELIVERED, SmppDrDecision, StoreDecision,
};
use redeliver::message::{Bucket, Envelope, MsgId, StoredMessage};
use redeliver::retry::{CounterSnapshot, RetryEngine, SubmitOutcome};
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState};
use redeliver::smpp::{
    Bind, BindResp, Body, CommandStatus, DeliverSmResp, Pdu, SmppFraming, SubmitSm, SubmitSmResp,
};
use redeliver::store::{EmbeddedStore, MessageStore};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// The scoped options: receipts on everywhere; this SMSC writes hex ids in responses and
/// decimal ids in receipts.
const OPTIONS: &str = r#"
[global]
smpp_registered_delivery = "SMSC_Delivery"

[binding."smsc-loopback"]
submit_msgid_format = "hexadecimal"
receipt_msgid_format = "decimal"
"#;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The seed's Lua module `smpp_hooks`, as Rust.
struct SmppHooks;

#[async_trait]
impl DeliveryHooks for SmppHooks {
    async fn smpp_store_submit(
        &self,
        _cx: &HookContext,
        _msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        println!("QA: SMS message {msgid} stored in {bucket}");
        Ok(MSTORE_CONTINUE)
    }

    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        println!("QA: negative SMPP receipt; forward {msgid} stored in {bucket}");
        match cx.load(bucket, msgid).await? {
            Some(msg) => {
                msg.inject(msg.mailfrom(), "john@example.messagesystems.com")
                    .await?;
                cx.delete(bucket, msgid).await?;
            }
            None => println!("QA: Failed to load message from mstore!"),
        }
        Ok(SMPP_DELIVERED)
    }

    async fn smpp_handle_dr_positive(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        println!("QA: positive SMPP receipt; delete {msgid} stored in {bucket}");
        cx.delete(bucket, msgid).await?;
        Ok(SMPP_CONTINUE)
    }
}

/// The gateway's spool: here it only says what it would send.
#[derive(Debug)]
struct PrintingSpool;

#[async_trait]
impl Injector for PrintingSpool {
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        println!(
            "spool: inject {} -> {}",
            msg.envelope.mailfrom, msg.envelope.rcptto
        );
        Ok(())
    }
    async fn reroute(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        println!(
            "spool: reroute {} to {to} (from {from})",
            msg.envelope.rcptto
        );
        Ok(())
    }
    async fn inject_bounce(&self, dsn: &Dsn) -> Result<(), InjectError> {
        println!("spool: bounce ({}) to {}", dsn.status, dsn.rcptto);
        Ok(())
    }
}

/// What the SMSC does with each destination.
enum Script {
    Delivered,
    EnrouteThenUndeliverableTwice,
    ReceiptBeforeResponse,
}

fn script(destination: &str) -> Script {
    match destination {
        "15550000002" => Script::EnrouteThenUndeliverableTwice,
        "15550000003" => Script::ReceiptBeforeResponse,
        _ => Script::Delivered,
    }
}

/// A receipt as this SMSC writes it: the id in decimal with leading zeros, in the text only.
fn receipt(seq: u32, value: u32, state: MessageState, submit: &SubmitSm) -> Res<Pdu> {
    let mut r = DeliveryReceipt::new(format!("{value:010}"), state);
    r.text = Some("Your code".into());
    let mut dsm = r.to_deliver_sm(submit.destination_addr.clone(), submit.source_addr.clone())?;
    // Only the text: the engine must match the decimal id against the hex one.
    dsm.tlvs = Default::default();
    Ok(Pdu::new(seq, dsm))
}

/// A loopback SMSC: accepts one bind, answers submits per [`script`], sends receipts.
async fn smsc(listener: TcpListener) -> Res<()> {
    let (socket, _) = listener.accept().await?;
    let mut conn = Framed::new(socket, SmppFraming::new());
    let mut next_id = 0x1A2B_0000u32;
    let mut seq = 1000u32;
    while let Some(pdu) = conn.next().await {
        let pdu = pdu?;
        match pdu.body {
            Body::BindTransceiver(_) => {
                let resp = BindResp {
                    system_id: "loopback-smsc".into(),
                    ..BindResp::default()
                };
                conn.send(&Pdu::new(
                    pdu.sequence_number,
                    Body::BindTransceiverResp(resp),
                ))
                .await?;
            }
            Body::SubmitSm(submit) => {
                next_id += 1;
                let value = next_id;
                let resp = Pdu::new(
                    pdu.sequence_number,
                    Body::SubmitSmResp(SubmitSmResp::new(format!("{value:08X}"))),
                );
                let dest = submit.destination_addr.to_string_lossy().into_owned();
                let mut receipts = Vec::new();
                match script(&dest) {
                    Script::Delivered => {
                        conn.send(&resp).await?;
                        receipts.push(MessageState::Delivered);
                    }
                    Script::EnrouteThenUndeliverableTwice => {
                        conn.send(&resp).await?;
                        receipts.extend([
                            MessageState::Enroute,
                            MessageState::Undeliverable,
                            MessageState::Undeliverable,
                        ]);
                    }
                    Script::ReceiptBeforeResponse => {
                        seq += 1;
                        conn.send(&receipt(seq, value, MessageState::Delivered, &submit)?)
                            .await?;
                        // Give the receipt a head start, as a busy SMSC does.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        conn.send(&resp).await?;
                    }
                }
                for state in receipts {
                    seq += 1;
                    conn.send(&receipt(seq, value, state, &submit)?).await?;
                }
            }
            Body::Unbind => {
                conn.send(&Pdu::new(pdu.sequence_number, Body::UnbindResp))
                    .await?;
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The gateway: binds, submits, and hands every response and receipt to the engine.
async fn gateway(engine: &RetryEngine, addr: std::net::SocketAddr) -> Res<()> {
    let scope = ScopeContext {
        binding: Some("smsc-loopback".into()),
        binding_group: None,
        domain: Some("smpp.example.com".into()),
    };
    let mut conn = Framed::new(TcpStream::connect(addr).await?, SmppFraming::new());
    let bind = Bind {
        system_id: "gateway".into(),
        password: "secret".into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    conn.send(&Pdu::new(1, Body::BindTransceiver(bind))).await?;
    let Some(resp) = conn.next().await else {
        return Err("SMSC closed the connection during bind".into());
    };
    if resp?.command_status != CommandStatus::Ok {
        return Err("bind refused".into());
    }

    let rd = engine.options().resolve(&scope).smpp_registered_delivery;
    let destinations = ["15550000001", "15550000002", "15550000003"];
    let mut receipts_seen = 0;
    for (i, dest) in destinations.iter().enumerate() {
        let seq = 10 + i as u32;
        let submit = SubmitSm {
            source_addr: "12345".into(),
            destination_addr: (*dest).into(),
            registered_delivery: redeliver::smpp::RegisteredDelivery(rd.registered_delivery_bits()),
            short_message: bytes::Bytes::from(format!("Your code is {}", 4711 + i)),
            ..SubmitSm::default()
        };
        conn.send(&Pdu::new(seq, submit.clone())).await?;
        // Read until this submit's response, handling receipts that come first.
        loop {
            let Some(pdu) = conn.next().await else {
                return Err("SMSC closed the connection".into());
            };
            let pdu = pdu?;
            match &pdu.body {
                Body::SubmitSmResp(resp) if pdu.sequence_number == seq => {
                    let envelope = Envelope {
                        mailfrom: "alice@example.com".into(),
                        rcptto: format!("{dest}@smpp.example.com"),
                    };
                    let out = engine
                        .on_submit_sm_resp(&scope, envelope, &submit, pdu.command_status, resp)
                        .await?;
                    print_submit(&resp.message_id.to_string_lossy(), &out);
                    break;
                }
                Body::DeliverSm(dsm) => {
                    receipts_seen += 1;
                    let out = engine.on_deliver_sm(&scope, dsm).await?;
                    println!("gateway: receipt {:?} -> {out:?}", receipt_text(dsm));
                    conn.send(&Pdu::new(
                        pdu.sequence_number,
                        Body::DeliverSmResp(DeliverSmResp::default()),
                    ))
                    .await?;
                }
                _ => {}
            }
        }
    }
    // The remaining receipts: 5 in all (DELIVRD; ENROUTE, UNDELIV, UNDELIV; DELIVRD).
    while receipts_seen < 5 {
        let Some(pdu) = conn.next().await else {
            return Err("SMSC closed the connection".into());
        };
        let pdu = pdu?;
        if let Body::DeliverSm(dsm) = &pdu.body {
            receipts_seen += 1;
            let out = engine.on_deliver_sm(&scope, dsm).await?;
            println!("gateway: receipt {:?} -> {out:?}", receipt_text(dsm));
            conn.send(&Pdu::new(
                pdu.sequence_number,
                Body::DeliverSmResp(DeliverSmResp::default()),
            ))
            .await?;
        }
    }
    conn.send(&Pdu::new(99, Body::Unbind)).await?;
    while let Some(pdu) = conn.next().await {
        if matches!(pdu?.body, Body::UnbindResp) {
            break;
        }
    }
    Ok(())
}

fn receipt_text(dsm: &redeliver::smpp::DeliverSm) -> String {
    String::from_utf8_lossy(&dsm.short_message).into_owned()
}

fn print_submit(id: &str, out: &SubmitOutcome) {
    match out {
        SubmitOutcome::Stored {
            bucket,
            msgid,
            applied,
            ..
        } => {
            println!("gateway: submit_sm_resp {id} -> stored as {bucket}/{msgid}");
            for a in applied {
                println!("gateway:   receipt that came first, applied now -> {a:?}");
            }
        }
        other => println!("gateway: submit_sm_resp {id} -> {other:?}"),
    }
}

async fn run() -> Res<CounterSnapshot> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(dir.path().join("mstore.redb"))?);
    let engine = RetryEngine::builder(store.clone(), Arc::new(PrintingSpool))
        .options(MobilityConfig::from_toml_str(OPTIONS)?)
        .hooks(Arc::new(SmppHooks))
        .build();

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let smsc = tokio::spawn(smsc(listener));
    gateway(&engine, addr).await?;
    smsc.await??;

    let left: Vec<_> = store
        .list(&Bucket::new("MADR-12345")?)
        .collect::<Vec<_>>()
        .await;
    println!("store: {} message(s) left in MADR-12345", left.len());
    if !left.is_empty() {
        return Err("every message should have been delivered or rerouted".into());
    }
    Ok(engine.counters())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = tokio::time::timeout(Duration::from_secs(20), run()).await;
    let counters = match result {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            eprintln!("smpp_hooks: {e}");
            return std::process::ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("smpp_hooks: timed out");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("counters: {counters:?}");
    let expected = (3, 2, 1, 1, 1, 1, 1, 0);
    let got = (
        counters.stored,
        counters.positive,
        counters.negative,
        counters.intermediate,
        counters.duplicates,
        counters.parked,
        counters.rerouted,
        counters.bounced,
    );
    if got == expected {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!(
            "smpp_hooks: expected (stored, positive, negative, intermediate, duplicates, parked, rerouted, bounced) = {expected:?}, got {got:?}"
        );
        std::process::ExitCode::FAILURE
    }
}
