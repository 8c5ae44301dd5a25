//! The TLV tag type (SMPP 3.4 §5.3.2), on its own so that the error types can name a tag
//! without depending on the TLV codec. The named tags (associated constants) and the tag's
//! `Display` are defined with the TLVs in `tlv.rs`.

/// A TLV tag (SMPP 3.4 §5.3.2). The tags of SMPP 3.4 and 5.0 are associated constants and have
/// names; any other tag is kept as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvTag(pub u16);
