//! Decodes one MM7 HTTP body and prints it as one JSON object.
//!
//! ```sh
//! cargo run --example mm7_inspect -- examples/data/mm7/delivery_report_req.xml
//! cargo run --example mm7_inspect -- examples/data/mm7/submit_req.mime \
//!     --content-type 'multipart/related; boundary="outer-7d"; type="text/xml"; start="<soap-start>"'
//! ```
//!
//! Without `--content-type` the file is read as a bare SOAP envelope. On failure it prints
//! `{"error": "…"}` and exits with status 1; when the body was refused, the object also
//! holds how a relay would answer: `status_code` (TS 23.140 §8.7.3, e.g. 2007) or
//! `soap_fault_code` (`VersionMismatch` for a SOAP 1.2 envelope).

use std::process::ExitCode;

use redeliver::mm7::{
    Address, ContentPart, ContentRef, DefaultMm7Codec, Mm7Codec, Mm7Message, Recipients,
    SenderIdentification, Status,
};
use serde_json::{Map, Value, json};

/// Largest file read, so that a mistaken path to a huge file fails fast.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Value, Value> {
    let error = |e: String| json!({ "error": e });
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut content_type = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--content-type" => {
                content_type = Some(
                    args.next()
                        .ok_or_else(|| error("--content-type needs a value".into()))?,
                );
            }
            _ if arg.starts_with("--content-type=") => {
                content_type = Some(arg["--content-type=".len()..].to_owned());
            }
            _ if file.is_none() => file = Some(arg),
            _ => return Err(error(format!("unexpected argument {arg:?}"))),
        }
    }
    let file =
        file.ok_or_else(|| error("usage: mm7_inspect FILE [--content-type 'VALUE']".into()))?;
    let size = std::fs::metadata(&file)
        .map_err(|e| error(format!("{file}: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(error(format!(
            "{file}: {size} bytes is more than {MAX_FILE_BYTES}"
        )));
    }
    let body = std::fs::read(&file).map_err(|e| error(format!("{file}: {e}")))?;
    let message = DefaultMm7Codec::default()
        .decode(content_type.as_deref(), &body)
        .map_err(|e| {
            let mut v = error(e.to_string());
            match e.status_code() {
                Some(code) => v["status_code"] = json!(code.as_u16()),
                None => v["soap_fault_code"] = json!(e.soap_fault_code()),
            }
            v
        })?;
    Ok(to_json(&message))
}

fn address(a: &Address) -> Value {
    json!({ "kind": a.kind(), "value": a.value() })
}

fn addresses(list: &[Address]) -> Value {
    Value::Array(list.iter().map(address).collect())
}

fn part(p: &ContentPart) -> Value {
    let mut v = json!({
        "content_id": p.content_id,
        "content_type": p.content_type,
        "size_bytes": p.body.len(),
    });
    if let Some(l) = &p.content_location {
        v["content_location"] = json!(l);
    }
    if !p.parts.is_empty() {
        v["parts"] = Value::Array(p.parts.iter().map(part).collect());
    }
    v
}

struct Fields(Map<String, Value>);

impl Fields {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }

    fn opt<T: Into<Value>>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    fn status(&mut self, s: &Status) {
        self.set("status_code", s.code.as_u16());
        self.opt("status_text", s.text.clone());
        self.opt("details", s.details.clone());
    }

    fn sender_identification(&mut self, s: &SenderIdentification) {
        self.opt("vasp_id", s.vasp_id.clone());
        self.opt("vas_id", s.vas_id.clone());
        self.opt("sender_address", s.sender_address.as_ref().map(address));
    }

    fn recipients(&mut self, r: &Recipients) {
        self.set("to", addresses(&r.to));
        self.set("cc", addresses(&r.cc));
        self.set("bcc", addresses(&r.bcc));
    }

    fn content(&mut self, c: &Option<ContentRef>, parts: &[ContentPart]) {
        self.opt("content_href", c.as_ref().map(|c| c.href.clone()));
        self.set("parts", Value::Array(parts.iter().map(part).collect()));
    }
}

fn to_json(message: &Mm7Message) -> Value {
    let mut f = Fields(Map::new());
    f.set("kind", message.kind());
    f.set("transaction_id", json!(message.transaction_id()));
    f.set("mm7_version", message.mm7_version());
    f.set("namespace", message.release().namespace());
    f.set("release", message.release().name());
    match message {
        Mm7Message::SubmitReq(m) => {
            f.sender_identification(&m.sender_identification);
            f.recipients(&m.recipients);
            f.opt("service_code", m.service_code.clone());
            f.opt("linked_id", m.linked_id.clone());
            f.opt(
                "message_class",
                m.message_class.as_ref().map(|v| v.as_str().to_owned()),
            );
            f.opt("time_stamp", m.time_stamp.clone());
            f.opt("earliest_delivery_time", m.earliest_delivery_time.clone());
            f.opt("expiry_date", m.expiry_date.clone());
            f.opt("delivery_report", m.delivery_report);
            f.opt("read_reply", m.read_reply);
            f.opt(
                "priority",
                m.priority.as_ref().map(|v| v.as_str().to_owned()),
            );
            f.opt("subject", m.subject.clone());
            f.opt(
                "charged_party",
                m.charged_party.as_ref().map(|v| v.as_str().to_owned()),
            );
            f.opt("charged_party_id", m.charged_party_id.clone());
            f.opt("distribution_indicator", m.distribution_indicator);
            f.opt("applic_id", m.applic_id.clone());
            f.opt("reply_applic_id", m.reply_applic_id.clone());
            f.opt("aux_applic_info", m.aux_applic_info.clone());
            f.content(&m.content, &m.parts);
        }
        Mm7Message::SubmitRsp(m) => {
            f.status(&m.status);
            f.opt("message_id", m.message_id.clone());
        }
        Mm7Message::DeliverReq(m) => {
            f.opt("mms_relay_server_id", m.mms_relay_server_id.clone());
            f.opt("vasp_id", m.vasp_id.clone());
            f.opt("vas_id", m.vas_id.clone());
            f.opt("linked_id", m.linked_id.clone());
            f.set("sender", address(&m.sender));
            f.recipients(&m.recipients);
            f.opt("time_stamp", m.time_stamp.clone());
            f.opt("reply_charging_id", m.reply_charging_id.clone());
            f.opt(
                "priority",
                m.priority.as_ref().map(|v| v.as_str().to_owned()),
            );
            f.opt("subject", m.subject.clone());
            f.opt("applic_id", m.applic_id.clone());
            f.opt("reply_applic_id", m.reply_applic_id.clone());
            f.opt("aux_applic_info", m.aux_applic_info.clone());
            f.content(&m.content, &m.parts);
        }
        Mm7Message::DeliverRsp(m) => {
            f.status(&m.status);
            f.opt("service_code", m.service_code.clone());
        }
        Mm7Message::CancelReq(m) => {
            f.sender_identification(&m.sender_identification);
            f.set("message_id", m.message_id.clone());
        }
        Mm7Message::ReplaceReq(m) => {
            f.sender_identification(&m.sender_identification);
            f.set("message_id", m.message_id.clone());
            f.opt("service_code", m.service_code.clone());
            f.opt("time_stamp", m.time_stamp.clone());
            f.opt("read_reply", m.read_reply);
            f.opt("earliest_delivery_time", m.earliest_delivery_time.clone());
            f.opt("distribution_indicator", m.distribution_indicator);
            f.content(&m.content, &m.parts);
        }
        Mm7Message::DeliveryReportReq(m) => {
            f.opt("mms_relay_server_id", m.mms_relay_server_id.clone());
            f.set("message_id", m.message_id.clone());
            f.set("recipient", address(&m.recipient));
            f.set("sender", address(&m.sender));
            f.set("date", m.date.clone());
            f.set("mm_status", m.mm_status.as_str());
            f.set("class", m.mm_status.class().to_string());
            f.opt("status_text", m.status_text.clone());
            f.opt("applic_id", m.applic_id.clone());
            f.opt("reply_applic_id", m.reply_applic_id.clone());
            f.opt("aux_applic_info", m.aux_applic_info.clone());
        }
        Mm7Message::ReadReplyReq(m) => {
            f.opt("mms_relay_server_id", m.mms_relay_server_id.clone());
            f.set("message_id", m.message_id.clone());
            f.set("recipient", address(&m.recipient));
            f.set("sender", address(&m.sender));
            f.set("time_stamp", m.time_stamp.clone());
            f.set("mm_status", m.mm_status.as_str());
            f.opt("status_text", m.status_text.clone());
            f.opt("applic_id", m.applic_id.clone());
            f.opt("reply_applic_id", m.reply_applic_id.clone());
            f.opt("aux_applic_info", m.aux_applic_info.clone());
        }
        Mm7Message::RsErrorRsp(m) => {
            f.opt("mms_relay_server_id", m.mms_relay_server_id.clone());
            f.status(&m.status);
        }
        Mm7Message::VaspErrorRsp(m) => {
            f.opt("vasp_id", m.vasp_id.clone());
            f.opt("vas_id", m.vas_id.clone());
            f.status(&m.status);
        }
        other => {
            if let Some(s) = other.status() {
                f.status(s);
            }
        }
    }
    f.set(
        "warnings",
        Value::Array(
            message
                .warnings()
                .iter()
                .map(|w| Value::String(w.to_string()))
                .collect(),
        ),
    );
    Value::Object(f.0)
}
