//! `mstore display|reinstate|delete` (and, for an embedded store file, `mstore verify|compact`)
//! from the command line.
//!
//! ```sh
//! cargo run --example mstore_console -- --store /var/lib/gw/mstore.redb mstore display MADR-12345 abc body
//! cargo run --example mstore_console -- --store /var/lib/gw/mstore.redb mstore verify
//! cargo run --example mstore_console -- --riak http://127.0.0.1:8098 mstore delete MADR-12345 abc
//! cargo run --example mstore_console -- --conf /opt/msys/ecelerity/etc/ecelerity.conf mstore display MADR-MM7 m-1
//! echo "mstore display MADR-12345 abc resource" | cargo run --example mstore_console -- --demo
//! ```
//!
//! Runs the one command given as arguments, or every command read from stdin (one a line;
//! blank lines and `#` comments are skipped). Exit status: 0 when every command succeeded,
//! 1 when a message was not found, 2 for a usage error, 3 when the store or the spool failed.
//!
//! Stores: `--store PATH` opens (or creates) an embedded store file; `--riak URL` talks to a
//! Riak server (repeat it for several; one is picked at random per request); `--conf FILE` reads
//! the Riak servers from the `mstore { servers = (...) }` stanza of a Momentum configuration
//! file. `--demo` first saves one sample message (`MADR-12345/abc`) into the store (an
//! in-memory one when no other is given), so the commands can be tried without data.

use redeliver::store::PutMode;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use redeliver::bounce::Dsn;
use redeliver::config::MstoreModuleConfig;
use redeliver::console::{Console, ConsoleStatus};
use redeliver::hooks::{InjectError, Injector};
use redeliver::message::{Bucket, Channel, Envelope, HistoryEvent, MsgId, StoredMessage};
use redeliver::store::{EmbeddedStore, MemoryStore, MessageStore, RiakConfig, RiakStore};

const USAGE: &str = "usage: mstore_console (--store PATH | --riak URL ... | --conf FILE) [--demo] [mstore <display|reinstate|delete|verify|compact> ...]\n       mstore_console --demo [mstore ...]";

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

/// Saves the sample message `MADR-12345/abc` into `store`.
async fn seed_demo(store: &dyn MessageStore) -> Result<(), String> {
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
        .save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Which store the options name, the embedded one again for `verify` and `compact`, and
/// whether to seed the sample message.
struct Options {
    store: Option<Arc<dyn MessageStore>>,
    embedded: Option<EmbeddedStore>,
    riak: Vec<String>,
    demo: bool,
}

/// Takes the options off the front of `args`; what remains is the command.
fn parse_options(args: &mut Vec<String>) -> Result<Options, String> {
    let mut opts = Options {
        store: None,
        embedded: None,
        riak: Vec::new(),
        demo: false,
    };
    while let Some(first) = args.first().cloned() {
        let value = |args: &mut Vec<String>| -> Result<String, String> {
            if args.len() < 2 {
                return Err(format!("{first} needs a value\n{USAGE}"));
            }
            args.remove(0);
            Ok(args.remove(0))
        };
        match first.as_str() {
            "--demo" => {
                args.remove(0);
                opts.demo = true;
            }
            "--store" => {
                let path = value(args)?;
                let store = EmbeddedStore::open(&path).map_err(|e| e.to_string())?;
                opts.embedded = Some(store.clone());
                opts.store = Some(Arc::new(store));
            }
            "--riak" => opts.riak.push(value(args)?),
            "--conf" => {
                let path = value(args)?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                let stanza = MstoreModuleConfig::from_ecelerity_conf(&text)
                    .map_err(|e| format!("{path}: {e}"))?;
                opts.riak.extend(stanza.servers);
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other if other.starts_with("--") => {
                return Err(format!("unknown option {other}\n{USAGE}"));
            }
            _ => break,
        }
    }
    if !opts.riak.is_empty() {
        if opts.store.is_some() {
            return Err(format!(
                "--store and --riak/--conf exclude each other\n{USAGE}"
            ));
        }
        let riak = RiakStore::new(RiakConfig::new(opts.riak.clone())).map_err(|e| e.to_string())?;
        opts.store = Some(Arc::new(riak));
    }
    Ok(opts)
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
    let opts = match parse_options(&mut args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let store: Arc<dyn MessageStore> = match (opts.store, opts.demo) {
        (Some(store), _) => store,
        (None, true) => Arc::new(MemoryStore::new()),
        (None, false) => {
            eprintln!("no store given\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.demo
        && let Err(e) = seed_demo(store.as_ref()).await
    {
        eprintln!("--demo: {e}");
        return ExitCode::from(3);
    }
    let mut console = Console::new(store, Arc::new(PrintingSpool));
    if let Some(embedded) = opts.embedded {
        console = console.with_embedded(embedded);
    }

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
