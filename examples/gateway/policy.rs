//! The gateway's policy: the hooks the engine calls (the seed's Lua examples in Rust) and the
//! injector the hooks inject through (the gateway's spool).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use redeliver::bounce::Dsn;
use redeliver::hooks::{
    DeliveryHooks, HookContext, HookError, InjectError, Injector, MM7_CONTINUE, MM7_DELIVERED,
    MSTORE_CONTINUE, Mm7DrDecision, SMPP_CONTINUE, SMPP_DELIVERED, SmppDrDecision, StoreDecision,
};
use redeliver::message::{Bucket, Channel, HistoryEvent, MsgId, StoredMessage};
use redeliver::mm7::DeliveryReportReq;
use tokio::sync::mpsc;

use super::gateway::{Job, Shared};
use super::plan::{self, Kind};

/// The hooks: the seed's `smpp_hooks` and `mm7_hooks_tests` examples, with one rule added so a
/// message is rerouted at most once.
pub struct Policy {
    pub(crate) shared: Arc<Shared>,
}

impl Policy {
    /// The negative-receipt policy of both hooks: load the stored message and, unless it was
    /// rerouted once already or (for an SMS) it expired, reroute it to `to_domain` and delete
    /// it, as the seed's Lua does. Returns whether it rerouted; `false` lets the default bounce
    /// run.
    pub(crate) async fn rerouted_once(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
        to_domain: &str,
        hook: &str,
    ) -> Result<bool, HookError> {
        let Some(msg) = cx.load(bucket, msgid).await? else {
            self.shared.error(
                None,
                format_args!("{hook}: {bucket}/{msgid}: failed to load message from mstore"),
            );
            return Ok(false);
        };
        let Some(i) = plan::index_of(&msg.envelope.rcptto) else {
            return Ok(false);
        };
        if self.shared.legs(i) >= 2 {
            self.shared.timeline.event(
                "hooks",
                Some(i),
                format_args!("{hook}: already rerouted once -> *_CONTINUE (bounce)"),
            );
            return Ok(false);
        }
        let state = msg.history.iter().rev().find_map(|h| match &h.event {
            HistoryEvent::Receipt { state, .. } => Some(state.clone()),
            _ => None,
        });
        if msg.channel == Channel::Smpp && state.as_deref() == Some("EXPIRED") {
            self.shared.timeline.event(
                "hooks",
                Some(i),
                format_args!("{hook}: EXPIRED is stale news -> SMPP_CONTINUE (bounce)"),
            );
            return Ok(false);
        }
        let to = format!("{}@{to_domain}", plan::number(i));
        let from = msg.mailfrom().to_owned();
        self.shared.timeline.event(
            "hooks",
            Some(i),
            format_args!(
                "{hook}: {} -> msg:inject({from}, {to}); mstore.delete",
                state.unwrap_or_default()
            ),
        );
        // The seed's Lua: msg:inject(msg:mailfrom(), to); msys.mstore.delete(bucket, msgid)
        msg.inject(&from, &to).await?;
        cx.delete(bucket, msgid).await?;
        Ok(true)
    }
}

#[async_trait]
impl DeliveryHooks for Policy {
    async fn smpp_store_submit(
        &self,
        _cx: &HookContext,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        let i = plan::index_of(&msg.envelope.rcptto);
        self.shared.timeline.event(
            "hooks",
            i,
            format_args!("smpp_store_submit: SMS message {msgid} stored in {bucket}"),
        );
        Ok(MSTORE_CONTINUE)
    }

    async fn mm7_store_submit(
        &self,
        _cx: &HookContext,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        let i = plan::index_of(&msg.envelope.rcptto);
        self.shared.timeline.event(
            "hooks",
            i,
            format_args!("mm7_store_submit_hook: MMS message {msgid} stored in {bucket}"),
        );
        Ok(MSTORE_CONTINUE)
    }

    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        let rerouted = self
            .rerouted_once(
                cx,
                bucket,
                msgid,
                plan::MMS_DOMAIN,
                "smpp_handle_DR_negative",
            )
            .await?;
        Ok(if rerouted {
            SMPP_DELIVERED
        } else {
            SMPP_CONTINUE
        })
    }

    async fn mm7_handle_dr_negative(
        &self,
        cx: &HookContext,
        _trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        let rerouted = self
            .rerouted_once(
                cx,
                bucket,
                msgid,
                plan::SMS_DOMAIN,
                "mm7_handle_DR_negative",
            )
            .await?;
        Ok(if rerouted {
            MM7_DELIVERED
        } else {
            MM7_CONTINUE
        })
    }
}

/// The injector: the gateway's spool. Reroutes become new jobs on the route their recipient's
/// domain names; bounces are counted (a real gateway would send them by e-mail).
#[derive(Debug)]
pub struct Spool {
    pub(crate) jobs: mpsc::UnboundedSender<Job>,
    pub(crate) dsns: Arc<AtomicU64>,
}

impl Spool {
    pub(crate) fn job(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        let (_, domain) = to.rsplit_once('@').unwrap_or_default();
        let kind = match domain {
            plan::SMS_DOMAIN => Kind::Sms,
            plan::MMS_DOMAIN => Kind::Mms,
            other => {
                return Err(InjectError::Spool(
                    format!("no route to domain {other:?}").into(),
                ));
            }
        };
        let Some(index) = plan::index_of(to) else {
            return Err(InjectError::BadAddress {
                address: to.to_owned(),
            });
        };
        // An SMS keeps its text in the body; an MMS as the gateway sends it keeps it as Subject.
        let text = match msg.channel {
            Channel::Smpp => String::from_utf8_lossy(&msg.body).into_owned(),
            Channel::Mm7 => msg.metadata.get("Subject").cloned().unwrap_or_default(),
        };
        self.jobs
            .send(Job {
                index,
                kind,
                text,
                mailfrom: from.to_owned(),
                leg: 0,
            })
            .map_err(|e| InjectError::Spool(Box::new(e)))
    }
}

#[async_trait]
impl Injector for Spool {
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        let from = msg.envelope.mailfrom.clone();
        let to = msg.envelope.rcptto.clone();
        self.job(msg, &from, &to)
    }

    async fn reroute(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        self.job(msg, from, to)
    }

    async fn inject_bounce(&self, _dsn: &Dsn) -> Result<(), InjectError> {
        self.dsns.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
