//! Property tests: every PDU type survives encode → decode → encode unchanged, and TLVs come
//! back typed as they went in.
#![cfg(feature = "smpp")]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use redeliver::smpp::receipt::MessageState;
use redeliver::smpp::{
    AlertNotification, Bind, BindResp, Body, COctetString, CancelSm, CommandStatus, DataCoding,
    DataSm, DataSmResp, DeliverSm, DeliverSmResp, DestAddress, EsmClass, Outbind, Pdu, QuerySm,
    QuerySmResp, RegisteredDelivery, ReplaceSm, SubmitMulti, SubmitMultiResp, SubmitSm,
    SubmitSmResp, Tlv, TlvTag, Tlvs, UnsuccessSme,
};

/// A C-octet string that fits a field of `max` octets (NUL included).
fn cstr(max: usize) -> impl Strategy<Value = COctetString> {
    vec(1u8..=255, 0..max).prop_map(|v| COctetString::from(Bytes::from(v)))
}

fn octets(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Known tags (typed) and arbitrary ones (raw), with values of the size the spec gives.
fn tlv() -> impl Strategy<Value = Tlv> {
    let known = prop::sample::select(vec![
        0x0005u16, 0x0006, 0x0007, 0x0008, 0x000D, 0x000E, 0x000F, 0x0010, 0x0017, 0x0019, 0x001D,
        0x001E, 0x0030, 0x0201, 0x0202, 0x0203, 0x0204, 0x0205, 0x020A, 0x020B, 0x020C, 0x020D,
        0x020E, 0x020F, 0x0210, 0x0302, 0x0303, 0x0304, 0x0381, 0x0420, 0x0421, 0x0422, 0x0423,
        0x0424, 0x0425, 0x0426, 0x0427, 0x0428, 0x0501, 0x060B, 0x1201, 0x1203, 0x1204, 0x130C,
        0x1380, 0x1383,
    ]);
    let tag = prop_oneof![3 => known, 1 => any::<u16>()].prop_map(TlvTag);
    tag.prop_flat_map(|tag| {
        let value: BoxedStrategy<Bytes> = match (tag.fixed_len(), tag.0) {
            (Some(n), _) => vec(any::<u8>(), n).prop_map(Bytes::from).boxed(),
            (None, 0x001D | 0x001E) => vec(1u8..=255, 0..64)
                .prop_map(|mut v| {
                    v.push(0);
                    Bytes::from(v)
                })
                .boxed(),
            (None, _) => octets(48).boxed(),
        };
        value.prop_map(move |value| {
            Tlv::from_raw(tag, value).unwrap_or_else(|e| panic!("strategy made a bad TLV: {e}"))
        })
    })
}

fn tlv_list() -> impl Strategy<Value = Vec<Tlv>> {
    vec(tlv(), 0..6)
}

fn tlvs() -> impl Strategy<Value = Tlvs> {
    tlv_list().prop_map(|list| Tlvs::from_tlvs(&list).unwrap_or_else(|e| panic!("{e}")))
}

macro_rules! sm_body {
    ($ty:ident) => {
        (
            (
                cstr(6),
                any::<u8>(),
                any::<u8>(),
                cstr(21),
                any::<u8>(),
                any::<u8>(),
                cstr(21),
            ),
            (any::<u8>(), any::<u8>(), any::<u8>(), cstr(17), cstr(17)),
            (
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                octets(254),
                tlvs(),
            ),
        )
            .prop_map(
                |(
                    (st, sat, san, sa, dat, dan, da),
                    (esm, pid, pri, sdt, vp),
                    (rd, rip, dc, dmi, sm, tlvs),
                )| $ty {
                    service_type: st,
                    source_addr_ton: sat,
                    source_addr_npi: san,
                    source_addr: sa,
                    dest_addr_ton: dat,
                    dest_addr_npi: dan,
                    destination_addr: da,
                    esm_class: EsmClass(esm),
                    protocol_id: pid,
                    priority_flag: pri,
                    schedule_delivery_time: sdt,
                    validity_period: vp,
                    registered_delivery: RegisteredDelivery(rd),
                    replace_if_present_flag: rip,
                    data_coding: DataCoding(dc),
                    sm_default_msg_id: dmi,
                    short_message: sm,
                    tlvs,
                },
            )
    };
}

fn bind() -> impl Strategy<Value = Bind> {
    (
        cstr(16),
        cstr(9),
        cstr(13),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        cstr(41),
    )
        .prop_map(
            |(
                system_id,
                password,
                system_type,
                interface_version,
                addr_ton,
                addr_npi,
                address_range,
            )| Bind {
                system_id,
                password,
                system_type,
                interface_version,
                addr_ton,
                addr_npi,
                address_range,
            },
        )
}

fn bind_resp() -> impl Strategy<Value = BindResp> {
    (cstr(16), tlvs()).prop_map(|(system_id, tlvs)| BindResp { system_id, tlvs })
}

fn dest_address() -> impl Strategy<Value = DestAddress> {
    prop_oneof![
        (any::<u8>(), any::<u8>(), cstr(21)).prop_map(|(t, n, a)| DestAddress::SmeAddress {
            dest_addr_ton: t,
            dest_addr_npi: n,
            destination_addr: a,
        }),
        cstr(21).prop_map(|dl_name| DestAddress::DistributionList { dl_name }),
    ]
}

fn submit_multi() -> impl Strategy<Value = SubmitMulti> {
    (
        (
            cstr(6),
            any::<u8>(),
            any::<u8>(),
            cstr(21),
            vec(dest_address(), 0..8),
        ),
        (any::<u8>(), any::<u8>(), any::<u8>(), cstr(17), cstr(17)),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            octets(254),
            tlvs(),
        ),
    )
        .prop_map(
            |(
                (st, sat, san, sa, dests),
                (esm, pid, pri, sdt, vp),
                (rd, rip, dc, dmi, sm, tlvs),
            )| SubmitMulti {
                service_type: st,
                source_addr_ton: sat,
                source_addr_npi: san,
                source_addr: sa,
                dest_address: dests,
                esm_class: EsmClass(esm),
                protocol_id: pid,
                priority_flag: pri,
                schedule_delivery_time: sdt,
                validity_period: vp,
                registered_delivery: RegisteredDelivery(rd),
                replace_if_present_flag: rip,
                data_coding: DataCoding(dc),
                sm_default_msg_id: dmi,
                short_message: sm,
                tlvs,
            },
        )
}

fn submit_multi_resp() -> impl Strategy<Value = SubmitMultiResp> {
    let sme =
        (any::<u8>(), any::<u8>(), cstr(21), any::<u32>()).prop_map(|(t, n, a, e)| UnsuccessSme {
            dest_addr_ton: t,
            dest_addr_npi: n,
            destination_addr: a,
            error_status_code: e,
        });
    (cstr(65), vec(sme, 0..6), tlvs()).prop_map(|(message_id, unsuccess_sme, tlvs)| {
        SubmitMultiResp {
            message_id,
            unsuccess_sme,
            tlvs,
        }
    })
}

fn data_sm() -> impl Strategy<Value = DataSm> {
    (
        (
            cstr(6),
            any::<u8>(),
            any::<u8>(),
            cstr(65),
            any::<u8>(),
            any::<u8>(),
            cstr(65),
        ),
        (any::<u8>(), any::<u8>(), any::<u8>(), tlvs()),
    )
        .prop_map(
            |((st, sat, san, sa, dat, dan, da), (esm, rd, dc, tlvs))| DataSm {
                service_type: st,
                source_addr_ton: sat,
                source_addr_npi: san,
                source_addr: sa,
                dest_addr_ton: dat,
                dest_addr_npi: dan,
                destination_addr: da,
                esm_class: EsmClass(esm),
                registered_delivery: RegisteredDelivery(rd),
                data_coding: DataCoding(dc),
                tlvs,
            },
        )
}

fn query_sm() -> impl Strategy<Value = QuerySm> {
    (cstr(65), any::<u8>(), any::<u8>(), cstr(21)).prop_map(|(message_id, t, n, a)| QuerySm {
        message_id,
        source_addr_ton: t,
        source_addr_npi: n,
        source_addr: a,
    })
}

fn query_sm_resp() -> impl Strategy<Value = QuerySmResp> {
    (cstr(65), cstr(17), any::<u8>(), any::<u8>()).prop_map(
        |(message_id, final_date, state, error_code)| QuerySmResp {
            message_id,
            final_date,
            message_state: MessageState::from_code(state),
            error_code,
        },
    )
}

fn cancel_sm() -> impl Strategy<Value = CancelSm> {
    (
        cstr(6),
        cstr(65),
        any::<u8>(),
        any::<u8>(),
        cstr(21),
        any::<u8>(),
        any::<u8>(),
        cstr(21),
    )
        .prop_map(
            |(service_type, message_id, sat, san, sa, dat, dan, da)| CancelSm {
                service_type,
                message_id,
                source_addr_ton: sat,
                source_addr_npi: san,
                source_addr: sa,
                dest_addr_ton: dat,
                dest_addr_npi: dan,
                destination_addr: da,
            },
        )
}

fn replace_sm() -> impl Strategy<Value = ReplaceSm> {
    (
        cstr(65),
        any::<u8>(),
        any::<u8>(),
        cstr(21),
        cstr(17),
        cstr(17),
        any::<u8>(),
        any::<u8>(),
        octets(254),
    )
        .prop_map(|(message_id, t, n, a, sdt, vp, rd, dmi, sm)| ReplaceSm {
            message_id,
            source_addr_ton: t,
            source_addr_npi: n,
            source_addr: a,
            schedule_delivery_time: sdt,
            validity_period: vp,
            registered_delivery: RegisteredDelivery(rd),
            sm_default_msg_id: dmi,
            short_message: sm,
        })
}

fn alert() -> impl Strategy<Value = AlertNotification> {
    (
        any::<u8>(),
        any::<u8>(),
        cstr(65),
        any::<u8>(),
        any::<u8>(),
        cstr(65),
        tlvs(),
    )
        .prop_map(|(st, sn, sa, et, en, ea, tlvs)| AlertNotification {
            source_addr_ton: st,
            source_addr_npi: sn,
            source_addr: sa,
            esme_addr_ton: et,
            esme_addr_npi: en,
            esme_addr: ea,
            tlvs,
        })
}

fn message_id_resp<T: std::fmt::Debug>(
    make: fn(COctetString, Tlvs) -> T,
) -> impl Strategy<Value = T> {
    (cstr(65), tlvs()).prop_map(move |(id, tlvs)| make(id, tlvs))
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        bind().prop_map(Body::BindReceiver),
        bind().prop_map(Body::BindTransmitter),
        bind().prop_map(Body::BindTransceiver),
        bind_resp().prop_map(Body::BindReceiverResp),
        bind_resp().prop_map(Body::BindTransmitterResp),
        bind_resp().prop_map(Body::BindTransceiverResp),
        (cstr(16), cstr(9)).prop_map(|(system_id, password)| Body::Outbind(Outbind {
            system_id,
            password
        })),
        query_sm().prop_map(Body::QuerySm),
        query_sm_resp().prop_map(Body::QuerySmResp),
        sm_body!(SubmitSm).prop_map(Body::SubmitSm),
        message_id_resp(|message_id, tlvs| SubmitSmResp { message_id, tlvs })
            .prop_map(Body::SubmitSmResp),
        sm_body!(DeliverSm).prop_map(Body::DeliverSm),
        message_id_resp(|message_id, tlvs| DeliverSmResp { message_id, tlvs })
            .prop_map(Body::DeliverSmResp),
        replace_sm().prop_map(Body::ReplaceSm),
        cancel_sm().prop_map(Body::CancelSm),
        submit_multi().prop_map(Body::SubmitMulti),
        submit_multi_resp().prop_map(Body::SubmitMultiResp),
        alert().prop_map(Body::AlertNotification),
        data_sm().prop_map(Body::DataSm),
        message_id_resp(|message_id, tlvs| DataSmResp { message_id, tlvs })
            .prop_map(Body::DataSmResp),
        Just(Body::GenericNack),
        Just(Body::Unbind),
        Just(Body::UnbindResp),
        Just(Body::ReplaceSmResp),
        Just(Body::CancelSmResp),
        Just(Body::EnquireLink),
        Just(Body::EnquireLinkResp),
    ]
}

fn status() -> impl Strategy<Value = CommandStatus> {
    prop_oneof![3 => Just(CommandStatus::Ok), 1 => any::<u32>().prop_map(CommandStatus::from)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_pdu_round_trips(body in body(), seq in any::<u32>(), status in status()) {
        let pdu = Pdu { command_status: status, sequence_number: seq, body };
        let frame = pdu.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(frame.len(), u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize);
        let back = Pdu::decode(&frame).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &pdu);
        let again = back.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, frame);
    }

    #[test]
    fn tlvs_come_back_typed_in_order(list in tlv_list()) {
        let tlvs = Tlvs::from_tlvs(&list).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<Tlv> = tlvs.iter().collect();
        prop_assert_eq!(&back, &list);
        let raw = Tlvs::from_raw(tlvs.as_bytes().clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(raw, tlvs);
    }

    #[test]
    fn command_status_codes_survive(code in any::<u32>()) {
        prop_assert_eq!(CommandStatus::from(code).code(), code);
    }
}
