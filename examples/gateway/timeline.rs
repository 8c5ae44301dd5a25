//! The timeline: one line per event, stamped with the time since the run started, the role that
//! saw it and the message it is about.
#![allow(dead_code)]

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Where the lines go (stdout in the example, nowhere in the test).
pub type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// The run's timeline.
pub struct Timeline {
    start: Instant,
    /// Events about messages with an index at or above this are counted, not printed.
    show: usize,
    sink: Option<Sink>,
    events: AtomicU64,
}

impl Timeline {
    /// A timeline printing the events of the first `show` messages to `sink`.
    pub fn new(show: usize, sink: Option<Sink>) -> Self {
        Self {
            start: Instant::now(),
            show,
            sink,
            events: AtomicU64::new(0),
        }
    }

    /// A timeline that prints nothing.
    pub fn silent() -> Self {
        Self::new(0, None)
    }

    /// Seconds since the run started.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Events seen so far, printed or not.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// One event of `role` about message `index` (or about the run, with `None`).
    pub fn event(&self, role: &str, index: Option<usize>, what: impl Display) {
        self.events.fetch_add(1, Ordering::Relaxed);
        let Some(sink) = &self.sink else { return };
        let id = match index {
            Some(i) if i >= self.show => return,
            Some(i) => super::plan::id(i),
            None => String::from("-"),
        };
        sink(&format!(
            "{:>8.3}s  {role:<7} {id:<8} {what}",
            self.elapsed()
        ));
    }

    /// A line outside the timeline (progress, notes), printed whatever the message.
    pub fn note(&self, what: impl Display) {
        if let Some(sink) = &self.sink {
            sink(&what.to_string());
        }
    }
}

/// `(year, month, day, hour, minute, second)` of `t` in UTC, for receipt dates and MM7
/// `xs:dateTime` values (days to civil date as in H. Hinnant's `civil_from_days`).
pub fn utc(t: std::time::SystemTime) -> (u16, u8, u8, u8, u8, u8) {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
}

/// `YYMMDDhhmm` (UTC), the date form of receipts and of Jasmin's `subdate` / `donedate`.
pub fn yymmddhhmm(t: std::time::SystemTime) -> String {
    let (y, mo, d, h, mi, _) = utc(t);
    format!("{:02}{mo:02}{d:02}{h:02}{mi:02}", y % 100)
}
