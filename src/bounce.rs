//! The default action on a negative receipt: a delivery status notification to the sender.
//!
//! The seed (`seeds/momentum-mstore-retrying-messages.md`, `*_handle_DR_negative`) says that
//! when the hook answers `*_CONTINUE` the default "is to generate a bounce email to the original
//! sender". [`DsnBouncer`] builds that e-mail as an RFC 3464 delivery status notification: an
//! RFC 6522 `multipart/report; report-type=delivery-status` with a human-readable part, a
//! `message/delivery-status` part (RFC 3464 §2.2–2.3) and the original envelope as
//! `text/rfc822-headers`. The engine hands it to [`Injector::inject_bounce`]; a host that wants
//! something else implements [`Bouncer`] itself.
//!
//! [`Injector::inject_bounce`]: crate::hooks::Injector::inject_bounce

use std::fmt::{self, Write as _};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::message::{Bucket, Channel, MsgId, StoredMessage};

/// Longest value taken from a receipt into a DSN header, in characters: receipt fields come
/// from the network and must not make the notification unbounded.
const MAX_FIELD_CHARS: usize = 200;

/// What the failure was: the negative receipt as the engine saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport {
    /// SMPP or MM7.
    pub channel: Channel,
    /// The bucket the message was stored in.
    pub bucket: Bucket,
    /// The msgid it was stored under.
    pub msgid: MsgId,
    /// The message id the receipt carried, as written in the receipt.
    pub receipt_message_id: String,
    /// The final state the receipt reported (`UNDELIV`, `EXPIRED`, `Rejected`, …).
    pub state: String,
    /// The network or SMSC error code, or the MM7 StatusText, if given.
    pub error: Option<String>,
    /// When the receipt arrived.
    pub at: SystemTime,
}

/// A delivery status notification ready to send: the null reverse-path, the original sender as
/// recipient, and the complete RFC 5322 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// The envelope sender: always empty (`<>`), so that a DSN is never bounced
    /// (RFC 5321 §4.5.5).
    pub mailfrom: String,
    /// The envelope recipient: the original message's sender.
    pub rcptto: String,
    /// The RFC 3464 enhanced status code given in the report (`5.4.7`, …).
    pub status: String,
    /// The whole e-mail, headers and multipart/report body, with CRLF line ends.
    pub message: String,
}

/// Builds the notification for a failed message. Returning `None` sends nothing.
pub trait Bouncer: Send + Sync + fmt::Debug {
    /// The notification for `msg`, which failed as `failure` says.
    fn bounce(&self, msg: &StoredMessage, failure: &FailureReport) -> Option<Dsn>;
}

/// The default [`Bouncer`]: an RFC 3464 DSN from `MAILER-DAEMON@<reporting_mta>`.
///
/// No DSN is built for a message whose sender is empty or `<>` (a null reverse-path must not
/// receive notifications, RFC 3464 §2, RFC 5321 §4.5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnBouncer {
    /// The host name that appears in `Reporting-MTA: dns; …` and in the `From` address.
    pub reporting_mta: String,
}

impl Default for DsnBouncer {
    fn default() -> Self {
        Self {
            reporting_mta: "localhost".to_owned(),
        }
    }
}

impl DsnBouncer {
    /// A bouncer reporting as `reporting_mta`.
    pub fn new(reporting_mta: impl Into<String>) -> Self {
        Self {
            reporting_mta: clean(&reporting_mta.into()),
        }
    }
}

/// The RFC 3463 enhanced status code for a final receipt state (SMPP `stat:` or MM7 MMStatus).
pub fn status_for_state(state: &str) -> &'static str {
    match state.trim().to_ascii_uppercase().as_str() {
        // X.4.7: delivery time expired.
        "EXPIRED" => "5.4.7",
        // X.7.1: delivery not authorized, message refused.
        "REJECTD" | "REJECTED" => "5.7.1",
        // X.1.1: bad destination mailbox address.
        "UNRECOGNISED" | "UNRECOGNIZED" => "5.1.1",
        // X.3.0: other or undefined mail system status (a delivery condition the relay set).
        "DELIVERYCONDITIONNOTMET" => "5.3.0",
        "DELETED" => "5.2.0",
        _ => "5.0.0",
    }
}

impl Bouncer for DsnBouncer {
    fn bounce(&self, msg: &StoredMessage, failure: &FailureReport) -> Option<Dsn> {
        let sender = msg.envelope.mailfrom.trim();
        if sender.is_empty() || sender == "<>" {
            return None;
        }
        let sender = clean(sender);
        let rcpt = clean(&msg.envelope.rcptto);
        let state = clean(&failure.state);
        let error = failure.error.as_deref().map(clean);
        let status = status_for_state(&failure.state);
        let mta = if self.reporting_mta.is_empty() {
            "localhost".to_owned()
        } else {
            clean(&self.reporting_mta)
        };
        let boundary = boundary_for(failure);
        let diag_type = match failure.channel {
            Channel::Smpp => "X-SMPP",
            Channel::Mm7 => "X-MM7",
        };
        let diagnostic = match &error {
            Some(err) => format!("{state} {err}"),
            None => state.clone(),
        };

        let mut m = String::with_capacity(2048);
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = write!(m, "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n");
        let _ = write!(m, "To: <{sender}>\r\n");
        let _ = write!(m, "Subject: Undelivered message to {rcpt}\r\n");
        let _ = write!(m, "Date: {}\r\n", rfc5322_date(failure.at));
        let _ = write!(
            m,
            "Message-ID: <{}.{}@{mta}>\r\n",
            unix_secs(failure.at),
            &boundary[boundary.len() - 16..]
        );
        m.push_str("Auto-Submitted: auto-replied\r\n");
        m.push_str("MIME-Version: 1.0\r\n");
        let _ = write!(
            m,
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
        );
        m.push_str("This is a MIME-encapsulated delivery status notification.\r\n\r\n");

        let _ = write!(m, "--{boundary}\r\n");
        m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        let _ = write!(
            m,
            "Your message to {rcpt} could not be delivered.\r\n\r\nThe {} receipt for message {} reported {state}{}.\r\n",
            failure.channel,
            clean(&failure.receipt_message_id),
            error
                .as_deref()
                .map(|e| format!(" (error {e})"))
                .unwrap_or_default(),
        );
        let _ = write!(
            m,
            "The message is kept as {}/{} until its retention ends.\r\n\r\n",
            failure.bucket, failure.msgid
        );

        let _ = write!(m, "--{boundary}\r\n");
        m.push_str("Content-Type: message/delivery-status\r\n\r\n");
        let _ = write!(m, "Reporting-MTA: dns; {mta}\r\n");
        let _ = write!(m, "X-Mstore-Bucket: {}\r\n", failure.bucket);
        let _ = write!(m, "X-Mstore-Msgid: {}\r\n", clean(failure.msgid.as_str()));
        let _ = write!(
            m,
            "Arrival-Date: {}\r\n\r\n",
            rfc5322_date(msg.submitted_at)
        );
        let _ = write!(m, "Final-Recipient: rfc822; {rcpt}\r\n");
        m.push_str("Action: failed\r\n");
        let _ = write!(m, "Status: {status}\r\n");
        let _ = write!(m, "Diagnostic-Code: {diag_type}; {diagnostic}\r\n");
        let _ = write!(m, "Last-Attempt-Date: {}\r\n\r\n", rfc5322_date(failure.at));

        let _ = write!(m, "--{boundary}\r\n");
        m.push_str("Content-Type: text/rfc822-headers\r\n\r\n");
        let _ = write!(m, "From: <{sender}>\r\n");
        let _ = write!(m, "To: <{rcpt}>\r\n");
        let _ = write!(m, "Date: {}\r\n", rfc5322_date(msg.submitted_at));
        if let Some(id) = &msg.resource.message_id {
            let _ = write!(m, "X-Mstore-Message-Id: {}\r\n", clean(id));
        }
        let _ = write!(m, "\r\n--{boundary}--\r\n");

        Some(Dsn {
            mailfrom: String::new(),
            rcptto: sender,
            status: status.to_owned(),
            message: m,
        })
    }
}

/// A header-safe copy of a value from the network or a user: control characters (CR, LF, …)
/// become spaces so nothing can add a header or a MIME boundary, and it is cut to
/// [`MAX_FIELD_CHARS`].
fn clean(value: &str) -> String {
    value
        .trim()
        .chars()
        .take(MAX_FIELD_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A boundary that cannot occur in the cleaned content: it contains `=_`, which the cleaned
/// values could only produce if they held the 32 hex digits derived from the failure itself.
fn boundary_for(failure: &FailureReport) -> String {
    let mut h = DefaultHasher::new();
    failure.bucket.hash(&mut h);
    failure.msgid.hash(&mut h);
    failure.receipt_message_id.hash(&mut h);
    failure.at.hash(&mut h);
    let a = h.finish();
    "redeliver".hash(&mut h);
    let b = h.finish();
    format!("=_redeliver_{a:016x}{b:016x}")
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `Sun, 22 Nov 2026 06:27:57 +0000` (RFC 5322 §3.3), in UTC.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = unix_secs(t);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1–12, day 1–31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_335_677);
        assert_eq!(rfc5322_date(t), "Sun, 22 Nov 2026 08:21:17 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn states_map_to_enhanced_codes() {
        assert_eq!(status_for_state("EXPIRED"), "5.4.7");
        assert_eq!(status_for_state("Expired"), "5.4.7");
        assert_eq!(status_for_state("Unrecognized"), "5.1.1");
        assert_eq!(status_for_state("UNDELIV"), "5.0.0");
    }
}
