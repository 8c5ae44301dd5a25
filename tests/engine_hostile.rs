//! Property and hostile-input tests for what the engine parses or writes: console command
//! lines, TOML options, the mstore stanza, message-id keys and the DSN it sends.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use redeliver::bounce::{Bouncer, DsnBouncer, FailureReport};
use redeliver::config::{
    MessageIdFormat, MobilityConfig, MstoreModuleConfig, ScopeOptions, SmppRegisteredDelivery,
    msgid_key,
};
use redeliver::console::Command;
use redeliver::message::{Bucket, Channel, Envelope, MsgId, StoredMessage};

fn scope_options() -> impl Strategy<Value = ScopeOptions> {
    let rd = prop_oneof![
        Just(None),
        Just(Some(SmppRegisteredDelivery::None)),
        Just(Some(SmppRegisteredDelivery::SmscDelivery)),
        Just(Some(SmppRegisteredDelivery::SmscDeliveryFailure)),
    ];
    let fmt = prop_oneof![
        Just(None),
        Just(Some(MessageIdFormat::String)),
        Just(Some(MessageIdFormat::Decimal)),
        Just(Some(MessageIdFormat::Hexadecimal)),
    ];
    (
        rd,
        any::<Option<bool>>(),
        any::<Option<bool>>(),
        fmt.clone(),
        fmt,
    )
        .prop_map(|(rd, report, save, submit, receipt)| ScopeOptions {
            smpp_registered_delivery: rd,
            mm7_delivery_report: report,
            mm7_mstore_save_message: save,
            submit_msgid_format: submit,
            receipt_msgid_format: receipt,
        })
}

fn scopes() -> impl Strategy<Value = BTreeMap<String, ScopeOptions>> {
    prop::collection::btree_map("[ -~]{1,12}", scope_options(), 0..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn console_lines_never_panic(line in "\\PC{0,200}") {
        if let Err(e) = Command::parse(&line) {
            prop_assert!(e.to_string().contains("usage: mstore"));
        }
    }

    #[test]
    fn console_words_with_quotes_round_trip(msgid in "[^\\x00\"\\\\]{1,40}") {
        prop_assume!(!msgid.trim().is_empty());
        let line = format!("mstore delete MADR-1 \"{msgid}\"");
        let cmd = Command::parse(&line).unwrap();
        prop_assert_eq!(cmd, Command::Delete {
            bucket: Bucket::new("MADR-1").unwrap(),
            msgid: MsgId::new(msgid).unwrap(),
        });
    }

    #[test]
    fn toml_options_never_panic(text in "\\PC{0,300}") {
        let _ = MobilityConfig::from_toml_str(&text);
    }

    #[test]
    fn options_round_trip_through_toml(
        global in scope_options(),
        use_shortcode in any::<bool>(),
        domain in scopes(),
        binding_group in scopes(),
        binding in scopes(),
    ) {
        let config = MobilityConfig {
            global,
            mm7_mstore_bucket_use_shortcode: use_shortcode,
            domain,
            binding_group,
            binding,
        };
        let text = config.to_toml_string().unwrap();
        prop_assert_eq!(MobilityConfig::from_toml_str(&text).unwrap(), config);
    }

    #[test]
    fn stanzas_never_panic(text in "\\PC{0,300}") {
        if let Err(e) = MstoreModuleConfig::from_ecelerity_conf(&text) {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count() + 1, "{e}");
        }
    }

    #[test]
    fn stanza_server_lists_round_trip(servers in prop::collection::vec("[a-z][a-z0-9]{0,7}(\\.[a-z][a-z0-9]{0,7}){0,2}:[1-9][0-9]{0,3}", 1..5)) {
        let list = servers.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(" ");
        let text = format!("# conf\nmstore {{\n  servers = ({list})\n}}\n");
        prop_assert_eq!(MstoreModuleConfig::from_ecelerity_conf(&text).unwrap().servers, servers);
    }

    #[test]
    fn stanza_ports_are_taken_only_in_their_range(port in 0u32..100_000) {
        let text = format!("mstore {{\n  servers = (\"riak.example:{port}\")\n}}\n");
        let read = MstoreModuleConfig::from_ecelerity_conf(&text);
        prop_assert_eq!(read.is_ok(), (1..=65_535).contains(&port), "{:?}", read);
    }

    #[test]
    fn numeric_ids_meet_whatever_their_padding_and_case(n in any::<u64>(), zeros in 0usize..6, upper in any::<bool>()) {
        let dec = format!("{}{n}", "0".repeat(zeros));
        let hex = if upper { format!("{n:X}") } else { format!("{n:x}") };
        let hex = format!("{}{hex}", "0".repeat(zeros));
        prop_assert_eq!(
            msgid_key(&dec, MessageIdFormat::Decimal),
            msgid_key(&hex, MessageIdFormat::Hexadecimal)
        );
    }

    #[test]
    fn dsns_stay_well_formed_whatever_the_receipt_says(
        state in "\\PC{0,300}",
        error in proptest::option::of("\\PC{0,300}"),
        receipt_id in "\\PC{0,100}",
        rcpt in "\\PC{0,100}",
        sender in "[a-z]{1,10}@[a-z]{1,10}\\.example",
        secs in 0u64..4_000_000_000,
    ) {
        let mut msg = StoredMessage::new(
            Channel::Smpp,
            Envelope { mailfrom: sender.clone(), rcptto: rcpt },
            &b"x"[..],
        );
        msg.submitted_at = UNIX_EPOCH + Duration::from_secs(secs);
        let failure = FailureReport {
            channel: Channel::Smpp,
            bucket: Bucket::new("MADR-1").unwrap(),
            msgid: MsgId::new("m").unwrap(),
            receipt_message_id: receipt_id,
            state,
            error,
            at: UNIX_EPOCH + Duration::from_secs(secs),
        };
        let dsn = DsnBouncer::new("mta.example").bounce(&msg, &failure).unwrap();
        let m = &dsn.message;
        // Only CRLF line ends, so nothing from the receipt starts a header or a part.
        prop_assert!(!m.replace("\r\n", "").contains(['\r', '\n']));
        let (head, _) = m.split_once("\r\n\r\n").unwrap();
        let names: Vec<&str> = head
            .split("\r\n")
            .filter(|l| !l.starts_with('\t'))
            .filter_map(|l| l.split_once(':').map(|(n, _)| n))
            .collect();
        prop_assert_eq!(
            names,
            vec!["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
        );
        let boundary = head.split("boundary=\"").nth(1).unwrap().trim_end_matches('"');
        // Three part delimiters and the closing one, and nowhere else.
        prop_assert_eq!(m.matches(&format!("--{boundary}")).count(), 4);
        let closing = format!("\r\n--{boundary}--\r\n");
        prop_assert!(m.ends_with(&closing));
        prop_assert_eq!(dsn.rcptto, sender);
    }
}
