//! # redeliver
//!
//! Store-and-retry for SMS and MMS gateways. A gateway that submits messages over SMPP or MM7
//! keeps each submission in a [`MessageStore`](store::MessageStore) until the delivery receipt
//! arrives, lets its own policy hooks decide what the receipt means (reroute, retry, delete,
//! bounce), and forwards delivery receipts to the application's `dlr-url` until the application
//! acknowledges them.
//!
//! The crate is the union of two documented systems: Momentum's **mstore** module (buckets
//! `MADR-<shortcode>` / `MADR-MM7`, six policy hooks, `mstore display|reinstate|delete`) and
//! Jasmin's **DLR thrower** (DLR levels 1/2/3, `ACK/Jasmin`, `retry_delay`, `max_retries`).
//!
//! The library never owns the host's event loop: the host keeps its sockets and wires these
//! parts together.
//!
//! | module | what it is | feature |
//! | --- | --- | --- |
//! | [`message`] | the stored message, its bucket and msgid | always |
//! | [`store`] | `MessageStore` and its backends | always (`riak`, `embedded` for those backends) |
//! | `smpp` | SMPP 3.4 PDU codec, delivery-receipt text, framing | `smpp` |
//! | `mm7` | MM7 (3GPP TS 23.140) SOAP/MIME codec | `mm7` |
//! | `event`, `hooks`, `retry`, `bounce`, `config`, `console` | the receipt event and counters, policy hooks, the retry engine, the default bounce, scoped options, the mstore console | `engine` |
//! | [`prelude`] | the types nearly every host touches | always |
//! | `dlr` | the DLR thrower | `dlr-http` |
//!
//! ## Quick start
//!
//! Implement [`DeliveryHooks`](hooks::DeliveryHooks), build a
//! [`RetryEngine`](retry::RetryEngine) over a store and your spool, and call it from your SMPP
//! client on every `submit_sm_resp` and delivery receipt (this is `examples/quickstart.rs`):
//!
#![cfg_attr(feature = "engine", doc = "```rust")]
#![cfg_attr(not(feature = "engine"), doc = "```rust,ignore")]
#![doc = include_str!("../examples/quickstart.rs")]
#![doc = "```"]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Re-exported so hosts can implement the async hook and store traits without depending on
/// `async-trait` themselves.
pub use async_trait::async_trait;

/// The cause carried by this crate's errors (`source` fields): any error that can cross
/// threads, so a host can follow the chain with [`std::error::Error::source`] and downcast it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

// First: its macros are used by the modules below.
#[macro_use]
mod util;

pub mod message;
pub mod prelude;
pub mod receipt_class;
pub mod store;
pub mod telemetry;

#[cfg(feature = "smpp")]
pub mod smpp;

#[cfg(feature = "mm7")]
pub mod mm7;

#[cfg(feature = "engine")]
pub mod bounce;
#[cfg(feature = "engine")]
pub mod config;
#[cfg(feature = "engine")]
pub mod console;
#[cfg(feature = "engine")]
pub mod event;
#[cfg(feature = "engine")]
pub mod hooks;
#[cfg(feature = "engine")]
pub mod retry;

#[cfg(feature = "dlr-http")]
pub mod dlr;
