//! MM7 decode throughput against its limit: a bare `quick-xml` event loop that only reads the
//! same bytes (no tree, no field mapping).
//!
//! The ratio comes from `mm7/interleaved/*` (see `support/interleave.rs`): decode and the bare
//! loop alternate in short slices in one process, and the median of the per-pair ratios (the
//! loop's time over the decoder's, i.e. the decoder's throughput as a fraction of the loop's)
//! is reported. `cargo bench --bench mm7_codec -- mm7/interleaved` runs only these; the
//! criterion groups give absolute times, not ratios. Every timed decode is checked to have
//! produced the expected message.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use redeliver::mm7::{DefaultMm7Codec, Mm7Codec, Mm7Message, Release};

#[path = "support/interleave.rs"]
mod interleave;

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/examples/data/mm7/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The peer: reads every event of the document and does nothing with it.
fn bare_quick_xml(bytes: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return 0;
    };
    let mut reader = Reader::from_str(text);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(e) => {
                black_box(&e);
                events += 1;
            }
        }
    }
    events
}

/// The samples the decode benches read, with the message each must decode to.
const SAMPLES: [(&str, &str); 2] = [
    ("delivery_report_req.xml", "DeliveryReportReq"),
    ("submit_rsp.xml", "SubmitRsp"),
];

/// Decodes and checks that the result is the expected message.
fn decode_checked(codec: &DefaultMm7Codec, bytes: &[u8], want: &str) -> Mm7Message {
    let message = codec
        .decode(Some("text/xml"), black_box(bytes))
        .unwrap_or_else(|e| panic!("{want}: {e}"));
    let ok = matches!(
        (&message, want),
        (Mm7Message::DeliveryReportReq(_), "DeliveryReportReq")
            | (Mm7Message::SubmitRsp(_), "SubmitRsp")
    );
    assert!(ok, "decoded to another message than {want}");
    message
}

fn decode(c: &mut Criterion) {
    let codec = DefaultMm7Codec::default();
    for (name, want) in SAMPLES {
        let bytes = sample(name);
        let events = bare_quick_xml(&bytes);
        assert!(events > 0, "{name}: the bare loop read no event");
        let mut group = c.benchmark_group(format!("mm7_decode/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("bare_quick_xml_loop", |b| {
            b.iter(|| assert_eq!(bare_quick_xml(black_box(&bytes)), events))
        });
        group.bench_function("default_mm7_codec", |b| {
            b.iter(|| decode_checked(&codec, &bytes, want))
        });
        group.finish();
    }
}

/// Decode against the bare loop, interleaved.
fn interleaved(filter: Option<&str>) {
    let plan = interleave::Plan::new(21, Duration::from_millis(40));
    let codec = DefaultMm7Codec::default();
    let mut header = false;
    for (name, want) in SAMPLES {
        let case = format!("mm7/interleaved/decode/{name}");
        if filter.is_some_and(|f| !case.contains(f)) {
            continue;
        }
        if !header {
            println!(
                "mm7/interleaved: DefaultMm7Codec::decode against a bare quick-xml event loop over the same bytes, \
                 {} pairs of {:?} slices, {}; ratio = the loop's time / decode's \
                 (decode's throughput as a fraction of the loop's), median of the pairs",
                plan.pairs,
                plan.slice,
                plan.clock()
            );
            header = true;
        }
        let bytes = sample(name);
        let events = bare_quick_xml(&bytes);
        let result = plan.compare(
            || {
                black_box(decode_checked(&codec, &bytes, want));
            },
            || assert_eq!(bare_quick_xml(black_box(&bytes)), events),
        );
        println!(
            "{case} ({} bytes): {}",
            bytes.len(),
            result.line("document")
        );
    }
}

/// `MM7_BENCH_PROFILE=<sample file>` decodes that sample many times and exits, for a profiler
/// (`MM7_BENCH_PROFILE=submit_rsp.xml valgrind --tool=callgrind target/release/deps/mm7_codec-<hash>`);
/// `MM7_BENCH_PROFILE=scan:<sample file>` runs the bare loop instead.
fn profile(spec: &str) {
    let (scan, name) = match spec.strip_prefix("scan:") {
        Some(name) => (true, name),
        None => (false, spec),
    };
    let Some(&(name, want)) = SAMPLES.iter().find(|(n, _)| *n == name) else {
        panic!("MM7_BENCH_PROFILE: one of {SAMPLES:?}, optionally after scan:");
    };
    let bytes = sample(name);
    let codec = DefaultMm7Codec::default();
    for _ in 0..20_000 {
        if scan {
            black_box(bare_quick_xml(black_box(&bytes)));
        } else {
            black_box(decode_checked(&codec, &bytes, want));
        }
    }
}

fn encode(c: &mut Criterion) {
    let codec = DefaultMm7Codec::default();
    let Ok(Mm7Message::DeliveryReportReq(dr)) =
        codec.decode(None, &sample("delivery_report_req.xml"))
    else {
        panic!("sample does not decode to a DeliveryReportReq");
    };
    let rsp = Mm7Message::DeliveryReportRsp(dr.acknowledge());
    let req = Mm7Message::DeliveryReportReq(dr);
    let mut group = c.benchmark_group("mm7_encode");
    group.bench_function("delivery_report_req", |b| {
        b.iter(|| {
            let encoded = codec.encode(black_box(&req), &Release::Rel6Mm7_1_4);
            assert!(encoded.is_ok(), "encode succeeds");
            encoded
        })
    });
    group.bench_function("delivery_report_rsp", |b| {
        b.iter(|| {
            let encoded = codec.encode(black_box(&rsp), &Release::Rel6Mm7_1_4);
            assert!(encoded.is_ok(), "encode succeeds");
            encoded
        })
    });
    group.finish();
}

fn multipart(c: &mut Criterion) {
    let codec = DefaultMm7Codec::default();
    let body = sample("submit_req.mime");
    let ct = String::from_utf8(sample("submit_req.content-type")).unwrap_or_default();
    let mut group = c.benchmark_group("mm7_decode/submit_req.mime");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("default_mm7_codec", |b| {
        b.iter(|| {
            let message = codec.decode(Some(ct.trim()), black_box(&body));
            assert!(
                matches!(message, Ok(Mm7Message::SubmitReq(_))),
                "submit_req.mime decodes to a SubmitReq"
            );
            message
        })
    });
    group.finish();
}

fn main() {
    if let Ok(spec) = std::env::var("MM7_BENCH_PROFILE") {
        profile(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    decode(&mut c);
    encode(&mut c);
    multipart(&mut c);
    c.final_summary();
    if !interleave::criterion_only() {
        interleaved(interleave::filter().as_deref());
    }
}
