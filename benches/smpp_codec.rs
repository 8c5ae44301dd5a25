//! SMPP codec speed, measured against `rusmpp` (decode, encode) and a `regex` receipt parser in
//! the same run.
//!
//! The corpus is a mixed SMPP session: submit_sm with TLVs, their responses, deliver_sm
//! receipts with receipt TLVs, deliver_sm_resp, enquire_link and its response. Decoding is
//! measured the way a host runs it — a read buffer holding the whole corpus, split and decoded
//! by each library's `tokio_util` decoder — so both sides pay for framing; encoding writes every
//! PDU of the corpus into one reused buffer.
//!
//! Time is the benchmark thread's CPU time, so that load from other processes on a shared
//! machine does not fall on whichever side happens to run while it peaks and skew the ratios;
//! `SMPP_BENCH_CLOCK=wall` measures wall-clock time instead.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState};
use redeliver::smpp::{
    Body, DeliverSm, DeliverSmResp, EsmClass, Pdu, RegisteredDelivery, SmppFraming, SubmitSm,
    SubmitSmResp, Tlv, Tlvs,
};
use regex::Regex;
use tokio_util::codec::{Decoder, Encoder};

fn tlvs(list: &[Tlv]) -> Tlvs {
    Tlvs::from_tlvs(list).unwrap_or_else(|e| panic!("{e}"))
}

fn receipt_text(i: u32, stat: &str) -> String {
    format!(
        "id:{:010} sub:001 dlvrd:001 submit date:2411221530 done date:2411221531 stat:{stat} err:000 text:Your code is {i:04}",
        1_715_000 + i
    )
}

/// The mixed session: 8 rounds of submit_sm → resp → deliver_sm receipt → resp, plus keep-alives.
fn corpus() -> Vec<Pdu> {
    let mut pdus = Vec::new();
    for i in 0..8u32 {
        let seq = i * 10;
        pdus.push(Pdu::new(
            seq + 1,
            SubmitSm {
                service_type: "CMT".into(),
                source_addr_ton: 5,
                source_addr: "Shop".into(),
                dest_addr_ton: 1,
                dest_addr_npi: 1,
                destination_addr: format!("4477009{i:05}").into(),
                registered_delivery: RegisteredDelivery::SMSC_DELIVERY,
                short_message: Bytes::from(format!(
                    "Your code is {i:04}. It expires in 10 minutes."
                )),
                tlvs: tlvs(&[Tlv::UserMessageReference(i as u16), Tlv::SourcePort(9200)]),
                ..SubmitSm::default()
            },
        ));
        pdus.push(Pdu::new(
            seq + 1,
            SubmitSmResp {
                message_id: format!("{:X}", 0x1A_2B00 + i).into(),
                tlvs: Tlvs::new(),
            },
        ));
        let stat = if i % 3 == 0 { "UNDELIV" } else { "DELIVRD" };
        pdus.push(Pdu::new(
            seq + 2,
            DeliverSm {
                source_addr_ton: 1,
                source_addr_npi: 1,
                source_addr: format!("4477009{i:05}").into(),
                dest_addr_ton: 5,
                destination_addr: "Shop".into(),
                esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
                short_message: Bytes::from(receipt_text(i, stat)),
                tlvs: tlvs(&[
                    Tlv::ReceiptedMessageId(format!("{:X}", 0x1A_2B00 + i).into()),
                    Tlv::MessageState(if i % 3 == 0 {
                        MessageState::Undeliverable
                    } else {
                        MessageState::Delivered
                    }),
                ]),
                ..DeliverSm::default()
            },
        ));
        pdus.push(Pdu::new(seq + 2, DeliverSmResp::default()));
        if i % 2 == 0 {
            pdus.push(Pdu::new(seq + 3, Body::EnquireLink));
            pdus.push(Pdu::new(seq + 3, Body::EnquireLinkResp));
        }
    }
    pdus
}

fn encoded(pdus: &[Pdu]) -> Bytes {
    let mut buf = BytesMut::new();
    for pdu in pdus {
        pdu.encode(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    }
    buf.freeze()
}

fn decode_ours(stream: &[u8]) -> usize {
    let mut buf = BytesMut::from(stream);
    let mut framing = SmppFraming::new();
    let mut n = 0;
    while let Ok(Some(pdu)) = framing.decode(&mut buf) {
        black_box(&pdu);
        n += 1;
    }
    n
}

fn decode_rusmpp(stream: &[u8]) -> Vec<rusmpp::Command> {
    let mut buf = BytesMut::from(stream);
    let mut codec = rusmpp::tokio_codec::CommandCodec::new();
    let mut out = Vec::new();
    while let Ok(Some(command)) = codec.decode(&mut buf) {
        out.push(command);
    }
    out
}

fn decode_rusmpp_count(stream: &[u8]) -> usize {
    let mut buf = BytesMut::from(stream);
    let mut codec = rusmpp::tokio_codec::CommandCodec::new();
    let mut n = 0;
    while let Ok(Some(command)) = codec.decode(&mut buf) {
        black_box(&command);
        n += 1;
    }
    n
}

fn bench_codec<M: Measurement>(c: &mut Criterion<M>) {
    let pdus = corpus();
    let stream = encoded(&pdus);
    let theirs = decode_rusmpp(&stream);
    // Both libraries must read the whole corpus, and rusmpp must write the same bytes back, or
    // the comparison means nothing.
    assert_eq!(decode_ours(&stream), pdus.len());
    assert_eq!(theirs.len(), pdus.len());
    let mut check = BytesMut::new();
    let mut rusmpp_codec = rusmpp::tokio_codec::CommandCodec::new();
    for command in &theirs {
        rusmpp_codec
            .encode(command, &mut check)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        &check[..],
        &stream[..],
        "rusmpp re-encodes the corpus identically"
    );

    let mut group = c.benchmark_group("smpp_decode_mixed");
    group.throughput(Throughput::Elements(pdus.len() as u64));
    group.bench_function("redeliver", |b| b.iter(|| decode_ours(black_box(&stream))));
    group.bench_function("rusmpp", |b| {
        b.iter(|| decode_rusmpp_count(black_box(&stream)))
    });
    group.finish();

    let mut group = c.benchmark_group("smpp_encode_mixed");
    group.throughput(Throughput::Elements(pdus.len() as u64));
    let mut buf = BytesMut::with_capacity(stream.len() * 2);
    group.bench_function("redeliver", |b| {
        let mut framing = SmppFraming::new();
        b.iter(|| {
            buf.clear();
            for pdu in black_box(&pdus) {
                let _ = framing.encode(pdu, &mut buf);
            }
            buf.len()
        })
    });
    group.bench_function("rusmpp", |b| {
        let mut codec = rusmpp::tokio_codec::CommandCodec::new();
        b.iter(|| {
            buf.clear();
            for command in black_box(&theirs) {
                let _ = codec.encode(command, &mut buf);
            }
            buf.len()
        })
    });
    group.finish();
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

fn main() {
    let wall = std::env::var("SMPP_BENCH_CLOCK").is_ok_and(|v| v == "wall")
        || ThreadTime::try_now().is_err();
    if wall {
        let mut c = Criterion::default().configure_from_args();
        bench_codec(&mut c);
        bench_receipts(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime(WallTime))
            .configure_from_args();
        bench_codec(&mut c);
        bench_receipts(&mut c);
        c.final_summary();
    }
}
