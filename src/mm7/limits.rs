//! Bounds on what the decoder reads, so that hostile input costs bounded memory and stack.
//!
//! Every limit is checked while the input is scanned, before anything is built for the part,
//! header or element that breaks it: a body of a million empty MIME parts is refused at the
//! first part past [`Limits::max_parts`], having built nothing for it.

/// Limits applied while decoding an MM7 request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest HTTP body accepted, in bytes (checked before anything is parsed).
    pub max_body_bytes: usize,
    /// The deepest XML element nesting accepted in the SOAP part.
    pub max_xml_depth: usize,
    /// The deepest `multipart/*` nesting accepted (the top-level `multipart/related` is 1).
    pub max_mime_depth: usize,
    /// The most MIME parts accepted, counted over every level.
    pub max_parts: usize,
    /// The most XML elements accepted in the SOAP part.
    pub max_elements: usize,
    /// The longest MIME header line accepted (a part's header line, without its line end, and
    /// the HTTP `Content-Type` value), in bytes.
    pub max_header_line: usize,
    /// The most header lines (fields and their continuation lines) in one MIME part's header.
    pub max_header_lines: usize,
    /// The longest XML attribute value accepted, in bytes as written.
    pub max_attribute_bytes: usize,
    /// The longest text content of one XML element accepted, in bytes as written.
    pub max_text_bytes: usize,
    /// The most warnings a decoded message keeps; past it, one final
    /// [`Warning::Suppressed`](super::Warning::Suppressed) entry counts the rest.
    pub max_warnings: usize,
}

impl Default for Limits {
    /// 16 MiB bodies (well above the 300 kB–1 MB that relays accept for MMS), XML nesting 32,
    /// MIME nesting 4, 256 parts, 10 000 elements, 8 KiB header lines, 64 header lines per
    /// part, 64 KiB attribute values, 1 MiB of text per element and 64 warnings.
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_xml_depth: 32,
            max_mime_depth: 4,
            max_parts: 256,
            max_elements: 10_000,
            max_header_line: 8 * 1024,
            max_header_lines: 64,
            max_attribute_bytes: 64 * 1024,
            max_text_bytes: 1024 * 1024,
            max_warnings: 64,
        }
    }
}
