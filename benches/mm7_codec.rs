//! MM7 decode throughput against its limit: a bare `quick-xml` event loop that only reads the
//! same bytes (no tree, no field mapping). The bar is at least half of that loop's
//! throughput for a DeliveryReportReq and a SubmitRsp.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use redeliver::mm7::{DefaultMm7Codec, Mm7Codec, Mm7Message, Release};
use std::hint::black_box;

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

fn decode(c: &mut Criterion) {
    let codec = DefaultMm7Codec::default();
    for name in ["delivery_report_req.xml", "submit_rsp.xml"] {
        let bytes = sample(name);
        let mut group = c.benchmark_group(format!("mm7_decode/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("bare_quick_xml_loop", |b| {
            b.iter(|| bare_quick_xml(black_box(&bytes)))
        });
        group.bench_function("default_mm7_codec", |b| {
            b.iter(|| codec.decode(Some("text/xml"), black_box(&bytes)))
        });
        group.finish();
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
        b.iter(|| codec.encode(black_box(&req), &Release::Rel6Mm7_1_4))
    });
    group.bench_function("delivery_report_rsp", |b| {
        b.iter(|| codec.encode(black_box(&rsp), &Release::Rel6Mm7_1_4))
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
        b.iter(|| codec.decode(Some(ct.trim()), black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, decode, encode, multipart);
criterion_main!(benches);
