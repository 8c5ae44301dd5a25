//! The `mstore display|reinstate|delete` console commands, and `mstore verify|compact` for the
//! embedded store.
//!
//! Implements "mstore Management Using Console Commands" of
//! `seeds/momentum-mstore-retrying-messages.md` over any [`MessageStore`] and [`Injector`]:
//!
//! ```text
//! mstore display <bucket_id> <message_id> [body|full|resource]
//! mstore reinstate <bucket_id> <message_id> [rcptto]
//! mstore delete <bucket_id> <message_id>
//! ```
//!
//! Two more commands look after an embedded store file (feature `embedded`, with the store
//! given to [`Console::with_embedded`]): `mstore verify` reads every record, checks its
//! checksum and lists the damaged ones; `mstore compact` gives the file's free space back.
//!
//! [`Console::execute`] parses one command line and returns the text to show with a
//! [`ConsoleStatus`]; wrong arguments give the usage line of the command. Arguments are
//! separated by blanks; a msgid with blanks can be written in double quotes (`\"` and `\\`
//! escape inside them).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::bounce::rfc5322_date;
use crate::hooks::{Injector, is_address};
use crate::message::{Bucket, HistoryEvent, MsgId, StoredMessage};
use crate::store::{MessageStore, PutMode, Versioned};

/// The usage line of `mstore display`.
pub const USAGE_DISPLAY: &str =
    "usage: mstore display <bucket_id> <message_id> [body|full|resource]";
/// The usage line of `mstore reinstate`.
pub const USAGE_REINSTATE: &str = "usage: mstore reinstate <bucket_id> <message_id> [rcptto]";
/// The usage line of `mstore delete`.
pub const USAGE_DELETE: &str = "usage: mstore delete <bucket_id> <message_id>";
/// The usage line of `mstore verify`.
pub const USAGE_VERIFY: &str = "usage: mstore verify";
/// The usage line of `mstore compact`.
pub const USAGE_COMPACT: &str = "usage: mstore compact";

/// Most damaged records `mstore verify` lists; the rest are counted.
pub const VERIFY_LISTED: usize = 20;

/// Longest command line accepted, in bytes (a bucket, a msgid, an address and the words).
pub const MAX_LINE: usize = 4096;

/// What `mstore display` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayView {
    /// The metadata (no argument).
    Metadata,
    /// The body (`body`).
    Body,
    /// The body and the metadata (`full`).
    Full,
    /// The resource: where it was sent and what id came back (`resource`).
    Resource,
}

/// One parsed console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `mstore display <bucket_id> <message_id> [body|full|resource]`.
    Display {
        /// The bucket.
        bucket: Bucket,
        /// The msgid.
        msgid: MsgId,
        /// What to show.
        view: DisplayView,
    },
    /// `mstore reinstate <bucket_id> <message_id> [rcptto]`.
    Reinstate {
        /// The bucket.
        bucket: Bucket,
        /// The msgid.
        msgid: MsgId,
        /// Another recipient to send it to, if given.
        rcpt: Option<String>,
    },
    /// `mstore delete <bucket_id> <message_id>`.
    Delete {
        /// The bucket.
        bucket: Bucket,
        /// The msgid.
        msgid: MsgId,
    },
    /// `mstore verify`: check every stored record of an embedded store.
    Verify,
    /// `mstore compact`: give an embedded store file's free space back.
    Compact,
}

/// A command line that is not a valid command: what was wrong, and the usage line(s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}\n{usage}")]
pub struct UsageError {
    /// What was wrong.
    pub reason: String,
    /// The usage line of the command, or of every command.
    pub usage: String,
}

fn all_usage() -> String {
    format!("{USAGE_DISPLAY}\n{USAGE_REINSTATE}\n{USAGE_DELETE}\n{USAGE_VERIFY}\n{USAGE_COMPACT}")
}

fn usage(reason: impl Into<String>, usage: &str) -> UsageError {
    UsageError {
        reason: reason.into(),
        usage: usage.to_owned(),
    }
}

/// Splits a command line into words; double quotes group blanks, `\` escapes inside quotes.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => w.push(e),
                            None => return Err("unterminated quote".to_owned()),
                        },
                        Some(ch) => w.push(ch),
                        None => return Err("unterminated quote".to_owned()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

impl Command {
    /// Parses one command line.
    pub fn parse(line: &str) -> Result<Command, UsageError> {
        if line.len() > MAX_LINE {
            return Err(usage(
                format!(
                    "command line is {} bytes, longer than {MAX_LINE}",
                    line.len()
                ),
                &all_usage(),
            ));
        }
        let words = split_words(line).map_err(|e| usage(e, &all_usage()))?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            [] => Err(usage("empty command", &all_usage())),
            ["mstore"] => Err(usage("mstore: missing subcommand", &all_usage())),
            ["mstore", "display", rest @ ..] => {
                let (bucket, msgid, extra) = address(rest, USAGE_DISPLAY)?;
                let view = match extra {
                    [] => DisplayView::Metadata,
                    ["body"] => DisplayView::Body,
                    ["full"] => DisplayView::Full,
                    ["resource"] => DisplayView::Resource,
                    [other] => {
                        return Err(usage(
                            format!("mstore display: unknown view {other:?}"),
                            USAGE_DISPLAY,
                        ));
                    }
                    _ => return Err(usage("mstore display: too many arguments", USAGE_DISPLAY)),
                };
                Ok(Command::Display {
                    bucket,
                    msgid,
                    view,
                })
            }
            ["mstore", "reinstate", rest @ ..] => {
                let (bucket, msgid, extra) = address(rest, USAGE_REINSTATE)?;
                let rcpt = match extra {
                    [] => None,
                    [rcpt] if is_address(rcpt) => Some((*rcpt).to_owned()),
                    [rcpt] => {
                        return Err(usage(
                            format!("mstore reinstate: {rcpt:?} is not an address (local@domain)"),
                            USAGE_REINSTATE,
                        ));
                    }
                    _ => {
                        return Err(usage(
                            "mstore reinstate: too many arguments",
                            USAGE_REINSTATE,
                        ));
                    }
                };
                Ok(Command::Reinstate {
                    bucket,
                    msgid,
                    rcpt,
                })
            }
            ["mstore", "delete", rest @ ..] => {
                let (bucket, msgid, extra) = address(rest, USAGE_DELETE)?;
                if !extra.is_empty() {
                    return Err(usage("mstore delete: too many arguments", USAGE_DELETE));
                }
                Ok(Command::Delete { bucket, msgid })
            }
            ["mstore", "verify"] => Ok(Command::Verify),
            ["mstore", "verify", ..] => {
                Err(usage("mstore verify: too many arguments", USAGE_VERIFY))
            }
            ["mstore", "compact"] => Ok(Command::Compact),
            ["mstore", "compact", ..] => {
                Err(usage("mstore compact: too many arguments", USAGE_COMPACT))
            }
            ["mstore", other, ..] => Err(usage(
                format!("mstore: unknown subcommand {other:?}"),
                &all_usage(),
            )),
            [other, ..] => Err(usage(format!("unknown command {other:?}"), &all_usage())),
        }
    }
}

/// The bucket and msgid at the start of `rest`, and what follows them.
fn address<'a, 'b>(
    rest: &'a [&'b str],
    usage_line: &str,
) -> Result<(Bucket, MsgId, &'a [&'b str]), UsageError> {
    let [bucket, msgid, extra @ ..] = rest else {
        return Err(usage("missing <bucket_id> or <message_id>", usage_line));
    };
    let bucket = Bucket::new(*bucket).map_err(|e| usage(format!("bucket_id: {e}"), usage_line))?;
    let msgid = MsgId::new(*msgid).map_err(|e| usage(format!("message_id: {e}"), usage_line))?;
    Ok((bucket, msgid, extra))
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleStatus {
    /// It did what it was asked.
    Ok,
    /// No message is stored under that bucket and msgid.
    NotFound,
    /// The command line was wrong; the text holds the usage line.
    Usage,
    /// The store or the injector failed; the text says how.
    Failed,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOutput {
    /// How it ended.
    pub status: ConsoleStatus,
    /// The text to show (no trailing newline).
    pub text: String,
}

impl ConsoleOutput {
    fn new(status: ConsoleStatus, text: impl Into<String>) -> Self {
        Self {
            status,
            text: text.into(),
        }
    }

    /// Whether the command succeeded.
    pub fn is_ok(&self) -> bool {
        self.status == ConsoleStatus::Ok
    }
}

/// Runs console commands against a store and an injector.
#[derive(Debug, Clone)]
pub struct Console {
    store: Arc<dyn MessageStore>,
    injector: Arc<dyn Injector>,
    #[cfg(feature = "embedded")]
    embedded: Option<crate::store::EmbeddedStore>,
}

impl Console {
    /// A console over `store`, reinstating through `injector`.
    pub fn new(store: Arc<dyn MessageStore>, injector: Arc<dyn Injector>) -> Self {
        Self {
            store,
            injector,
            #[cfg(feature = "embedded")]
            embedded: None,
        }
    }

    /// Lets `mstore verify` and `mstore compact` work on `store` (usually the same store the
    /// console was made with); without it they answer that the store has no such operation.
    #[cfg(feature = "embedded")]
    pub fn with_embedded(mut self, store: crate::store::EmbeddedStore) -> Self {
        self.embedded = Some(store);
        self
    }

    /// Parses and runs one command line.
    pub async fn execute(&self, line: &str) -> ConsoleOutput {
        match Command::parse(line) {
            Ok(cmd) => self.run(&cmd).await,
            Err(e) => ConsoleOutput::new(ConsoleStatus::Usage, e.to_string()),
        }
    }

    /// Runs a parsed command.
    pub async fn run(&self, cmd: &Command) -> ConsoleOutput {
        let (bucket, msgid) = match cmd {
            Command::Display { bucket, msgid, .. }
            | Command::Reinstate { bucket, msgid, .. }
            | Command::Delete { bucket, msgid } => (bucket, msgid),
            Command::Verify => return self.verify().await,
            Command::Compact => return self.compact().await,
        };
        if let Command::Delete { .. } = cmd {
            return match self.store.delete(bucket, msgid).await {
                Ok(true) => ConsoleOutput::new(
                    ConsoleStatus::Ok,
                    format!("mstore: deleted {bucket}/{}", printable(msgid.as_str())),
                ),
                Ok(false) => not_found(bucket, msgid),
                Err(e) => ConsoleOutput::new(ConsoleStatus::Failed, format!("mstore: {e}")),
            };
        }
        let msg = match self.store.load(bucket, msgid).await {
            Ok(Some(m)) => m,
            Ok(None) => return not_found(bucket, msgid),
            Err(e) => return ConsoleOutput::new(ConsoleStatus::Failed, format!("mstore: {e}")),
        };
        match cmd {
            Command::Display { view, .. } => {
                let text = match view {
                    DisplayView::Metadata => show_metadata(bucket, msgid, &msg),
                    DisplayView::Body => show_body(&msg),
                    DisplayView::Full => {
                        format!(
                            "{}\nbody:\n{}",
                            show_metadata(bucket, msgid, &msg),
                            show_body(&msg)
                        )
                    }
                    DisplayView::Resource => show_resource(&msg),
                };
                ConsoleOutput::new(ConsoleStatus::Ok, text)
            }
            Command::Reinstate { rcpt, .. } => self.reinstate(bucket, msgid, msg, rcpt).await,
            Command::Delete { .. } | Command::Verify | Command::Compact => not_found(bucket, msgid),
        }
    }

    #[cfg(feature = "embedded")]
    async fn verify(&self) -> ConsoleOutput {
        let Some(store) = &self.embedded else {
            return no_maintenance("verify", self.store.backend());
        };
        let report = match store.verify().await {
            Ok(r) => r,
            Err(e) => return ConsoleOutput::new(ConsoleStatus::Failed, format!("mstore: {e}")),
        };
        let mut t = format!(
            "mstore: verified {} records ({} with a checksum, {} written before checksums) and {} \
             expiry index entries: {} damaged",
            report.records,
            report.checked,
            report.unchecked,
            report.index_entries,
            report.damaged_total
        );
        for d in report.damaged.iter().take(VERIFY_LISTED) {
            let _ = write!(
                t,
                "\n  {}/{}: {}",
                printable(&d.bucket),
                printable(&d.msgid),
                printable(&d.reason)
            );
        }
        let listed = report.damaged.len().min(VERIFY_LISTED) as u64;
        if report.damaged_total > listed {
            let _ = write!(t, "\n  … and {} more", report.damaged_total - listed);
        }
        if let Some(why) = &report.incomplete {
            let _ = write!(t, "\nmstore: the walk stopped early: {}", printable(why));
        }
        let status = if report.is_clean() {
            ConsoleStatus::Ok
        } else {
            ConsoleStatus::Failed
        };
        ConsoleOutput::new(status, t)
    }

    #[cfg(feature = "embedded")]
    async fn compact(&self) -> ConsoleOutput {
        let Some(store) = &self.embedded else {
            return no_maintenance("compact", self.store.backend());
        };
        match store.compact().await {
            Ok(r) => ConsoleOutput::new(
                ConsoleStatus::Ok,
                format!(
                    "mstore: compacted {}: file {} -> {} bytes, {} bytes in use, {} bytes of live data",
                    printable(&store.path().display().to_string()),
                    r.before.file_bytes,
                    r.after.file_bytes,
                    r.after.allocated_bytes,
                    r.after.live_bytes
                ),
            ),
            Err(e) => ConsoleOutput::new(ConsoleStatus::Failed, format!("mstore: {e}")),
        }
    }

    #[cfg(not(feature = "embedded"))]
    async fn verify(&self) -> ConsoleOutput {
        no_maintenance("verify", self.store.backend())
    }

    #[cfg(not(feature = "embedded"))]
    async fn compact(&self) -> ConsoleOutput {
        no_maintenance("compact", self.store.backend())
    }

    async fn reinstate(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        loaded: Versioned,
        rcpt: &Option<String>,
    ) -> ConsoleOutput {
        let Versioned {
            message: mut msg,
            version,
        } = loaded;
        let from = msg.envelope.mailfrom.clone();
        let to = rcpt.clone().unwrap_or_else(|| msg.envelope.rcptto.clone());
        let injected = match rcpt {
            Some(to) => self.injector.reroute(&msg, &from, to).await,
            None => self.injector.inject(&msg).await,
        };
        if let Err(e) = injected {
            return ConsoleOutput::new(ConsoleStatus::Failed, format!("mstore: {e}"));
        }
        tracing::info!(%bucket, %msgid, %to, "mstore console: message reinstated");
        msg.record(HistoryEvent::Injected {
            from,
            to: to.clone(),
        });
        let mut text = format!(
            "mstore: reinstated {bucket}/{} to {}",
            printable(msgid.as_str()),
            printable(&to)
        );
        // The injection happened; a failure to note it in the history is only reported. The
        // note is written only over the version displayed, so it never undoes what the engine
        // wrote meanwhile (a final state, a part's receipt).
        if let Err(e) = self
            .store
            .save(bucket, msgid, &msg, PutMode::Update(version))
            .await
        {
            let _ = write!(text, " (history not updated: {e})");
        }
        ConsoleOutput::new(ConsoleStatus::Ok, text)
    }
}

fn no_maintenance(command: &str, backend: &str) -> ConsoleOutput {
    ConsoleOutput::new(
        ConsoleStatus::Failed,
        format!(
            "mstore {command}: not available for this {backend} store (an embedded store file \
             given to Console::with_embedded)"
        ),
    )
}

fn not_found(bucket: &Bucket, msgid: &MsgId) -> ConsoleOutput {
    ConsoleOutput::new(
        ConsoleStatus::NotFound,
        format!(
            "mstore: message {bucket}/{} not found",
            printable(msgid.as_str())
        ),
    )
}

/// A terminal-safe copy of stored text: control characters are escaped, so a stored value
/// cannot move the cursor or forge output lines.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn show_metadata(bucket: &Bucket, msgid: &MsgId, msg: &StoredMessage) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "bucket: {bucket}");
    let _ = writeln!(t, "msgid: {}", printable(msgid.as_str()));
    let _ = writeln!(t, "channel: {}", msg.channel);
    let _ = writeln!(t, "mailfrom: {}", printable(&msg.envelope.mailfrom));
    let _ = writeln!(t, "rcptto: {}", printable(&msg.envelope.rcptto));
    let _ = writeln!(t, "content_type: {}", printable(&msg.content_type));
    let _ = writeln!(t, "body_size: {}", msg.body.len());
    let _ = writeln!(t, "submitted_at: {}", rfc5322_date(msg.submitted_at));
    let _ = writeln!(t, "expires_at: {}", rfc5322_date(msg.expires_at));
    t.push_str("metadata:");
    for (k, v) in &msg.metadata {
        let _ = write!(t, "\n  {}: {}", printable(k), printable(v));
    }
    t.push_str("\nhistory:");
    for entry in &msg.history {
        let _ = write!(t, "\n  {} ", rfc5322_date(entry.at));
        let _ = match &entry.event {
            HistoryEvent::Submitted { message_id, status } => write!(
                t,
                "submitted message_id={} status={}",
                printable(message_id.as_deref().unwrap_or("-")),
                printable(status)
            ),
            HistoryEvent::Receipt {
                message_id,
                state,
                error,
            } => write!(
                t,
                "receipt message_id={} state={} error={}",
                printable(message_id),
                printable(state),
                printable(error.as_deref().unwrap_or("-"))
            ),
            HistoryEvent::Injected { from, to } => {
                write!(t, "injected from={} to={}", printable(from), printable(to))
            }
            HistoryEvent::Note { text } => write!(t, "note {}", printable(text)),
        };
    }
    t
}

fn show_resource(msg: &StoredMessage) -> String {
    let r = &msg.resource;
    let opt = |v: &Option<String>| printable(v.as_deref().unwrap_or("-"));
    let mut t = String::new();
    let _ = writeln!(t, "binding: {}", opt(&r.binding));
    let _ = writeln!(t, "binding_group: {}", opt(&r.binding_group));
    let _ = writeln!(t, "domain: {}", opt(&r.domain));
    let _ = write!(t, "message_id: {}", opt(&r.message_id));
    if !r.part_ids.is_empty() {
        let parts: Vec<String> = r.part_ids.iter().map(|p| printable(p)).collect();
        let _ = write!(t, "\npart_ids: {}", parts.join(" "));
    }
    t
}

/// The body as text when it is UTF-8 without control characters (other than line breaks and
/// tabs), else as a hex dump, 16 bytes a line.
fn show_body(msg: &StoredMessage) -> String {
    if let Ok(text) = std::str::from_utf8(&msg.body)
        && !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return text.to_owned();
    }
    let mut t = String::new();
    for (i, chunk) in msg.body.chunks(16).enumerate() {
        if i > 0 {
            t.push('\n');
        }
        let _ = write!(t, "{:08x} ", i * 16);
        for b in chunk {
            let _ = write!(t, " {b:02x}");
        }
    }
    t
}
