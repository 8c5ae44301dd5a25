//! The gateway: what a host of `redeliver` writes.
//!
//! * an SMPP client (ESME) on the crate's framing: `bind_transceiver`, a window of outstanding
//!   `submit_sm`, `enquire_link` every 250 ms, `deliver_sm` receipts answered and handed to the
//!   engine in the order they arrived, `unbind` at the end;
//! * an MM7 VASP: `SubmitReq` over HTTP to the relay, and an HTTP endpoint for the relay's
//!   `DeliveryReportReq`, answered with the `DeliveryReportRsp` the engine builds;
//! * a [`RetryEngine`] over the chosen store, with [`Policy`] as its hooks (the seed's Lua
//!   examples in Rust: reroute a failed SMS to MM7 and a failed MMS to SMS, once) and
//!   [`Spool`] as its injector;
//! * an [`HttpDlrThrower`] that sends the application a level-1 DLR when its message is accepted
//!   and a receipt DLR when the message is delivered or bounced (`dlr-level` 3).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use redeliver::bounce::Dsn;
use redeliver::config::{MobilityConfig, ScopeContext, msgid_key};
use redeliver::dlr::{
    Dlr, DlrLevel, DlrMethod, DlrOutcome, DlrThrower, DlrThrowerConfig, HttpDlrThrower,
    ReceiptParams,
};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, InjectError, Injector, MM7_CONTINUE, MM7_DELIVERED,
    MSTORE_CONTINUE, Mm7DrDecision, SMPP_CONTINUE, SMPP_DELIVERED, SmppDrDecision, StoreDecision,
};
use redeliver::message::{
    Bucket, Channel, Envelope, HistoryEvent, MsgId, ReceiptClass, StoredMessage,
};
use redeliver::mm7::{
    Address, ContentPart, ContentRef, DefaultMm7Codec, DeliveryReportReq, Mm7Codec, Mm7Message,
    Recipients, Release, SenderIdentification, SubmitReq,
};
use redeliver::retry::{DefaultAction, EngineError, ReceiptOutcome, RetryEngine, SubmitOutcome};
use redeliver::smpp::receipt::DeliveryReceipt;
use redeliver::smpp::{
    Bind, Body, CommandStatus, DataCoding, DeliverSmResp, Pdu, RegisteredDelivery, SmppFraming,
    SubmitSm,
};
use redeliver::store::MessageStore;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::Framed;

use super::http::{Handler, Request, Response, Server};
use super::plan::{self, End, Kind};
use super::timeline::{Timeline, yymmddhhmm};

/// The scoped options of the example, as a host would keep them in its configuration file:
/// receipts requested for SMPP and MM7, and the SMSC's id formats on its binding.
pub const OPTIONS: &str = r#"
[global]
smpp_registered_delivery = "SMSC_Delivery"
mm7_delivery_report = true

[binding."smsc-sim"]
submit_msgid_format = "hexadecimal"
receipt_msgid_format = "decimal"
"#;

/// submit_sm PDUs in flight at once.
const WINDOW: usize = 64;
/// SMPP PDUs about different messages handled at once.
const LANES: usize = 32;
/// How often the ESME checks the link.
const ENQUIRE_LINK_EVERY: Duration = Duration::from_millis(250);
/// Where the seed's MM7 hook example sends its reroutes from: the failed MMS's original sender
/// stays the bounce address here, so that a rerouted message that fails again still reaches it.
const SMSC_CONNECTOR: &str = "smsc-sim";
const MMSC_CONNECTOR: &str = "mmsc-sim";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn smpp_scope() -> ScopeContext {
    ScopeContext {
        binding: Some(SMSC_CONNECTOR.to_owned()),
        binding_group: None,
        domain: Some(plan::SMS_DOMAIN.to_owned()),
    }
}

fn mm7_scope() -> ScopeContext {
    ScopeContext {
        binding: Some(MMSC_CONNECTOR.to_owned()),
        binding_group: None,
        domain: Some(plan::MMS_DOMAIN.to_owned()),
    }
}

/// One message for the spool to send.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which message.
    pub index: usize,
    /// SMS or MMS.
    pub kind: Kind,
    /// The text.
    pub text: String,
    /// The envelope sender (where a bounce goes).
    pub mailfrom: String,
    /// 1 for the first send, 2 for a reroute (set by the spool when it takes the job).
    pub leg: u8,
}

/// What the gateway counted.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct GatewayReport {
    /// submit_sm PDUs sent.
    pub smpp_submits: u64,
    /// SubmitReqs sent.
    pub mm7_submits: u64,
    /// Submissions the store kept (`SubmitOutcome::Stored`).
    pub stored: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages rerouted by the hooks.
    pub rerouted: u64,
    /// Messages bounced by the engine's default action.
    pub bounced: u64,
    /// DSNs the engine handed to the spool.
    pub dsns: u64,
    /// Final SMPP receipts handed to the engine.
    pub smpp_receipts: u64,
    /// Intermediate (ENROUTE) receipts.
    pub intermediate: u64,
    /// MM7 delivery reports handed to the engine.
    pub mm7_reports: u64,
    /// SMPP receipts that arrived before their submit_sm_resp and waited in the engine.
    pub smpp_parked: u64,
    /// MM7 reports that arrived before the VASP had read their SubmitRsp.
    pub mm7_parked: u64,
    /// Parked receipts applied by the parking-lot timer rather than by their submission.
    pub applied_by_timer: u64,
    /// Receipts the engine recognised as duplicates or could not match.
    pub unmatched_or_duplicate: u64,
    /// enquire_link_resp PDUs received.
    pub enquire_links: u64,
    /// DLRs handed to the thrower.
    pub dlrs_thrown: u64,
    /// DLRs acknowledged, by the attempts it took.
    pub dlrs_acked_after: BTreeMap<u32, u64>,
    /// DLRs given up.
    pub dlrs_exhausted: u64,
    /// Things that went wrong (each is also on the timeline).
    pub errors: u64,
}

/// Where a receipt outcome came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A deliver_sm on the SMPP connection.
    Smpp,
    /// A DeliveryReportReq on the VASP's endpoint.
    Mm7,
    /// The engine's parking lot, on the timer.
    ParkingLot,
}

/// What the final DLR of a message carries, kept from its receipt until the engine decides.
#[derive(Debug, Clone)]
struct FinalInfo {
    status: String,
    connector: &'static str,
    params: ReceiptParams,
}

#[derive(Debug, Default)]
struct MessageState {
    legs: u8,
    text: String,
    end: Option<End>,
}

/// What the gateway's parts share.
pub struct Shared {
    timeline: Arc<Timeline>,
    messages: Mutex<Vec<MessageState>>,
    by_key: Mutex<HashMap<(Bucket, MsgId), usize>>,
    finals: Mutex<HashMap<(Bucket, MsgId), FinalInfo>>,
    report: Mutex<GatewayReport>,
    finished: AtomicUsize,
    all_done: Notify,
    jobs: mpsc::UnboundedSender<Job>,
    dlr_url: url::Url,
    thrower: tokio::sync::OnceCell<HttpDlrThrower>,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut GatewayReport)) {
        f(&mut lock(&self.report));
    }

    fn error(&self, index: Option<usize>, what: impl std::fmt::Display) {
        self.count(|r| r.errors += 1);
        self.timeline
            .event("gateway", index, format_args!("ERROR {what}"));
    }

    fn legs(&self, i: usize) -> u8 {
        lock(&self.messages).get(i).map_or(0, |m| m.legs)
    }

    async fn throw(&self, i: usize, dlr: Dlr) {
        self.count(|r| r.dlrs_thrown += 1);
        let Some(thrower) = self.thrower.get() else {
            return self.error(Some(i), "no DLR thrower");
        };
        if let Err(e) = thrower.throw(dlr).await {
            self.error(Some(i), format_args!("DLR not accepted: {e}"));
        }
    }

    /// The level-1 DLR: the message was accepted by its first SMSC or MMSC.
    async fn accepted(&self, i: usize, leg: u8, status: String, connector: &'static str) {
        if leg != 1 {
            return;
        }
        let dlr = Dlr::level1(
            self.dlr_url.clone(),
            DlrMethod::Post,
            plan::id(i),
            status,
            connector,
        );
        self.throw(i, dlr).await;
    }

    /// The message reached its end: the receipt DLR, and the count towards the run's end.
    async fn finish(&self, i: usize, end: End, info: Option<FinalInfo>) {
        {
            let mut messages = lock(&self.messages);
            let Some(m) = messages.get_mut(i) else { return };
            if m.end.is_some() {
                drop(messages);
                return self.error(Some(i), "a second end for one message");
            }
            m.end = Some(end);
        }
        let info = info.unwrap_or_else(|| FinalInfo {
            status: match end {
                End::Delivered => "DELIVRD".into(),
                End::Bounced => "UNDELIV".into(),
            },
            connector: SMSC_CONNECTOR,
            params: ReceiptParams::default(),
        });
        let dlr = Dlr::level2(
            self.dlr_url.clone(),
            DlrMethod::Post,
            DlrLevel::All,
            plan::id(i),
            info.status,
            info.connector,
            info.params,
        );
        self.throw(i, dlr).await;
        let total = lock(&self.messages).len();
        if self.finished.fetch_add(1, Ordering::SeqCst) + 1 == total {
            self.all_done.notify_one();
        }
    }

    /// Acts on what the engine did with a receipt: fresh from a connection, parked and applied
    /// when its submission was stored, or applied by the parking-lot timer. `hint` is the
    /// message the receipt names, when the receipt says.
    async fn receipt_outcome(
        &self,
        from: Source,
        hint: Option<usize>,
        outcome: Result<ReceiptOutcome, EngineError>,
    ) {
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => return self.error(hint, format_args!("{from:?} receipt: {e}")),
        };
        if from == Source::ParkingLot {
            self.count(|r| r.applied_by_timer += 1);
        }
        match outcome {
            ReceiptOutcome::Handled {
                bucket,
                msgid,
                class,
                took_over,
                default_action,
            } => {
                let key = (bucket, msgid);
                let found = lock(&self.by_key).remove(&key);
                let info = lock(&self.finals).remove(&key);
                let Some(i) = found else {
                    return self.error(
                        None,
                        format_args!(
                            "final receipt for {}/{} which this gateway did not send",
                            key.0, key.1
                        ),
                    );
                };
                let at = format!("{}/{}", key.0, key.1);
                match (class, took_over, default_action) {
                    (ReceiptClass::Positive, _, action) => {
                        self.count(|r| r.delivered += 1);
                        let deleted = if action == DefaultAction::Deleted(true) {
                            "; stored copy deleted"
                        } else {
                            ""
                        };
                        self.timeline.event(
                            "engine",
                            Some(i),
                            format_args!("{at}: positive -> delivered{deleted}"),
                        );
                        self.finish(i, End::Delivered, info).await;
                    }
                    (_, true, _) => {
                        self.count(|r| r.rerouted += 1);
                        self.timeline.event(
                            "engine",
                            Some(i),
                            format_args!(
                                "{at}: negative -> hook answered *_DELIVERED (rerouted), no bounce"
                            ),
                        );
                    }
                    (_, false, action) => {
                        self.count(|r| r.bounced += 1);
                        let how = match action {
                            DefaultAction::Bounced => format!(
                                "DSN to {} (message kept for `mstore reinstate`)",
                                plan::SENDER
                            ),
                            other => format!("{other:?}"),
                        };
                        self.timeline.event(
                            "engine",
                            Some(i),
                            format_args!("{at}: negative -> default bounce: {how}"),
                        );
                        self.finish(i, End::Bounced, info).await;
                    }
                }
            }
            ReceiptOutcome::Intermediate { bucket, msgid } => {
                let i = lock(&self.by_key)
                    .get(&(bucket.clone(), msgid.clone()))
                    .copied();
                self.count(|r| r.intermediate += 1);
                self.timeline.event(
                    "engine",
                    i,
                    format_args!("{bucket}/{msgid}: intermediate receipt recorded in the history"),
                );
            }
            ReceiptOutcome::Parked {
                bucket,
                msgid,
                reason,
            } => {
                self.count(|r| match from {
                    Source::Smpp => r.smpp_parked += 1,
                    Source::Mm7 => r.mm7_parked += 1,
                    Source::ParkingLot => {}
                });
                self.timeline.event("engine", hint, format_args!("{bucket}/{msgid}: receipt parked ({reason:?}): its submission is not stored yet"));
            }
            ReceiptOutcome::PartRecorded {
                bucket,
                msgid,
                part,
            } => {
                self.timeline.event(
                    "engine",
                    None,
                    format_args!("{bucket}/{msgid}: part {part} recorded"),
                );
            }
            ReceiptOutcome::Duplicate { bucket, msgid } => {
                self.count(|r| r.unmatched_or_duplicate += 1);
                self.timeline.event(
                    "engine",
                    None,
                    format_args!("{bucket}/{msgid}: duplicate receipt ignored"),
                );
            }
            ReceiptOutcome::Unmatched {
                bucket,
                msgid,
                reason,
            } => {
                self.count(|r| r.unmatched_or_duplicate += 1);
                self.timeline.event(
                    "engine",
                    None,
                    format_args!("{bucket}/{msgid}: receipt matched nothing ({reason:?})"),
                );
            }
        }
    }

    /// Notes which message the engine is about to store under the submit response's id. It is
    /// done before the engine stores it, because the receipt or report can reach the engine
    /// through another connection the moment the message is stored.
    fn expect(&self, engine: &RetryEngine, scope: &ScopeContext, i: usize, id: &str) {
        let format = engine.options().resolve(scope).submit_msgid_format;
        let key = msgid_key(id, format).and_then(|k| MsgId::new(k).ok());
        if let (Ok(bucket), Some(key)) = (engine.bucket_for(Some(plan::SHORTCODE)), key) {
            lock(&self.by_key).insert((bucket, key), i);
        }
    }

    /// Acts on what the engine did with a submission.
    async fn submit_outcome(
        &self,
        i: usize,
        channel: Channel,
        outcome: Result<SubmitOutcome, EngineError>,
    ) {
        match outcome {
            Ok(SubmitOutcome::Stored {
                bucket,
                msgid,
                applied,
            }) => {
                self.count(|r| r.stored += 1);
                lock(&self.by_key).insert((bucket, msgid), i);
                for a in applied {
                    let from = match channel {
                        Channel::Smpp => Source::Smpp,
                        Channel::Mm7 => Source::Mm7,
                    };
                    self.receipt_outcome(from, Some(i), a).await;
                }
            }
            Ok(other) => self.error(Some(i), format_args!("submission not stored: {other:?}")),
            Err(e) => self.error(Some(i), format_args!("submission: {e}")),
        }
    }
}

/// The hooks: the seed's `smpp_hooks` and `mm7_hooks_tests` examples, with one rule added so a
/// message is rerouted at most once.
pub struct Policy {
    shared: Arc<Shared>,
}

impl Policy {
    /// Loads the stored message; `None` (and a line on the timeline) when it is gone.
    async fn rerouted_once(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
        to_domain: &str,
        hook: &str,
    ) -> Result<bool, HookError> {
        let Some(msg) = cx.load(bucket, msgid).await? else {
            self.shared.error(
                None,
                format_args!("{hook}: {bucket}/{msgid}: failed to load message from mstore"),
            );
            return Ok(false);
        };
        let Some(i) = plan::index_of(&msg.envelope.rcptto) else {
            return Ok(false);
        };
        if self.shared.legs(i) >= 2 {
            self.shared.timeline.event(
                "hooks",
                Some(i),
                format_args!("{hook}: already rerouted once -> *_CONTINUE (bounce)"),
            );
            return Ok(false);
        }
        let state = msg.history.iter().rev().find_map(|h| match &h.event {
            HistoryEvent::Receipt { state, .. } => Some(state.clone()),
            _ => None,
        });
        if msg.channel == Channel::Smpp && state.as_deref() == Some("EXPIRED") {
            self.shared.timeline.event(
                "hooks",
                Some(i),
                format_args!("{hook}: EXPIRED is stale news -> SMPP_CONTINUE (bounce)"),
            );
            return Ok(false);
        }
        let to = format!("{}@{to_domain}", plan::number(i));
        let from = msg.mailfrom().to_owned();
        self.shared.timeline.event(
            "hooks",
            Some(i),
            format_args!(
                "{hook}: {} -> msg:inject({from}, {to}); mstore.delete",
                state.unwrap_or_default()
            ),
        );
        // The seed's Lua: msg:inject(msg:mailfrom(), to); msys.mstore.delete(bucket, msgid)
        msg.inject(&from, &to).await?;
        cx.delete(bucket, msgid).await?;
        Ok(true)
    }
}

#[async_trait]
impl DeliveryHooks for Policy {
    async fn smpp_store_submit(
        &self,
        _cx: &HookContext,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        let i = plan::index_of(&msg.envelope.rcptto);
        self.shared.timeline.event(
            "hooks",
            i,
            format_args!("smpp_store_submit: SMS message {msgid} stored in {bucket}"),
        );
        Ok(MSTORE_CONTINUE)
    }

    async fn mm7_store_submit(
        &self,
        _cx: &HookContext,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        let i = plan::index_of(&msg.envelope.rcptto);
        self.shared.timeline.event(
            "hooks",
            i,
            format_args!("mm7_store_submit_hook: MMS message {msgid} stored in {bucket}"),
        );
        Ok(MSTORE_CONTINUE)
    }

    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        let rerouted = self
            .rerouted_once(
                cx,
                bucket,
                msgid,
                plan::MMS_DOMAIN,
                "smpp_handle_DR_negative",
            )
            .await?;
        Ok(if rerouted {
            SMPP_DELIVERED
        } else {
            SMPP_CONTINUE
        })
    }

    async fn mm7_handle_dr_negative(
        &self,
        cx: &HookContext,
        _trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        let rerouted = self
            .rerouted_once(
                cx,
                bucket,
                msgid,
                plan::SMS_DOMAIN,
                "mm7_handle_DR_negative",
            )
            .await?;
        Ok(if rerouted {
            MM7_DELIVERED
        } else {
            MM7_CONTINUE
        })
    }
}

/// The injector: the gateway's spool. Reroutes become new jobs on the route their recipient's
/// domain names; bounces are counted (a real gateway would send them by e-mail).
#[derive(Debug)]
pub struct Spool {
    jobs: mpsc::UnboundedSender<Job>,
    dsns: Arc<AtomicU64>,
}

impl Spool {
    fn job(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        let (_, domain) = to.rsplit_once('@').unwrap_or_default();
        let kind = match domain {
            plan::SMS_DOMAIN => Kind::Sms,
            plan::MMS_DOMAIN => Kind::Mms,
            other => return Err(InjectError::Spool(format!("no route to domain {other:?}"))),
        };
        let Some(index) = plan::index_of(to) else {
            return Err(InjectError::BadAddress {
                address: to.to_owned(),
            });
        };
        // An SMS keeps its text in the body; an MMS as the gateway sends it keeps it as Subject.
        let text = match msg.channel {
            Channel::Smpp => String::from_utf8_lossy(&msg.body).into_owned(),
            Channel::Mm7 => msg.metadata.get("Subject").cloned().unwrap_or_default(),
        };
        self.jobs
            .send(Job {
                index,
                kind,
                text,
                mailfrom: from.to_owned(),
                leg: 0,
            })
            .map_err(|_| InjectError::Spool("the spool is closed".into()))
    }
}

#[async_trait]
impl Injector for Spool {
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        let from = msg.envelope.mailfrom.clone();
        let to = msg.envelope.rcptto.clone();
        self.job(msg, &from, &to)
    }

    async fn reroute(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        self.job(msg, from, to)
    }

    async fn inject_bounce(&self, _dsn: &Dsn) -> Result<(), InjectError> {
        self.dsns.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A submit_sm waiting for its response; its window slot is freed with it.
struct Pending {
    index: usize,
    leg: u8,
    submit: SubmitSm,
    envelope: Envelope,
    _permit: OwnedSemaphorePermit,
}

/// The SMPP side: an ESME bound as a transceiver.
struct SmppClient {
    tx: mpsc::UnboundedSender<Pdu>,
    seq: AtomicU32,
    window: Arc<Semaphore>,
    pending: Mutex<HashMap<u32, Pending>>,
    unbound: Notify,
}

impl SmppClient {
    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    async fn submit(&self, shared: &Shared, job: &Job) {
        let Ok(permit) = Arc::clone(&self.window).acquire_owned().await else {
            return shared.error(Some(job.index), "SMPP window closed");
        };
        let number = plan::number(job.index);
        let submit = SubmitSm {
            source_addr_ton: 3,
            source_addr: plan::SHORTCODE.into(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: number.clone().into(),
            registered_delivery: RegisteredDelivery::SMSC_DELIVERY,
            data_coding: DataCoding::SMSC_DEFAULT,
            short_message: bytes::Bytes::from(job.text.clone().into_bytes()),
            ..SubmitSm::default()
        };
        let envelope = Envelope {
            mailfrom: job.mailfrom.clone(),
            rcptto: format!("{number}@{}", plan::SMS_DOMAIN),
        };
        let seq = self.next_seq();
        let pending = Pending {
            index: job.index,
            leg: job.leg,
            submit: submit.clone(),
            envelope,
            _permit: permit,
        };
        lock(&self.pending).insert(seq, pending);
        shared.count(|r| r.smpp_submits += 1);
        shared.timeline.event(
            "gateway",
            Some(job.index),
            format_args!("submit_sm #{seq} to {number} (registered_delivery=SMSC_Delivery)"),
        );
        if self.tx.send(Pdu::new(seq, submit)).is_err() {
            lock(&self.pending).remove(&seq);
            shared.error(Some(job.index), "SMPP connection closed");
        }
    }
}

/// The MM7 side: a VASP.
struct Vasp {
    client: reqwest::Client,
    codec: DefaultMm7Codec,
    mmsc_url: String,
}

impl Vasp {
    async fn submit(&self, shared: &Shared, engine: &RetryEngine, job: &Job) {
        let i = job.index;
        let number = plan::number(i);
        let mut req = SubmitReq::new(
            format!("{}-{}", plan::id(i), shared.legs(i)),
            Release::Rel6Mm7_1_4,
            Recipients {
                to: vec![Address::Number(format!("+{number}"))],
                ..Recipients::default()
            },
        );
        req.sender_identification = SenderIdentification {
            vasp_id: Some("gateway".into()),
            vas_id: Some("example".into()),
            sender_address: Some(Address::ShortCode(plan::SHORTCODE.into())),
        };
        req.delivery_report = Some(true);
        req.subject = Some(job.text.clone());
        req.content = Some(ContentRef {
            href: "cid:text@gateway".into(),
            allow_adaptations: None,
        });
        req.parts = vec![
            ContentPart::new("text/plain; charset=utf-8", job.text.clone().into_bytes())
                .with_content_id("<text@gateway>"),
        ];
        let encoded = match self
            .codec
            .encode(&Mm7Message::SubmitReq(req.clone()), &req.release)
        {
            Ok(e) => e,
            Err(e) => return shared.error(Some(i), format_args!("SubmitReq: {e}")),
        };
        shared.count(|r| r.mm7_submits += 1);
        shared.timeline.event(
            "gateway",
            Some(i),
            format_args!("SubmitReq to +{number} (DeliveryReport=true)"),
        );
        let answer = self
            .client
            .post(&self.mmsc_url)
            .header("Content-Type", encoded.content_type)
            .header("SOAPAction", "\"\"")
            .body(encoded.body)
            .send()
            .await;
        let rsp = match answer {
            Ok(r) => {
                let content_type = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match r.bytes().await {
                    Ok(body) => self.codec.decode(content_type.as_deref(), &body),
                    Err(e) => {
                        return shared.error(Some(i), format_args!("reading the SubmitRsp: {e}"));
                    }
                }
            }
            Err(e) => return shared.error(Some(i), format_args!("posting the SubmitReq: {e}")),
        };
        let rsp = match rsp {
            Ok(Mm7Message::SubmitRsp(rsp)) => rsp,
            Ok(other) => {
                return shared.error(
                    Some(i),
                    format_args!("the relay answered a {}", other.kind()),
                );
            }
            Err(e) => return shared.error(Some(i), format_args!("unreadable SubmitRsp: {e}")),
        };
        let envelope = Envelope {
            mailfrom: job.mailfrom.clone(),
            rcptto: format!("{number}@{}", plan::MMS_DOMAIN),
        };
        if let Some(id) = &rsp.message_id {
            shared.expect(engine, &mm7_scope(), i, id);
        }
        let outcome = engine
            .on_submit_rsp(&mm7_scope(), envelope, &req, &rsp)
            .await;
        if matches!(outcome, Ok(SubmitOutcome::Stored { .. })) {
            shared
                .accepted(
                    i,
                    job.leg,
                    rsp.status.code.as_u16().to_string(),
                    MMSC_CONNECTOR,
                )
                .await;
        }
        shared.submit_outcome(i, Channel::Mm7, outcome).await;
    }

    /// Answers one DeliveryReportReq from the relay.
    async fn report(
        shared: Arc<Shared>,
        engine: RetryEngine,
        codec: DefaultMm7Codec,
        req: Request,
    ) -> Response {
        let report = match codec.decode(req.content_type.as_deref(), &req.body) {
            Ok(Mm7Message::DeliveryReportReq(r)) => r,
            Ok(other) => {
                return Response::text(
                    "400 Bad Request",
                    format!("expected a DeliveryReportReq, got a {}", other.kind()),
                );
            }
            Err(e) => {
                return Response::text("400 Bad Request", format!("unreadable MM7 request: {e}"));
            }
        };
        shared.count(|r| r.mm7_reports += 1);
        let scope = mm7_scope();
        let format = engine.options().resolve(&scope).receipt_msgid_format;
        let i = plan::index_of(report.recipient.value());
        shared.timeline.event(
            "vasp",
            i,
            format_args!(
                "DeliveryReportReq MessageID={} MMStatus={}",
                report.message_id,
                report.mm_status.as_str()
            ),
        );
        if let (Some(i), Some(key), ReceiptClass::Positive | ReceiptClass::Negative) = (
            i,
            msgid_key(&report.message_id, format).and_then(|k| MsgId::new(k).ok()),
            report.mm_status.class(),
        ) && let Ok(bucket) = engine.bucket_for(match &report.sender {
            Address::ShortCode(code) => Some(code.as_str()),
            _ => None,
        }) {
            let text = lock(&shared.messages)
                .get(i)
                .map(|m| m.text.clone())
                .unwrap_or_default();
            let now = yymmddhhmm(SystemTime::now());
            let delivered = report.mm_status.class() == ReceiptClass::Positive;
            let info = FinalInfo {
                status: report.mm_status.as_str().to_owned(),
                connector: MMSC_CONNECTOR,
                params: ReceiptParams {
                    id_smsc: report.message_id.clone(),
                    sub: "001".into(),
                    dlvrd: if delivered { "001" } else { "000" }.into(),
                    subdate: now.clone(),
                    donedate: now,
                    // MM7 reports carry no numeric error code; Jasmin's `err` is one.
                    err: if delivered { "000" } else { "" }.into(),
                    text,
                },
            };
            lock(&shared.finals).insert((bucket, key), info);
        }
        let (outcome, rsp) = engine.on_delivery_report(&scope, &report).await;
        shared.receipt_outcome(Source::Mm7, i, outcome).await;
        match codec.encode(&Mm7Message::DeliveryReportRsp(rsp), &report.release) {
            Ok(e) => Response {
                status: "200 OK",
                content_type: e.content_type,
                body: e.body,
            },
            Err(e) => Response::text(
                "500 Internal Server Error",
                format!("cannot encode the DeliveryReportRsp: {e}"),
            ),
        }
    }
}

/// Where the gateway's peers are.
pub struct Peers {
    /// The SMSC.
    pub smsc: SocketAddr,
    /// The relay's MM7 URL.
    pub mmsc_url: String,
    /// Where the VASP's delivery-report endpoint listens.
    pub vasp_listener: TcpListener,
    /// The application's dlr-url.
    pub dlr_url: url::Url,
}

/// The running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    engine: RetryEngine,
    smpp: Arc<SmppClient>,
    dsns: Arc<AtomicU64>,
    jobs_rx: Option<mpsc::UnboundedReceiver<Job>>,
    vasp: Arc<Vasp>,
    vasp_server: Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Binds to the SMSC, starts the VASP endpoint and the DLR thrower, over `store`.
    pub async fn start(
        n: usize,
        store: Arc<dyn MessageStore>,
        peers: Peers,
        dlr_config: DlrThrowerConfig,
        timeline: Arc<Timeline>,
    ) -> Result<Self, String> {
        let options =
            MobilityConfig::from_toml_str(OPTIONS).map_err(|e| format!("options: {e}"))?;
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            timeline: Arc::clone(&timeline),
            messages: Mutex::new((0..n).map(|_| MessageState::default()).collect()),
            by_key: Mutex::new(HashMap::new()),
            finals: Mutex::new(HashMap::new()),
            report: Mutex::new(GatewayReport::default()),
            finished: AtomicUsize::new(0),
            all_done: Notify::new(),
            jobs: jobs.clone(),
            dlr_url: peers.dlr_url,
            thrower: tokio::sync::OnceCell::new(),
        });
        let dsns = Arc::new(AtomicU64::new(0));
        let engine = RetryEngine::builder(
            store,
            Arc::new(Spool {
                jobs,
                dsns: Arc::clone(&dsns),
            }),
        )
        .options(options)
        .hooks(Arc::new(Policy {
            shared: Arc::clone(&shared),
        }))
        .build();

        let s = Arc::clone(&shared);
        let thrower = HttpDlrThrower::builder(dlr_config)
            .on_outcome(move |outcome| {
                let i = outcome
                    .dlr()
                    .id
                    .strip_prefix("gw-")
                    .and_then(|n| n.parse().ok());
                let attempts = outcome.attempts();
                match outcome {
                    DlrOutcome::Acknowledged { dlr, .. } => {
                        s.count(|r| *r.dlrs_acked_after.entry(attempts).or_default() += 1);
                        s.timeline.event(
                            "thrower",
                            i,
                            format_args!(
                                "DLR level={} acknowledged after {attempts} attempt(s)",
                                dlr.level
                            ),
                        );
                    }
                    DlrOutcome::Exhausted {
                        dlr, last_error, ..
                    } => {
                        s.count(|r| r.dlrs_exhausted += 1);
                        s.timeline.event(
                            "thrower",
                            i,
                            format_args!(
                                "DLR level={} given up after {attempts} attempts: {last_error}",
                                dlr.level
                            ),
                        );
                    }
                }
            })
            .build()
            .await
            .map_err(|e| format!("DLR thrower: {e}"))?;
        let _ = shared.thrower.set(thrower);

        let smpp = connect_smpp(peers.smsc, &shared, &engine).await?;
        let vasp = Arc::new(Vasp {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .map_err(|e| format!("VASP HTTP client: {e}"))?,
            codec: DefaultMm7Codec::default(),
            mmsc_url: peers.mmsc_url,
        });
        let (s, e) = (Arc::clone(&shared), engine.clone());
        let handler: Handler = Arc::new(move |req| {
            Box::pin(Vasp::report(
                Arc::clone(&s),
                e.clone(),
                DefaultMm7Codec::default(),
                req,
            ))
        });
        let vasp_server = Server::start(peers.vasp_listener, handler)
            .map_err(|e| format!("VASP endpoint: {e}"))?;
        let mut tasks = Vec::new();
        // Parked receipts past their window are dropped on this timer, receipts parked because
        // the store was unavailable are retried on it, and a receipt the timer happened to hold
        // while its submission was stored is applied by it: its outcome is handled like any other.
        let (e, s) = (engine.clone(), Arc::clone(&shared));
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let (_, outcomes) = e.retry_parked_outcomes().await;
                for outcome in outcomes {
                    s.receipt_outcome(Source::ParkingLot, None, outcome).await;
                }
            }
        }));
        Ok(Self {
            shared,
            engine,
            smpp: smpp.0,
            dsns,
            jobs_rx: Some(jobs_rx),
            vasp,
            vasp_server,
            tasks: {
                tasks.extend(smpp.1);
                tasks
            },
        })
    }

    /// Sends every message once, then whatever the hooks reroute, until the spool closes.
    pub fn run_spool(&mut self, n: usize) {
        let Some(mut rx) = self.jobs_rx.take() else {
            return;
        };
        for i in 0..n {
            let job = Job {
                index: i,
                kind: plan::kind(i),
                text: plan::text(i),
                mailfrom: plan::SENDER.to_owned(),
                leg: 0,
            };
            let _ = self.shared.jobs.send(job);
        }
        let (shared, smpp, vasp, engine) = (
            Arc::clone(&self.shared),
            Arc::clone(&self.smpp),
            Arc::clone(&self.vasp),
            self.engine.clone(),
        );
        self.tasks.push(tokio::spawn(async move {
            while let Some(mut job) = rx.recv().await {
                {
                    let mut messages = lock(&shared.messages);
                    if let Some(m) = messages.get_mut(job.index) {
                        m.legs += 1;
                        m.text.clone_from(&job.text);
                        job.leg = m.legs;
                    }
                }
                match job.kind {
                    Kind::Sms => smpp.submit(&shared, &job).await,
                    Kind::Mms => {
                        let (shared, vasp, engine) =
                            (Arc::clone(&shared), Arc::clone(&vasp), engine.clone());
                        tokio::spawn(async move { vasp.submit(&shared, &engine, &job).await });
                    }
                }
            }
        }));
    }

    /// Waits until every message is delivered or bounced and every DLR has its outcome.
    pub async fn wait(&self) {
        if self.shared.finished.load(Ordering::SeqCst) < lock(&self.shared.messages).len() {
            self.shared.all_done.notified().await;
        }
        if let Some(t) = self.shared.thrower.get() {
            t.idle().await;
        }
    }

    /// Messages finished so far and DLRs still pending, for the progress line.
    pub fn progress(&self) -> (usize, usize) {
        let pending = self.shared.thrower.get().map_or(0, HttpDlrThrower::pending);
        (self.shared.finished.load(Ordering::SeqCst), pending)
    }

    /// Unbinds from the SMSC and waits (briefly) for its unbind_resp.
    pub async fn unbind(&self) {
        let seq = self.smpp.next_seq();
        self.shared.timeline.event("gateway", None, "unbind");
        if self.smpp.tx.send(Pdu::new(seq, Body::Unbind)).is_ok() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), self.smpp.unbound.notified()).await;
        }
    }

    /// The engine (for its counters).
    pub fn engine(&self) -> &RetryEngine {
        &self.engine
    }

    /// What the gateway counted.
    pub fn report(&self) -> GatewayReport {
        let mut r = lock(&self.shared.report).clone();
        r.dsns = self.dsns.load(Ordering::Relaxed);
        r
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Connects and binds; returns the client and its reader, writer and enquire_link tasks.
async fn connect_smpp(
    addr: SocketAddr,
    shared: &Arc<Shared>,
    engine: &RetryEngine,
) -> Result<(Arc<SmppClient>, Vec<tokio::task::JoinHandle<()>>), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("SMSC {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, SmppFraming::new());
    let bind = Bind {
        system_id: "gateway".into(),
        password: "secret".into(),
        system_type: "redeliver".into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    framed
        .send(Pdu::new(1, Body::BindTransceiver(bind)))
        .await
        .map_err(|e| format!("bind_transceiver: {e}"))?;
    match framed.next().await {
        Some(Ok(Pdu {
            body: Body::BindTransceiverResp(resp),
            command_status: CommandStatus::Ok,
            ..
        })) => {
            shared.timeline.event(
                "gateway",
                None,
                format_args!(
                    "bound to {} as a transceiver",
                    resp.system_id.to_string_lossy()
                ),
            );
        }
        Some(Ok(pdu)) => {
            return Err(format!(
                "bind_transceiver answered with {} {}",
                pdu.command_id().name(),
                pdu.command_status
            ));
        }
        Some(Err(e)) => return Err(format!("bind_transceiver_resp: {e}")),
        None => return Err("the SMSC closed the connection during the bind".into()),
    }
    let (mut sink, mut stream) = framed.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Pdu>();
    let client = Arc::new(SmppClient {
        tx,
        seq: AtomicU32::new(2),
        window: Arc::new(Semaphore::new(WINDOW)),
        pending: Mutex::new(HashMap::new()),
        unbound: Notify::new(),
    });
    let writer = tokio::spawn(async move {
        while let Some(pdu) = rx.recv().await {
            if sink.send(pdu).await.is_err() {
                break;
            }
        }
    });
    let c = Arc::clone(&client);
    let enquire = tokio::spawn(async move {
        let mut tick = tokio::time::interval(ENQUIRE_LINK_EVERY);
        loop {
            tick.tick().await;
            let seq = c.next_seq();
            if c.tx.send(Pdu::new(seq, Body::EnquireLink)).is_err() {
                break;
            }
        }
    });
    // PDUs about one message are handled one at a time, in arrival order, so a receipt that
    // beats its submit_sm_resp reaches the engine first and is parked until the response
    // stores the message. PDUs about different messages are handled side by side, so the
    // store can commit their writes together.
    let mut tasks = vec![writer, enquire];
    let mut lanes = Vec::with_capacity(LANES);
    for _ in 0..LANES {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pdu>();
        let (c, s, e) = (Arc::clone(&client), Arc::clone(shared), engine.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(pdu) = rx.recv().await {
                on_pdu(&c, &s, &e, pdu).await;
            }
        }));
        lanes.push(tx);
    }
    let (c, s, e) = (Arc::clone(&client), Arc::clone(shared), engine.clone());
    tasks.push(tokio::spawn(async move {
        while let Some(next) = stream.next().await {
            let pdu = match next {
                Ok(pdu) => pdu,
                Err(err) => {
                    s.error(None, format_args!("SMPP: {err}"));
                    if err.is_fatal() {
                        break;
                    }
                    continue;
                }
            };
            let message = match &pdu.body {
                Body::SubmitSmResp(_) => {
                    lock(&c.pending).get(&pdu.sequence_number).map(|p| p.index)
                }
                Body::DeliverSm(d) => plan::index_of(&d.source_addr.to_string_lossy()),
                _ => None,
            };
            match message {
                Some(i) => {
                    if lanes[i % LANES].send(pdu).is_err() {
                        break;
                    }
                }
                None => {
                    if on_pdu(&c, &s, &e, pdu).await {
                        break;
                    }
                }
            }
        }
        c.unbound.notify_one();
    }));
    Ok((client, tasks))
}

/// Handles one PDU from the SMSC; true when the session is over.
async fn on_pdu(c: &SmppClient, s: &Shared, e: &RetryEngine, pdu: Pdu) -> bool {
    let scope = smpp_scope();
    match pdu.body {
        Body::SubmitSmResp(resp) => {
            let Some(Pending {
                index: i,
                leg,
                submit,
                envelope,
                _permit: _,
            }) = lock(&c.pending).remove(&pdu.sequence_number)
            else {
                s.error(
                    None,
                    format_args!("submit_sm_resp #{} for no submit_sm", pdu.sequence_number),
                );
                return false;
            };
            s.timeline.event(
                "gateway",
                Some(i),
                format_args!(
                    "submit_sm_resp #{} {} message_id={}",
                    pdu.sequence_number,
                    pdu.command_status,
                    resp.message_id.to_string_lossy()
                ),
            );
            s.expect(e, &scope, i, &resp.message_id.to_string_lossy());
            let outcome = e
                .on_submit_sm_resp(&scope, envelope, &submit, pdu.command_status, &resp)
                .await;
            if matches!(outcome, Ok(SubmitOutcome::Stored { .. })) {
                s.accepted(i, leg, pdu.command_status.to_string(), SMSC_CONNECTOR)
                    .await;
            }
            s.submit_outcome(i, Channel::Smpp, outcome).await;
        }
        Body::DeliverSm(deliver) => {
            let _ = c.tx.send(Pdu::new(
                pdu.sequence_number,
                Body::DeliverSmResp(DeliverSmResp::default()),
            ));
            if !deliver.esm_class.is_delivery_receipt() {
                s.timeline.event(
                    "gateway",
                    None,
                    "deliver_sm that is not a receipt (MO message): ignored",
                );
                return false;
            }
            let i = plan::index_of(&deliver.source_addr.to_string_lossy());
            match DeliveryReceipt::from_deliver_sm(&deliver) {
                Ok(receipt) => {
                    let class = receipt.class(&e.settings().receipt_rules);
                    s.timeline.event(
                        "gateway",
                        i,
                        format_args!(
                            "deliver_sm receipt id:{} stat:{} ({class})",
                            receipt.id, receipt.stat
                        ),
                    );
                    if class == ReceiptClass::Intermediate {
                        // counted from the engine's outcome
                    } else {
                        s.count(|r| r.smpp_receipts += 1);
                        let format = e.options().resolve(&scope).receipt_msgid_format;
                        let key = msgid_key(&receipt.id, format).and_then(|k| MsgId::new(k).ok());
                        let bucket = e
                            .bucket_for(Some(&deliver.destination_addr.to_string_lossy()))
                            .ok();
                        if let (Some(key), Some(bucket)) = (key, bucket) {
                            let info = FinalInfo {
                                status: receipt.stat.clone(),
                                connector: SMSC_CONNECTOR,
                                params: ReceiptParams {
                                    id_smsc: receipt.id.clone(),
                                    sub: receipt.sub.clone().unwrap_or_default(),
                                    dlvrd: receipt.dlvrd.clone().unwrap_or_default(),
                                    subdate: receipt.submit_date.clone().unwrap_or_default(),
                                    donedate: receipt.done_date.clone().unwrap_or_default(),
                                    err: receipt.err.clone().unwrap_or_default(),
                                    text: receipt.text.clone().unwrap_or_default(),
                                },
                            };
                            lock(&s.finals).insert((bucket, key), info);
                        }
                    }
                }
                Err(err) => s.error(i, format_args!("deliver_sm receipt: {err}")),
            }
            let outcome = e.on_deliver_sm(&scope, &deliver).await;
            s.receipt_outcome(Source::Smpp, i, outcome).await;
        }
        Body::EnquireLinkResp => {
            s.count(|r| r.enquire_links += 1);
        }
        Body::EnquireLink => {
            let _ =
                c.tx.send(Pdu::new(pdu.sequence_number, Body::EnquireLinkResp));
        }
        Body::UnbindResp => {
            s.timeline
                .event("gateway", None, "unbind_resp: session closed");
            return true;
        }
        Body::GenericNack => s.error(
            None,
            format_args!(
                "generic_nack #{} {}",
                pdu.sequence_number, pdu.command_status
            ),
        ),
        other => s.error(
            None,
            format_args!("unexpected {} from the SMSC", other.command_id().name()),
        ),
    }
    false
}
