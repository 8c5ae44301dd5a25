//! `submit_multi` and `submit_multi_resp` (SMPP 3.4 §4.5).

use bytes::Bytes;

use super::{ADDR_21_MAX, BodyCodec, MESSAGE_ID_MAX, Reader, SERVICE_TYPE_MAX, TIME_MAX, Writer};
use crate::smpp::data_coding::DataCoding;
use crate::smpp::error::{DecodeError, EncodeError, FieldError};
use crate::smpp::esm_class::EsmClass;
use crate::smpp::field::COctetString;
use crate::smpp::registered_delivery::RegisteredDelivery;
use crate::smpp::tlv::Tlvs;

/// Longest distribution list name, NUL included (SMPP 3.4 §4.5.1.2).
const DL_NAME_MAX: usize = 21;

/// One entry of submit_multi's `dest_address` list (SMPP 3.4 §4.5.1.1), chosen by `dest_flag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAddress {
    /// `dest_flag` 1: an SME address.
    SmeAddress {
        /// `dest_addr_ton`.
        dest_addr_ton: u8,
        /// `dest_addr_npi`.
        dest_addr_npi: u8,
        /// `destination_addr`.
        destination_addr: COctetString,
    },
    /// `dest_flag` 2: a distribution list name.
    DistributionList {
        /// `dl_name`.
        dl_name: COctetString,
    },
}

impl DestAddress {
    /// The `dest_flag` value of this entry.
    pub const fn dest_flag(&self) -> u8 {
        match self {
            DestAddress::SmeAddress { .. } => 1,
            DestAddress::DistributionList { .. } => 2,
        }
    }
}

fn read_dest_address(r: &mut Reader) -> Result<DestAddress, DecodeError> {
    match r.u8("dest_flag")? {
        1 => Ok(DestAddress::SmeAddress {
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr("destination_addr", ADDR_21_MAX)?,
        }),
        2 => Ok(DestAddress::DistributionList {
            dl_name: r.cstr("dl_name", DL_NAME_MAX)?,
        }),
        other => Err(r.error(
            "dest_flag",
            FieldError::BadValue {
                value: u32::from(other),
                reason: "dest_flag is 1 (SME address) or 2 (distribution list)",
            },
        )),
    }
}

/// The `submit_multi` body (SMPP 3.4 §4.5.1): one message to up to 254 SME addresses or
/// distribution lists. `number_of_dests` is `dest_address.len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitMulti {
    /// `service_type`.
    pub service_type: COctetString,
    /// `source_addr_ton`.
    pub source_addr_ton: u8,
    /// `source_addr_npi`.
    pub source_addr_npi: u8,
    /// `source_addr`.
    pub source_addr: COctetString,
    /// The destinations, in wire order.
    pub dest_address: Vec<DestAddress>,
    /// `esm_class`.
    pub esm_class: EsmClass,
    /// `protocol_id`.
    pub protocol_id: u8,
    /// `priority_flag`.
    pub priority_flag: u8,
    /// `schedule_delivery_time`.
    pub schedule_delivery_time: COctetString,
    /// `validity_period`.
    pub validity_period: COctetString,
    /// `registered_delivery`.
    pub registered_delivery: RegisteredDelivery,
    /// `replace_if_present_flag`.
    pub replace_if_present_flag: u8,
    /// `data_coding`.
    pub data_coding: DataCoding,
    /// `sm_default_msg_id`.
    pub sm_default_msg_id: u8,
    /// `short_message` (`sm_length` is its length).
    pub short_message: Bytes,
    /// TLVs, in wire order.
    pub tlvs: Tlvs,
}

impl BodyCodec for SubmitMulti {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let service_type = r.cstr("service_type", SERVICE_TYPE_MAX)?;
        let source_addr_ton = r.u8("source_addr_ton")?;
        let source_addr_npi = r.u8("source_addr_npi")?;
        let source_addr = r.cstr("source_addr", ADDR_21_MAX)?;
        let number_of_dests = r.u8("number_of_dests")?;
        // Each entry takes at least 2 bytes, so this never reserves more than the frame holds.
        let mut dest_address = Vec::with_capacity(usize::from(number_of_dests).min(r.left() / 2));
        for index in 0..usize::from(number_of_dests) {
            let entry = read_dest_address(r).map_err(|e| e.in_list("dest_address", index))?;
            dest_address.push(entry);
        }
        let esm_class = EsmClass(r.u8("esm_class")?);
        let protocol_id = r.u8("protocol_id")?;
        let priority_flag = r.u8("priority_flag")?;
        let schedule_delivery_time = r.cstr("schedule_delivery_time", TIME_MAX)?;
        let validity_period = r.cstr("validity_period", TIME_MAX)?;
        let registered_delivery = RegisteredDelivery(r.u8("registered_delivery")?);
        let replace_if_present_flag = r.u8("replace_if_present_flag")?;
        let data_coding = DataCoding(r.u8("data_coding")?);
        let sm_default_msg_id = r.u8("sm_default_msg_id")?;
        let sm_length = r.u8("sm_length")?;
        let short_message = r.octets("short_message", "sm_length", usize::from(sm_length))?;
        Ok(SubmitMulti {
            service_type,
            source_addr_ton,
            source_addr_npi,
            source_addr,
            dest_address,
            esm_class,
            protocol_id,
            priority_flag,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            short_message,
            tlvs: Tlvs::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("service_type", &self.service_type, SERVICE_TYPE_MAX)?;
        w.u8s([self.source_addr_ton, self.source_addr_npi]);
        w.cstr("source_addr", &self.source_addr, ADDR_21_MAX)?;
        let Ok(count) = u8::try_from(self.dest_address.len()) else {
            return Err(w.error(
                "number_of_dests",
                FieldError::BadValue {
                    value: u32::try_from(self.dest_address.len()).unwrap_or(u32::MAX),
                    reason: "number_of_dests is one octet",
                },
            ));
        };
        w.u8(count);
        for dest in &self.dest_address {
            w.u8(dest.dest_flag());
            match dest {
                DestAddress::SmeAddress {
                    dest_addr_ton,
                    dest_addr_npi,
                    destination_addr,
                } => {
                    w.u8s([*dest_addr_ton, *dest_addr_npi]);
                    w.cstr("destination_addr", destination_addr, ADDR_21_MAX)?;
                }
                DestAddress::DistributionList { dl_name } => {
                    w.cstr("dl_name", dl_name, DL_NAME_MAX)?;
                }
            }
        }
        w.u8s([self.esm_class.0, self.protocol_id, self.priority_flag]);
        w.cstr(
            "schedule_delivery_time",
            &self.schedule_delivery_time,
            TIME_MAX,
        )?;
        w.cstr("validity_period", &self.validity_period, TIME_MAX)?;
        w.u8s([
            self.registered_delivery.0,
            self.replace_if_present_flag,
            self.data_coding.0,
            self.sm_default_msg_id,
        ]);
        w.short_message(&self.short_message)?;
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        let dests: usize = self
            .dest_address
            .iter()
            .map(|d| match d {
                DestAddress::SmeAddress {
                    destination_addr, ..
                } => 4 + destination_addr.len(),
                DestAddress::DistributionList { dl_name } => 2 + dl_name.len(),
            })
            .sum();
        15 + self.service_type.len()
            + self.source_addr.len()
            + dests
            + self.schedule_delivery_time.len()
            + self.validity_period.len()
            + self.short_message.len()
            + self.tlvs.as_bytes().len()
    }
}

/// One entry of submit_multi_resp's `unsuccess_sme` list (SMPP 3.4 §4.5.2.1): a destination the
/// SMSC did not accept, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsuccessSme {
    /// `dest_addr_ton`.
    pub dest_addr_ton: u8,
    /// `dest_addr_npi`.
    pub dest_addr_npi: u8,
    /// `destination_addr`.
    pub destination_addr: COctetString,
    /// `error_status_code`: the command_status the SMSC gives for this destination.
    pub error_status_code: u32,
}

/// The `submit_multi_resp` body (SMPP 3.4 §4.5.2). `no_unsuccess` is `unsuccess_sme.len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitMultiResp {
    /// The SMSC's message id.
    pub message_id: COctetString,
    /// The destinations that failed.
    pub unsuccess_sme: Vec<UnsuccessSme>,
    /// TLVs (SMPP 5.0 allows some on this response).
    pub tlvs: Tlvs,
}

impl BodyCodec for SubmitMultiResp {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let message_id = r.cstr("message_id", MESSAGE_ID_MAX)?;
        let no_unsuccess = r.u8("no_unsuccess")?;
        // Each entry takes at least 7 bytes.
        let mut unsuccess_sme = Vec::with_capacity(usize::from(no_unsuccess).min(r.left() / 7));
        for index in 0..usize::from(no_unsuccess) {
            let read = |r: &mut Reader| {
                Ok(UnsuccessSme {
                    dest_addr_ton: r.u8("dest_addr_ton")?,
                    dest_addr_npi: r.u8("dest_addr_npi")?,
                    destination_addr: r.cstr("destination_addr", ADDR_21_MAX)?,
                    error_status_code: r.u32("error_status_code")?,
                })
            };
            let entry = read(r).map_err(|e: DecodeError| e.in_list("unsuccess_sme", index))?;
            unsuccess_sme.push(entry);
        }
        Ok(SubmitMultiResp {
            message_id,
            unsuccess_sme,
            tlvs: Tlvs::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        let Ok(count) = u8::try_from(self.unsuccess_sme.len()) else {
            return Err(w.error(
                "no_unsuccess",
                FieldError::BadValue {
                    value: u32::try_from(self.unsuccess_sme.len()).unwrap_or(u32::MAX),
                    reason: "no_unsuccess is one octet",
                },
            ));
        };
        w.u8(count);
        for sme in &self.unsuccess_sme {
            w.u8s([sme.dest_addr_ton, sme.dest_addr_npi]);
            w.cstr("destination_addr", &sme.destination_addr, ADDR_21_MAX)?;
            w.u32(sme.error_status_code);
        }
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        let smes: usize = self
            .unsuccess_sme
            .iter()
            .map(|s| 7 + s.destination_addr.len())
            .sum();
        2 + self.message_id.len() + smes + self.tlvs.as_bytes().len()
    }

    #[inline(always)]
    fn is_default(&self) -> bool {
        self.message_id.is_empty() && self.unsuccess_sme.is_empty() && self.tlvs.is_empty()
    }
}
