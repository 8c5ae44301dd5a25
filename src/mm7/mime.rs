//! `multipart/related` HTTP bodies (RFC 2046, RFC 2387, 3GPP TS 23.140 §9.3): splitting one into
//! its SOAP part and content parts, and building one for a SubmitReq, DeliverReq or ReplaceReq.
//!
//! The splitter is this crate's own and works in one pass over the body: it finds each
//! delimiter line, counts the part against [`Limits::max_parts`] before looking at it, checks
//! every header line against [`Limits::max_header_line`] and [`Limits::max_header_lines`]
//! before the header block is parsed, and checks the nesting depth before it descends into a
//! nested multipart. Nothing is built for a part that breaks a limit, and nothing is copied
//! except the decoded bodies of content parts. Header fields are read with `mailparse`
//! (RFC 2047 words, folding, parameters), given only the bounded header block.
//!
//! What the splitter accepts leniently is turned into warnings: a multipart whose closing
//! delimiter is missing, and a body whose base64 or quoted-printable cannot be decoded (kept
//! as received).

use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use mailparse::{MailHeader, MailHeaderMap};
use memchr::memmem;

use super::Limits;
use super::content::ContentPart;
use super::error::{Mm7Error, cut};
use super::warning::Warning;

/// A `multipart/related` body split into the SOAP part and the content parts.
pub(crate) struct Related<'b> {
    /// The SOAP part's body after transfer decoding: a slice of the input unless it was
    /// base64 or quoted-printable.
    pub soap: Cow<'b, [u8]>,
    /// The SOAP part's `charset` parameter, when its Content-Type has one.
    pub soap_charset: Option<String>,
    pub parts: Vec<ContentPart>,
    pub warnings: Vec<Warning>,
}

fn strip_angles(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
}

/// Base64 as MIME bodies carry it: padding optional, stray trailing bits tolerated.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The next delimiter line of `delim` (`--boundary`) at or after `from`: where the part before
/// it ends (the line end before the delimiter belongs to the delimiter), where the next part
/// starts, and whether it is the close delimiter.
fn next_delimiter(body: &[u8], delim: &[u8], from: usize) -> Option<(usize, usize, bool)> {
    let mut at = from;
    while let Some(i) = body.get(at..).and_then(|rest| memmem::find(rest, delim)) {
        let start = at + i;
        at = start + 1;
        let part_end = if start == 0 {
            0
        } else if body[start - 1] == b'\n' {
            if start >= 2 && body[start - 2] == b'\r' {
                start - 2
            } else {
                start - 1
            }
        } else {
            continue;
        };
        let mut k = start + delim.len();
        let close = body.get(k..k + 2) == Some(b"--");
        if close {
            k += 2;
        }
        while matches!(body.get(k), Some(b' ' | b'\t')) {
            k += 1;
        }
        let next = match body.get(k..) {
            Some([]) | None => body.len(),
            Some([b'\n', ..]) => k + 1,
            Some([b'\r', b'\n', ..]) => k + 2,
            Some([b'\r']) => body.len(),
            // The close delimiter may be followed by anything (the epilogue starts there).
            Some(_) if close => body.len(),
            // A longer boundary that starts with this one: not a delimiter.
            Some(_) => continue,
        };
        return Some((part_end.max(from), next, close));
    }
    None
}

/// Splits a part into its header block (with the blank line that ends it) and its body,
/// checking every header line against the limits before the block is used.
fn split_head<'b>(
    part: &'b [u8],
    limits: &Limits,
    position: &str,
) -> Result<(&'b [u8], &'b [u8]), Mm7Error> {
    let mut pos = 0;
    let mut lines = 0usize;
    while pos < part.len() {
        // Look no further than one line past the limit for the line's end.
        let window_end = part
            .len()
            .min(pos + limits.max_header_line.saturating_add(2));
        let window = &part[pos..window_end];
        let (content_end, next) = match memchr::memchr(b'\n', window) {
            Some(i) => (pos + i, pos + i + 1),
            None if window_end == part.len() => (part.len(), part.len()),
            None => return Err(header_line_too_long(limits)),
        };
        let mut line = &part[pos..content_end];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if line.is_empty() {
            return Ok((&part[..next], &part[next..]));
        }
        if line.len() > limits.max_header_line {
            return Err(header_line_too_long(limits));
        }
        lines += 1;
        if lines > limits.max_header_lines {
            return Err(Mm7Error::LimitExceeded {
                what: "MIME header lines in one part",
                limit: limits.max_header_lines,
            });
        }
        if line.first().is_some_and(|b| !b.is_ascii_whitespace()) && !line.contains(&b':') {
            return Err(Mm7Error::Multipart(format!(
                "part #{position}: header line {:?} has no colon",
                cut(&String::from_utf8_lossy(line))
            )));
        }
        pos = next;
    }
    Ok((part, &[]))
}

fn header_line_too_long(limits: &Limits) -> Mm7Error {
    Mm7Error::LimitExceeded {
        what: "MIME header line length",
        limit: limits.max_header_line,
    }
}

/// One part's header fields, parsed from a block already checked against the limits.
struct Head<'b> {
    fields: Vec<MailHeader<'b>>,
    position: String,
}

impl Head<'_> {
    fn parse<'b>(block: &'b [u8], position: String) -> Result<Head<'b>, Mm7Error> {
        let (fields, _) = mailparse::parse_headers(block).map_err(|e| {
            Mm7Error::Multipart(format!("part #{position}: header cannot be parsed: {e}"))
        })?;
        Ok(Head { fields, position })
    }

    /// A header's value, refused when it holds a CR or LF: a bare CR can sit inside a value
    /// and RFC 2047 decoding can produce either, and such a value could neither be written
    /// back as a header nor be trusted as a Content-ID reference.
    fn get(&self, name: &str) -> Result<Option<String>, Mm7Error> {
        match self.fields.get_first_value(name) {
            Some(v) if v.contains(['\r', '\n']) => Err(Mm7Error::Multipart(format!(
                "part #{}: {name} {:?} contains a line break",
                self.position,
                cut(&v)
            ))),
            v => Ok(v),
        }
    }
}

/// State of one split: the limits, the parts counted so far over every level, the warnings.
struct Walk<'l> {
    limits: &'l Limits,
    count: usize,
    warnings: Vec<Warning>,
}

impl Walk<'_> {
    /// Calls `each` for every part of a multipart body, counting each against the part limit
    /// before `each` sees it. Returns `false` when the boundary occurs nowhere in the body.
    fn parts<'b>(
        &mut self,
        body: &'b [u8],
        boundary: &str,
        mut each: impl FnMut(&mut Self, usize, &'b [u8]) -> Result<(), Mm7Error>,
    ) -> Result<bool, Mm7Error> {
        let delim = format!("--{boundary}");
        let Some((_, mut start, mut close)) = next_delimiter(body, delim.as_bytes(), 0) else {
            return Ok(false);
        };
        let mut index = 0;
        while !close {
            self.count += 1;
            if self.count > self.limits.max_parts {
                return Err(Mm7Error::LimitExceeded {
                    what: "MIME part count",
                    limit: self.limits.max_parts,
                });
            }
            match next_delimiter(body, delim.as_bytes(), start) {
                Some((end, next, is_close)) => {
                    each(self, index, &body[start..end])?;
                    start = next;
                    close = is_close;
                }
                None => {
                    self.warnings.push(Warning::UnclosedMimePart {
                        boundary: cut(boundary),
                    });
                    each(self, index, &body[start..])?;
                    close = true;
                }
            }
            index += 1;
        }
        Ok(true)
    }

    /// Turns one part (not the SOAP part) into a [`ContentPart`], descending into a nested
    /// multipart at `depth` (the enclosing multipart's depth).
    fn content_part(
        &mut self,
        part: &[u8],
        position: String,
        depth: usize,
    ) -> Result<ContentPart, Mm7Error> {
        let (block, body) = split_head(part, self.limits, &position)?;
        let head = Head::parse(block, position)?;
        let content_id = head
            .get("Content-ID")?
            .map(|id| strip_angles(&id).to_owned());
        let content_type = head.get("Content-Type")?;
        let content_location = head.get("Content-Location")?;
        let ctype = mailparse::parse_content_type(content_type.as_deref().unwrap_or("text/plain"));
        let content_type = content_type.unwrap_or_else(|| "text/plain".into());
        let boundary = ctype
            .params
            .get("boundary")
            .filter(|b| !b.is_empty() && ctype.mimetype.starts_with("multipart/"));
        if let Some(boundary) = boundary {
            if depth + 1 > self.limits.max_mime_depth {
                return Err(Mm7Error::LimitExceeded {
                    what: "MIME multipart nesting",
                    limit: self.limits.max_mime_depth,
                });
            }
            let mut parts = Vec::new();
            let found = self.parts(body, boundary, |walk, i, p| {
                parts.push(walk.content_part(p, format!("{}.{i}", head.position), depth + 1)?);
                Ok(())
            })?;
            if !found {
                return Err(Mm7Error::Multipart(format!(
                    "part #{}: boundary {:?} does not occur in its body",
                    head.position,
                    cut(boundary)
                )));
            }
            return Ok(ContentPart {
                content_id,
                content_type,
                content_location,
                body: Vec::new(),
                parts,
            });
        }
        let encoding = head.get("Content-Transfer-Encoding")?;
        let body = match transfer_decode(body, encoding.as_deref()) {
            Ok(b) => b.into_owned(),
            Err(reason) => {
                self.warnings.push(Warning::UndecodableContent {
                    part: content_id
                        .clone()
                        .unwrap_or_else(|| format!("#{}", head.position)),
                    encoding: encoding.unwrap_or_default(),
                    reason,
                });
                body.to_vec()
            }
        };
        Ok(ContentPart {
            content_id,
            content_type,
            content_location,
            body,
            parts: Vec::new(),
        })
    }
}

/// Undoes a `Content-Transfer-Encoding`; identity encodings borrow the body.
fn transfer_decode<'b>(body: &'b [u8], encoding: Option<&str>) -> Result<Cow<'b, [u8]>, String> {
    let encoding = encoding.map(str::trim).unwrap_or("");
    if encoding.eq_ignore_ascii_case("base64") {
        base64_decode(body).map(Cow::Owned)
    } else if encoding.eq_ignore_ascii_case("quoted-printable") {
        Ok(Cow::Owned(quoted_printable_decode(body)))
    } else {
        Ok(Cow::Borrowed(body))
    }
}

/// Base64 with line breaks and other whitespace anywhere, decoded in bounded chunks so that
/// only the output grows with the input.
fn base64_decode(body: &[u8]) -> Result<Vec<u8>, String> {
    const CHUNK: usize = 4096;
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut chunk = [0u8; CHUNK];
    let mut len = 0;
    for &b in body {
        if b.is_ascii_whitespace() {
            continue;
        }
        chunk[len] = b;
        len += 1;
        if len == CHUNK {
            LENIENT_BASE64
                .decode_vec(&chunk[..len], &mut out)
                .map_err(|e| e.to_string())?;
            len = 0;
        }
    }
    if len > 0 {
        LENIENT_BASE64
            .decode_vec(&chunk[..len], &mut out)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7), robustly: an `=` that starts no escape is kept as it is.
fn quoted_printable_decode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        match body.get(i + 1..) {
            Some([b'\r', b'\n', ..]) => i += 3,
            Some([b'\n', ..]) => i += 2,
            Some([h, l, ..]) if hex(*h).is_some() && hex(*l).is_some() => {
                out.push(hex(*h).unwrap_or(0) << 4 | hex(*l).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// Splits a `multipart/related` body given its HTTP `Content-Type`.
pub(crate) fn split_related<'b>(
    content_type: &str,
    body: &'b [u8],
    limits: &Limits,
) -> Result<Related<'b>, Mm7Error> {
    if content_type.contains(['\r', '\n']) {
        return Err(Mm7Error::ContentType {
            value: cut(content_type),
            reason: "contains a line break",
        });
    }
    if content_type.len() > limits.max_header_line {
        return Err(header_line_too_long(limits));
    }
    let ctype = mailparse::parse_content_type(content_type);
    if ctype.mimetype != "multipart/related" {
        return Err(Mm7Error::ContentType {
            value: cut(content_type),
            reason: "is not multipart/related",
        });
    }
    let boundary = match ctype.params.get("boundary") {
        Some(b) if !b.is_empty() => b.as_str(),
        _ => {
            return Err(Mm7Error::ContentType {
                value: cut(content_type),
                reason: "has no boundary parameter",
            });
        }
    };
    let start = ctype.params.get("start").map(|s| strip_angles(s));

    let mut walk = Walk {
        limits,
        count: 0,
        warnings: Vec::new(),
    };
    let mut soap: Option<(Cow<'b, [u8]>, Option<String>)> = None;
    let mut parts = Vec::new();
    let found = walk.parts(body, boundary, |walk, i, part| {
        let position = i.to_string();
        let is_soap = soap.is_none()
            && match start {
                None => i == 0,
                Some(want) => {
                    // The Content-ID is read from the bounded header block only.
                    let (block, _) = split_head(part, walk.limits, &position)?;
                    let head = Head::parse(block, position.clone())?;
                    head.get("Content-ID")?
                        .is_some_and(|id| strip_angles(&id) == want)
                }
            };
        if !is_soap {
            parts.push(walk.content_part(part, position, 1)?);
            return Ok(());
        }
        let (block, body) = split_head(part, walk.limits, &position)?;
        let head = Head::parse(block, position)?;
        let charset = head.get("Content-Type")?.and_then(|ct| {
            mailparse::parse_content_type(&ct)
                .params
                .get("charset")
                .cloned()
        });
        let encoding = head.get("Content-Transfer-Encoding")?;
        let decoded = transfer_decode(body, encoding.as_deref())
            .map_err(|e| Mm7Error::Multipart(format!("the SOAP part cannot be decoded: {e}")))?;
        soap = Some((decoded, charset));
        Ok(())
    })?;
    if !found {
        return Err(Mm7Error::Multipart(format!(
            "boundary {:?} does not occur in the body",
            cut(boundary)
        )));
    }
    let Some((soap, soap_charset)) = soap else {
        return Err(match start {
            Some(want) if walk.count > 0 => Mm7Error::Multipart(format!(
                "the start part <{}> is not among the parts",
                cut(want)
            )),
            _ => Mm7Error::Multipart("it holds no parts".into()),
        });
    };
    Ok(Related {
        soap,
        soap_charset,
        parts,
        warnings: walk.warnings,
    })
}

/// The Content-ID of the SOAP part in bodies this crate builds.
pub(crate) const SOAP_CONTENT_ID: &str = "mm7-soap";

fn check_header(message: &'static str, what: &str, value: &str) -> Result<(), Mm7Error> {
    if value.contains(['\r', '\n']) {
        return Err(Mm7Error::Encode {
            message,
            reason: format!("{what} {:?} contains a line break", cut(value)),
        });
    }
    Ok(())
}

/// A boundary that occurs in none of the bodies: derived from a hash of the content, and
/// lengthened until it is unique (each attempt makes a collision less likely).
fn boundary_for(seed: &[u8], bodies: &[&[u8]]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut boundary = format!("=_mm7_{hash:016x}");
    let mut attempt = 0u32;
    while bodies
        .iter()
        .any(|b| memmem::find(b, boundary.as_bytes()).is_some())
    {
        attempt += 1;
        hash = hash.rotate_left(13) ^ u64::from(attempt);
        boundary.push_str(&format!("{:x}", hash & 0xffff));
    }
    boundary
}

fn leaf_bodies<'p>(parts: &'p [ContentPart], out: &mut Vec<&'p [u8]>) {
    for p in parts {
        out.push(&p.body);
        leaf_bodies(&p.parts, out);
    }
}

/// Builds the `multipart/related` body; returns its HTTP `Content-Type` and the bytes.
pub(crate) fn build_related(
    message: &'static str,
    soap: &str,
    parts: &[ContentPart],
) -> Result<(String, Vec<u8>), Mm7Error> {
    let mut bodies = vec![soap.as_bytes()];
    leaf_bodies(parts, &mut bodies);
    let boundary = boundary_for(soap.as_bytes(), &bodies);
    let mut out = Vec::with_capacity(
        soap.len()
            + parts
                .iter()
                .map(|p| p.body.len() * 4 / 3 + 256)
                .sum::<usize>(),
    );
    let delimiter = format!("--{boundary}\r\n");
    out.extend_from_slice(delimiter.as_bytes());
    out.extend_from_slice(b"Content-Type: text/xml; charset=utf-8\r\n");
    out.extend_from_slice(format!("Content-ID: <{SOAP_CONTENT_ID}>\r\n\r\n").as_bytes());
    out.extend_from_slice(soap.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (i, p) in parts.iter().enumerate() {
        out.extend_from_slice(delimiter.as_bytes());
        write_part(message, p, &i.to_string(), &bodies, &mut out, 0)?;
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = format!(
        "multipart/related; boundary=\"{boundary}\"; type=\"text/xml\"; start=\"<{SOAP_CONTENT_ID}>\""
    );
    Ok((content_type, out))
}

fn write_part(
    message: &'static str,
    p: &ContentPart,
    position: &str,
    bodies: &[&[u8]],
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Mm7Error> {
    // The encoder is only ever given values built in code or decoded within the limits; this
    // bound keeps a hand-built cyclic-looking deep tree from exhausting the stack.
    if depth > 16 {
        return Err(Mm7Error::Encode {
            message,
            reason: "content parts are nested more than 16 deep".into(),
        });
    }
    check_header(message, "Content-Type", &p.content_type)?;
    if let Some(id) = &p.content_id {
        check_header(message, "Content-ID", id)?;
    }
    if let Some(l) = &p.content_location {
        check_header(message, "Content-Location", l)?;
    }
    let header = |out: &mut Vec<u8>, name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if let Some(id) = &p.content_id {
        header(out, "Content-ID", &format!("<{id}>"));
    }
    if let Some(l) = &p.content_location {
        header(out, "Content-Location", l);
    }
    if p.is_multipart() || !p.parts.is_empty() {
        let mimetype = p
            .content_type
            .split(';')
            .next()
            .map(str::trim)
            .filter(|t| {
                t.len() > 10 && t.is_char_boundary(10) && t[..10].eq_ignore_ascii_case("multipart/")
            })
            .unwrap_or("multipart/mixed");
        let boundary = boundary_for(format!("{position}{depth}").as_bytes(), bodies);
        // The part's other parameters (a nested multipart/related's `type` and `start`) are
        // kept; only the boundary is this encoder's.
        let mut value = format!("{mimetype}; boundary=\"{boundary}\"");
        for (key, v) in mailparse::parse_content_type(&p.content_type).params {
            if key != "boundary" && !key.contains(['"', ';', '=']) {
                value.push_str(&format!("; {key}=\"{}\"", v.replace(['\\', '"'], "")));
            }
        }
        header(out, "Content-Type", &value);
        out.extend_from_slice(b"\r\n");
        for (i, c) in p.parts.iter().enumerate() {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            write_part(
                message,
                c,
                &format!("{position}.{i}"),
                bodies,
                out,
                depth + 1,
            )?;
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--").as_bytes());
        return Ok(());
    }
    header(out, "Content-Type", &p.content_type);
    header(out, "Content-Transfer-Encoding", "base64");
    out.extend_from_slice(b"\r\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&p.body);
    for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    Ok(())
}
