//! The seed's MM7 hook example (`mm7_handle_DR_negative`, `mm7_handle_DR_positive`), rewritten
//! in Rust and run end to end on loopback.
//!
//! ```sh
//! cargo run --example mm7_hooks
//! ```
//!
//! A small MMSC (relay) and the VASP both listen on 127.0.0.1 and talk MM7 over HTTP. The VASP
//! submits three messages; the relay answers each `SubmitReq` with a `SubmitRsp` and later posts
//! `DeliveryReportReq`s to the VASP, whose handler hands them to the [`RetryEngine`] and sends
//! back the `DeliveryReportRsp` the engine built after the hooks ran. The relay reports one
//! message `Expired` (the hook reroutes it to an SMPP domain), one `Retrieved` twice (deleted,
//! then a duplicate) and one `Rejected` *before* answering its `SubmitReq` (parked, then applied).
//! Messages are kept in an embedded store (a temporary file). The example prints what happened
//! and exits 0 when the counters are what the seed's hooks should produce.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redeliver::bounce::Dsn;
use redeliver::config::{MobilityConfig, ScopeContext};
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, InjectError, Injector, MM7_CONTINUE, MM7_DELIVERED,
    Mm7DrDecision,
};
use redeliver::message::{Bucket, Envelope, MsgId, StoredMessage};
use redeliver::mm7::{
    Address, ContentPart, DefaultMm7Codec, DeliveryReportReq, Mm7Codec, Mm7Message, MmStatus,
    Recipients, Release, SenderIdentification, Status, SubmitReq,
};
use redeliver::retry::{CounterSnapshot, RetryEngine};
use redeliver::store::{EmbeddedStore, MessageStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Delivery reports requested for the MM7 domain.
const OPTIONS: &str = r#"
[domain."mm7.example.com"]
mm7_delivery_report = true
"#;

/// Largest HTTP head and body this example reads.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1024 * 1024;

/// The seed's Lua module `mm7_hooks_tests`, as Rust.
struct Mm7Hooks;

#[async_trait]
impl DeliveryHooks for Mm7Hooks {
    async fn mm7_handle_dr_negative(
        &self,
        cx: &HookContext,
        trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        println!(
            "hook: mm7_handle_DR_negative {bucket}/{msgid} ({})",
            trx.mm_status.as_str()
        );
        // retrieve message from mstore
        match cx.load(bucket, msgid).await? {
            Some(msg) => {
                // reroute the message to a SMPP domain
                msg.inject(
                    "delivery_failure@test.com",
                    "12405678910@smpp.messagesystems.com",
                )
                .await?;
                cx.delete(bucket, msgid).await?;
            }
            None => println!("Failed to load message from mstore!"),
        }
        // skip bounce email generation to original sender
        Ok(MM7_DELIVERED)
    }

    async fn mm7_handle_dr_positive(
        &self,
        cx: &HookContext,
        _trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        println!("hook: mm7_handle_DR_positive {bucket}/{msgid}");
        cx.delete(bucket, msgid).await?;
        Ok(MM7_CONTINUE)
    }
}

/// The VASP's spool: here it only says what it would send.
#[derive(Debug)]
struct PrintingSpool;

#[async_trait]
impl Injector for PrintingSpool {
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        println!(
            "spool: inject {} -> {}",
            msg.envelope.mailfrom, msg.envelope.rcptto
        );
        Ok(())
    }
    async fn reroute(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        println!(
            "spool: reroute {} to {to} (from {from})",
            msg.envelope.rcptto
        );
        Ok(())
    }
    async fn inject_bounce(&self, dsn: &Dsn) -> Result<(), InjectError> {
        println!("spool: bounce ({}) to {}", dsn.status, dsn.rcptto);
        Ok(())
    }
}

/// One HTTP/1.1 request: its Content-Type and body (`Content-Length` framing only).
async fn read_request(stream: &mut TcpStream) -> Res<(Option<String>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err("HTTP head too large".into());
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed inside the HTTP head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut content_type = None;
    let mut length = 0usize;
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(value.trim().to_owned()),
                "content-length" => length = value.trim().parse()?,
                _ => {}
            }
        }
    }
    if length > MAX_BODY {
        return Err(format!("HTTP body of {length} bytes is over the limit").into());
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed inside the HTTP body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((content_type, body))
}

async fn write_response(stream: &mut TcpStream, content_type: &str, body: &[u8]) -> Res<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await?;
    Ok(())
}

/// POSTs an MM7 message to `addr` and decodes the answer (HTTP/1.1, one request per
/// connection).
async fn post(addr: SocketAddr, msg: &Mm7Message) -> Res<Mm7Message> {
    let codec = DefaultMm7Codec::default();
    let encoded = codec.encode(msg, &Release::Rel6Mm7_1_4)?;
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "POST /mm7 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\nContent-Length: {}\r\nSOAPAction: \"\"\r\nConnection: close\r\n\r\n",
        encoded.content_type,
        encoded.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&encoded.body).await?;
    // The response has the same framing as a request; its status line is skipped likewise.
    let (ct, body) = read_request(&mut stream).await?;
    Ok(codec.decode(ct.as_deref(), &body)?)
}

fn report(message_id: &str, status: MmStatus, n: u32) -> Mm7Message {
    Mm7Message::DeliveryReportReq(DeliveryReportReq {
        transaction_id: Some(format!("dr-{n}")),
        mm7_version: "6.8.0".into(),
        release: Release::Rel6Mm7_1_4,
        warnings: Vec::new(),
        mms_relay_server_id: Some("loopback-mmsc".into()),
        message_id: message_id.to_owned(),
        recipient: Address::Number("+15551234567".into()),
        sender: Address::ShortCode("12345".into()),
        date: "2026-11-22T07:00:00Z".into(),
        mm_status: status,
        status_text: None,
        applic_id: None,
        reply_applic_id: None,
        aux_applic_info: None,
    })
}

/// The loopback relay: answers SubmitReqs and posts DeliveryReportReqs to the VASP.
async fn relay(listener: TcpListener, vasp: SocketAddr, submits: usize) -> Res<()> {
    let codec = DefaultMm7Codec::default();
    let counter = AtomicU32::new(0);
    let mut pending = Vec::new();
    for _ in 0..submits {
        let (mut stream, _) = listener.accept().await?;
        let (ct, body) = read_request(&mut stream).await?;
        let Mm7Message::SubmitReq(req) = codec.decode(ct.as_deref(), &body)? else {
            return Err("the relay expected a SubmitReq".into());
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("mmsc-{n:04}");
        let subject = req.subject.clone().unwrap_or_default();
        if subject == "race" {
            // A report for a submission the VASP has not seen answered yet.
            let answer = post(vasp, &report(&id, MmStatus::Rejected, n)).await?;
            println!(
                "relay: report for {id} (Rejected) sent before its SubmitRsp -> {}",
                kind(&answer)
            );
        } else {
            pending.push((id.clone(), subject));
        }
        let rsp = req.response(Status::success(), Some(id.clone()));
        let encoded = codec.encode(&Mm7Message::SubmitRsp(rsp), &req.release)?;
        write_response(&mut stream, &encoded.content_type, &encoded.body).await?;
    }
    let mut n = 100;
    for (id, subject) in pending {
        let statuses: &[MmStatus] = if subject == "expire" {
            &[MmStatus::Expired]
        } else {
            &[MmStatus::Retrieved, MmStatus::Retrieved]
        };
        for status in statuses {
            n += 1;
            let answer = post(vasp, &report(&id, status.clone(), n)).await?;
            println!(
                "relay: report for {id} ({}) -> {}",
                status.as_str(),
                kind(&answer)
            );
        }
    }
    Ok(())
}

fn kind(msg: &Mm7Message) -> String {
    match msg {
        Mm7Message::DeliveryReportRsp(r) => format!("DeliveryReportRsp {}", r.status.code),
        other => other.kind().to_owned(),
    }
}

/// The VASP's MM7 endpoint: every DeliveryReportReq goes through the engine.
async fn vasp_endpoint(listener: TcpListener, engine: RetryEngine, scope: ScopeContext) -> Res<()> {
    let codec = DefaultMm7Codec::default();
    loop {
        let (mut stream, _) = listener.accept().await?;
        let (ct, body) = read_request(&mut stream).await?;
        let Mm7Message::DeliveryReportReq(report) = codec.decode(ct.as_deref(), &body)? else {
            return Err("the VASP expected a DeliveryReportReq".into());
        };
        let (outcome, rsp) = engine.on_delivery_report(&scope, &report).await;
        println!(
            "vasp: DeliveryReportReq {} {} -> {outcome:?}",
            report.message_id,
            report.mm_status.as_str()
        );
        let encoded = codec.encode(&Mm7Message::DeliveryReportRsp(rsp), &report.release)?;
        write_response(&mut stream, &encoded.content_type, &encoded.body).await?;
    }
}

fn submit_req(subject: &str, n: usize) -> SubmitReq {
    let mut req = SubmitReq::new(
        format!("submit-{n}"),
        Release::Rel6Mm7_1_4,
        Recipients {
            to: vec![Address::Number("+15551234567".into())],
            ..Recipients::default()
        },
    );
    req.sender_identification = SenderIdentification {
        vasp_id: Some("example-vasp".into()),
        vas_id: None,
        sender_address: Some(Address::ShortCode("12345".into())),
    };
    req.delivery_report = Some(true);
    req.subject = Some(subject.to_owned());
    req.parts = vec![ContentPart::new(
        "text/plain",
        format!("Picture message {n}").into_bytes(),
    )];
    req
}

async fn run() -> Res<(CounterSnapshot, usize)> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(dir.path().join("mstore.redb"))?);
    let engine = RetryEngine::builder(store.clone(), Arc::new(PrintingSpool))
        .options(MobilityConfig::from_toml_str(OPTIONS)?)
        .hooks(Arc::new(Mm7Hooks))
        .build();
    let scope = ScopeContext::domain("mm7.example.com");

    let vasp_listener = TcpListener::bind("127.0.0.1:0").await?;
    let vasp_addr: SocketAddr = vasp_listener.local_addr()?;
    let relay_listener = TcpListener::bind("127.0.0.1:0").await?;
    let relay_addr = relay_listener.local_addr()?;
    let subjects = ["expire", "deliver", "race"];

    let endpoint = tokio::spawn(vasp_endpoint(vasp_listener, engine.clone(), scope.clone()));
    let relay = tokio::spawn(relay(relay_listener, vasp_addr, subjects.len()));

    for (n, subject) in subjects.iter().enumerate() {
        let req = submit_req(subject, n);
        let answer = post(relay_addr, &Mm7Message::SubmitReq(req.clone())).await?;
        let Mm7Message::SubmitRsp(rsp) = answer else {
            return Err(format!("expected a SubmitRsp, got {}", answer.kind()).into());
        };
        let envelope = Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "+15551234567@mm7.example.com".into(),
        };
        let out = engine.on_submit_rsp(&scope, envelope, &req, &rsp).await?;
        println!(
            "vasp: SubmitRsp {:?} for {subject:?} -> {out:?}",
            rsp.message_id
        );
    }
    relay.await??;
    endpoint.abort();

    let left = store
        .list(&Bucket::new("MADR-12345")?)
        .collect::<Vec<_>>()
        .await
        .len();
    Ok((engine.counters(), left))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (counters, left) = match tokio::time::timeout(Duration::from_secs(20), run()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("mm7_hooks: {e}");
            return std::process::ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("mm7_hooks: timed out");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("store: {left} message(s) left in MADR-12345");
    println!("counters: {counters:?}");
    let expected = (3, 1, 2, 1, 1, 2, 0, 0);
    let got = (
        counters.stored,
        counters.positive,
        counters.negative,
        counters.parked,
        counters.duplicates,
        counters.rerouted,
        counters.bounced,
        left,
    );
    if got == expected {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!(
            "mm7_hooks: expected (stored, positive, negative, parked, duplicates, rerouted, bounced, left) = {expected:?}, got {got:?}"
        );
        std::process::ExitCode::FAILURE
    }
}
