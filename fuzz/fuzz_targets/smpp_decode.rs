//! Any bytes: decoding never panics, whatever decodes encodes again and decodes to the same
//! PDU, and the framing adapter never panics on a stream of them. Receipt parsing gets the same
//! bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use redeliver::smpp::receipt::DeliveryReceipt;
use redeliver::smpp::{Pdu, SmppFraming};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Ok(pdu) = Pdu::decode(&frame) {
        let again = pdu.to_bytes().expect("a decoded PDU encodes");
        let back = Pdu::decode(&again).expect("an encoded PDU decodes");
        assert_eq!(back, pdu);
    }
    let mut framing = SmppFraming::new().max_command_length(4096);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = framing.decode(&mut buf) {}
    let _ = DeliveryReceipt::parse(data);
});
