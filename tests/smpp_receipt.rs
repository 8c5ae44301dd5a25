//! Property tests for the receipt text (format → parse round trip, any bytes never panic) and
//! for message-id normalisation.
#![cfg(feature = "smpp")]

use proptest::prelude::*;
use redeliver::smpp::MessageIdFormat;
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState, ReceiptDate};

fn date() -> impl Strategy<Value = ReceiptDate> {
    (
        2000u16..2100,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        proptest::option::of(0u8..60),
    )
        .prop_map(|(year, month, day, hour, minute, second)| ReceiptDate {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
}

fn state() -> impl Strategy<Value = MessageState> {
    prop::sample::select(MessageState::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn formatted_receipts_parse_back(
        id in "[0-9A-Za-z-]{1,40}",
        sub in "[0-9]{3}",
        dlvrd in "[0-9]{3}",
        submit in date(),
        done in date(),
        state in state(),
        err in "[0-9]{3,4}",
        text in "[ -~]{0,20}",
    ) {
        let mut receipt = DeliveryReceipt::new(id.clone(), state).with_dates(submit, done);
        receipt.sub = Some(sub.clone());
        receipt.dlvrd = Some(dlvrd.clone());
        receipt.err = Some(err.clone());
        receipt.text = Some(text.clone());
        let formatted = receipt.to_string();
        let back = DeliveryReceipt::parse(formatted.as_bytes())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back.id, &id);
        prop_assert_eq!(back.sub.as_deref(), Some(sub.as_str()));
        prop_assert_eq!(back.dlvrd.as_deref(), Some(dlvrd.as_str()));
        prop_assert_eq!(back.state, Some(state));
        prop_assert_eq!(back.err.as_deref(), Some(err.as_str()));
        prop_assert_eq!(back.text.as_deref(), Some(text.as_str()));
        let submit_back = back.submit_time().and_then(Result::ok);
        prop_assert_eq!(submit_back.map(|d| (d.month, d.day, d.hour, d.minute, d.second)),
            Some((submit.month, submit.day, submit.hour, submit.minute, submit.second)));
        // And through a deliver_sm, where the TLVs say the same thing.
        let pdu = receipt.to_deliver_sm("1".into(), "2".into())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let via_pdu = DeliveryReceipt::from_deliver_sm(&pdu)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(via_pdu.id, id);
        prop_assert_eq!(via_pdu.state, Some(state));
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(r) = DeliveryReceipt::parse(&bytes) {
            prop_assert!(!r.id.is_empty());
            prop_assert!(!r.stat.is_empty());
        }
    }

    #[test]
    fn receipt_words_survive_noise(
        state in state(),
        noise in "[ -~]{0,30}",
        upper in any::<bool>(),
    ) {
        let stat = state.to_string();
        let stat = if upper { stat } else { stat.to_lowercase() };
        let text = format!("garbage{noise} id:42 stat:{stat} err:000");
        let r = DeliveryReceipt::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.state, Some(state));
    }

    #[test]
    fn hex_and_decimal_ids_match(value in any::<u64>(), zeros_a in 0usize..4, zeros_b in 0usize..4, lower in any::<bool>()) {
        let hex = if lower { format!("{value:x}") } else { format!("{value:X}") };
        let hex = format!("{}{hex}", "0".repeat(zeros_a));
        let dec = format!("{}{value}", "0".repeat(zeros_b));
        prop_assert!(MessageIdFormat::same_id(&hex, MessageIdFormat::Hexadecimal, &dec, MessageIdFormat::Decimal));
        prop_assert_eq!(
            MessageIdFormat::convert(&dec, MessageIdFormat::Decimal, MessageIdFormat::Hexadecimal),
            Some(format!("{value:X}"))
        );
        let next = (u128::from(value) + 1).to_string();
        prop_assert!(!MessageIdFormat::same_id(&hex, MessageIdFormat::Hexadecimal, &next, MessageIdFormat::Decimal));
    }
}

/// The receipt texts of `tests/data/smpp-vendors/receipts.txt`: whitespace and case variants
/// real SMSCs send.
#[test]
fn vendor_receipt_corpus() {
    let path = format!(
        "{}/tests/data/smpp-vendors/receipts.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let corpus = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut checked = 0;
    for line in corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (expected, raw) = line.split_once('\t').unwrap_or_else(|| panic!("{line:?}"));
        let raw = raw
            .replace("\\t", "\t")
            .replace("\\r", "\r")
            .replace("\\n", "\n")
            .replace("\\0", "\0");
        let fields: Vec<&str> = expected.split('|').collect();
        let [id, stat, err, text] = fields[..] else {
            panic!("{expected:?}");
        };
        let r = DeliveryReceipt::parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(r.id, id, "{raw:?}");
        assert_eq!(r.stat, stat, "{raw:?}");
        assert!(r.state.is_some(), "{raw:?}");
        assert_eq!(r.err.as_deref(), Some(err), "{raw:?}");
        assert_eq!(r.text.as_deref(), (text != "-").then_some(text), "{raw:?}");
        assert!(r.submit_time().is_some_and(|d| d.is_ok()), "{raw:?}");
        checked += 1;
    }
    assert_eq!(checked, 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any mix of the separators and key spellings real SMSCs use reads the same fields.
    #[test]
    fn whitespace_and_case_variants_parse_alike(
        id in "[0-9A-F]{1,20}",
        err in "[0-9]{3}",
        seps in proptest::collection::vec(proptest::sample::select(vec![" ", "  ", "\t", "\r\n", " \t "]), 7),
        after_colon in proptest::collection::vec(proptest::sample::select(vec!["", " ", "\t", "  "]), 7),
        upper in proptest::collection::vec(any::<bool>(), 7),
    ) {
        let fields = [
            ("id", id.as_str()),
            ("sub", "001"),
            ("dlvrd", "001"),
            ("submit date", "2411221530"),
            ("done date", "2411221531"),
            ("stat", "DELIVRD"),
            ("err", err.as_str()),
        ];
        let mut text = String::new();
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                text.push_str(seps[i]);
            }
            text.push_str(&if upper[i] { key.to_uppercase() } else { (*key).to_owned() });
            text.push(':');
            text.push_str(after_colon[i]);
            text.push_str(value);
        }
        let r = DeliveryReceipt::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&r.id, &id);
        prop_assert_eq!(r.sub.as_deref(), Some("001"));
        prop_assert_eq!(r.dlvrd.as_deref(), Some("001"));
        prop_assert_eq!(r.submit_date.as_deref(), Some("2411221530"));
        prop_assert_eq!(r.done_date.as_deref(), Some("2411221531"));
        prop_assert_eq!(r.state, Some(MessageState::Delivered));
        prop_assert_eq!(r.err.as_deref(), Some(err.as_str()));
    }
}
