//! The content of a SubmitReq, DeliverReq or ReplaceReq: the `Content` reference in the SOAP
//! part (3GPP TS 23.140 §8.2.2) and the MIME parts it points at (§9.3).

/// The `Content` element: where the message's content is, and whether the relay may adapt it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentRef {
    /// The `href` attribute, normally `cid:<Content-ID of the content part>`.
    pub href: String,
    /// The `allowAdaptations` attribute.
    pub allow_adaptations: Option<bool>,
}

/// One MIME part of the message content, after transfer decoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentPart {
    /// `Content-ID`, without the angle brackets.
    pub content_id: Option<String>,
    /// `Content-Type`, as received (with its parameters).
    pub content_type: String,
    /// `Content-Location`.
    pub content_location: Option<String>,
    /// The body after `Content-Transfer-Encoding` (base64, quoted-printable) was undone; empty
    /// for a multipart part, whose parts are in [`ContentPart::parts`].
    pub body: Vec<u8>,
    /// The parts of a nested `multipart/*` part.
    pub parts: Vec<ContentPart>,
}

impl ContentPart {
    /// A leaf part with a body.
    pub fn new(content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        ContentPart {
            content_type: content_type.into(),
            body: body.into(),
            ..ContentPart::default()
        }
    }

    /// The part with a Content-ID.
    pub fn with_content_id(mut self, id: impl Into<String>) -> Self {
        self.content_id = Some(id.into());
        self
    }

    /// Whether the part is a `multipart/*` container.
    pub fn is_multipart(&self) -> bool {
        self.content_type
            .get(..10)
            .is_some_and(|t| t.eq_ignore_ascii_case("multipart/"))
    }
}
