//! SMPP 3.4 PDU codec (with the SMPP 5.0 TLV tags), delivery-receipt text and framing.
