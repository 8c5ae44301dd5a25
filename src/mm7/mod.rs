//! MM7 (3GPP TS 23.140) SOAP 1.1 / MIME codec.
