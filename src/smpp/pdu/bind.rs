//! `bind_transmitter`, `bind_receiver`, `bind_transceiver`, their responses, and `outbind`
//! (SMPP 3.4 §4.1).

use super::{BodyCodec, Reader, Writer};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::tlv::Tlvs;

const SYSTEM_ID_MAX: usize = 16;
const PASSWORD_MAX: usize = 9;
const SYSTEM_TYPE_MAX: usize = 13;
const ADDRESS_RANGE_MAX: usize = 41;

/// The body shared by `bind_transmitter`, `bind_receiver` and `bind_transceiver`
/// (SMPP 3.4 §4.1.1, §4.1.3, §4.1.5); the [`Body`](super::Body) variant says which bind it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bind {
    /// `system_id`: who is binding.
    pub system_id: COctetString,
    /// `password`.
    pub password: COctetString,
    /// `system_type`.
    pub system_type: COctetString,
    /// `interface_version`: `0x34` for SMPP 3.4.
    pub interface_version: u8,
    /// `addr_ton`.
    pub addr_ton: u8,
    /// `addr_npi`.
    pub addr_npi: u8,
    /// `address_range`: the addresses a receiver serves.
    pub address_range: COctetString,
}

impl BodyCodec for Bind {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Bind {
            system_id: r.cstr("system_id", SYSTEM_ID_MAX)?,
            password: r.cstr("password", PASSWORD_MAX)?,
            system_type: r.cstr("system_type", SYSTEM_TYPE_MAX)?,
            interface_version: r.u8("interface_version")?,
            addr_ton: r.u8("addr_ton")?,
            addr_npi: r.u8("addr_npi")?,
            address_range: r.cstr("address_range", ADDRESS_RANGE_MAX)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("system_id", &self.system_id, SYSTEM_ID_MAX)?;
        w.cstr("password", &self.password, PASSWORD_MAX)?;
        w.cstr("system_type", &self.system_type, SYSTEM_TYPE_MAX)?;
        w.u8s([self.interface_version, self.addr_ton, self.addr_npi]);
        w.cstr("address_range", &self.address_range, ADDRESS_RANGE_MAX)
    }

    fn encoded_len(&self) -> usize {
        7 + self.system_id.len()
            + self.password.len()
            + self.system_type.len()
            + self.address_range.len()
    }
}

/// The body shared by the three bind responses (SMPP 3.4 §4.1.2, §4.1.4, §4.1.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindResp {
    /// `system_id` of the SMSC.
    pub system_id: COctetString,
    /// TLVs: `sc_interface_version`.
    pub tlvs: Tlvs,
}

impl BodyCodec for BindResp {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(BindResp {
            system_id: r.cstr("system_id", SYSTEM_ID_MAX)?,
            tlvs: Tlvs::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("system_id", &self.system_id, SYSTEM_ID_MAX)?;
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        1 + self.system_id.len() + self.tlvs.as_bytes().len()
    }

    #[inline(always)]
    fn is_default(&self) -> bool {
        self.system_id.is_empty() && self.tlvs.is_empty()
    }
}

/// The `outbind` body (SMPP 3.4 §4.1.7): the SMSC asks the ESME to bind as a receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbind {
    /// `system_id` of the SMSC.
    pub system_id: COctetString,
    /// `password`.
    pub password: COctetString,
}

impl BodyCodec for Outbind {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Outbind {
            system_id: r.cstr("system_id", SYSTEM_ID_MAX)?,
            password: r.cstr("password", PASSWORD_MAX)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("system_id", &self.system_id, SYSTEM_ID_MAX)?;
        w.cstr("password", &self.password, PASSWORD_MAX)
    }

    fn encoded_len(&self) -> usize {
        2 + self.system_id.len() + self.password.len()
    }
}
