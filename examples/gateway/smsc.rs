//! The SMSC simulator: an SMPP 3.4 server on 127.0.0.1 built on the crate's codec and framing.
//!
//! It accepts `bind_transceiver`, answers `enquire_link` and `unbind`, and answers each
//! `submit_sm` the way its plan ([`super::plan::smsc`]) says for the message the recipient
//! number names: a `submit_sm_resp` with a **hexadecimal** message id, and a `deliver_sm`
//! receipt that writes the same id in **decimal** (as many real SMSCs do) — sometimes before the
//! response, sometimes after an `ENROUTE` receipt.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState, ReceiptDate};
use redeliver::smpp::{BindResp, Body, CommandStatus, Pdu, SmppFraming, SubmitSm, SubmitSmResp};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

use super::plan;
use super::timeline::Timeline;

/// The first message id the SMSC hands out; ids count up from it.
const FIRST_ID: u64 = 0x2A_0000;

/// What the SMSC did, counted by the SMSC itself.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SmscReport {
    /// Binds accepted.
    pub binds: u64,
    /// submit_sm PDUs received.
    pub submits: u64,
    /// Receipts sent with a final state, by state (`DELIVRD`, `UNDELIV`, `EXPIRED`).
    pub receipts: std::collections::BTreeMap<String, u64>,
    /// Receipts sent before their submit_sm_resp.
    pub early_receipts: u64,
    /// ENROUTE receipts sent.
    pub enroute_receipts: u64,
    /// deliver_sm_resp PDUs received.
    pub deliver_sm_resps: u64,
    /// enquire_link PDUs answered.
    pub enquire_links: u64,
    /// unbind PDUs answered.
    pub unbinds: u64,
    /// PDUs that could not be read, or that an SMSC does not expect from an ESME.
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    binds: AtomicU64,
    submits: AtomicU64,
    delivered: AtomicU64,
    undeliverable: AtomicU64,
    expired: AtomicU64,
    other: AtomicU64,
    early: AtomicU64,
    enroute: AtomicU64,
    deliver_sm_resps: AtomicU64,
    enquire_links: AtomicU64,
    unbinds: AtomicU64,
    errors: AtomicU64,
}

/// The running SMSC simulator.
pub struct Smsc {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Smsc {
    /// Starts on `listener`.
    pub fn start(listener: TcpListener, timeline: Arc<Timeline>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            let next_id = Arc::new(AtomicU64::new(FIRST_ID));
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            let _ = stream.set_nodelay(true);
                            sessions.spawn(session(stream, Arc::clone(&c), Arc::clone(&timeline), Arc::clone(&next_id)));
                        }
                    }
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            counters,
            task,
        })
    }

    /// What it did so far.
    pub fn report(&self) -> SmscReport {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let mut receipts = std::collections::BTreeMap::new();
        for (state, n) in [
            ("DELIVRD", get(&c.delivered)),
            ("UNDELIV", get(&c.undeliverable)),
            ("EXPIRED", get(&c.expired)),
            ("other", get(&c.other)),
        ] {
            if n > 0 {
                receipts.insert(state.to_owned(), n);
            }
        }
        SmscReport {
            binds: get(&c.binds),
            submits: get(&c.submits),
            receipts,
            early_receipts: get(&c.early),
            enroute_receipts: get(&c.enroute),
            deliver_sm_resps: get(&c.deliver_sm_resps),
            enquire_links: get(&c.enquire_links),
            unbinds: get(&c.unbinds),
            errors: get(&c.errors),
        }
    }
}

/// Today's date and time (UTC) as a receipt writes it.
fn receipt_now() -> ReceiptDate {
    let (year, month, day, hour, minute, _) = super::timeline::utc(SystemTime::now());
    ReceiptDate {
        year,
        month,
        day,
        hour,
        minute,
        second: None,
    }
}

/// The deliver_sm carrying the receipt for `submit` in `state`, with the id in decimal.
fn receipt_pdu(
    submit: &SubmitSm,
    id: u64,
    state: MessageState,
    seq: u32,
) -> Result<Pdu, redeliver::smpp::EncodeError> {
    let text = String::from_utf8_lossy(&submit.short_message);
    let mut receipt = DeliveryReceipt::new(id.to_string(), state);
    receipt.text = Some(text.chars().take(20).collect());
    if matches!(state, MessageState::Undeliverable | MessageState::Expired) {
        // A network error code, as GSM networks give for an absent or unreachable subscriber.
        receipt.err = Some(
            if state == MessageState::Expired {
                "027"
            } else {
                "001"
            }
            .into(),
        );
    }
    let now = receipt_now();
    let receipt = receipt.with_dates(now, now);
    // A receipt travels back: from the handset to the shortcode the message came from.
    let pdu = receipt.to_deliver_sm(submit.destination_addr.clone(), submit.source_addr.clone())?;
    Ok(Pdu::new(seq, pdu))
}

async fn session(
    stream: TcpStream,
    counters: Arc<Counters>,
    timeline: Arc<Timeline>,
    next_id: Arc<AtomicU64>,
) {
    let (mut sink, mut stream) = Framed::new(stream, SmppFraming::new()).split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Pdu>();
    let writer = tokio::spawn(async move {
        while let Some(pdu) = rx.recv().await {
            let last = matches!(pdu.body, Body::UnbindResp);
            if sink.send(pdu).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let seq = Arc::new(AtomicU32::new(1));
    let mut bound = false;
    while let Some(next) = stream.next().await {
        let pdu = match next {
            Ok(pdu) => pdu,
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                timeline.event("smsc", None, format_args!("unreadable PDU: {e}"));
                if e.is_fatal() {
                    break;
                }
                continue;
            }
        };
        let reply = |body: Body, status: CommandStatus| Pdu {
            command_status: status,
            sequence_number: pdu.sequence_number,
            body,
        };
        match &pdu.body {
            Body::BindTransceiver(bind) => {
                counters.binds.fetch_add(1, Ordering::Relaxed);
                bound = true;
                timeline.event(
                    "smsc",
                    None,
                    format_args!(
                        "bind_transceiver from {:?} -> bind_transceiver_resp ESME_ROK",
                        bind.system_id.to_string_lossy()
                    ),
                );
                let resp = BindResp {
                    system_id: "smsc-sim".into(),
                    ..BindResp::default()
                };
                let _ = tx.send(reply(Body::BindTransceiverResp(resp), CommandStatus::Ok));
            }
            Body::EnquireLink => {
                counters.enquire_links.fetch_add(1, Ordering::Relaxed);
                timeline.event("smsc", None, "enquire_link -> enquire_link_resp");
                let _ = tx.send(reply(Body::EnquireLinkResp, CommandStatus::Ok));
            }
            Body::Unbind => {
                counters.unbinds.fetch_add(1, Ordering::Relaxed);
                timeline.event("smsc", None, "unbind -> unbind_resp");
                let _ = tx.send(reply(Body::UnbindResp, CommandStatus::Ok));
                break;
            }
            Body::DeliverSmResp(_) => {
                counters.deliver_sm_resps.fetch_add(1, Ordering::Relaxed);
            }
            Body::SubmitSm(submit) if bound => {
                counters.submits.fetch_add(1, Ordering::Relaxed);
                let dest = submit.destination_addr.to_string_lossy().into_owned();
                let Some(i) = plan::index_of(&dest) else {
                    // Not one of ours: refuse it the way an SMSC refuses a bad destination.
                    timeline.event(
                        "smsc",
                        None,
                        format_args!("submit_sm to unknown {dest:?} -> ESME_RINVDSTADR"),
                    );
                    let _ = tx.send(reply(
                        Body::SubmitSmResp(SubmitSmResp::default()),
                        CommandStatus::InvalidDestinationAddress,
                    ));
                    continue;
                };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let hex = format!("{id:08X}");
                let plan = plan::smsc(i);
                let resp = reply(
                    Body::SubmitSmResp(SubmitSmResp {
                        message_id: hex.clone().into(),
                        ..SubmitSmResp::default()
                    }),
                    CommandStatus::Ok,
                );
                let final_pdu = match receipt_pdu(
                    submit,
                    id,
                    plan.state,
                    seq.fetch_add(1, Ordering::Relaxed),
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        timeline.event(
                            "smsc",
                            Some(i),
                            format_args!("cannot build the receipt: {e}"),
                        );
                        continue;
                    }
                };
                let bump = match plan.state {
                    MessageState::Delivered => &counters.delivered,
                    MessageState::Undeliverable => &counters.undeliverable,
                    MessageState::Expired => &counters.expired,
                    _ => &counters.other,
                };
                bump.fetch_add(1, Ordering::Relaxed);
                if plan.early {
                    counters.early.fetch_add(1, Ordering::Relaxed);
                    timeline.event(
                        "smsc",
                        Some(i),
                        format_args!("submit_sm -> deliver_sm receipt id:{id} stat:{} FIRST, then submit_sm_resp message_id={hex}", plan.state),
                    );
                    let _ = tx.send(final_pdu);
                    let _ = tx.send(resp);
                    continue;
                }
                timeline.event(
                    "smsc",
                    Some(i),
                    format_args!("submit_sm -> submit_sm_resp message_id={hex} (hex)"),
                );
                let _ = tx.send(resp);
                let enroute = if plan.enroute {
                    counters.enroute.fetch_add(1, Ordering::Relaxed);
                    receipt_pdu(
                        submit,
                        id,
                        MessageState::Enroute,
                        seq.fetch_add(1, Ordering::Relaxed),
                    )
                    .ok()
                } else {
                    None
                };
                let tx = tx.clone();
                let timeline = Arc::clone(&timeline);
                // The handset answers a little later; how much later depends on the message,
                // so receipts of different messages interleave.
                let delay = Duration::from_millis(5 + (i % 7) as u64 * 4);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(p) = enroute {
                        timeline.event(
                            "smsc",
                            Some(i),
                            format_args!("deliver_sm receipt id:{id} stat:ENROUTE"),
                        );
                        let _ = tx.send(p);
                        tokio::time::sleep(delay).await;
                    }
                    timeline.event(
                        "smsc",
                        Some(i),
                        format_args!("deliver_sm receipt id:{id} (decimal) stat:{}", plan.state),
                    );
                    let _ = tx.send(final_pdu);
                });
            }
            other => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                let id = pdu.command_id();
                timeline.event(
                    "smsc",
                    None,
                    format_args!("unexpected {} -> generic_nack", id.name()),
                );
                if !id.is_response() {
                    let _ = tx.send(reply(
                        Body::GenericNack,
                        if matches!(other, Body::SubmitSm(_)) {
                            CommandStatus::InvalidBindStatus
                        } else {
                            CommandStatus::InvalidCommandId
                        },
                    ));
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
