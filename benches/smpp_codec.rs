//! SMPP codec speed against `rusmpp` 0.4 (its borrowed path: decode from a slice, encode into a
//! slice), and the receipt parser against `regex`, in the same process.
//!
//! The corpus is built byte by byte from the SMPP 3.4 spec, the way other implementations write
//! PDUs, independently of both codecs: every PDU type, with and without TLVs, realistic address,
//! id and text sizes (GSM and UCS-2 texts, concatenated parts with a UDH or the sar_* TLVs,
//! message_payload, receipts with and without receipt TLVs, bare error responses, hex, decimal
//! and UUID message ids), weighted like a gateway's traffic (the submit → response → receipt →
//! response cycle dominates). Both libraries must decode every PDU, and both must write every
//! one back byte for byte, or the bench stops.
//!
//! The ratios come from `smpp/interleaved/*` (see `support/interleave.rs`): the two libraries
//! alternate in short slices in one process and the median of the per-pair ratios is reported,
//! for the whole corpus and for each PDU type. Three kinds of work are compared:
//!
//! - `decode`: every frame of the corpus to a typed PDU (redeliver: [`Pdu::decode`] of a
//!   `Bytes` frame; rusmpp: `Command::decode` of a `&[u8]` frame);
//! - `decode+tlvs`: the same, then every TLV read as a typed value;
//! - `encode`: every PDU (as each library decoded it) written into a reused buffer.
//!
//! `cargo bench --bench smpp_codec -- smpp/interleaved` runs only these;
//! `smpp/interleaved/encode` only the encode ones, and so on. The criterion groups give
//! absolute times (thread CPU time; `SMPP_BENCH_CLOCK=wall` for wall-clock), not ratios.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use redeliver::smpp::receipt::DeliveryReceipt;
use redeliver::smpp::{Body, Pdu, Tlvs};
use regex::Regex;
use rusmpp_core::decode::borrowed::DecodeWithLength;
use rusmpp_core::encode::{Encode, Length};

#[path = "support/interleave.rs"]
mod interleave;

/// rusmpp's borrowed command, with room for 16 TLVs or destinations.
type Theirs<'a> = rusmpp_core::command::borrowed::Command<'a, 16>;

fn receipt_text(i: u32, stat: &str) -> String {
    format!(
        "id:{:010} sub:001 dlvrd:001 submit date:2411221530 done date:2411221531 stat:{stat} err:000 text:Your code is {i:04}",
        1_715_000 + i
    )
}

/// A PDU body written field by field, as SMPP 3.4 §3.1 and §4 lay it out.
#[derive(Default)]
struct Wire(Vec<u8>);

impl Wire {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A C-octet string: the bytes and a NUL.
    fn c(mut self, s: &str) -> Self {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    /// `sm_length` and `short_message`.
    fn sm(mut self, m: &[u8]) -> Self {
        self.0
            .push(u8::try_from(m.len()).unwrap_or_else(|_| panic!("short_message too long")));
        self.0.extend_from_slice(m);
        self
    }
    fn tlv(mut self, tag: u16, value: &[u8]) -> Self {
        self.0.extend_from_slice(&tag.to_be_bytes());
        let len = u16::try_from(value.len()).unwrap_or_else(|_| panic!("TLV too long"));
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(value);
        self
    }
    fn tlv_c(self, tag: u16, s: &str) -> Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.tlv(tag, &v)
    }
    fn frame(self, command_id: u32, status: u32, seq: u32) -> Vec<u8> {
        let len = u32::try_from(16 + self.0.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(16 + self.0.len());
        for word in [len, command_id, status, seq] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&self.0);
        out
    }
}

/// One PDU of the corpus: the group it is reported under and its bytes.
struct Sample {
    kind: &'static str,
    frame: Vec<u8>,
}

const GSM_160: &str = "Dear customer, your parcel 7731-2209 will be delivered tomorrow between 09:00 and 13:00. Reply STOP to opt out. Track: https://ex.co/t/77312209 Thank";
const OTP: &str = "Your verification code is 482913. It expires in 10 minutes. Do not share it.";

fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn msisdn(i: u32) -> String {
    format!("4477009{:05}", 10_000 + i * 37 % 90_000)
}

/// The message ids SMSCs hand out: hex, decimal, UUID (Jasmin), and short alphanumerics.
fn message_id(i: u32) -> String {
    match i % 4 {
        0 => format!("{:08x}", 0x1a2b_0000 + i),
        1 => format!("{}", 3_000_000_000u64 + u64::from(i)),
        2 => format!(
            "2d4f8a1c-93b7-4e0a-b1f2-{:012x}",
            0x6c5d_4e3f_0000u64 + u64::from(i)
        ),
        _ => format!("M{:09}", 500_000 + i),
    }
}

// command_ids (SMPP 3.4 §5.1.2.1)
const BIND_RECEIVER: u32 = 0x0000_0001;
const BIND_TRANSMITTER: u32 = 0x0000_0002;
const QUERY_SM: u32 = 0x0000_0003;
const SUBMIT_SM: u32 = 0x0000_0004;
const DELIVER_SM: u32 = 0x0000_0005;
const UNBIND: u32 = 0x0000_0006;
const REPLACE_SM: u32 = 0x0000_0007;
const CANCEL_SM: u32 = 0x0000_0008;
const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const OUTBIND: u32 = 0x0000_000B;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const SUBMIT_MULTI: u32 = 0x0000_0021;
const ALERT_NOTIFICATION: u32 = 0x0000_0102;
const DATA_SM: u32 = 0x0000_0103;
const RESP: u32 = 0x8000_0000;
const GENERIC_NACK: u32 = RESP;

// TLV tags (SMPP 3.4 §5.3.2)
const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
const MESSAGE_STATE: u16 = 0x0427;
const NETWORK_ERROR_CODE: u16 = 0x0423;
const SAR_MSG_REF_NUM: u16 = 0x020C;
const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
const MESSAGE_PAYLOAD: u16 = 0x0424;
const USER_MESSAGE_REFERENCE: u16 = 0x0204;
const SOURCE_PORT: u16 = 0x020A;
const DESTINATION_PORT: u16 = 0x020B;
const SC_INTERFACE_VERSION: u16 = 0x0210;
const MS_AVAILABILITY_STATUS: u16 = 0x0422;
const PAYLOAD_TYPE: u16 = 0x0019;

// command_status values (§5.1.3)
const ESME_RTHROTTLED: u32 = 0x58;
const ESME_RBINDFAIL: u32 = 0x0D;
const ESME_RINVCMDID: u32 = 0x03;
const ESME_RINVDSTADR: u32 = 0x0B;

/// submit_sm / deliver_sm body up to and including short_message (§4.4.1, §4.6.1).
#[allow(clippy::too_many_arguments)]
fn sm_body(
    service_type: &str,
    src: (u8, u8, &str),
    dst: (u8, u8, &str),
    esm_class: u8,
    validity: &str,
    registered_delivery: u8,
    data_coding: u8,
    message: &[u8],
) -> Wire {
    Wire::default()
        .c(service_type)
        .u8(src.0)
        .u8(src.1)
        .c(src.2)
        .u8(dst.0)
        .u8(dst.1)
        .c(dst.2)
        .u8(esm_class)
        .u8(0) // protocol_id
        .u8(0) // priority_flag
        .c("") // schedule_delivery_time
        .c(validity)
        .u8(registered_delivery)
        .u8(0) // replace_if_present_flag
        .u8(data_coding)
        .u8(0) // sm_default_msg_id
        .sm(message)
}

/// The corpus, in traffic order.
fn corpus() -> Vec<Sample> {
    let mut out = Vec::new();
    let mut seq = 0u32;
    let mut push = |kind: &'static str, wire: Wire, id: u32, status: u32, seq: u32| {
        out.push(Sample {
            kind,
            frame: wire.frame(id, status, seq),
        })
    };

    // Session set-up, as an ESME and two SMSCs write it.
    seq += 1;
    push(
        "bind_transmitter",
        Wire::default()
            .c("smppclient1")
            .c("password")
            .c("")
            .u8(0x34)
            .u8(0)
            .u8(0)
            .c(""),
        BIND_TRANSMITTER,
        0,
        seq,
    );
    push(
        "bind_transmitter_resp",
        Wire::default().c("SMSC").tlv(SC_INTERFACE_VERSION, &[0x34]),
        BIND_TRANSMITTER | RESP,
        0,
        seq,
    );
    seq += 1;
    push(
        "bind_receiver",
        Wire::default()
            .c("esme_rx")
            .c("s3cr3t")
            .c("VMA")
            .u8(0x34)
            .u8(1)
            .u8(1)
            .c("^447700"),
        BIND_RECEIVER,
        0,
        seq,
    );
    push(
        "bind_receiver_resp",
        Wire::default().c("smsc-gw-01"),
        BIND_RECEIVER | RESP,
        0,
        seq,
    );
    seq += 1;
    push(
        "bind_transceiver",
        Wire::default()
            .c("jasmin")
            .c("jpwd")
            .c("")
            .u8(0x34)
            .u8(0)
            .u8(0)
            .c(""),
        BIND_TRANSCEIVER,
        0,
        seq,
    );
    push(
        "bind_transceiver_resp",
        Wire::default(),
        BIND_TRANSCEIVER | RESP,
        ESME_RBINDFAIL,
        seq,
    );
    seq += 1;
    push(
        "bind_transceiver",
        Wire::default()
            .c("jasmin")
            .c("jpwd2")
            .c("")
            .u8(0x34)
            .u8(0)
            .u8(0)
            .c(""),
        BIND_TRANSCEIVER,
        0,
        seq,
    );
    push(
        "bind_transceiver_resp",
        Wire::default()
            .c("SMSC01")
            .tlv(SC_INTERFACE_VERSION, &[0x34]),
        BIND_TRANSCEIVER | RESP,
        0,
        seq,
    );
    push(
        "outbind",
        Wire::default().c("smsc-gw-01").c("obpass"),
        OUTBIND,
        0,
        99,
    );

    let ucs2_text =
        ucs2("Ваш код подтверждения: 4829. Никому его не сообщайте. Срок действия 10 минут");
    let udh_part: Vec<u8> = [0x05, 0x00, 0x03, 0x2A, 0x02, 0x01]
        .into_iter()
        .chain(GSM_160.bytes().take(153))
        .collect();
    let payload: Vec<u8> = GSM_160.bytes().chain(GSM_160.bytes()).collect();
    let wap: Vec<u8> = (0..96u8).map(|b| b.wrapping_mul(7)).collect();

    for i in 0..48u32 {
        seq += 1;
        let dest = msisdn(i);
        let src = if i % 3 == 0 {
            (5, 0, "MyShop")
        } else {
            (1, 1, "447700900999")
        };
        let (kind, body) = match i % 8 {
            0..=2 => (
                "submit_sm",
                sm_body("", src, (1, 1, &dest), 0, "", 1, 0, GSM_160.as_bytes()),
            ),
            3 => (
                "submit_sm",
                sm_body(
                    "",
                    src,
                    (1, 1, &dest),
                    0,
                    "000001000000000R",
                    1,
                    8,
                    &ucs2_text,
                ),
            ),
            4 => (
                "submit_sm",
                sm_body("CMT", src, (1, 1, &dest), 0x40, "", 1, 0, &udh_part),
            ),
            5 => (
                "submit_sm+tlvs",
                sm_body("", src, (1, 1, &dest), 0, "", 1, 0, OTP.as_bytes())
                    .tlv(SAR_MSG_REF_NUM, &(i as u16).to_be_bytes())
                    .tlv(SAR_TOTAL_SEGMENTS, &[2])
                    .tlv(SAR_SEGMENT_SEQNUM, &[1]),
            ),
            6 => (
                "submit_sm+tlvs",
                sm_body("", src, (1, 1, &dest), 0, "", 1, 0, b"").tlv(MESSAGE_PAYLOAD, &payload),
            ),
            _ => (
                "submit_sm+tlvs",
                sm_body("WAP", src, (1, 1, &dest), 0x40, "", 0, 4, &wap)
                    .tlv(USER_MESSAGE_REFERENCE, &(i as u16).to_be_bytes())
                    .tlv(SOURCE_PORT, &9200u16.to_be_bytes())
                    .tlv(DESTINATION_PORT, &2948u16.to_be_bytes())
                    .tlv(PAYLOAD_TYPE, &[0]),
            ),
        };
        push(kind, body, SUBMIT_SM, 0, seq);
        match i % 12 {
            11 => push(
                "submit_sm_resp",
                Wire::default(),
                SUBMIT_SM | RESP,
                ESME_RTHROTTLED,
                seq,
            ),
            7 => push(
                "submit_sm_resp",
                Wire::default(),
                SUBMIT_SM | RESP,
                ESME_RINVDSTADR,
                seq,
            ),
            _ => push(
                "submit_sm_resp",
                Wire::default().c(&message_id(i)),
                SUBMIT_SM | RESP,
                0,
                seq,
            ),
        }
        if i % 6 == 0 {
            seq += 1;
            push("enquire_link", Wire::default(), ENQUIRE_LINK, 0, seq);
            push(
                "enquire_link_resp",
                Wire::default(),
                ENQUIRE_LINK | RESP,
                0,
                seq,
            );
        }
    }

    // Receipts, as several SMSCs write them, and mobile-originated messages.
    for i in 0..48u32 {
        let smsc_seq = 10_000 + i;
        let id = message_id(i);
        let dest = msisdn(i);
        let stat = if i % 5 == 0 { "UNDELIV" } else { "DELIVRD" };
        let text = receipt_text(i, stat);
        let (kind, body) = match i % 6 {
            0..=2 => (
                "deliver_sm+tlvs",
                sm_body(
                    "",
                    (1, 1, &dest),
                    (5, 0, "MyShop"),
                    0x04,
                    "",
                    0,
                    0,
                    text.as_bytes(),
                )
                .tlv_c(RECEIPTED_MESSAGE_ID, &id)
                .tlv(MESSAGE_STATE, &[if i % 5 == 0 { 5 } else { 2 }]),
            ),
            3 => (
                "deliver_sm+tlvs",
                sm_body(
                    "",
                    (1, 1, &dest),
                    (1, 1, "447700900999"),
                    0x04,
                    "",
                    0,
                    0,
                    text.as_bytes(),
                )
                .tlv(MESSAGE_STATE, &[if i % 5 == 0 { 5 } else { 2 }])
                .tlv(NETWORK_ERROR_CODE, &[3, 0, if i % 5 == 0 { 27 } else { 0 }])
                .tlv_c(RECEIPTED_MESSAGE_ID, &id),
            ),
            4 => (
                "deliver_sm",
                sm_body(
                    "",
                    (1, 1, &dest),
                    (5, 0, "MyShop"),
                    0x04,
                    "",
                    0,
                    0,
                    text.as_bytes(),
                ),
            ),
            _ if i % 12 == 5 => (
                "deliver_sm",
                sm_body(
                    "",
                    (1, 1, &dest),
                    (3, 0, "60123"),
                    0,
                    "",
                    0,
                    8,
                    &ucs2("Да, подтверждаю"),
                ),
            ),
            _ => (
                "deliver_sm",
                sm_body("", (1, 1, &dest), (3, 0, "60123"), 0, "", 0, 0, b"STOP"),
            ),
        };
        push(kind, body, DELIVER_SM, 0, smsc_seq);
        push(
            "deliver_sm_resp",
            Wire::default().c(""),
            DELIVER_SM | RESP,
            0,
            smsc_seq,
        );
    }

    // The rest of the command set.
    for i in 0..2u32 {
        seq += 1;
        push(
            "data_sm",
            Wire::default()
                .c("WAP")
                .u8(1)
                .u8(1)
                .c("447700900999")
                .u8(1)
                .u8(1)
                .c(&msisdn(i))
                .u8(0)
                .u8(1)
                .u8(4)
                .tlv(SOURCE_PORT, &9200u16.to_be_bytes())
                .tlv(DESTINATION_PORT, &2948u16.to_be_bytes())
                .tlv(MESSAGE_PAYLOAD, &wap),
            DATA_SM,
            0,
            seq,
        );
        push(
            "data_sm_resp",
            Wire::default().c(&message_id(i)),
            DATA_SM | RESP,
            0,
            seq,
        );
        seq += 1;
        push(
            "query_sm",
            Wire::default().c(&message_id(i)).u8(5).u8(0).c("MyShop"),
            QUERY_SM,
            0,
            seq,
        );
        push(
            "query_sm_resp",
            Wire::default()
                .c(&message_id(i))
                .c("241122153100004+")
                .u8(2)
                .u8(0),
            QUERY_SM | RESP,
            0,
            seq,
        );
    }
    seq += 1;
    push(
        "submit_multi",
        Wire::default()
            .c("")
            .u8(5)
            .u8(0)
            .c("MyShop")
            .u8(3)
            .u8(1)
            .u8(1)
            .u8(1)
            .c(&msisdn(1))
            .u8(1)
            .u8(1)
            .u8(1)
            .c(&msisdn(2))
            .u8(2)
            .c("vip-customers")
            .u8(0)
            .u8(0)
            .u8(0)
            .c("")
            .c("")
            .u8(1)
            .u8(0)
            .u8(0)
            .u8(0)
            .sm(OTP.as_bytes()),
        SUBMIT_MULTI,
        0,
        seq,
    );
    push(
        "submit_multi_resp",
        Wire::default()
            .c(&message_id(7))
            .u8(1)
            .u8(1)
            .u8(1)
            .c(&msisdn(2))
            .u32(ESME_RINVDSTADR),
        SUBMIT_MULTI | RESP,
        0,
        seq,
    );
    seq += 1;
    push(
        "cancel_sm",
        Wire::default()
            .c("")
            .c(&message_id(3))
            .u8(5)
            .u8(0)
            .c("MyShop")
            .u8(1)
            .u8(1)
            .c(&msisdn(3)),
        CANCEL_SM,
        0,
        seq,
    );
    push("cancel_sm_resp", Wire::default(), CANCEL_SM | RESP, 0, seq);
    seq += 1;
    push(
        "replace_sm",
        Wire::default()
            .c(&message_id(4))
            .u8(5)
            .u8(0)
            .c("MyShop")
            .c("")
            .c("000002000000000R")
            .u8(1)
            .u8(0)
            .sm(OTP.as_bytes()),
        REPLACE_SM,
        0,
        seq,
    );
    push(
        "replace_sm_resp",
        Wire::default(),
        REPLACE_SM | RESP,
        0,
        seq,
    );
    push(
        "alert_notification",
        Wire::default()
            .u8(1)
            .u8(1)
            .c(&msisdn(5))
            .u8(0)
            .u8(0)
            .c("esme_rx")
            .tlv(MS_AVAILABILITY_STATUS, &[0]),
        ALERT_NOTIFICATION,
        0,
        10_500,
    );
    push(
        "generic_nack",
        Wire::default(),
        GENERIC_NACK,
        ESME_RINVCMDID,
        0,
    );
    seq += 1;
    push("unbind", Wire::default(), UNBIND, 0, seq);
    push("unbind_resp", Wire::default(), UNBIND | RESP, 0, seq);
    out
}

/// The corpus as one buffer, with each PDU's frame as a slice of it for both libraries.
struct Frames {
    kinds: Vec<&'static str>,
    ours: Vec<Bytes>,
    stream: Bytes,
    ranges: Vec<(usize, usize)>,
}

impl Frames {
    fn new(samples: &[Sample]) -> Frames {
        let mut stream = Vec::new();
        let mut ranges = Vec::new();
        for s in samples {
            ranges.push((stream.len(), stream.len() + s.frame.len()));
            stream.extend_from_slice(&s.frame);
        }
        let stream = Bytes::from(stream);
        Frames {
            kinds: samples.iter().map(|s| s.kind).collect(),
            ours: ranges.iter().map(|&(a, b)| stream.slice(a..b)).collect(),
            stream,
            ranges,
        }
    }

    fn theirs(&self) -> Vec<&[u8]> {
        self.ranges
            .iter()
            .map(|&(a, b)| &self.stream[a..b])
            .collect()
    }

    /// The frames of one kind (or all), for each library.
    fn select(&self, kind: Option<&str>) -> (Vec<Bytes>, Vec<&[u8]>) {
        let theirs = self.theirs();
        self.kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| kind.is_none_or(|want| **k == want))
            .map(|(i, _)| (self.ours[i].clone(), theirs[i]))
            .unzip()
    }
}

fn decode_theirs(frame: &[u8]) -> Option<Theirs<'_>> {
    // The frame minus command_length, as rusmpp's own framing hands it over.
    let body = frame.get(4..)?;
    Theirs::decode(body, body.len())
        .ok()
        .map(|(command, _)| command)
}

/// The TLVs of a decoded PDU, for the bodies that carry them.
fn our_tlvs(body: &Body) -> Option<&Tlvs> {
    Some(match body {
        Body::SubmitSm(b) => &b.tlvs,
        Body::DeliverSm(b) => &b.tlvs,
        Body::SubmitSmResp(b) => &b.tlvs,
        Body::DeliverSmResp(b) => &b.tlvs,
        Body::DataSm(b) => &b.tlvs,
        Body::DataSmResp(b) => &b.tlvs,
        Body::SubmitMulti(b) => &b.tlvs,
        Body::SubmitMultiResp(b) => &b.tlvs,
        Body::BindReceiverResp(b) | Body::BindTransmitterResp(b) | Body::BindTransceiverResp(b) => {
            &b.tlvs
        }
        Body::AlertNotification(b) => &b.tlvs,
        _ => return None,
    })
}

/// Reads every TLV of a decoded PDU as a typed value; returns how many there were.
fn read_our_tlvs(pdu: &Pdu) -> usize {
    let mut n = 0;
    if let Some(tlvs) = our_tlvs(&pdu.body) {
        for tlv in tlvs {
            black_box(&tlv);
            n += 1;
        }
    }
    n
}

fn read_their_tlvs(command: &Theirs<'_>) -> usize {
    use rusmpp_core::pdus::borrowed::Pdu as P;
    let list: &[rusmpp_core::tlvs::borrowed::Tlv<'_>] = match command.pdu() {
        Some(P::SubmitSm(b)) => b.tlvs(),
        Some(P::DeliverSm(b)) => b.tlvs(),
        Some(P::SubmitSmResp(b)) => b.tlvs(),
        Some(P::DeliverSmResp(b)) => b.tlvs(),
        Some(P::DataSm(b)) => b.tlvs(),
        Some(P::DataSmResp(b)) => b.tlvs(),
        Some(P::SubmitMulti(b)) => b.tlvs(),
        Some(P::SubmitMultiResp(b)) => b.tlvs(),
        Some(P::BindReceiverResp(b)) => b
            .sc_interface_version_tlv()
            .map_or(&[], std::slice::from_ref),
        Some(P::BindTransmitterResp(b)) => b
            .sc_interface_version_tlv()
            .map_or(&[], std::slice::from_ref),
        Some(P::BindTransceiverResp(b)) => b
            .sc_interface_version_tlv()
            .map_or(&[], std::slice::from_ref),
        Some(P::AlertNotification(b)) => b
            .ms_availability_status_tlv()
            .map_or(&[], std::slice::from_ref),
        Some(P::ReplaceSm(b)) => b.message_payload_tlv().map_or(&[], std::slice::from_ref),
        _ => &[],
    };
    for tlv in list {
        black_box(tlv.value());
    }
    list.len()
}

fn decode_ours_all(frames: &[Bytes]) -> usize {
    let mut n = 0;
    for frame in frames {
        if let Ok(pdu) = Pdu::decode(frame) {
            black_box(&pdu);
            n += 1;
        }
    }
    n
}

fn decode_theirs_all(frames: &[&[u8]]) -> usize {
    let mut n = 0;
    for frame in frames {
        if let Some(command) = decode_theirs(frame) {
            black_box(&command);
            n += 1;
        }
    }
    n
}

fn decode_ours_tlvs(frames: &[Bytes]) -> usize {
    let mut n = 0;
    for frame in frames {
        if let Ok(pdu) = Pdu::decode(frame) {
            n += 1 + read_our_tlvs(&pdu);
        }
    }
    n
}

fn decode_theirs_tlvs(frames: &[&[u8]]) -> usize {
    let mut n = 0;
    for frame in frames {
        if let Some(command) = decode_theirs(frame) {
            n += 1 + read_their_tlvs(&command);
        }
    }
    n
}

fn encode_ours(pdus: &[Pdu], buf: &mut BytesMut) -> usize {
    buf.clear();
    for pdu in pdus {
        if pdu.encode(buf).is_err() {
            return 0;
        }
    }
    buf.len()
}

/// rusmpp's borrowed encoder writes into a slice sized by `length()`, as its own framing does.
fn encode_theirs(commands: &[Theirs<'_>], buf: &mut [u8]) -> usize {
    let mut pos = 0;
    for command in commands {
        let len = 4 + command.length();
        let Some(dst) = buf.get_mut(pos..pos + len) else {
            return 0;
        };
        dst[..4].copy_from_slice(&(len as u32).to_be_bytes());
        command.encode(&mut dst[4..]);
        pos += len;
    }
    pos
}

/// Everything the benches measure, checked once: both libraries decode every frame, read the
/// same number of TLVs, and write every PDU back byte for byte.
fn check(frames: &Frames) {
    let (ours, theirs) = frames.select(None);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let kind = frames.kinds[i];
        let pdu = Pdu::decode(o).unwrap_or_else(|e| panic!("redeliver: {kind} #{i}: {e}"));
        let command = decode_theirs(t)
            .unwrap_or_else(|| panic!("rusmpp does not decode {kind} #{i}: {t:02x?}"));
        assert_eq!(
            read_our_tlvs(&pdu),
            read_their_tlvs(&command),
            "{kind} #{i}: TLV count"
        );
        if kind.ends_with("+tlvs") {
            assert!(read_our_tlvs(&pdu) > 0, "{kind} #{i} has TLVs");
        }
        let mut buf = BytesMut::new();
        pdu.encode(&mut buf)
            .unwrap_or_else(|e| panic!("redeliver: encode {kind} #{i}: {e}"));
        assert_eq!(&buf[..], &o[..], "redeliver re-encodes {kind} #{i}");
        let mut mine = vec![0u8; t.len() + 64];
        let n = encode_theirs(std::slice::from_ref(&command), &mut mine);
        assert_eq!(&mine[..n], *t, "rusmpp re-encodes {kind} #{i}");
    }
}

fn bench_codec<M: Measurement>(c: &mut Criterion<M>, frames: &Frames) {
    let (ours, theirs) = frames.select(None);
    let pdus: Vec<Pdu> = ours.iter().filter_map(|f| Pdu::decode(f).ok()).collect();
    let commands: Vec<Theirs<'_>> = theirs.iter().filter_map(|f| decode_theirs(f)).collect();
    let n = ours.len();

    let mut group = c.benchmark_group("smpp_decode");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("redeliver", |b| {
        b.iter(|| assert_eq!(decode_ours_all(black_box(&ours)), n))
    });
    group.bench_function("rusmpp", |b| {
        b.iter(|| assert_eq!(decode_theirs_all(black_box(&theirs)), n))
    });
    group.finish();

    let mut group = c.benchmark_group("smpp_decode+tlvs");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("redeliver", |b| {
        b.iter(|| decode_ours_tlvs(black_box(&ours)))
    });
    group.bench_function("rusmpp", |b| {
        b.iter(|| decode_theirs_tlvs(black_box(&theirs)))
    });
    group.finish();

    let mut group = c.benchmark_group("smpp_encode");
    group.throughput(Throughput::Elements(n as u64));
    let total = frames.stream.len();
    let mut buf = BytesMut::with_capacity(total * 2);
    group.bench_function("redeliver", |b| {
        b.iter(|| assert_eq!(encode_ours(black_box(&pdus), &mut buf), total))
    });
    let mut slice = vec![0u8; total];
    group.bench_function("rusmpp", |b| {
        b.iter(|| assert_eq!(encode_theirs(black_box(&commands), &mut slice), total))
    });
    group.finish();
}

/// The interleaved comparisons: the whole corpus, then each kind of PDU, for each kind of work.
fn interleaved(frames: &Frames, filter: Option<&str>) {
    let plan = interleave::Plan::new(15, Duration::from_millis(40));
    let mut kinds: Vec<&str> = frames.kinds.clone();
    kinds.sort_unstable();
    kinds.dedup();
    let cases: Vec<Option<&str>> = std::iter::once(None)
        .chain(kinds.into_iter().map(Some))
        .collect();
    let mut header = false;
    for work in ["decode", "decode+tlvs", "encode"] {
        for kind in &cases {
            let name = format!("smpp/interleaved/{work}/{}", kind.unwrap_or("corpus"));
            if filter.is_some_and(|f| !name.contains(f)) {
                continue;
            }
            if !header {
                println!(
                    "smpp/interleaved: redeliver against rusmpp 0.4 (borrowed), {} pairs of {:?} slices, {}; \
                     ratio = rusmpp's time / redeliver's (above 1: redeliver is faster), median of the pairs",
                    plan.pairs,
                    plan.slice,
                    plan.clock()
                );
                header = true;
            }
            let (ours, theirs) = frames.select(*kind);
            let n = ours.len();
            let result = match work {
                "decode" => plan.compare(
                    || assert_eq!(decode_ours_all(black_box(&ours)), n),
                    || assert_eq!(decode_theirs_all(black_box(&theirs)), n),
                ),
                "decode+tlvs" => {
                    let want = decode_ours_tlvs(&ours);
                    assert_eq!(decode_theirs_tlvs(&theirs), want);
                    plan.compare(
                        || assert_eq!(decode_ours_tlvs(black_box(&ours)), want),
                        || assert_eq!(decode_theirs_tlvs(black_box(&theirs)), want),
                    )
                }
                _ => {
                    let pdus: Vec<Pdu> = ours.iter().filter_map(|f| Pdu::decode(f).ok()).collect();
                    let commands: Vec<Theirs<'_>> =
                        theirs.iter().filter_map(|f| decode_theirs(f)).collect();
                    let total: usize = theirs.iter().map(|f| f.len()).sum();
                    assert_eq!((pdus.len(), commands.len()), (n, n));
                    let mut buf = BytesMut::with_capacity(total * 2);
                    let mut slice = vec![0u8; total];
                    plan.compare(
                        || assert_eq!(encode_ours(black_box(&pdus), &mut buf), total),
                        || assert_eq!(encode_theirs(black_box(&commands), &mut slice), total),
                    )
                }
            };
            println!("{name} ({n} PDUs): {}", result.line("run"));
        }
    }
}

/// What both receipt parsers produce: the Appendix B fields as owned strings.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    id: String,
    sub: Option<String>,
    dlvrd: Option<String>,
    submit_date: Option<String>,
    done_date: Option<String>,
    stat: String,
    err: Option<String>,
    text: Option<String>,
}

/// The straightforward regex parser: one case-insensitive pattern per field, so fields can
/// come in any order (the way gateway software commonly does it).
struct RegexParser {
    id: Regex,
    sub: Regex,
    dlvrd: Regex,
    submit_date: Regex,
    done_date: Regex,
    stat: Regex,
    err: Regex,
    text: Regex,
}

impl RegexParser {
    fn new() -> Self {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("{e}"));
        RegexParser {
            id: re(r"(?i)\bid:(\S+)"),
            sub: re(r"(?i)\bsub:(\S*)"),
            dlvrd: re(r"(?i)\bdlvrd:(\S*)"),
            submit_date: re(r"(?i)\bsubmit[ _]date:(\d+)"),
            done_date: re(r"(?i)\bdone[ _]date:(\d+)"),
            stat: re(r"(?i)\bstat:(\S+)"),
            err: re(r"(?i)\berr:(\S*)"),
            text: re(r"(?i)\btext:(.*)$"),
        }
    }

    fn parse(&self, s: &str) -> Option<Fields> {
        let get = |re: &Regex| {
            re.captures(s)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_owned())
        };
        Some(Fields {
            id: get(&self.id)?,
            sub: get(&self.sub),
            dlvrd: get(&self.dlvrd),
            submit_date: get(&self.submit_date),
            done_date: get(&self.done_date),
            stat: get(&self.stat)?,
            err: get(&self.err),
            text: get(&self.text),
        })
    }
}

/// A single pattern for the spec's field order (optional fields optional); faster than one
/// pattern per field, but it cannot take fields out of order.
struct SingleRegexParser(Regex);

impl SingleRegexParser {
    fn new() -> Self {
        SingleRegexParser(
            Regex::new(
                r"(?i)id:(\S+)(?:\s+sub:(\S*))?(?:\s+dlvrd:(\S*))?(?:\s+submit date:(\d+))?(?:\s+done date:(\d+))?\s+stat:(\S+)(?:\s+err:(\S*))?(?:\s+text:(.*))?",
            )
            .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn parse(&self, s: &str) -> Option<Fields> {
        let c = self.0.captures(s)?;
        let get = |i: usize| c.get(i).map(|m| m.as_str().to_owned());
        Some(Fields {
            id: get(1)?,
            sub: get(2),
            dlvrd: get(3),
            submit_date: get(4),
            done_date: get(5),
            stat: get(6)?,
            err: get(7),
            text: get(8),
        })
    }
}

fn ours(s: &str) -> Option<Fields> {
    let r = DeliveryReceipt::parse(s.as_bytes()).ok()?;
    Some(Fields {
        id: r.id,
        sub: r.sub,
        dlvrd: r.dlvrd,
        submit_date: r.submit_date,
        done_date: r.done_date,
        stat: r.stat,
        err: r.err,
        text: r.text,
    })
}

fn bench_receipts<M: Measurement>(c: &mut Criterion<M>) {
    let texts: Vec<String> = (0..16)
        .map(|i| receipt_text(i, if i % 4 == 0 { "UNDELIV" } else { "DELIVRD" }))
        .collect();
    let per_field = RegexParser::new();
    let single = SingleRegexParser::new();
    for t in &texts {
        assert_eq!(ours(t), per_field.parse(t), "{t}");
        assert_eq!(ours(t), single.parse(t), "{t}");
        assert!(ours(t).is_some());
    }
    let mut group = c.benchmark_group("smpp_receipt_parse");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("redeliver", |b| {
        b.iter(|| {
            for t in black_box(&texts) {
                black_box(ours(t));
            }
        })
    });
    group.bench_function("regex_per_field", |b| {
        b.iter(|| {
            for t in black_box(&texts) {
                black_box(per_field.parse(t));
            }
        })
    });
    group.bench_function("regex_single", |b| {
        b.iter(|| {
            for t in black_box(&texts) {
                black_box(single.parse(t));
            }
        })
    });
    group.finish();
}

/// The receipt parser against the two regex parsers, interleaved.
fn interleaved_receipts(filter: Option<&str>) {
    let plan = interleave::Plan::new(15, Duration::from_millis(40));
    let texts: Vec<String> = (0..16)
        .map(|i| receipt_text(i, if i % 4 == 0 { "UNDELIV" } else { "DELIVRD" }))
        .collect();
    let per_field = RegexParser::new();
    let single = SingleRegexParser::new();
    let ours_all = || {
        texts
            .iter()
            .filter(|t| ours(black_box(t)).is_some())
            .count()
    };
    for (name, theirs) in [
        (
            "regex_per_field",
            &(|| {
                texts
                    .iter()
                    .filter(|t| per_field.parse(black_box(t)).is_some())
                    .count()
            }) as &dyn Fn() -> usize,
        ),
        ("regex_single", &|| {
            texts
                .iter()
                .filter(|t| single.parse(black_box(t)).is_some())
                .count()
        }),
    ] {
        let case = format!("smpp/interleaved/receipts/{name}");
        if filter.is_some_and(|f| !case.contains(f)) {
            continue;
        }
        let result = plan.compare(
            || assert_eq!(ours_all(), texts.len()),
            || assert_eq!(theirs(), texts.len()),
        );
        println!(
            "{case} ({} texts, {} pairs of {:?} slices, {}): {}",
            texts.len(),
            plan.pairs,
            plan.slice,
            plan.clock(),
            result.line("16 texts")
        );
    }
}

/// The CPU time of the benchmark thread, formatted like wall-clock time.
struct ThreadCpuTime(WallTime);

impl Measurement for ThreadCpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }

    fn end(&self, started: ThreadTime) -> Duration {
        started.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

/// `SMPP_BENCH_PROFILE=<work>[:<kind>]` runs one side's work on the corpus (or one kind of
/// PDU) many times and exits, for a profiler: `ours` or `theirs` after a slash picks the side
/// (`encode/theirs`); the count is `SMPP_BENCH_PROFILE_RUNS` (default 20 000). For example
/// `SMPP_BENCH_PROFILE=encode valgrind --tool=callgrind target/release/deps/smpp_codec-<hash>`.
fn profile(frames: &Frames, spec: &str) {
    let (spec, kind) = match spec.split_once(':') {
        Some((spec, kind)) => (spec, Some(kind)),
        None => (spec, None),
    };
    let (work, side) = spec.split_once('/').unwrap_or((spec, "ours"));
    let runs: usize = std::env::var("SMPP_BENCH_PROFILE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (ours, theirs) = frames.select(kind);
    let pdus: Vec<Pdu> = ours.iter().filter_map(|f| Pdu::decode(f).ok()).collect();
    let commands: Vec<Theirs<'_>> = theirs.iter().filter_map(|f| decode_theirs(f)).collect();
    let total: usize = theirs.iter().map(|f| f.len()).sum();
    let mut buf = BytesMut::with_capacity(total * 2);
    let mut slice = vec![0u8; total];
    let mut done = 0usize;
    for _ in 0..runs {
        done += match (work, side) {
            ("decode", "ours") => decode_ours_all(black_box(&ours)),
            ("decode", _) => decode_theirs_all(black_box(&theirs)),
            ("decode+tlvs", "ours") => decode_ours_tlvs(black_box(&ours)),
            ("decode+tlvs", _) => decode_theirs_tlvs(black_box(&theirs)),
            ("encode", "ours") => encode_ours(black_box(&pdus), &mut buf),
            ("encode", _) => encode_theirs(black_box(&commands), &mut slice),
            _ => panic!(
                "SMPP_BENCH_PROFILE: decode, decode+tlvs or encode, optionally /ours or /theirs and :<kind>"
            ),
        };
    }
    println!(
        "{spec} {}: {runs} runs, {done} units",
        kind.unwrap_or("corpus")
    );
}

fn main() {
    let frames = Frames::new(&corpus());
    check(&frames);
    if let Ok(spec) = std::env::var("SMPP_BENCH_PROFILE") {
        profile(&frames, &spec);
        return;
    }
    let wall = std::env::var("SMPP_BENCH_CLOCK").is_ok_and(|v| v == "wall")
        || ThreadTime::try_now().is_err();
    if wall {
        let mut c = Criterion::default().configure_from_args();
        bench_codec(&mut c, &frames);
        bench_receipts(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime(WallTime))
            .configure_from_args();
        bench_codec(&mut c, &frames);
        bench_receipts(&mut c);
        c.final_summary();
    }
    if !interleave::criterion_only() {
        interleaved(&frames, interleave::filter().as_deref());
        interleaved_receipts(interleave::filter().as_deref());
    }
}
