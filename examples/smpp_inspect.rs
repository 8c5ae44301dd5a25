//! Decodes SMPP PDUs (or delivery-receipt texts) from stdin and prints one JSON object per line.
//!
//! ```sh
//! cargo run --example smpp_inspect < examples/data/pdus.hex
//! cargo run --example smpp_inspect -- --receipt < examples/data/receipts.txt
//! ```
//!
//! PDU mode: each line is one PDU in hex (whitespace inside the line is ignored; blank lines and
//! lines starting with `#` are skipped). The output uses the SMPP 3.4 field names:
//! `command_id` is the PDU name, integers are numbers, C-octet strings are strings,
//! `short_message` is lowercase hex, `tlvs` is a list of `{"tag", "value_hex"}` in wire order.
//! A line that does not decode prints `{"error": "..."}`; the tool carries on and exits 0.
//!
//! Receipt mode (`--receipt`): each line is a receipt text; the output has `id`, `sub`,
//! `dlvrd`, `submit_date`, `done_date`, `stat`, `err`, `text` as they appear (null when absent).

use std::fmt::Write as _;
use std::io::{self, BufRead, Read, Write};

use bytes::Bytes;
use redeliver::smpp::receipt::DeliveryReceipt;
use redeliver::smpp::{
    Bind, BindResp, Body, COctetString, DEFAULT_MAX_COMMAND_LENGTH, DestAddress, HEADER_LEN, Pdu,
    Tlvs,
};

/// Longest input line read: a maximal PDU in hex, with room for spaces.
const MAX_LINE: usize = 4 * DEFAULT_MAX_COMMAND_LENGTH as usize;

/// A JSON object written field by field, in the order fields are added.
struct Obj(String);

impl Obj {
    fn new() -> Self {
        Obj(String::from("{"))
    }

    fn key(&mut self, key: &str) -> &mut String {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&json_str(key));
        self.0.push(':');
        &mut self.0
    }

    fn num(&mut self, key: &str, value: impl Into<u64>) -> &mut Self {
        let v = value.into();
        let _ = write!(self.key(key), "{v}");
        self
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let s = json_str(value);
        self.key(key).push_str(&s);
        self
    }

    fn cstr(&mut self, key: &str, value: &COctetString) -> &mut Self {
        self.str(key, &value.to_string_lossy())
    }

    fn opt(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => {
                self.key(key).push_str("null");
                self
            }
        }
    }

    fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).push_str(json);
        self
    }

    fn hex(&mut self, key: &str, value: &[u8]) -> &mut Self {
        let h = hex(value);
        self.str(key, &h)
    }

    fn done(&mut self) -> String {
        let mut s = std::mem::take(&mut self.0);
        s.push('}');
        s
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(line: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = line.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let digits = digits
        .strip_prefix(b"0x")
        .or_else(|| digits.strip_prefix(b"0X"))
        .unwrap_or(&digits);
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let text = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(text, 16)
                .map_err(|_| format!("{text:?} at offset {} is not a hex byte", i * 2))
        })
        .collect()
}

fn tlvs_json(tlvs: &Tlvs) -> String {
    let items: Vec<String> = tlvs
        .raw()
        .map(|(tag, value)| Obj::new().num("tag", tag.0).hex("value_hex", &value).done())
        .collect();
    format!("[{}]", items.join(","))
}

fn bind(o: &mut Obj, b: &Bind) {
    o.cstr("system_id", &b.system_id)
        .cstr("password", &b.password)
        .cstr("system_type", &b.system_type)
        .num("interface_version", b.interface_version)
        .num("addr_ton", b.addr_ton)
        .num("addr_npi", b.addr_npi)
        .cstr("address_range", &b.address_range);
}

fn bind_resp(o: &mut Obj, b: &BindResp) {
    o.cstr("system_id", &b.system_id)
        .raw("tlvs", &tlvs_json(&b.tlvs));
}

/// submit_sm and deliver_sm share their fields.
macro_rules! sm_fields {
    ($o:expr, $s:expr) => {{
        let s = $s;
        $o.cstr("service_type", &s.service_type)
            .num("source_addr_ton", s.source_addr_ton)
            .num("source_addr_npi", s.source_addr_npi)
            .cstr("source_addr", &s.source_addr)
            .num("dest_addr_ton", s.dest_addr_ton)
            .num("dest_addr_npi", s.dest_addr_npi)
            .cstr("destination_addr", &s.destination_addr)
            .num("esm_class", s.esm_class.0)
            .num("protocol_id", s.protocol_id)
            .num("priority_flag", s.priority_flag)
            .cstr("schedule_delivery_time", &s.schedule_delivery_time)
            .cstr("validity_period", &s.validity_period)
            .num("registered_delivery", s.registered_delivery.0)
            .num("replace_if_present_flag", s.replace_if_present_flag)
            .num("data_coding", s.data_coding.0)
            .num("sm_default_msg_id", s.sm_default_msg_id)
            .num("sm_length", s.short_message.len() as u64)
            .hex("short_message", &s.short_message)
            .raw("tlvs", &tlvs_json(&s.tlvs));
    }};
}

fn pdu_json(frame_len: usize, pdu: &Pdu) -> String {
    let mut o = Obj::new();
    o.num("command_length", frame_len as u64)
        .str("command_id", pdu.command_id().name())
        .num("command_status", pdu.command_status.code())
        .num("sequence_number", pdu.sequence_number);
    // A response sent as a bare header has no body fields to show.
    if frame_len == HEADER_LEN {
        return o.done();
    }
    match &pdu.body {
        Body::BindReceiver(b) | Body::BindTransmitter(b) | Body::BindTransceiver(b) => {
            bind(&mut o, b)
        }
        Body::BindReceiverResp(b) | Body::BindTransmitterResp(b) | Body::BindTransceiverResp(b) => {
            bind_resp(&mut o, b)
        }
        Body::Outbind(b) => {
            o.cstr("system_id", &b.system_id)
                .cstr("password", &b.password);
        }
        Body::SubmitSm(s) => sm_fields!(o, s),
        Body::DeliverSm(s) => sm_fields!(o, s),
        Body::SubmitSmResp(r) => {
            o.cstr("message_id", &r.message_id)
                .raw("tlvs", &tlvs_json(&r.tlvs));
        }
        Body::DeliverSmResp(r) => {
            o.cstr("message_id", &r.message_id)
                .raw("tlvs", &tlvs_json(&r.tlvs));
        }
        Body::DataSmResp(r) => {
            o.cstr("message_id", &r.message_id)
                .raw("tlvs", &tlvs_json(&r.tlvs));
        }
        Body::DataSm(d) => {
            o.cstr("service_type", &d.service_type)
                .num("source_addr_ton", d.source_addr_ton)
                .num("source_addr_npi", d.source_addr_npi)
                .cstr("source_addr", &d.source_addr)
                .num("dest_addr_ton", d.dest_addr_ton)
                .num("dest_addr_npi", d.dest_addr_npi)
                .cstr("destination_addr", &d.destination_addr)
                .num("esm_class", d.esm_class.0)
                .num("registered_delivery", d.registered_delivery.0)
                .num("data_coding", d.data_coding.0)
                .raw("tlvs", &tlvs_json(&d.tlvs));
        }
        Body::SubmitMulti(m) => {
            let dests: Vec<String> = m
                .dest_address
                .iter()
                .map(|d| {
                    let mut e = Obj::new();
                    e.num("dest_flag", d.dest_flag());
                    match d {
                        DestAddress::SmeAddress {
                            dest_addr_ton,
                            dest_addr_npi,
                            destination_addr,
                        } => {
                            e.num("dest_addr_ton", *dest_addr_ton)
                                .num("dest_addr_npi", *dest_addr_npi)
                                .cstr("destination_addr", destination_addr);
                        }
                        DestAddress::DistributionList { dl_name } => {
                            e.cstr("dl_name", dl_name);
                        }
                    }
                    e.done()
                })
                .collect();
            o.cstr("service_type", &m.service_type)
                .num("source_addr_ton", m.source_addr_ton)
                .num("source_addr_npi", m.source_addr_npi)
                .cstr("source_addr", &m.source_addr)
                .num("number_of_dests", m.dest_address.len() as u64)
                .raw("dest_address", &format!("[{}]", dests.join(",")))
                .num("esm_class", m.esm_class.0)
                .num("protocol_id", m.protocol_id)
                .num("priority_flag", m.priority_flag)
                .cstr("schedule_delivery_time", &m.schedule_delivery_time)
                .cstr("validity_period", &m.validity_period)
                .num("registered_delivery", m.registered_delivery.0)
                .num("replace_if_present_flag", m.replace_if_present_flag)
                .num("data_coding", m.data_coding.0)
                .num("sm_default_msg_id", m.sm_default_msg_id)
                .num("sm_length", m.short_message.len() as u64)
                .hex("short_message", &m.short_message)
                .raw("tlvs", &tlvs_json(&m.tlvs));
        }
        Body::SubmitMultiResp(r) => {
            let smes: Vec<String> = r
                .unsuccess_sme
                .iter()
                .map(|s| {
                    Obj::new()
                        .num("dest_addr_ton", s.dest_addr_ton)
                        .num("dest_addr_npi", s.dest_addr_npi)
                        .cstr("destination_addr", &s.destination_addr)
                        .num("error_status_code", s.error_status_code)
                        .done()
                })
                .collect();
            o.cstr("message_id", &r.message_id)
                .num("no_unsuccess", r.unsuccess_sme.len() as u64)
                .raw("unsuccess_sme", &format!("[{}]", smes.join(",")))
                .raw("tlvs", &tlvs_json(&r.tlvs));
        }
        Body::QuerySm(q) => {
            o.cstr("message_id", &q.message_id)
                .num("source_addr_ton", q.source_addr_ton)
                .num("source_addr_npi", q.source_addr_npi)
                .cstr("source_addr", &q.source_addr);
        }
        Body::QuerySmResp(q) => {
            o.cstr("message_id", &q.message_id)
                .cstr("final_date", &q.final_date)
                .num("message_state", q.message_state.code())
                .num("error_code", q.error_code);
        }
        Body::CancelSm(c) => {
            o.cstr("service_type", &c.service_type)
                .cstr("message_id", &c.message_id)
                .num("source_addr_ton", c.source_addr_ton)
                .num("source_addr_npi", c.source_addr_npi)
                .cstr("source_addr", &c.source_addr)
                .num("dest_addr_ton", c.dest_addr_ton)
                .num("dest_addr_npi", c.dest_addr_npi)
                .cstr("destination_addr", &c.destination_addr);
        }
        Body::ReplaceSm(r) => {
            o.cstr("message_id", &r.message_id)
                .num("source_addr_ton", r.source_addr_ton)
                .num("source_addr_npi", r.source_addr_npi)
                .cstr("source_addr", &r.source_addr)
                .cstr("schedule_delivery_time", &r.schedule_delivery_time)
                .cstr("validity_period", &r.validity_period)
                .num("registered_delivery", r.registered_delivery.0)
                .num("sm_default_msg_id", r.sm_default_msg_id)
                .num("sm_length", r.short_message.len() as u64)
                .hex("short_message", &r.short_message);
        }
        Body::AlertNotification(a) => {
            o.num("source_addr_ton", a.source_addr_ton)
                .num("source_addr_npi", a.source_addr_npi)
                .cstr("source_addr", &a.source_addr)
                .num("esme_addr_ton", a.esme_addr_ton)
                .num("esme_addr_npi", a.esme_addr_npi)
                .cstr("esme_addr", &a.esme_addr)
                .raw("tlvs", &tlvs_json(&a.tlvs));
        }
        Body::GenericNack
        | Body::Unbind
        | Body::UnbindResp
        | Body::ReplaceSmResp
        | Body::CancelSmResp
        | Body::EnquireLink
        | Body::EnquireLinkResp => {}
    }
    o.done()
}

fn error_json(message: &str) -> String {
    Obj::new().str("error", message).done()
}

fn inspect_pdu(line: &str) -> String {
    let bytes = match unhex(line) {
        Ok(bytes) => bytes,
        Err(e) => return error_json(&format!("not hex: {e}")),
    };
    let frame = Bytes::from(bytes);
    match Pdu::decode(&frame) {
        Ok(pdu) => pdu_json(frame.len(), &pdu),
        Err(e) => error_json(&e.to_string()),
    }
}

fn inspect_receipt(line: &str) -> String {
    match DeliveryReceipt::parse(line.as_bytes()) {
        Ok(r) => Obj::new()
            .str("id", &r.id)
            .opt("sub", r.sub.as_deref())
            .opt("dlvrd", r.dlvrd.as_deref())
            .opt("submit_date", r.submit_date.as_deref())
            .opt("done_date", r.done_date.as_deref())
            .str("stat", &r.stat)
            .opt("err", r.err.as_deref())
            .opt("text", r.text.as_deref())
            .done(),
        Err(e) => error_json(&e.to_string()),
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes; a longer line is skipped and reported.
fn read_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Result<(), usize>>> {
    buf.clear();
    let n = Read::take(&mut *input, MAX_LINE as u64).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() == MAX_LINE && buf.last() != Some(&b'\n') {
        // Drain the rest of the over-long line.
        let mut skipped = buf.len();
        loop {
            let chunk = input.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    input.consume(i + 1);
                    skipped += i;
                    break;
                }
                None => {
                    let len = chunk.len();
                    input.consume(len);
                    skipped += len;
                }
            }
        }
        return Ok(Some(Err(skipped)));
    }
    Ok(Some(Ok(())))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let receipts = args.iter().any(|a| a == "--receipt" || a == "--receipts");
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: smpp_inspect [--receipt] < input\n  one hex PDU (or, with --receipt, one receipt text) per line; one JSON object per line out"
        );
        return Ok(());
    }
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    while let Some(read) = read_line(&mut input, &mut buf)? {
        let json = match read {
            Err(len) => error_json(&format!(
                "line of {len} bytes is longer than the {MAX_LINE}-byte limit"
            )),
            Ok(()) => {
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']);
                if receipts {
                    if line.trim().is_empty() {
                        continue;
                    }
                    inspect_receipt(line)
                } else {
                    let trimmed = line.trim();
                    if trimmed.is_empty() || trimmed.starts_with('#') {
                        continue;
                    }
                    inspect_pdu(trimmed)
                }
            }
        };
        writeln!(out, "{json}")?;
    }
    out.flush()
}
