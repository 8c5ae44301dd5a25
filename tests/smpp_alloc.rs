//! Decoding submit_sm and deliver_sm allocates nothing beyond the frame they borrow from.
//!
//! A counting global allocator records, per thread, how many allocations happen and how large
//! the largest is, while a closure runs.
#![cfg(feature = "smpp")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use redeliver::smpp::receipt::MessageState;
use redeliver::smpp::{Body, DeliverSm, EsmClass, Pdu, SmppFraming, SubmitSm, Tlv, Tlvs};
use tokio_util::codec::Decoder;

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // try_with: the thread may be tearing down its locals.
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations and the largest one.
fn counting<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    COUNT.with(|c| c.set(0));
    LARGEST.with(|l| l.set(0));
    ACTIVE.with(|a| a.set(true));
    let out = f();
    ACTIVE.with(|a| a.set(false));
    (out, COUNT.with(Cell::get), LARGEST.with(Cell::get))
}

fn receipt() -> Bytes {
    let tlvs = Tlvs::from_tlvs(&[
        Tlv::ReceiptedMessageId("1A2B3C".into()),
        Tlv::MessageState(MessageState::Delivered),
        Tlv::UserMessageReference(7),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    Pdu::new(
        1,
        DeliverSm {
            source_addr: "447700900123".into(),
            destination_addr: "12345".into(),
            esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
            short_message: Bytes::from_static(
                b"id:1715004 sub:001 dlvrd:001 submit date:2411221530 done date:2411221531 stat:DELIVRD err:000 text:hi",
            ),
            tlvs,
            ..DeliverSm::default()
        },
    )
    .to_bytes()
    .unwrap_or_else(|e| panic!("{e}"))
}

fn submit() -> Bytes {
    let tlvs = Tlvs::from_tlvs(&[Tlv::SarMsgRefNum(9), Tlv::SarTotalSegments(2)])
        .unwrap_or_else(|e| panic!("{e}"));
    Pdu::new(
        2,
        SubmitSm {
            service_type: "CMT".into(),
            source_addr: "Shop".into(),
            destination_addr: "447700900123".into(),
            validity_period: "000001000000000R".into(),
            short_message: Bytes::from_static(b"Your code is 1234"),
            tlvs,
            ..SubmitSm::default()
        },
    )
    .to_bytes()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A frame that shares its buffer, as frames split off a read buffer do.
fn shared(frame: Bytes) -> Bytes {
    let keep = frame.clone();
    drop(frame);
    keep
}

#[test]
fn decoding_submit_sm_and_deliver_sm_allocates_nothing() {
    for frame in [shared(receipt()), shared(submit())] {
        let (pdu, count, _) = counting(|| Pdu::decode(&frame));
        assert!(pdu.is_ok(), "{pdu:?}");
        assert_eq!(count, 0, "allocations while decoding {pdu:?}");
        let Ok(pdu) = pdu else { return };
        // Reading the TLVs, typed, costs nothing either.
        let (tags, count, _) = counting(|| match &pdu.body {
            Body::DeliverSm(d) => (
                d.tlvs.iter().map(|t| t.tag().0).sum::<u16>(),
                d.tlvs.receipted_message_id().map(|id| id.len()),
            ),
            Body::SubmitSm(s) => (s.tlvs.iter().map(|t| t.tag().0).sum::<u16>(), None),
            _ => (0, None),
        });
        assert!(tags.0 > 0);
        assert_eq!(count, 0);
    }
    let static_frame = Bytes::from_static(b"\0\0\0\x10\0\0\0\x15\0\0\0\0\0\0\0\x01");
    let (pdu, count, _) = counting(|| Pdu::decode(&static_frame));
    assert_eq!(pdu.map(|p| p.body), Ok(Body::EnquireLink));
    assert_eq!(count, 0);
}

#[test]
fn framing_hands_out_frames_without_allocating() {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    for _ in 0..20 {
        buf.extend_from_slice(&submit());
        buf.extend_from_slice(&receipt());
    }
    let mut framing = SmppFraming::new();
    // The first split turns the buffer into a shared one; that is the bytes crate's one-off.
    assert!(matches!(framing.decode(&mut buf), Ok(Some(_))));
    let (decoded, count, _) = counting(|| {
        let mut n = 0;
        while let Ok(Some(pdu)) = framing.decode(&mut buf) {
            n += usize::from(matches!(pdu.body, Body::SubmitSm(_) | Body::DeliverSm(_)));
        }
        n
    });
    assert_eq!(decoded, 39);
    assert_eq!(count, 0);
}

fn frame(command_id: u32, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u32(16 + body.len() as u32);
    b.put_u32(command_id);
    b.put_u32(0);
    b.put_u32(1);
    b.extend_from_slice(body);
    shared(b.freeze())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Only submit_multi and submit_multi_resp allocate (their lists), each entry only once
    /// its bytes have been seen; nothing else allocates, whatever the bytes, errors included.
    #[test]
    fn hostile_bodies_allocate_at_most_in_proportion(id in prop::sample::select(vec![
        1u32, 4, 5, 0x8000_0004, 0x21, 0x8000_0021, 0x103, 0x102, 3, 8, 7,
    ]), body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let f = frame(id, &body);
        let (_, count, largest) = counting(|| Pdu::decode(&f));
        if id == 0x21 || id == 0x8000_0021 {
            prop_assert!(count <= 1);
            // One list entry is at most 48 bytes in memory and at least 2 on the wire.
            prop_assert!(largest <= 24 * f.len(), "{largest} bytes for a {}-byte frame", f.len());
        } else {
            prop_assert_eq!(count, 0);
        }
    }
}
