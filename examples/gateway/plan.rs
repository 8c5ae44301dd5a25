//! What happens to message number `i`: decided by its index alone, so that every run of the
//! example does the same thing and a test can predict the summary.
//!
//! The simulators read the index from the recipient's number (`4479` followed by eight digits),
//! so they need no side channel to the gateway. The pattern repeats every 20 messages:
//!
//! | i % 20 | sent as | SMSC receipt          | MMSC report | what the gateway ends with            |
//! | ------ | ------- | --------------------- | ----------- | ------------------------------------- |
//! | 0, 2, 10, 12, 15–17 | SMS | DELIVRD      |             | delivered                             |
//! | 1, 7, 18 | SMS   | DELIVRD, before the submit_sm_resp | | delivered                         |
//! | 5      | SMS     | ENROUTE, then DELIVRD |             | delivered                             |
//! | 3, 11  | SMS     | UNDELIV               | Retrieved   | rerouted to MM7, delivered            |
//! | 8      | SMS     | UNDELIV, before the resp | Expired  | rerouted to MM7, bounced              |
//! | 6      | SMS     | EXPIRED               |             | bounced (an expired SMS is stale)     |
//! | 13     | SMS     | EXPIRED, before the resp |          | bounced                               |
//! | 4, 19  | MMS     |                       | Retrieved   | delivered                             |
//! | 9      | MMS     | DELIVRD               | Expired     | rerouted to SMS, delivered            |
//! | 14     | MMS     | UNDELIV               | Rejected    | rerouted to SMS, bounced              |
//!
//! The application endpoint fails the first attempt of the level-1 DLR of every tenth message
//! (HTTP 500) and the first attempt of the receipt DLR of messages 2, 6, 14 and 18 of every 20
//! (a body that is not `ACK/Jasmin`); message 10's receipt DLR fails twice.
#![allow(dead_code)]

use std::collections::BTreeMap;

use redeliver::mm7::MmStatus;
use redeliver::smpp::receipt::MessageState;

/// The shortcode every message is sent from; it names the mstore bucket `MADR-12345`.
pub const SHORTCODE: &str = "12345";
/// The original sender of every message, where bounces go.
pub const SENDER: &str = "app@app.example";
/// The domain of SMS recipients in the gateway's spool.
pub const SMS_DOMAIN: &str = "smpp.gateway.example";
/// The domain of MMS recipients in the gateway's spool.
pub const MMS_DOMAIN: &str = "mm7.gateway.example";
/// Most messages one run may have. The recipient numbers have room for 10^8, but the gateway
/// keeps a little state per message, so a run is kept to a size one host handles in minutes.
pub const MAX_MESSAGES: usize = 1_000_000;

/// The gateway's (and the application's) id of message `i`.
pub fn id(i: usize) -> String {
    format!("gw-{i:04}")
}

/// The recipient of message `i`.
pub fn number(i: usize) -> String {
    format!("4479{i:08}")
}

/// The index in a recipient number (with or without `+` or a domain), if it is one of ours.
pub fn index_of(address: &str) -> Option<usize> {
    let number = address.split('@').next()?.trim_start_matches('+');
    let digits = number.strip_prefix("4479")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The text of message `i`.
pub fn text(i: usize) -> String {
    format!("Hello from the gateway example, message {i}")
}

/// How a message is first sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// SMPP submit_sm.
    Sms,
    /// MM7 SubmitReq.
    Mms,
}

/// Message `i` is an MMS every fifth message, an SMS otherwise.
pub fn kind(i: usize) -> Kind {
    if i % 5 == 4 { Kind::Mms } else { Kind::Sms }
}

/// What the SMSC simulator does with a submit_sm for message `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmscPlan {
    /// The final state of the receipt.
    pub state: MessageState,
    /// Whether the receipt goes out before the submit_sm_resp.
    pub early: bool,
    /// Whether an ENROUTE receipt precedes the final one.
    pub enroute: bool,
}

/// The SMSC's plan for message `i`.
pub fn smsc(i: usize) -> SmscPlan {
    let state = match i % 20 {
        3 | 8 | 11 | 14 => MessageState::Undeliverable,
        6 | 13 => MessageState::Expired,
        _ => MessageState::Delivered,
    };
    SmscPlan {
        state,
        early: matches!(i % 20, 1 | 7 | 8 | 13 | 18),
        enroute: i % 20 == 5,
    }
}

/// The MMSC's delivery report for message `i`.
pub fn mmsc(i: usize) -> MmStatus {
    match i % 20 {
        8 | 9 => MmStatus::Expired,
        14 => MmStatus::Rejected,
        _ => MmStatus::Retrieved,
    }
}

/// How the application answers one DLR attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppReply {
    /// `200 OK`, `ACK/Jasmin`.
    Ack,
    /// `500 Internal Server Error`.
    Error500,
    /// `200 OK` with a body that is not the acknowledgement.
    NotAck,
}

/// The application's answer to attempt `attempt` (1-based) of the DLR of message `i`; `receipt`
/// is false for the level-1 DLR and true for the one carrying the receipt.
pub fn app_reply(i: usize, receipt: bool, attempt: u32) -> AppReply {
    if !receipt {
        return if i.is_multiple_of(10) && attempt == 1 {
            AppReply::Error500
        } else {
            AppReply::Ack
        };
    }
    let failures = match i % 20 {
        10 => 2,
        2 | 6 | 14 | 18 => 1,
        _ => 0,
    };
    if attempt <= failures {
        AppReply::NotAck
    } else {
        AppReply::Ack
    }
}

/// How message `i` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// A receipt said delivered.
    Delivered,
    /// A negative receipt, and no reroute: a DSN went to the sender.
    Bounced,
}

/// The gateway's policy, as the hooks apply it: a failed SMS is rerouted to MM7 unless it
/// expired, a failed MMS is rerouted to SMS, and a rerouted message that fails is bounced.
/// Returns whether message `i` is rerouted and how it ends.
pub fn fate(i: usize) -> (bool, End) {
    let sms_ok = smsc(i).state == MessageState::Delivered;
    let mms_ok = mmsc(i) == MmStatus::Retrieved;
    let ok = |b| if b { End::Delivered } else { End::Bounced };
    match kind(i) {
        Kind::Sms if sms_ok => (false, End::Delivered),
        Kind::Sms if smsc(i).state == MessageState::Expired => (false, End::Bounced),
        Kind::Sms => (true, ok(mms_ok)),
        Kind::Mms if mms_ok => (false, End::Delivered),
        Kind::Mms => (true, ok(sms_ok)),
    }
}

/// The numbers a run of `n` messages must end with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Messages first sent as SMS.
    pub sms: u64,
    /// Messages first sent as MMS.
    pub mms: u64,
    /// submit_sm PDUs (first sends and reroutes to SMS).
    pub smpp_submits: u64,
    /// SubmitReqs (first sends and reroutes to MMS).
    pub mm7_submits: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages rerouted.
    pub rerouted: u64,
    /// Messages bounced.
    pub bounced: u64,
    /// Receipts sent before their submit_sm_resp.
    pub early_receipts: u64,
    /// ENROUTE receipts.
    pub intermediate: u64,
    /// DLRs acknowledged, by the number of attempts it took.
    pub dlrs_acked_after: BTreeMap<u32, u64>,
}

/// What a run of `n` messages must do, from the plan alone.
pub fn expected(n: usize) -> Expected {
    let mut e = Expected::default();
    for i in 0..n {
        let (rerouted, end) = fate(i);
        let sms_leg = kind(i) == Kind::Sms || rerouted;
        let mms_leg = kind(i) == Kind::Mms || rerouted;
        match kind(i) {
            Kind::Sms => e.sms += 1,
            Kind::Mms => e.mms += 1,
        }
        e.smpp_submits += u64::from(sms_leg);
        e.mm7_submits += u64::from(mms_leg);
        if sms_leg {
            e.early_receipts += u64::from(smsc(i).early);
            e.intermediate += u64::from(smsc(i).enroute);
        }
        e.rerouted += u64::from(rerouted);
        match end {
            End::Delivered => e.delivered += 1,
            End::Bounced => e.bounced += 1,
        }
        for receipt in [false, true] {
            let attempts = (1..)
                .find(|&a| app_reply(i, receipt, a) == AppReply::Ack)
                .unwrap_or(1);
            *e.dlrs_acked_after.entry(attempts).or_default() += 1;
        }
    }
    e
}
