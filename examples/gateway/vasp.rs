//! The gateway's MM7 side: a VASP that posts `SubmitReq`s to the relay, and the HTTP endpoint
//! where the relay posts its `DeliveryReportReq`s, answered with the engine's
//! `DeliveryReportRsp`.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::SystemTime;

use redeliver::dlr::{Dlr, DlrLevel, DlrMethod, ReceiptParams};
use redeliver::message::{Channel, Envelope, ReceiptClass};
use redeliver::mm7::{
    Address, ContentPart, ContentRef, DefaultMm7Codec, Mm7Codec, Mm7Message, Recipients, Release,
    SenderIdentification, SubmitReq,
};
use redeliver::retry::{RetryEngine, SubmitOutcome};

use super::gateway::{Job, MMSC_CONNECTOR, Shared, Source, lock, mm7_scope};
use super::http::{Request, Response};
use super::plan;
use super::timeline::yymmddhhmm;

/// The MM7 side: a VASP.
pub(crate) struct Vasp {
    pub(crate) client: reqwest::Client,
    pub(crate) codec: DefaultMm7Codec,
    pub(crate) mmsc_url: String,
}

impl Vasp {
    pub(crate) async fn submit(&self, shared: &Shared, engine: &RetryEngine, job: &Job) {
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
            // Jasmin names only SMPP statuses; an MM7 submission's is its status code.
            let dlr = Dlr::level1(
                shared.dlr_url.clone(),
                DlrMethod::Post,
                plan::id(i),
                rsp.status.code.as_u16().to_string(),
                MMSC_CONNECTOR,
            );
            shared.accepted(i, job.leg, dlr).await;
        }
        shared.submit_outcome(i, Channel::Mm7, outcome).await;
    }

    /// Answers one DeliveryReportReq from the relay.
    pub(crate) async fn report(
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

/// The DLR the application gets for message `i` from the DeliveryReportReq that decided it.
pub(crate) fn dlr_from_report(
    shared: &Shared,
    i: usize,
    report: &redeliver::mm7::DeliveryReportReq,
) -> Dlr {
    let text = lock(&shared.messages)
        .get(i)
        .map(|m| m.text.clone())
        .unwrap_or_default();
    let now = yymmddhhmm(SystemTime::now());
    let delivered = report.mm_status.class() == ReceiptClass::Positive;
    Dlr::level2(
        shared.dlr_url.clone(),
        DlrMethod::Post,
        DlrLevel::All,
        plan::id(i),
        report.mm_status.as_str(),
        MMSC_CONNECTOR,
        ReceiptParams {
            id_smsc: report.message_id.clone(),
            sub: "001".into(),
            dlvrd: if delivered { "001" } else { "000" }.into(),
            subdate: now.clone(),
            donedate: now,
            // MM7 reports carry no numeric error code; Jasmin's `err` is one.
            err: if delivered { "000" } else { "" }.into(),
            text,
        },
    )
}
