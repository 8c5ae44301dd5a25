//! The gateway: what a host of `redeliver` writes, in four files.
//!
//! * `esme.rs`, an SMPP client (ESME) on the crate's framing: `bind_transceiver`, a window of
//!   outstanding `submit_sm`, `enquire_link` every 250 ms, `deliver_sm` receipts answered and
//!   handed to the engine, `unbind` at the end;
//! * `vasp.rs`, an MM7 VASP: `SubmitReq` over HTTP to the relay, and an HTTP endpoint for the
//!   relay's `DeliveryReportReq`, answered with the `DeliveryReportRsp` the engine builds;
//! * `policy.rs`, the hooks ([`Policy`]: the seed's Lua examples in Rust, rerouting a failed SMS
//!   to MM7 and a failed MMS to SMS, once) and the injector ([`Spool`]);
//! * this file: the [`RetryEngine`] over the chosen store, the spool's dispatcher, what the parts
//!   share, and an [`HttpDlrThrower`] that sends the application a level-1 DLR when its message is
//!   accepted and a receipt DLR when the message is delivered or bounced (`dlr-level` 3).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redeliver::config::{MobilityConfig, ScopeContext, msgid_key};
use redeliver::dlr::{
    Dlr, DlrLevel, DlrMethod, DlrOutcome, DlrThrower, DlrThrowerConfig, HttpDlrThrower,
    ReceiptParams,
};
use redeliver::message::{Bucket, Channel, MsgId, ReceiptClass};
use redeliver::mm7::DefaultMm7Codec;
use redeliver::retry::{DefaultAction, EngineError, ReceiptOutcome, RetryEngine, SubmitOutcome};
use redeliver::smpp::{Body, Pdu};
use redeliver::store::MessageStore;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

use super::esme::{SmppClient, connect_smpp};
use super::http::{Handler, Server};
use super::plan::{self, End, Kind};
use super::policy::{Policy, Spool};
use super::timeline::Timeline;
use super::vasp::Vasp;

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

/// The SMPP binding's name: its scope in the options, and the `connector` of its DLRs.
pub(crate) const SMSC_CONNECTOR: &str = "smsc-sim";
/// The MM7 binding's name.
pub(crate) const MMSC_CONNECTOR: &str = "mmsc-sim";

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn smpp_scope() -> ScopeContext {
    ScopeContext {
        binding: Some(SMSC_CONNECTOR.to_owned()),
        binding_group: None,
        domain: Some(plan::SMS_DOMAIN.to_owned()),
    }
}

pub(crate) fn mm7_scope() -> ScopeContext {
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
pub(crate) enum Source {
    /// A deliver_sm on the SMPP connection.
    Smpp,
    /// A DeliveryReportReq on the VASP's endpoint.
    Mm7,
    /// The engine's parking lot, on the timer.
    ParkingLot,
}

#[derive(Debug, Default)]
pub(crate) struct MessageState {
    pub(crate) legs: u8,
    pub(crate) text: String,
    pub(crate) end: Option<End>,
}

/// What the gateway's parts share.
pub struct Shared {
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) messages: Mutex<Vec<MessageState>>,
    pub(crate) by_key: Mutex<HashMap<(Bucket, MsgId), usize>>,
    /// The receipt DLR of each final receipt, built when the receipt arrives and thrown when the
    /// engine has decided the message's end.
    pub(crate) report: Mutex<GatewayReport>,
    pub(crate) finished: AtomicUsize,
    pub(crate) all_done: Notify,
    pub(crate) jobs: mpsc::UnboundedSender<Job>,
    pub(crate) dlr_url: url::Url,
    pub(crate) thrower: tokio::sync::OnceCell<HttpDlrThrower>,
    /// DLRs the thrower did not accept (they have no outcome to wait for).
    pub(crate) dlrs_refused: AtomicU64,
}

impl Shared {
    pub(crate) fn count(&self, f: impl FnOnce(&mut GatewayReport)) {
        f(&mut lock(&self.report));
    }

    pub(crate) fn error(&self, index: Option<usize>, what: impl std::fmt::Display) {
        self.count(|r| r.errors += 1);
        self.timeline
            .event("gateway", index, format_args!("ERROR {what}"));
    }

    pub(crate) fn legs(&self, i: usize) -> u8 {
        lock(&self.messages).get(i).map_or(0, |m| m.legs)
    }

    pub(crate) async fn throw(&self, i: usize, dlr: Dlr) {
        self.count(|r| r.dlrs_thrown += 1);
        let Some(thrower) = self.thrower.get() else {
            return self.error(Some(i), "no DLR thrower");
        };
        if let Err(e) = thrower.throw(dlr).await {
            self.dlrs_refused.fetch_add(1, Ordering::SeqCst);
            self.error(Some(i), format_args!("DLR not accepted: {e}"));
        }
    }

    /// The level-1 DLR: the message was accepted by its first SMSC or MMSC.
    pub(crate) async fn accepted(&self, i: usize, leg: u8, dlr: Dlr) {
        if leg != 1 {
            return;
        }
        self.throw(i, dlr).await;
    }

    /// The message reached its end: the receipt DLR, and the count towards the run's end.
    pub(crate) async fn finish(&self, i: usize, end: End, dlr: Option<Dlr>) {
        {
            let mut messages = lock(&self.messages);
            let Some(m) = messages.get_mut(i) else { return };
            if m.end.is_some() {
                drop(messages);
                return self.error(Some(i), "a second end for one message");
            }
            m.end = Some(end);
        }
        // A final receipt's DLR is built from the receipt in the engine's outcome; this is for
        // one that carried no typed receipt (an MM7 report applied out of parking).
        let dlr = dlr.unwrap_or_else(|| {
            let status = match end {
                End::Delivered => "DELIVRD",
                End::Bounced => "UNDELIV",
            };
            Dlr::level2(
                self.dlr_url.clone(),
                DlrMethod::Post,
                DlrLevel::All,
                plan::id(i),
                status,
                SMSC_CONNECTOR,
                ReceiptParams::default(),
            )
        });
        self.throw(i, dlr).await;
        let total = lock(&self.messages).len();
        if self.finished.fetch_add(1, Ordering::SeqCst) + 1 == total {
            self.all_done.notify_one();
        }
    }

    /// Acts on what the engine did with a receipt: fresh from a connection, parked and applied
    /// when its submission was stored, or applied by the parking-lot timer. `hint` is the
    /// message the receipt names, when the receipt says.
    pub(crate) async fn receipt_outcome(
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
                receipt,
                class,
                took_over,
                default_action,
                ..
            } => {
                let key = (bucket, msgid);
                let found = lock(&self.by_key).remove(&key);
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
                // The DLR comes from the typed receipt in the outcome: no second read of the PDU.
                let info = if let Some(r) = &receipt.smpp {
                    Some(Dlr::level2_from_receipt(
                        self.dlr_url.clone(),
                        DlrMethod::Post,
                        DlrLevel::All,
                        plan::id(i),
                        r,
                        SMSC_CONNECTOR,
                    ))
                } else {
                    receipt
                        .mm7_report
                        .as_ref()
                        .map(|r| super::vasp::dlr_from_report(self, i, r))
                };
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
            other => self.error(hint, format_args!("unexpected receipt outcome {other:?}")),
        }
    }

    /// Notes which message the engine is about to store under the submit response's id. It is
    /// done before the engine stores it, because the receipt or report can reach the engine
    /// through another connection the moment the message is stored.
    pub(crate) fn expect(&self, engine: &RetryEngine, scope: &ScopeContext, i: usize, id: &str) {
        let format = engine.options().resolve(scope).submit_msgid_format;
        let key = msgid_key(id, format).and_then(|k| MsgId::new(k).ok());
        if let (Ok(bucket), Some(key)) = (engine.bucket_for(Some(plan::SHORTCODE)), key) {
            lock(&self.by_key).insert((bucket, key), i);
        }
    }

    /// Acts on what the engine did with a submission.
    pub(crate) async fn submit_outcome(
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
                collided_parts,
            }) => {
                if !collided_parts.is_empty() {
                    self.error(
                        Some(i),
                        format_args!("parts {collided_parts:?} collide with other messages"),
                    );
                }
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

/// The DLR queue in RabbitMQ at `url`, shared with any other gateway using the same broker.
#[cfg(feature = "dlr-amqp")]
async fn amqp_queue(url: &str) -> Result<Arc<dyn redeliver::dlr::DlrQueue>, String> {
    use redeliver::dlr::{AmqpDlrQueue, AmqpQueueConfig};
    let queue = AmqpDlrQueue::connect(AmqpQueueConfig::new(url))
        .await
        .map_err(|e| e.to_string())?;
    if !queue.is_connected().await {
        return Err("DLR queue: the RabbitMQ broker cannot be reached".into());
    }
    Ok(Arc::new(queue))
}

#[cfg(not(feature = "dlr-amqp"))]
async fn amqp_queue(_url: &str) -> Result<Arc<dyn redeliver::dlr::DlrQueue>, String> {
    Err("--dlr-queue amqp://… needs the dlr-amqp feature (cargo run --features dlr-amqp)".into())
}

/// The running gateway.
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
    pub(crate) engine: RetryEngine,
    pub(crate) smpp: Arc<SmppClient>,
    pub(crate) dsns: Arc<AtomicU64>,
    pub(crate) jobs_rx: Option<mpsc::UnboundedReceiver<Job>>,
    pub(crate) vasp: Arc<Vasp>,
    pub(crate) vasp_server: Server,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Binds to the SMSC, starts the VASP endpoint and the DLR thrower, over `store`.
    pub async fn start(
        n: usize,
        store: Arc<dyn MessageStore>,
        peers: Peers,
        dlr_config: DlrThrowerConfig,
        dlr_queue: Option<&str>,
        timeline: Arc<Timeline>,
    ) -> Result<Self, String> {
        let options =
            MobilityConfig::from_toml_str(OPTIONS).map_err(|e| format!("options: {e}"))?;
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            timeline: Arc::clone(&timeline),
            messages: Mutex::new((0..n).map(|_| MessageState::default()).collect()),
            by_key: Mutex::new(HashMap::new()),
            report: Mutex::new(GatewayReport::default()),
            finished: AtomicUsize::new(0),
            all_done: Notify::new(),
            jobs: jobs.clone(),
            dlr_url: peers.dlr_url,
            thrower: tokio::sync::OnceCell::new(),
            dlrs_refused: AtomicU64::new(0),
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
        let mut builder = HttpDlrThrower::builder(dlr_config);
        if let Some(url) = dlr_queue {
            builder = builder.queue_with(amqp_queue(url).await?);
        }
        let thrower = builder
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
                    // Outcomes a later version may add.
                    _ => s.count(|r| r.errors += 1),
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
            // With a queue in RabbitMQ, a DLR waiting for its retry is in the broker, not in the
            // thrower: wait for every outcome.
            loop {
                let outcomes = {
                    let r = lock(&self.shared.report);
                    r.dlrs_acked_after.values().sum::<u64>() + r.dlrs_exhausted
                };
                let refused = self.shared.dlrs_refused.load(Ordering::SeqCst);
                if outcomes + refused >= lock(&self.shared.report).dlrs_thrown {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
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
