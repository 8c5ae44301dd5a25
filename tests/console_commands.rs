//! `mstore display|reinstate|delete|verify|compact`, good and bad.

use redeliver::store::PutMode;
use std::sync::Arc;

use redeliver::console::{
    Command, Console, ConsoleStatus, DisplayView, USAGE_COMPACT, USAGE_DELETE, USAGE_DISPLAY,
    USAGE_REINSTATE, USAGE_VERIFY,
};
use redeliver::hooks::{Injection, RecordingInjector};
use redeliver::message::{Bucket, Channel, Envelope, HistoryEvent, MsgId, StoredMessage};
use redeliver::store::{MemoryStore, MessageStore};

async fn console_with(
    body: &[u8],
    msgid: &str,
) -> (Console, Arc<MemoryStore>, Arc<RecordingInjector>) {
    let store = Arc::new(MemoryStore::new());
    let injector = Arc::new(RecordingInjector::new());
    let mut msg = StoredMessage::new(
        Channel::Smpp,
        Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "15551234567@sms.example.com".into(),
        },
        body.to_vec(),
    );
    msg.metadata.insert("data_coding".into(), "0".into());
    msg.metadata
        .insert("source_addr".into(), "12345\x1b[2J".into());
    msg.resource.binding = Some("smsc-1".into());
    msg.resource.message_id = Some(msgid.into());
    msg.record(HistoryEvent::Submitted {
        message_id: Some(msgid.into()),
        status: "ESME_ROK".into(),
    });
    store
        .save(
            &Bucket::new("MADR-12345").unwrap(),
            &MsgId::new(msgid).unwrap(),
            &msg,
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    (
        Console::new(store.clone(), injector.clone()),
        store,
        injector,
    )
}

#[tokio::test]
async fn display_shows_metadata_body_full_and_resource() {
    let (c, _, _) = console_with(b"Hello there", "abc").await;
    let meta = c.execute("mstore display MADR-12345 abc").await;
    assert_eq!(meta.status, ConsoleStatus::Ok, "{}", meta.text);
    assert!(
        meta.text
            .contains("bucket: MADR-12345\nmsgid: abc\nchannel: smpp"),
        "{}",
        meta.text
    );
    assert!(meta.text.contains("mailfrom: alice@example.com"));
    assert!(meta.text.contains("  data_coding: 0"));
    assert!(
        meta.text
            .contains("submitted message_id=abc status=ESME_ROK")
    );
    assert!(!meta.text.contains("Hello there"), "metadata only");
    // A stored control sequence is escaped, not sent to the terminal.
    assert!(!meta.text.contains('\x1b'));
    assert!(meta.text.contains("12345\\u{1b}[2J"), "{}", meta.text);

    let body = c.execute("mstore display MADR-12345 abc body").await;
    assert_eq!(
        (body.status, body.text.as_str()),
        (ConsoleStatus::Ok, "Hello there")
    );

    let full = c.execute("mstore display MADR-12345 abc full").await;
    assert!(full.text.contains("mailfrom: alice@example.com"));
    assert!(full.text.ends_with("body:\nHello there"), "{}", full.text);

    let res = c.execute("mstore display MADR-12345 abc resource").await;
    assert_eq!(
        res.text,
        "binding: smsc-1\nbinding_group: -\ndomain: -\nmessage_id: abc"
    );
}

#[tokio::test]
async fn binary_bodies_are_shown_as_hex() {
    let body: Vec<u8> = (0u8..20).collect();
    let (c, _, _) = console_with(&body, "bin").await;
    let out = c.execute("mstore display MADR-12345 bin body").await;
    assert_eq!(
        out.text,
        "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n00000010  10 11 12 13"
    );
}

#[tokio::test]
async fn quoted_msgids_with_blanks_work() {
    let (c, _, _) = console_with(b"x", "id with \"quotes\"").await;
    let out = c
        .execute(r#"mstore display MADR-12345 "id with \"quotes\"" body"#)
        .await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
}

#[tokio::test]
async fn reinstate_injects_on_the_same_route_or_to_a_new_recipient() {
    let (c, store, inj) = console_with(b"x", "abc").await;
    let out = c.execute("mstore reinstate MADR-12345 abc").await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
    assert_eq!(
        out.text,
        "mstore: reinstated MADR-12345/abc to 15551234567@sms.example.com"
    );
    let out = c
        .execute("mstore reinstate MADR-12345 abc 5678901234@smpp.example.com")
        .await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
    assert_eq!(
        inj.injections(),
        vec![
            Injection::Same {
                rcptto: "15551234567@sms.example.com".into()
            },
            Injection::Reroute {
                from: "alice@example.com".into(),
                to: "5678901234@smpp.example.com".into()
            },
        ]
    );
    // The reinstatements are in the history; the message stays stored.
    let m = store
        .load(
            &Bucket::new("MADR-12345").unwrap(),
            &MsgId::new("abc").unwrap(),
        )
        .await
        .unwrap()
        .map(|v| v.message)
        .unwrap();
    assert_eq!(m.history.len(), 3);
}

#[tokio::test]
async fn delete_removes_and_then_reports_not_found() {
    let (c, store, _) = console_with(b"x", "abc").await;
    let out = c.execute("mstore delete MADR-12345 abc").await;
    assert_eq!(
        (out.status, out.text.as_str()),
        (ConsoleStatus::Ok, "mstore: deleted MADR-12345/abc")
    );
    assert!(store.is_empty());
    let out = c.execute("mstore delete MADR-12345 abc").await;
    assert_eq!(out.status, ConsoleStatus::NotFound);
    assert_eq!(out.text, "mstore: message MADR-12345/abc not found");
}

#[tokio::test]
async fn missing_messages_are_not_found_for_every_command() {
    let (c, _, inj) = console_with(b"x", "abc").await;
    for line in [
        "mstore display MADR-12345 nope",
        "mstore display MADR-999 abc body",
        "mstore reinstate MADR-12345 nope",
        "mstore delete MADR-12345 nope",
    ] {
        let out = c.execute(line).await;
        assert_eq!(out.status, ConsoleStatus::NotFound, "{line}: {}", out.text);
        assert!(out.text.contains("not found"), "{line}: {}", out.text);
        assert!(!out.is_ok());
    }
    assert!(inj.injections().is_empty());
}

#[tokio::test]
async fn bad_arguments_give_the_usage_line() {
    let (c, _, _) = console_with(b"x", "abc").await;
    for (line, usage) in [
        ("mstore display", USAGE_DISPLAY),
        ("mstore display MADR-12345", USAGE_DISPLAY),
        ("mstore display MADR-12345 abc headers", USAGE_DISPLAY),
        ("mstore display MADR-12345 abc body extra", USAGE_DISPLAY),
        ("mstore display a/b abc", USAGE_DISPLAY),
        ("mstore reinstate MADR-12345", USAGE_REINSTATE),
        (
            "mstore reinstate MADR-12345 abc not-an-address",
            USAGE_REINSTATE,
        ),
        ("mstore reinstate MADR-12345 abc a@b c@d", USAGE_REINSTATE),
        ("mstore delete", USAGE_DELETE),
        ("mstore delete MADR-12345 abc more", USAGE_DELETE),
        ("mstore", USAGE_DISPLAY),
        ("mstore list MADR-12345", USAGE_DELETE),
        ("", USAGE_REINSTATE),
        ("ls -l", USAGE_DISPLAY),
        ("mstore display MADR-12345 \"abc", USAGE_DISPLAY),
    ] {
        let out = c.execute(line).await;
        assert_eq!(out.status, ConsoleStatus::Usage, "{line:?}: {}", out.text);
        assert!(out.text.contains(usage), "{line:?}: {}", out.text);
        assert!(
            out.text.lines().count() >= 2,
            "{line:?}: a reason and the usage"
        );
    }
    let long = format!("mstore display MADR-12345 {}", "x".repeat(5000));
    assert_eq!(c.execute(&long).await.status, ConsoleStatus::Usage);
}

#[test]
fn commands_parse_into_their_parts() {
    assert_eq!(
        Command::parse("  mstore   display MADR-MM7 id-1 full ").unwrap(),
        Command::Display {
            bucket: Bucket::mm7(),
            msgid: MsgId::new("id-1").unwrap(),
            view: DisplayView::Full
        }
    );
    assert_eq!(
        Command::parse("mstore reinstate MADR-1 m x@y").unwrap(),
        Command::Reinstate {
            bucket: Bucket::new("MADR-1").unwrap(),
            msgid: MsgId::new("m").unwrap(),
            rcpt: Some("x@y".into())
        }
    );
}

#[tokio::test]
async fn verify_and_compact_need_an_embedded_store() {
    let (c, _, _) = console_with(b"Hello", "abc").await;
    for line in ["mstore verify", "mstore compact"] {
        let out = c.execute(line).await;
        assert_eq!(out.status, ConsoleStatus::Failed, "{}", out.text);
        assert!(
            out.text.contains("not available for this memory store"),
            "{}",
            out.text
        );
    }
    for (line, usage) in [
        ("mstore verify now", USAGE_VERIFY),
        ("mstore compact MADR-1", USAGE_COMPACT),
    ] {
        let out = c.execute(line).await;
        assert_eq!(out.status, ConsoleStatus::Usage, "{line}");
        assert!(out.text.contains(usage), "{line}: {}", out.text);
    }
    assert_eq!(Command::parse("mstore verify"), Ok(Command::Verify));
    assert_eq!(Command::parse(" mstore  compact "), Ok(Command::Compact));
}

#[cfg(feature = "embedded")]
#[tokio::test]
async fn verify_reports_damaged_records_and_compact_reports_sizes() {
    use redb::ReadableTable;
    use redeliver::store::EmbeddedStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.redb");
    let bucket = Bucket::new("MADR-12345").unwrap();
    let msg = StoredMessage::new(
        Channel::Mm7,
        Envelope {
            mailfrom: "a@example.com".into(),
            rcptto: "b@example.com".into(),
        },
        b"content".to_vec(),
    );
    let console = |store: &EmbeddedStore| {
        Console::new(Arc::new(store.clone()), Arc::new(RecordingInjector::new()))
            .with_embedded(store.clone())
    };
    {
        let store = EmbeddedStore::open(&path).unwrap();
        for id in ["one", "two", "three"] {
            store
                .save(&bucket, &MsgId::new(id).unwrap(), &msg, PutMode::Overwrite)
                .await
                .unwrap();
        }
        let out = console(&store).execute("mstore verify").await;
        assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
        assert!(
            out.text
                .starts_with("mstore: verified 3 records (3 with a checksum"),
            "{}",
            out.text
        );
        assert!(out.text.ends_with(": 0 damaged"), "{}", out.text);
    }
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<(&str, &str), &[u8]> =
                redb::TableDefinition::new("messages");
            let mut table = txn.open_table(def).unwrap();
            let mut value = table
                .get(("MADR-12345", "two"))
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let at = value.len() - 6;
            value[at] ^= 1;
            table
                .insert(("MADR-12345", "two"), value.as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let c = console(&store);
    let out = c.execute("mstore verify").await;
    assert_eq!(out.status, ConsoleStatus::Failed, "{}", out.text);
    assert!(
        out.text
            .contains(": 1 damaged\n  MADR-12345/two: checksum mismatch"),
        "{}",
        out.text
    );
    let shown = c.execute("mstore display MADR-12345 two body").await;
    assert_eq!(shown.status, ConsoleStatus::Failed, "{}", shown.text);
    assert!(
        shown.text.contains("corrupt stored object"),
        "{}",
        shown.text
    );

    let out = c.execute("mstore compact").await;
    assert_eq!(out.status, ConsoleStatus::Ok, "{}", out.text);
    assert!(out.text.starts_with("mstore: compacted "), "{}", out.text);
    assert!(out.text.contains(" bytes of live data"), "{}", out.text);
    let after = c.execute("mstore display MADR-12345 one body").await;
    assert_eq!(
        (after.status, after.text.as_str()),
        (ConsoleStatus::Ok, "content")
    );
}
