//! `data_sm` (SMPP 3.4 §4.7.1); its response is [`MessageIdResp`](super::MessageIdResp).

use super::{ADDR_65_MAX, BodyCodec, Reader, SERVICE_TYPE_MAX, Writer};
use crate::smpp::data_coding::DataCoding;
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::esm_class::EsmClass;
use crate::smpp::field::COctetString;
use crate::smpp::registered_delivery::RegisteredDelivery;
use crate::smpp::tlv::Tlvs;

/// The `data_sm` body (SMPP 3.4 §4.7.1): a message in either direction with its payload in the
/// `message_payload` TLV; SMSCs also send delivery receipts this way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSm {
    /// `service_type`.
    pub service_type: COctetString,
    /// `source_addr_ton`.
    pub source_addr_ton: u8,
    /// `source_addr_npi`.
    pub source_addr_npi: u8,
    /// `source_addr` (at most 64 characters here).
    pub source_addr: COctetString,
    /// `dest_addr_ton`.
    pub dest_addr_ton: u8,
    /// `dest_addr_npi`.
    pub dest_addr_npi: u8,
    /// `destination_addr` (at most 64 characters here).
    pub destination_addr: COctetString,
    /// `esm_class`.
    pub esm_class: EsmClass,
    /// `registered_delivery`.
    pub registered_delivery: RegisteredDelivery,
    /// `data_coding`.
    pub data_coding: DataCoding,
    /// TLVs, in wire order.
    pub tlvs: Tlvs,
}

impl BodyCodec for DataSm {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DataSm {
            service_type: r.cstr("service_type", SERVICE_TYPE_MAX)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", ADDR_65_MAX)?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr("destination_addr", ADDR_65_MAX)?,
            esm_class: EsmClass(r.u8("esm_class")?),
            registered_delivery: RegisteredDelivery(r.u8("registered_delivery")?),
            data_coding: DataCoding(r.u8("data_coding")?),
            tlvs: Tlvs::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("service_type", &self.service_type, SERVICE_TYPE_MAX)?;
        w.u8s([self.source_addr_ton, self.source_addr_npi]);
        w.cstr("source_addr", &self.source_addr, ADDR_65_MAX)?;
        w.u8s([self.dest_addr_ton, self.dest_addr_npi]);
        w.cstr("destination_addr", &self.destination_addr, ADDR_65_MAX)?;
        w.u8s([
            self.esm_class.0,
            self.registered_delivery.0,
            self.data_coding.0,
        ]);
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        10 + self.service_type.len()
            + self.source_addr.len()
            + self.destination_addr.len()
            + self.tlvs.as_bytes().len()
    }
}
