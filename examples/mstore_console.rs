//! `mstore display|reinstate|delete` from the command line.
//!
//! ```sh
//! cargo run --example mstore_console -- --demo mstore display MADR-12345 abc body
//! echo "mstore display MADR-12345 abc resource" | cargo run --example mstore_console -- --demo
//! ```
//!
//! Runs the one command given as arguments, or every command read from stdin (one a line;
//! blank lines and `#` comments are skipped). Exit status: 0 when every command succeeded,
//! 1 when a message was not found, 2 for a usage error, 3 when the store or the spool failed.
//!
//! Stores: `--demo` is an in-memory store holding one sample message (`MADR-12345/abc`) so the
//! commands can be tried without a server.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use redeliver::bounce::Dsn;
use redeliver::console::{Console, ConsoleStatus};
use redeliver::hooks::{InjectError, Injector};
use redeliver::message::{Bucket, Channel, Envelope, HistoryEvent, MsgId, StoredMessage};
use redeliver::store::{MemoryStore, MessageStore};

const USAGE: &str = "usage: mstore_console --demo [mstore <display|reinstate|delete> ...]";

/// Hands reinstated messages to the spool; this tool's spool is its standard output.
#[derive(Debug)]
struct PrintingSpool;

#[async_trait]
impl Injector for PrintingSpool {
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        println!(
            "spool: inject {} -> {} ({} bytes)",
            msg.envelope.mailfrom,
            msg.envelope.rcptto,
            msg.body.len()
        );
        Ok(())
    }

    async fn reroute(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        println!(
            "spool: inject {from} -> {to} (rerouted from {}, {} bytes)",
            msg.envelope.rcptto,
            msg.body.len()
        );
        Ok(())
    }

    async fn inject_bounce(&self, dsn: &Dsn) -> Result<(), InjectError> {
        println!("spool: bounce to {}", dsn.rcptto);
        Ok(())
    }
}

async fn demo_store() -> Result<Arc<dyn MessageStore>, String> {
    let store = MemoryStore::new();
    let mut msg = StoredMessage::new(
        Channel::Smpp,
        Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "15551234567@smpp.example.com".into(),
        },
        &b"Your code is 4711"[..],
    );
    msg.metadata.insert("source_addr".into(), "12345".into());
    msg.metadata
        .insert("destination_addr".into(), "15551234567".into());
    msg.metadata.insert("data_coding".into(), "0".into());
    msg.resource.binding = Some("smsc-1".into());
    msg.resource.domain = Some("smpp.example.com".into());
    msg.resource.message_id = Some("abc".into());
    msg.record(HistoryEvent::Submitted {
        message_id: Some("abc".into()),
        status: "ESME_ROK".into(),
    });
    let bucket = Bucket::new("MADR-12345").map_err(|e| e.to_string())?;
    let msgid = MsgId::new("abc").map_err(|e| e.to_string())?;
    store
        .save(&bucket, &msgid, &msg)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

fn exit_code(status: ConsoleStatus) -> u8 {
    match status {
        ConsoleStatus::Ok => 0,
        ConsoleStatus::NotFound => 1,
        ConsoleStatus::Usage => 2,
        ConsoleStatus::Failed => 3,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let store = match args.first().map(String::as_str) {
        Some("--demo") => {
            args.remove(0);
            demo_store().await
        }
        _ => Err(USAGE.to_owned()),
    };
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let console = Console::new(store, Arc::new(PrintingSpool));

    if !args.is_empty() {
        let line = args
            .iter()
            .map(|a| {
                if a.chars().any(char::is_whitespace) || a.contains('"') {
                    format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let out = console.execute(&line).await;
        if out.is_ok() {
            println!("{}", out.text);
        } else {
            eprintln!("{}", out.text);
        }
        return ExitCode::from(exit_code(out.status));
    }

    let mut worst = 0u8;
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("stdin: {e}");
                return ExitCode::from(3);
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        println!("> {line}");
        let out = console.execute(line).await;
        println!("{}", out.text);
        worst = worst.max(exit_code(out.status));
    }
    ExitCode::from(worst)
}
