//! Keeps a submitted message in the embedded store, reads it back the way a receipt handler
//! would, lists the bucket, and lets retention sweep it.
//!
//! ```sh
//! cargo run --example store_embedded [path/to/store.redb]
//! ```

use redeliver::store::PutMode;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use redeliver::message::{
    Bucket, Channel, DEFAULT_RETENTION, Envelope, HistoryEvent, MsgId, StoredMessage,
};
use redeliver::store::{EmbeddedStore, MessageStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let given = std::env::args().nth(1);
    let path = given.clone().map_or_else(
        || std::env::temp_dir().join(format!("redeliver-example-{}.redb", std::process::id())),
        Into::into,
    );
    let store = EmbeddedStore::open(&path)?;

    // What the engine does after submit_sm_resp: keep the message under MADR-<shortcode>.
    let bucket = Bucket::for_submission(Some("12345"), true)?;
    let msgid = MsgId::new("0a1b2c3d")?;
    let mut msg = StoredMessage::new(
        Channel::Smpp,
        Envelope {
            mailfrom: "alice@example.com".into(),
            rcptto: "12405678910@smpp.example.com".into(),
        },
        &b"Your code is 4711"[..],
    );
    msg.metadata.insert("data_coding".into(), "0".into());
    msg.resource.message_id = Some(msgid.to_string());
    msg.record(HistoryEvent::Submitted {
        message_id: Some(msgid.to_string()),
        status: "ESME_ROK".into(),
    });
    store
        .save(&bucket, &msgid, &msg, PutMode::Overwrite)
        .await?;
    println!("saved {bucket}/{msgid} in {}", store.path().display());

    // What a receipt handler does: load it by the id the receipt carries.
    let loaded = store
        .load(&bucket, &msgid)
        .await?
        .ok_or("message vanished")?;
    println!(
        "loaded: {} bytes to {}, {} history entries",
        loaded.body.len(),
        loaded.envelope.rcptto,
        loaded.history.len()
    );

    let ids: Vec<_> = store.list(&bucket).collect().await;
    println!("{bucket} holds {} message(s)", ids.len());

    // Retention: nothing is due now; after the default 14 days it is.
    println!(
        "swept now: {}",
        store.sweep_expired(SystemTime::now()).await?
    );
    let later = SystemTime::now() + DEFAULT_RETENTION + Duration::from_secs(1);
    println!(
        "swept after retention: {}",
        store.sweep_expired(later).await?
    );
    println!(
        "still there: {}",
        store.load(&bucket, &msgid).await?.is_some()
    );

    drop(store);
    if given.is_none() {
        std::fs::remove_file(&path)?;
    }
    Ok(())
}
