//! Bounds on what the decoder reads, so that hostile input costs bounded memory and stack.

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
}

impl Default for Limits {
    /// 16 MiB bodies (well above the 300 kB–1 MB that relays accept for MMS), XML nesting 32,
    /// MIME nesting 4, 256 parts, 10 000 elements.
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_xml_depth: 32,
            max_mime_depth: 4,
            max_parts: 256,
            max_elements: 10_000,
        }
    }
}
