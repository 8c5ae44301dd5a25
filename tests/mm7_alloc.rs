//! Peak heap of MM7 decoding over a hostile suite: every decode, accepted or refused, stays
//! within 4× its input plus a constant.
//!
//! A counting global allocator tracks, per thread, the bytes live since the measurement began
//! and their peak; this file holds only this test, so nothing else shares the allocator.
#![cfg(feature = "mm7")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use base64::Engine as _;
use redeliver::mm7::{DefaultMm7Codec, Mm7Codec, Mm7Error, Mm7Message};

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    // try_with: the thread may be tearing down its locals.
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let _ = LIVE.try_with(|live| {
                let now = live.get() + delta;
                live.set(now);
                let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
            });
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A moving realloc holds both blocks for a moment: count the new one before the old
        // one is released.
        record(new_size as isize);
        // SAFETY: ptr was allocated by System with this layout.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        record(-(layout.size() as isize));
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize));
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The peak of bytes allocated and not yet freed while `f` runs, and its result.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ACTIVE.with(|a| a.set(true));
    let out = f();
    ACTIVE.with(|a| a.set(false));
    (PEAK.with(Cell::get).max(0) as usize, out)
}

const NS: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4";
const MIB: usize = 1024 * 1024;
/// The constant of the bound: what the default limits cap whatever the input. The largest is
/// per-element: 10 000 elements each cost a tree node, and a skipped one a warning, or a
/// recipient an `Address` (about 2.7 MB for 100 kB of `<Unknown/>`).
const CONSTANT: usize = 4 * MIB;

fn envelope(body: &str) -> String {
    format!(
        r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header><TransactionID xmlns="{NS}">t</TransactionID></env:Header><env:Body>{body}</env:Body></env:Envelope>"#
    )
}

fn drr(extra: &str) -> String {
    envelope(&format!(
        r#"<DeliveryReportReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><MessageID>m1</MessageID><Recipient><Number>1</Number></Recipient><Sender><Number>2</Number></Sender><Date>2026-11-22T06:00:00Z</Date><MMStatus>Retrieved</MMStatus>{extra}</DeliveryReportReq>"#
    ))
}

fn submit(recipients: &str, content: &str) -> String {
    envelope(&format!(
        r#"<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><SenderIdentification><VASPID>v</VASPID></SenderIdentification><Recipients><To>{recipients}</To></Recipients>{content}</SubmitReq>"#
    ))
}

fn related(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (headers, content) in parts {
        body.extend_from_slice(b"--b\r\n");
        body.extend_from_slice(headers.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--b--\r\n");
    body
}

const RELATED: &str = "multipart/related; boundary=b";

struct Case {
    name: &'static str,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn case(name: &'static str, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        content_type: content_type.map(str::to_owned),
        body: body.into(),
    }
}

fn suite() -> Vec<Case> {
    let soap_submit = submit("<Number>1</Number>", r#"<Content href="cid:c0"/>"#);
    let mut cases = Vec::new();

    // The issue's shape: one SOAP part, then 15 MiB of empty parts.
    let mut empty_parts = related(&[("Content-Type: text/xml", soap_submit.as_bytes())]);
    empty_parts.truncate(empty_parts.len() - b"--b--\r\n".len());
    while empty_parts.len() < 15 * MIB {
        empty_parts.extend_from_slice(b"--b\r\n");
    }
    cases.push(case("15 MiB of empty parts", Some(RELATED), empty_parts));

    let long_line = format!("Content-Type: text/plain\r\nX-Long: {}", "a".repeat(MIB));
    cases.push(case(
        "1 MiB MIME header line",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (&long_line, b"x"),
        ]),
    ));
    let many_headers: String = (0..100_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    cases.push(case(
        "100 000 MIME header lines",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (many_headers.trim_end(), b"x"),
        ]),
    ));
    cases.push(case(
        "1 MiB HTTP Content-Type",
        Some(&format!("{RELATED}; x={}", "a".repeat(MIB))),
        related(&[("Content-Type: text/xml", soap_submit.as_bytes())]),
    ));

    cases.push(case(
        "10 MiB attribute value",
        None,
        drr(&format!(
            r#"<StatusText note="{}">x</StatusText>"#,
            "a".repeat(10 * MIB)
        )),
    ));
    cases.push(case(
        "10 MiB text value",
        None,
        drr(&format!(
            "<StatusText>{}</StatusText>",
            "a".repeat(10 * MIB)
        )),
    ));
    cases.push(case(
        "1 MiB of entity references",
        None,
        drr(&format!(
            "<StatusText>{}</StatusText>",
            "&amp;".repeat(MIB / 5 - 1)
        )),
    ));
    cases.push(case(
        "CDATA and text alternating",
        None,
        drr(&format!(
            "<StatusText>{}</StatusText>",
            "a<![CDATA[b]]>".repeat(60_000)
        )),
    ));
    cases.push(case(
        "100 000-deep XML",
        None,
        format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000)),
    ));
    cases.push(case(
        "10 000 unknown elements",
        None,
        drr(&"<Unknown/>".repeat(9_980)),
    ));
    cases.push(case(
        "unknown elements with long names",
        None,
        drr(&format!(
            "<{n}>{}</{n}>",
            "<x/>".repeat(9_000),
            n = "N".repeat(60_000)
        )),
    ));
    let recipients: String = (0..9_000)
        .map(|i| format!("<Number>+1555{i:07}</Number>"))
        .collect();
    cases.push(case(
        "9 000 recipients",
        Some(RELATED),
        related(&[
            (
                "Content-Type: text/xml",
                submit(&recipients, r#"<Content href="cid:c0"/>"#).as_bytes(),
            ),
            ("Content-Type: text/plain\r\nContent-ID: <c0>", b"hi"),
        ]),
    ));
    cases.push(case(
        "NUL in the SOAP part",
        None,
        drr("<StatusText>\0</StatusText>"),
    ));

    // Charsets: the worst expansions into UTF-8.
    let mut cp1252 = br#"<?xml version="1.0" encoding="windows-1252"?>"#.to_vec();
    let addresses: Vec<u8> = (0..64)
        .flat_map(|_| {
            let mut a = b"<Number>".to_vec();
            a.extend(std::iter::repeat_n(0x80u8, 64 * 1024));
            a.extend_from_slice(b"</Number>");
            a
        })
        .collect();
    let soap = submit("@@", r#"<Content href="cid:c0"/>"#);
    let (head, tail) = soap.split_once("@@").unwrap_or_default();
    cp1252.extend_from_slice(head.as_bytes());
    cp1252.extend_from_slice(&addresses);
    cp1252.extend_from_slice(tail.as_bytes());
    cases.push(case(
        "4 MiB of windows-1252 0x80 (euro, 3 B in UTF-8)",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", &cp1252),
            ("Content-Type: text/plain\r\nContent-ID: <c0>", b"hi"),
        ]),
    ));
    let accented: Vec<u8> = cp1252
        .iter()
        .map(|&b| if b == 0x80 { 0xE9 } else { b })
        .collect();
    cases.push(case(
        "4 MiB of windows-1252 é in addresses",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", &accented),
            ("Content-Type: text/plain\r\nContent-ID: <c0>", b"hi"),
        ]),
    ));
    let latin1: Vec<u8> = drr(&format!("<StatusText>{}</StatusText>", "@".repeat(MIB / 2)))
        .bytes()
        .map(|b| if b == b'@' { 0xE9 } else { b })
        .collect();
    cases.push(case(
        "ISO-8859-1 text of é",
        Some("text/xml; charset=iso-8859-1"),
        latin1,
    ));
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in drr(&format!(
        "<StatusText>{}</StatusText>",
        "中".repeat(MIB / 4)
    ))
    .encode_utf16()
    {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    cases.push(case("UTF-16LE with a BOM", None, utf16));
    let chinese = drr(&format!(
        "<StatusText>{}</StatusText>",
        "汉字".repeat(MIB / 8)
    ));
    let (gbk, _, _) = encoding_rs::GBK.encode(&chinese);
    cases.push(case(
        "GBK text",
        Some("text/xml; charset=gbk"),
        gbk.into_owned(),
    ));

    // Content: large, encoded, nested, broken.
    let big = vec![0xA5u8; 8 * MIB];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&big);
    let wrapped: Vec<u8> = b64
        .as_bytes()
        .chunks(76)
        .flat_map(|l| l.iter().copied().chain(*b"\r\n"))
        .collect();
    cases.push(case(
        "8 MiB base64 part",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (
                "Content-Type: image/png\r\nContent-ID: <c0>\r\nContent-Transfer-Encoding: base64",
                &wrapped,
            ),
        ]),
    ));
    cases.push(case(
        "4 MiB corrupt base64 part",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (
                "Content-Type: image/png\r\nContent-ID: <c0>\r\nContent-Transfer-Encoding: base64",
                &vec![b'!'; 4 * MIB],
            ),
        ]),
    ));
    cases.push(case(
        "4 MiB quoted-printable part",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (
                "Content-Type: text/plain\r\nContent-ID: <c0>\r\nContent-Transfer-Encoding: quoted-printable",
                "=3D=\r\n".repeat(MIB * 4 / 6).as_bytes(),
            ),
        ]),
    ));
    let base64_soap = base64::engine::general_purpose::STANDARD.encode(drr(&format!(
        "<StatusText>{}</StatusText>",
        "s".repeat(MIB)
    )));
    cases.push(case(
        "base64 SOAP part",
        Some(RELATED),
        related(&[(
            "Content-Type: text/xml\r\nContent-Transfer-Encoding: base64",
            base64_soap.as_bytes(),
        )]),
    ));
    let part = vec![b'p'; 60 * 1024];
    let mut many: Vec<(String, &[u8])> =
        vec![("Content-Type: text/xml".into(), soap_submit.as_bytes())];
    for i in 0..255 {
        many.push((
            format!("Content-Type: image/gif\r\nContent-ID: <c{i}>"),
            &part,
        ));
    }
    let many: Vec<(&str, &[u8])> = many.iter().map(|(h, b)| (h.as_str(), *b)).collect();
    cases.push(case("256 parts of 60 KiB", Some(RELATED), related(&many)));
    let mut inner =
        "--l0\r\nContent-Type: text/plain\r\nContent-ID: <c0>\r\n\r\nx\r\n--l0--".to_string();
    for level in 1..50 {
        inner = format!(
            "--l{level}\r\nContent-Type: multipart/mixed; boundary=l{}\r\n\r\n{inner}\r\n--l{level}--",
            level - 1
        );
    }
    cases.push(case(
        "50-deep MIME nesting",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (
                "Content-Type: multipart/mixed; boundary=l49",
                inner.as_bytes(),
            ),
        ]),
    ));
    let unclosed: String = (0..200).map(|i| format!("--b\r\nContent-Type: multipart/mixed; boundary=n{i}\r\n\r\n--n{i}\r\nContent-ID: <c0>\r\n\r\nx\r\n")).collect();
    let mut body = related(&[("Content-Type: text/xml", soap_submit.as_bytes())]);
    body.truncate(body.len() - b"--b--\r\n".len());
    body.extend_from_slice(unclosed.as_bytes());
    cases.push(case("unclosed nested multiparts", Some(RELATED), body));
    let delimiters_like = format!("{}\r\n", "--bx\r\n".repeat(MIB));
    cases.push(case(
        "lines that only start like the boundary",
        Some(RELATED),
        related(&[
            ("Content-Type: text/xml", soap_submit.as_bytes()),
            (
                "Content-Type: text/plain\r\nContent-ID: <c0>",
                delimiters_like.as_bytes(),
            ),
        ]),
    ));
    cases.push(case(
        "fault with a large detail",
        None,
        envelope(&format!(
            "<env:Fault><faultcode>env:Client</faultcode><faultstring>x</faultstring><detail>{}</detail></env:Fault>",
            "<d>detail text</d>".repeat(9_000)
        )),
    ));
    cases
}

fn outcome(result: &Result<Mm7Message, Mm7Error>) -> String {
    match result {
        Ok(m) => format!("decoded {} ({} warnings)", m.kind(), m.warnings().len()),
        Err(e) => {
            let text = e.to_string();
            let end = text.char_indices().nth(70).map_or(text.len(), |(i, _)| i);
            format!("refused: {}", &text[..end])
        }
    }
}

#[test]
fn every_decode_peaks_within_four_times_its_input() {
    let codec = DefaultMm7Codec::default();
    let mut failures = Vec::new();
    eprintln!(
        "{:<50} {:>12} {:>12} {:>7}  outcome",
        "input", "input B", "peak B", "ratio"
    );
    for c in suite() {
        let input = c.body.len() + c.content_type.as_ref().map_or(0, String::len);
        let (peak, result) = peak_of(|| codec.decode(c.content_type.as_deref(), &c.body));
        let ratio = peak as f64 / input as f64;
        eprintln!(
            "{:<50} {input:>12} {peak:>12} {ratio:>7.2}  {}",
            c.name,
            outcome(&result)
        );
        if peak > 4 * input + CONSTANT {
            failures.push(format!("{}: peak {peak} B for {input} B of input", c.name));
        }
        drop(result);
    }
    assert!(failures.is_empty(), "over 4× input + 4 MiB: {failures:#?}");
}

#[test]
fn the_counter_sees_allocations() {
    // The bound above means nothing if the allocator did not count: 1 MiB must show.
    let (peak, v) = peak_of(|| vec![1u8; MIB]);
    assert!(peak >= MIB, "{peak}");
    drop(v);
}
