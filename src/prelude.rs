//! The types nearly every host touches, for one glob import:
//!
//! ```
//! use redeliver::prelude::*;
//! ```
//!
//! The store trait and its conditional writes, the message and its address, and — with the
//! `engine` feature — the engine, its events and outcomes, and the hook trait with the seed's
//! return codes.

pub use crate::async_trait;
pub use crate::message::{Bucket, Channel, Envelope, MsgId, ReceiptClass, StoredMessage};
pub use crate::store::{MemoryStore, MessageStore, PutMode, StoreError, Version, Versioned};

#[cfg(feature = "embedded")]
pub use crate::store::EmbeddedStore;
#[cfg(feature = "riak")]
pub use crate::store::{RiakConfig, RiakStore};

#[cfg(feature = "engine")]
pub use crate::config::{MobilityConfig, ScopeContext};
#[cfg(feature = "engine")]
pub use crate::hooks::{
    DeliveryHooks, HookContext, HookError, Injector, MM7_CONTINUE, MM7_DELIVERED, MSTORE_CONTINUE,
    MSTORE_DONE, Mm7DrDecision, SMPP_CONTINUE, SMPP_DELIVERED, SmppDrDecision, StoreDecision,
};
#[cfg(feature = "engine")]
pub use crate::retry::{
    DefaultAction, EngineSettings, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent,
    SubmitOutcome,
};
