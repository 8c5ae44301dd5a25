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

impl ContentRef {
    /// The part this reference points at, searched depth-first through `parts` and their
    /// nested parts: a `cid:` href (RFC 2392, `%`-escapes undone) matches a part's
    /// Content-ID (angle brackets on either side are ignored), any other href matches a part's
    /// Content-Location.
    pub fn resolve<'p>(&self, parts: &'p [ContentPart]) -> Option<&'p ContentPart> {
        let href = self.href.trim();
        let cid = href
            .get(..4)
            .filter(|scheme| scheme.eq_ignore_ascii_case("cid:"))
            .map(|_| percent_decode(&href[4..]));
        // Angle brackets are compared away on both sides: some senders write the Content-ID
        // bracketed twice, or the href bracketed.
        let unbracket = |s: &str| {
            let s = s.trim();
            s.strip_prefix('<')
                .and_then(|i| i.strip_suffix('>'))
                .unwrap_or(s)
                .to_owned()
        };
        let cid = cid.map(|id| unbracket(&id));
        find(parts, &|p: &ContentPart| match &cid {
            Some(id) => p.content_id.as_deref().map(unbracket).as_ref() == Some(id),
            None => p.content_location.as_deref() == Some(href),
        })
    }
}

/// Depth-first search; the decoder bounds nesting, and a hand-built tree deeper than 64
/// levels is not searched past that depth.
fn find<'p>(
    parts: &'p [ContentPart],
    matches: &dyn Fn(&ContentPart) -> bool,
) -> Option<&'p ContentPart> {
    fn walk<'p>(
        parts: &'p [ContentPart],
        matches: &dyn Fn(&ContentPart) -> bool,
        depth: usize,
    ) -> Option<&'p ContentPart> {
        for p in parts {
            if matches(p) {
                return Some(p);
            }
            if depth < 64
                && let Some(found) = walk(&p.parts, matches, depth + 1)
            {
                return Some(found);
            }
        }
        None
    }
    walk(parts, matches, 0)
}

/// Undoes `%XX` escapes (RFC 2392 §2); a `%` that starts no escape is kept.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
