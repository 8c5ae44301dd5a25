//! The DLR value and its wire form: the parameters Jasmin 0.11's DLR thrower sends, in its order.

use std::fmt;

use url::Url;

use crate::smpp::CommandStatus;
use crate::smpp::receipt::{DeliveryReceipt, ReceiptDate};

/// The `dlr-level` of a DLR (Jasmin "Receiving DLR": levels 1, 2 and 3).
///
/// The `level` parameter sent to the receiver is this value: a level-1 DLR (from the
/// submit_sm_resp) always says `1`, a DLR built from the delivery receipt says the level the
/// application originally asked for, `2` or `3`, and carries the receipt parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DlrLevel {
    /// SMS-C level: the status of the submit_sm_resp.
    Smsc = 1,
    /// Terminal level: the delivery receipt.
    Terminal = 2,
    /// Both: a level-1 DLR at the submit_sm_resp and a DLR with the receipt, same `id`.
    All = 3,
}

impl DlrLevel {
    /// The level as the number sent in the `level` parameter.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The level for a `dlr-level` number; `None` for anything but 1, 2 or 3.
    pub fn from_u8(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::Smsc),
            2 => Some(Self::Terminal),
            3 => Some(Self::All),
            _ => None,
        }
    }

    /// Whether this level asks for a DLR at the submit_sm_resp (levels 1 and 3).
    pub fn wants_submit_dlr(self) -> bool {
        matches!(self, Self::Smsc | Self::All)
    }

    /// Whether this level asks for a DLR at the delivery receipt (levels 2 and 3).
    pub fn wants_receipt_dlr(self) -> bool {
        matches!(self, Self::Terminal | Self::All)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Smsc => "1",
            Self::Terminal => "2",
            Self::All => "3",
        }
    }
}

impl fmt::Display for DlrLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `dlr-method`: how the parameters travel to the `dlr-url`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum DlrMethod {
    /// Parameters appended to the URL's query.
    Get,
    /// Parameters sent as an `application/x-www-form-urlencoded` body (Jasmin's default).
    #[default]
    Post,
}

impl DlrMethod {
    /// Parses `GET` or `POST` (any case), as given in a `dlr-method` field.
    pub fn parse(method: &str) -> Option<Self> {
        if method.eq_ignore_ascii_case("GET") {
            Some(Self::Get)
        } else if method.eq_ignore_ascii_case("POST") {
            Some(Self::Post)
        } else {
            None
        }
    }
}

impl fmt::Display for DlrMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Get => "GET",
            Self::Post => "POST",
        })
    }
}

/// The delivery-receipt parameters a level-2 or level-3 DLR adds (Jasmin "HTTP Parameters for a
/// level 2 or 3 DLR"). Values are sent as given; Jasmin sends an empty string for a missing one.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ReceiptParams {
    /// `id_smsc`: the message id the SMS-C returned.
    pub id_smsc: String,
    /// `sub`: messages originally submitted, zero-padded as in the receipt.
    pub sub: String,
    /// `dlvrd`: messages delivered, zero-padded as in the receipt.
    pub dlvrd: String,
    /// `subdate`: submission time, `YYMMDDhhmm`.
    pub subdate: String,
    /// `donedate`: time the message reached its final state, `YYMMDDhhmm`.
    pub donedate: String,
    /// `err`: network or SMS-C specific error code.
    pub err: String,
    /// `text`: the first 20 characters of the message.
    pub text: String,
}

/// How many characters of the message the `text` parameter carries (Jasmin: "Text (20 char. max)").
pub const TEXT_CHARS: usize = 20;

/// The first [`TEXT_CHARS`] characters of `text`, as the `text` parameter carries them.
pub fn truncate_text(text: &str) -> &str {
    match text.char_indices().nth(TEXT_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// One delivery receipt bound for the application's `dlr-url` (Jasmin "Receiving DLR").
///
/// Build it with [`Dlr::level1`] / [`Dlr::level2`] (or the constructors from the SMPP types);
/// [`Dlr::form_pairs`] gives the parameters in the order Jasmin 0.11 sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dlr {
    /// The application's `dlr-url`; only `http` and `https` are thrown.
    pub url: Url,
    /// The `dlr-method`.
    pub method: DlrMethod,
    /// `id`: the gateway's message id for the submitted message.
    pub id: String,
    /// `level`: see [`DlrLevel`].
    pub level: DlrLevel,
    /// `message_status`: the ESME_* name of the submit_sm_resp status at level 1 (`ESME_ROK`),
    /// the receipt's `stat` otherwise (`DELIVRD`).
    pub message_status: String,
    /// `connector`: the name of the SMPP connector the message went through.
    pub connector: String,
    /// The receipt parameters; sent (empty when `None`) when `level` is 2 or 3.
    pub receipt: Option<ReceiptParams>,
}

impl Dlr {
    /// A level-1 (SMS-C level) DLR carrying the submit_sm_resp's status name.
    pub fn level1(
        url: Url,
        method: DlrMethod,
        id: impl Into<String>,
        message_status: impl Into<String>,
        connector: impl Into<String>,
    ) -> Self {
        Self {
            url,
            method,
            id: id.into(),
            level: DlrLevel::Smsc,
            message_status: message_status.into(),
            connector: connector.into(),
            receipt: None,
        }
    }

    /// A DLR carrying a delivery receipt, sent with `level` as requested (2 or 3; a 1 is sent as
    /// 2, since a receipt DLR is never a level-1 DLR). `text` is cut to its first 20 characters.
    pub fn level2(
        url: Url,
        method: DlrMethod,
        level: DlrLevel,
        id: impl Into<String>,
        message_status: impl Into<String>,
        connector: impl Into<String>,
        mut receipt: ReceiptParams,
    ) -> Self {
        let cut = truncate_text(&receipt.text).len();
        receipt.text.truncate(cut);
        Self {
            url,
            method,
            id: id.into(),
            level: if level == DlrLevel::Smsc {
                DlrLevel::Terminal
            } else {
                level
            },
            message_status: message_status.into(),
            connector: connector.into(),
            receipt: Some(receipt),
        }
    }

    /// The level-1 DLR for a submit_sm_resp: `message_status` is the ESME_* name of its
    /// `command_status` (`ESME_ROK`, `ESME_RINVNUMDESTS`; a code without a name is sent as
    /// `0x0000XXXX`). `id` is the gateway's message id, not the SMSC's. A level-3 request also
    /// gets this DLR, with `level` 1, as Jasmin sends it.
    pub fn level1_from_submit_sm_resp(
        url: Url,
        method: DlrMethod,
        id: impl Into<String>,
        command_status: CommandStatus,
        connector: impl Into<String>,
    ) -> Self {
        Self::level1(url, method, id, command_status.to_string(), connector)
    }

    /// The DLR for a delivery receipt (SMPP 3.4 Appendix B), sent with the `level` the
    /// application asked for (2 or 3): `message_status` is the receipt's `stat`, `id_smsc` its
    /// `id`; `sub`, `dlvrd` and `err` go as they appeared (empty when absent); the dates are
    /// sent as `YYMMDDhhmm` (a 12- or 14-digit date is cut to that form, one that cannot be read
    /// goes as it appeared); `text` is its first 20 characters.
    pub fn level2_from_receipt(
        url: Url,
        method: DlrMethod,
        level: DlrLevel,
        id: impl Into<String>,
        receipt: &DeliveryReceipt,
        connector: impl Into<String>,
    ) -> Self {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let date = |field: &'static str, v: &Option<String>| match v {
            Some(raw) => ReceiptDate::parse(field, raw).map_or_else(
                |_| raw.clone(),
                |d| {
                    format!(
                        "{:02}{:02}{:02}{:02}{:02}",
                        d.year % 100,
                        d.month,
                        d.day,
                        d.hour,
                        d.minute
                    )
                },
            ),
            None => String::new(),
        };
        Self::level2(
            url,
            method,
            level,
            id,
            receipt.stat.clone(),
            connector,
            ReceiptParams {
                id_smsc: receipt.id.clone(),
                sub: opt(&receipt.sub),
                dlvrd: opt(&receipt.dlvrd),
                subdate: date("submit date", &receipt.submit_date),
                donedate: date("done date", &receipt.done_date),
                err: opt(&receipt.err),
                text: truncate_text(receipt.text.as_deref().unwrap_or("")).to_owned(),
            },
        )
    }

    /// The parameters in Jasmin 0.11's order: `id`, `level`, `message_status`, `connector`, then
    /// for levels 2 and 3 `id_smsc`, `sub`, `dlvrd`, `subdate`, `donedate`, `err`, `text`.
    pub fn form_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = vec![
            ("id", self.id.as_str()),
            ("level", self.level.as_str()),
            ("message_status", self.message_status.as_str()),
            ("connector", self.connector.as_str()),
        ];
        if self.level != DlrLevel::Smsc {
            let empty = "";
            let r = self.receipt.as_ref();
            let field = |get: fn(&ReceiptParams) -> &str| r.map_or(empty, get);
            pairs.extend([
                ("id_smsc", field(|r| &r.id_smsc)),
                ("sub", field(|r| &r.sub)),
                ("dlvrd", field(|r| &r.dlvrd)),
                ("subdate", field(|r| &r.subdate)),
                ("donedate", field(|r| &r.donedate)),
                ("err", field(|r| &r.err)),
                ("text", field(|r| &r.text)),
            ]);
        }
        pairs
    }

    /// The parameters `application/x-www-form-urlencoded`, as Python's `urlencode` writes them
    /// (space as `+`, only `A-Z a-z 0-9 _ . - ~` left as they are): the POST body.
    pub fn form_body(&self) -> String {
        encode_form(&self.form_pairs())
    }

    /// The URL a GET goes to: the parameters appended to the URL's existing query with `&`
    /// (or as the query when it has none); any fragment is dropped, as it never goes on the wire.
    pub fn get_url(&self) -> String {
        let mut base = self.url.clone();
        base.set_fragment(None);
        let mut out = String::from(base.as_str());
        match base.query() {
            None => out.push('?'),
            Some("") => {}
            Some(q) if q.ends_with('&') => {}
            Some(_) => out.push('&'),
        }
        out.push_str(&self.form_body());
        out
    }
}

/// Encodes `pairs` as `application/x-www-form-urlencoded` exactly as Python 3's
/// `urllib.parse.urlencode` does, which is what Jasmin 0.11's receivers have always parsed.
pub fn encode_form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (n, (key, value)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push('&');
        }
        quote_plus(key, &mut out);
        out.push('=');
        quote_plus(value, &mut out);
    }
    out
}

fn quote_plus(text: &str, out: &mut String) {
    crate::util::push_percent_encoded(out, text.as_bytes(), crate::util::Space::Plus);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn level1_has_four_parameters_in_order() {
        let dlr = Dlr::level1(
            url("http://a/x"),
            DlrMethod::Post,
            "m-1",
            "ESME_ROK",
            "smsc A",
        );
        assert_eq!(
            dlr.form_body(),
            "id=m-1&level=1&message_status=ESME_ROK&connector=smsc+A"
        );
    }

    #[test]
    fn level3_receipt_adds_seven_parameters_and_cuts_text() {
        let dlr = Dlr::level2(
            url("http://a/x"),
            DlrMethod::Post,
            DlrLevel::All,
            "m-1",
            "DELIVRD",
            "c",
            ReceiptParams {
                id_smsc: "2567".into(),
                sub: "001".into(),
                dlvrd: "001".into(),
                subdate: "1311022338".into(),
                donedate: "1311022339".into(),
                err: "000".into(),
                text: "Hello foo bar, this is longer than twenty".into(),
            },
        );
        assert_eq!(
            dlr.form_body(),
            "id=m-1&level=3&message_status=DELIVRD&connector=c&id_smsc=2567&sub=001&dlvrd=001\
             &subdate=1311022338&donedate=1311022339&err=000&text=Hello+foo+bar%2C+this+"
        );
    }

    #[test]
    fn quote_plus_matches_python() {
        // urllib.parse.urlencode({'k': 'a*b~c/d é+&='}) == 'k=a%2Ab~c%2Fd+%C3%A9%2B%26%3D'
        assert_eq!(
            encode_form(&[("k", "a*b~c/d é+&=")]),
            "k=a%2Ab~c%2Fd+%C3%A9%2B%26%3D"
        );
    }

    #[test]
    fn get_url_appends_to_existing_query() {
        let mut dlr = Dlr::level1(
            url("http://a/x?t=1#frag"),
            DlrMethod::Get,
            "i",
            "ESME_ROK",
            "c",
        );
        assert_eq!(
            dlr.get_url(),
            "http://a/x?t=1&id=i&level=1&message_status=ESME_ROK&connector=c"
        );
        dlr.url = url("http://a/x");
        assert_eq!(
            dlr.get_url(),
            "http://a/x?id=i&level=1&message_status=ESME_ROK&connector=c"
        );
    }

    #[test]
    fn from_smpp_types() {
        let dlr = Dlr::level1_from_submit_sm_resp(
            url("http://a/"),
            DlrMethod::Post,
            "g-1",
            CommandStatus::from_name("ESME_RINVNUMDESTS").unwrap(),
            "smsc",
        );
        assert_eq!(dlr.message_status, "ESME_RINVNUMDESTS");
        assert_eq!(dlr.level, DlrLevel::Smsc);

        let receipt = DeliveryReceipt::parse(
            b"id:0A1B2C sub:001 dlvrd:001 submit date:241122153045 done date:20241122153112 \
              stat:DELIVRD err:000 text:Hello world, this is a long text",
        )
        .unwrap();
        let dlr = Dlr::level2_from_receipt(
            url("http://a/"),
            DlrMethod::Get,
            DlrLevel::All,
            "g-1",
            &receipt,
            "smsc",
        );
        assert_eq!(
            dlr.form_body(),
            "id=g-1&level=3&message_status=DELIVRD&connector=smsc&id_smsc=0A1B2C&sub=001\
             &dlvrd=001&subdate=2411221530&donedate=2411221531&err=000&text=Hello+world%2C+this+is"
        );

        let mut odd = DeliveryReceipt::parse(b"id:9 stat:UNDELIV submit date:yesterday").unwrap();
        odd.text = None;
        let dlr = Dlr::level2_from_receipt(
            url("http://a/"),
            DlrMethod::Get,
            DlrLevel::Terminal,
            "g-2",
            &odd,
            "smsc",
        );
        let r = dlr.receipt.as_ref().unwrap();
        assert_eq!(r.subdate, "yesterday");
        assert_eq!(
            (r.donedate.as_str(), r.sub.as_str(), r.text.as_str()),
            ("", "", "")
        );
        assert_eq!(dlr.message_status, "UNDELIV");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        let s = "é".repeat(25);
        assert_eq!(truncate_text(&s).chars().count(), 20);
        assert_eq!(truncate_text("short"), "short");
    }

    proptest::proptest! {
        #[test]
        fn form_body_decodes_back_to_the_pairs(id in ".{0,40}", status in ".{0,12}", text in ".{0,40}") {
            let dlr = Dlr::level2(url("http://a/"), DlrMethod::Post, DlrLevel::Terminal, id.clone(),
                status.clone(), "c", ReceiptParams { text: text.clone(), ..Default::default() });
            let body = dlr.form_body();
            let decoded: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let expected: Vec<(String, String)> = dlr.form_pairs().iter()
                .map(|(k, v)| (k.to_string(), v.to_string())).collect();
            proptest::prop_assert_eq!(decoded, expected);
            proptest::prop_assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-~%+&=".contains(&b)));
        }
    }
}
