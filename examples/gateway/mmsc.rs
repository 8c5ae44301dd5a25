//! The MMSC (MM7 relay) simulator: real HTTP on 127.0.0.1 and the crate's MM7 codec.
//!
//! It answers each `SubmitReq` with a `SubmitRsp` (`1000 Success` and a `MessageID`), then posts
//! a `DeliveryReportReq` to the VASP's endpoint with the `MMStatus` its plan
//! ([`super::plan::mmsc`]) gives the recipient, and reads the VASP's `DeliveryReportRsp`. A
//! report the VASP does not answer with 1xxx is posted again, as relays do.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use redeliver::mm7::{
    Address, DefaultMm7Codec, DeliveryReportReq, Mm7Codec, Mm7Message, MmStatus, Status, SubmitReq,
};
use tokio::net::TcpListener;

use super::http::{Handler, Request, Response, Server};
use super::plan;
use super::timeline::Timeline;

/// Attempts the relay makes to deliver one report.
const REPORT_ATTEMPTS: u32 = 3;

/// What the MMSC did, counted by the MMSC itself.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct MmscReport {
    /// SubmitReqs received and accepted.
    pub submits: u64,
    /// Requests refused (not a SubmitReq, unreadable, unknown recipient).
    pub refused: u64,
    /// DeliveryReportReqs sent, by MMStatus.
    pub reports: BTreeMap<String, u64>,
    /// Reports the VASP acknowledged with 1xxx.
    pub reports_acknowledged: u64,
    /// Reports given up after every attempt failed.
    pub reports_failed: u64,
}

struct State {
    vasp_url: String,
    client: reqwest::Client,
    codec: DefaultMm7Codec,
    timeline: Arc<Timeline>,
    next_id: AtomicU64,
    report: Mutex<MmscReport>,
}

/// The running MMSC simulator.
pub struct Mmsc {
    server: Server,
    state: Arc<State>,
}

impl Mmsc {
    /// Starts on `listener`, posting delivery reports to `vasp_url`.
    pub fn start(
        listener: TcpListener,
        vasp_url: String,
        timeline: Arc<Timeline>,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| format!("MMSC simulator HTTP client: {e}"))?;
        let state = Arc::new(State {
            vasp_url,
            client,
            codec: DefaultMm7Codec::default(),
            timeline,
            next_id: AtomicU64::new(1),
            report: Mutex::new(MmscReport::default()),
        });
        let s = Arc::clone(&state);
        let handler: Handler = Arc::new(move |req| {
            let s = Arc::clone(&s);
            Box::pin(async move { submit(s, req) })
        });
        let server = Server::start(listener, handler)
            .map_err(|e| format!("MMSC simulator: cannot listen: {e}"))?;
        Ok(Self { server, state })
    }

    /// The relay's MM7 endpoint.
    pub fn url(&self) -> String {
        self.server.url("/mm7")
    }

    /// What it did so far.
    pub fn report(&self) -> MmscReport {
        lock(&self.state.report).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn soap(
    codec: &DefaultMm7Codec,
    message: &Mm7Message,
    release: &redeliver::mm7::Release,
) -> Response {
    match codec.encode(message, release) {
        Ok(encoded) => Response {
            status: "200 OK",
            content_type: encoded.content_type,
            body: encoded.body,
        },
        Err(e) => Response::text(
            "500 Internal Server Error",
            format!("cannot encode the response: {e}"),
        ),
    }
}

/// Answers one request: a SubmitReq gets its SubmitRsp now and its report a little later.
fn submit(state: Arc<State>, req: Request) -> Response {
    let refuse = |why: String| {
        lock(&state.report).refused += 1;
        state
            .timeline
            .event("mmsc", None, format_args!("refused: {why}"));
        Response::text("400 Bad Request", why)
    };
    if req.method != "POST" {
        return refuse(format!(
            "{} {}: MM7 requests are POSTed",
            req.method, req.target
        ));
    }
    let submit = match state.codec.decode(req.content_type.as_deref(), &req.body) {
        Ok(Mm7Message::SubmitReq(s)) => s,
        Ok(other) => return refuse(format!("expected a SubmitReq, got a {}", other.kind())),
        Err(e) => return refuse(format!("unreadable MM7 request: {e}")),
    };
    let Some((i, recipient)) = submit
        .recipients
        .to
        .iter()
        .find_map(|a| plan::index_of(a.value()).map(|i| (i, a.clone())))
    else {
        return refuse("SubmitReq without a recipient this relay knows".to_owned());
    };
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let message_id = format!("MM7-{n:06}");
    lock(&state.report).submits += 1;
    state.timeline.event(
        "mmsc",
        Some(i),
        format_args!(
            "SubmitReq to {} -> SubmitRsp 1000 MessageID={message_id}",
            recipient.value()
        ),
    );
    let rsp = submit.response(Status::success(), Some(message_id.clone()));
    let reply = soap(&state.codec, &Mm7Message::SubmitRsp(rsp), &submit.release);
    tokio::spawn(deliver_report(state, submit, i, recipient, message_id));
    reply
}

fn report_for(
    submit: &SubmitReq,
    i: usize,
    recipient: Address,
    message_id: String,
) -> DeliveryReportReq {
    let status = plan::mmsc(i);
    let (y, mo, d, h, mi, s) = super::timeline::utc(SystemTime::now());
    DeliveryReportReq {
        transaction_id: Some(format!("dr-{message_id}")),
        mm7_version: submit.mm7_version.clone(),
        release: submit.release.clone(),
        warnings: Vec::new(),
        mms_relay_server_id: Some("mmsc-sim".to_owned()),
        message_id,
        recipient,
        sender: submit
            .sender_identification
            .sender_address
            .clone()
            .unwrap_or_else(|| Address::ShortCode(plan::SHORTCODE.to_owned())),
        date: format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        status_text: Some(
            match status {
                MmStatus::Retrieved => "Message retrieved by the recipient",
                MmStatus::Expired => "Message expired before retrieval",
                _ => "Recipient's terminal refused the message",
            }
            .to_owned(),
        ),
        mm_status: status,
        applic_id: None,
        reply_applic_id: None,
        aux_applic_info: None,
    }
}

async fn deliver_report(
    state: Arc<State>,
    submit: SubmitReq,
    i: usize,
    recipient: Address,
    message_id: String,
) {
    // The handset fetches (or fails to fetch) the message a moment later.
    tokio::time::sleep(Duration::from_millis(20 + (i % 5) as u64 * 5)).await;
    let report = report_for(&submit, i, recipient, message_id);
    let status = report.mm_status.as_str().to_owned();
    *lock(&state.report)
        .reports
        .entry(status.clone())
        .or_default() += 1;
    let encoded = match state.codec.encode(
        &Mm7Message::DeliveryReportReq(report.clone()),
        &report.release,
    ) {
        Ok(e) => e,
        Err(e) => {
            state.timeline.event(
                "mmsc",
                Some(i),
                format_args!("cannot encode the DeliveryReportReq: {e}"),
            );
            lock(&state.report).reports_failed += 1;
            return;
        }
    };
    for attempt in 1..=REPORT_ATTEMPTS {
        state.timeline.event(
            "mmsc",
            Some(i),
            format_args!(
                "DeliveryReportReq MessageID={} MMStatus={status} -> VASP",
                report.message_id
            ),
        );
        let answer = state
            .client
            .post(&state.vasp_url)
            .header("Content-Type", encoded.content_type.as_str())
            .header("SOAPAction", "\"\"")
            .body(encoded.body.clone())
            .send()
            .await;
        let outcome = match answer {
            Ok(resp) => {
                let content_type = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match resp.bytes().await {
                    Ok(body) => match state.codec.decode(content_type.as_deref(), &body) {
                        Ok(Mm7Message::DeliveryReportRsp(rsp)) if rsp.status.code.is_success() => {
                            Ok(())
                        }
                        Ok(Mm7Message::DeliveryReportRsp(rsp)) => {
                            Err(format!("VASP answered {}", rsp.status.code))
                        }
                        Ok(other) => Err(format!("VASP answered a {}", other.kind())),
                        Err(e) => Err(format!("VASP's answer is unreadable: {e}")),
                    },
                    Err(e) => Err(format!("reading the VASP's answer: {e}")),
                }
            }
            Err(e) => Err(format!("posting to the VASP: {e}")),
        };
        match outcome {
            Ok(()) => {
                lock(&state.report).reports_acknowledged += 1;
                return;
            }
            Err(why) => {
                state.timeline.event(
                    "mmsc",
                    Some(i),
                    format_args!("report attempt {attempt} failed: {why}"),
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    lock(&state.report).reports_failed += 1;
}
