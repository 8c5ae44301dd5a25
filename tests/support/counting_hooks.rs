//! A `DeliveryHooks` that counts the SMPP receipt hooks it runs, for the engine tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use redeliver::async_trait;
use redeliver::hooks::{DeliveryHooks, HookContext, HookError, SMPP_CONTINUE, SmppDrDecision};
use redeliver::message::{Bucket, MsgId};

/// Counts `smpp_handle_DR_positive` and `_negative` runs (over every engine it is given to).
#[derive(Default)]
pub struct Counting {
    pub positive: AtomicUsize,
    pub negative: AtomicUsize,
}

#[async_trait]
impl DeliveryHooks for Counting {
    async fn smpp_handle_dr_negative(
        &self,
        _cx: &HookContext,
        _b: &Bucket,
        _m: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.negative.fetch_add(1, Ordering::SeqCst);
        // Let a concurrent duplicate reach the engine while this hook is running.
        tokio::task::yield_now().await;
        Ok(SMPP_CONTINUE)
    }
    async fn smpp_handle_dr_positive(
        &self,
        _cx: &HookContext,
        _b: &Bucket,
        _m: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        self.positive.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        Ok(SMPP_CONTINUE)
    }
}
