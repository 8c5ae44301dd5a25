//! The gateway's SMPP side: an ESME bound to the SMSC as a transceiver on the crate's framing,
//! with a window of outstanding `submit_sm`, `enquire_link` every 250 ms, and every
//! `submit_sm_resp` and `deliver_sm` receipt handed to the engine.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use redeliver::dlr::{Dlr, DlrMethod};
use redeliver::message::{Channel, Envelope};
use redeliver::retry::{ReceiptOutcome, RetryEngine, SubmitOutcome};
use redeliver::smpp::{
    Bind, Body, CommandStatus, DataCoding, DeliverSmResp, Pdu, RegisteredDelivery, SmppFraming,
    SubmitSm,
};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::Framed;

use super::gateway::{Job, SMSC_CONNECTOR, Shared, Source, lock, smpp_scope};
use super::plan;

/// submit_sm PDUs in flight at once.
const WINDOW: usize = 64;
/// SMPP PDUs about different messages handled at once.
const LANES: usize = 32;
/// How often the ESME checks the link.
const ENQUIRE_LINK_EVERY: Duration = Duration::from_millis(250);

/// A submit_sm waiting for its response; its window slot is freed with it.
pub(crate) struct Pending {
    pub(crate) index: usize,
    pub(crate) leg: u8,
    pub(crate) submit: SubmitSm,
    pub(crate) envelope: Envelope,
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// The SMPP side: an ESME bound as a transceiver.
pub(crate) struct SmppClient {
    pub(crate) tx: mpsc::UnboundedSender<Pdu>,
    pub(crate) seq: AtomicU32,
    pub(crate) window: Arc<Semaphore>,
    pub(crate) pending: Mutex<HashMap<u32, Pending>>,
    pub(crate) unbound: Notify,
}

impl SmppClient {
    pub(crate) fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) async fn submit(&self, shared: &Shared, job: &Job) {
        let Ok(permit) = Arc::clone(&self.window).acquire_owned().await else {
            return shared.error(Some(job.index), "SMPP window closed");
        };
        let number = plan::number(job.index);
        let submit = SubmitSm {
            // A short code is network specific (TON 3); the handset is international E.164
            // (TON 1, NPI 1).
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

/// Connects and binds; returns the client and its reader, writer and enquire_link tasks.
pub(crate) async fn connect_smpp(
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
pub(crate) async fn on_pdu(c: &SmppClient, s: &Shared, e: &RetryEngine, pdu: Pdu) -> bool {
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
                let dlr = Dlr::level1_from_submit_sm_resp(
                    s.dlr_url.clone(),
                    DlrMethod::Post,
                    plan::id(i),
                    pdu.command_status,
                    SMSC_CONNECTOR,
                );
                s.accepted(i, leg, dlr).await;
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
            // The engine reads, classifies and matches the receipt; its outcome carries the
            // typed receipt the DLR is built from.
            let i = plan::index_of(&deliver.source_addr.to_string_lossy());
            let outcome = e.on_deliver_sm(&scope, &deliver).await;
            // Intermediate receipts are counted from the engine's answer, final ones here.
            if let Ok(o) = &outcome
                && !matches!(o, ReceiptOutcome::Intermediate { .. })
            {
                s.count(|r| r.smpp_receipts += 1);
            }
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
