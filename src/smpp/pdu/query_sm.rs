//! `query_sm` and `query_sm_resp` (SMPP 3.4 §4.8).

use super::{ADDR_21_MAX, BodyCodec, MESSAGE_ID_MAX, Reader, TIME_MAX, Writer};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::message_state::MessageState;

/// The `query_sm` body (SMPP 3.4 §4.8.1): asks the state of a submitted message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuerySm {
    /// The SMSC's id of the message.
    pub message_id: COctetString,
    /// `source_addr_ton` of the original submission.
    pub source_addr_ton: u8,
    /// `source_addr_npi` of the original submission.
    pub source_addr_npi: u8,
    /// `source_addr` of the original submission.
    pub source_addr: COctetString,
}

impl BodyCodec for QuerySm {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(QuerySm {
            message_id: r.cstr("message_id", MESSAGE_ID_MAX)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", ADDR_21_MAX)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        w.u8s([self.source_addr_ton, self.source_addr_npi]);
        w.cstr("source_addr", &self.source_addr, ADDR_21_MAX)
    }

    fn encoded_len(&self) -> usize {
        4 + self.message_id.len() + self.source_addr.len()
    }
}

/// The `query_sm_resp` body (SMPP 3.4 §4.8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySmResp {
    /// The SMSC's id of the message.
    pub message_id: COctetString,
    /// `final_date`: when the message reached a final state (empty if it has not).
    pub final_date: COctetString,
    /// `message_state`.
    pub message_state: MessageState,
    /// `error_code`: the network error code, if any.
    pub error_code: u8,
}

impl Default for QuerySmResp {
    fn default() -> Self {
        QuerySmResp {
            message_id: COctetString::empty(),
            final_date: COctetString::empty(),
            message_state: MessageState::Scheduled,
            error_code: 0,
        }
    }
}

impl BodyCodec for QuerySmResp {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(QuerySmResp {
            message_id: r.cstr("message_id", MESSAGE_ID_MAX)?,
            final_date: r.cstr("final_date", TIME_MAX)?,
            message_state: MessageState::from_code(r.u8("message_state")?),
            error_code: r.u8("error_code")?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        w.cstr("final_date", &self.final_date, TIME_MAX)?;
        w.u8s([self.message_state.code(), self.error_code]);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        4 + self.message_id.len() + self.final_date.len()
    }

    #[inline(always)]
    fn is_default(&self) -> bool {
        self.message_id.is_empty()
            && self.final_date.is_empty()
            && self.message_state == MessageState::Scheduled
            && self.error_code == 0
    }
}
