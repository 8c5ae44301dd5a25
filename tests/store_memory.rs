//! The conformance suite against `MemoryStore`.

use redeliver::store::{MemoryStore, conformance};

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    let store = MemoryStore::new();
    if let Err(failure) = conformance::run_all(&store).await {
        panic!("{failure}");
    }
    assert!(store.is_empty(), "the suite cleans up after itself");
}
