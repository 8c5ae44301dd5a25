//! `multipart/related` HTTP bodies (RFC 2387, 3GPP TS 23.140 §9.3): splitting one into its
//! SOAP part and content parts, and building one for a SubmitReq, DeliverReq or ReplaceReq.
//!
//! Parsing uses `mailparse` for headers, parameters, nested multiparts and transfer decoding.
//! What it does leniently without saying so is checked here and turned into warnings: a
//! multipart whose closing delimiter is missing, and a body whose base64 or quoted-printable
//! cannot be decoded (kept as received). Size, nesting and part count are bounded before and
//! after `mailparse` runs.

use base64::Engine as _;
use mailparse::body::Body;
use mailparse::{MailHeaderMap, ParsedMail};
use memchr::memmem;

use super::Limits;
use super::content::ContentPart;
use super::error::{Mm7Error, cut};
use super::warning::Warning;

/// A `multipart/related` body split into the SOAP part and the content parts.
pub(crate) struct Related {
    pub soap: Vec<u8>,
    pub parts: Vec<ContentPart>,
    pub warnings: Vec<Warning>,
}

fn strip_angles(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
}

/// Splits a `multipart/related` body given its HTTP `Content-Type`.
pub(crate) fn split_related(
    content_type: &str,
    body: &[u8],
    limits: &Limits,
) -> Result<Related, Mm7Error> {
    if content_type.contains(['\r', '\n']) {
        return Err(Mm7Error::ContentType {
            value: cut(content_type),
            reason: "contains a line break",
        });
    }
    let ctype = mailparse::parse_content_type(content_type);
    if ctype.mimetype != "multipart/related" {
        return Err(Mm7Error::ContentType {
            value: cut(content_type),
            reason: "is not multipart/related",
        });
    }
    let boundary = match ctype.params.get("boundary") {
        Some(b) if !b.is_empty() => b.clone(),
        _ => {
            return Err(Mm7Error::ContentType {
                value: cut(content_type),
                reason: "has no boundary parameter",
            });
        }
    };
    let delimiter = format!("--{boundary}");
    if memmem::find(body, delimiter.as_bytes()).is_none() {
        return Err(Mm7Error::Multipart(format!(
            "boundary {:?} does not occur in the body",
            cut(&boundary)
        )));
    }

    // mailparse reads a whole MIME entity, so the HTTP Content-Type becomes its header.
    let mut raw = Vec::with_capacity(body.len() + content_type.len() + 20);
    raw.extend_from_slice(b"Content-Type: ");
    raw.extend_from_slice(content_type.as_bytes());
    raw.extend_from_slice(b"\r\n\r\n");
    raw.extend_from_slice(body);
    let mail = mailparse::parse_mail(&raw)
        .map_err(|e| Mm7Error::Multipart(format!("cannot be parsed: {e}")))?;

    let mut count = 0;
    check_shape(&mail, 1, limits, &mut count)?;
    let mut warnings = Vec::new();
    check_closed(&mail, &mut warnings);
    if mail.subparts.is_empty() {
        return Err(Mm7Error::Multipart("it holds no parts".into()));
    }

    let soap_index = match ctype.params.get("start") {
        Some(start) => {
            let want = strip_angles(start);
            mail.subparts
                .iter()
                .position(|p| {
                    p.headers
                        .get_first_value("Content-ID")
                        .is_some_and(|id| strip_angles(&id) == want)
                })
                .ok_or_else(|| {
                    Mm7Error::Multipart(format!(
                        "the start part <{}> is not among the parts",
                        cut(want)
                    ))
                })?
        }
        None => 0,
    };
    let soap_part = &mail.subparts[soap_index];
    let soap = soap_part
        .get_body_raw()
        .map_err(|e| Mm7Error::Multipart(format!("the SOAP part cannot be decoded: {e}")))?;
    let mut parts = Vec::with_capacity(mail.subparts.len().saturating_sub(1));
    for (i, p) in mail.subparts.iter().enumerate() {
        if i != soap_index {
            parts.push(convert(p, &i.to_string(), &mut warnings)?);
        }
    }
    Ok(Related {
        soap,
        parts,
        warnings,
    })
}

fn check_shape(
    mail: &ParsedMail<'_>,
    depth: usize,
    limits: &Limits,
    count: &mut usize,
) -> Result<(), Mm7Error> {
    if mail.subparts.is_empty() {
        return Ok(());
    }
    if depth > limits.max_mime_depth {
        return Err(Mm7Error::LimitExceeded {
            what: "MIME multipart nesting",
            limit: limits.max_mime_depth,
        });
    }
    for p in &mail.subparts {
        *count += 1;
        if *count > limits.max_parts {
            return Err(Mm7Error::LimitExceeded {
                what: "MIME part count",
                limit: limits.max_parts,
            });
        }
        check_shape(p, depth + 1, limits, count)?;
    }
    Ok(())
}

/// Warns for every multipart (at any level) whose closing delimiter is missing: mailparse
/// silently takes the rest of the body as the last part.
fn check_closed(mail: &ParsedMail<'_>, warnings: &mut Vec<Warning>) {
    if mail.subparts.is_empty() {
        return;
    }
    if let Some(boundary) = mail.ctype.params.get("boundary") {
        let close = format!("--{boundary}--");
        let raw = mail.raw_bytes;
        let closed = memmem::find_iter(raw, close.as_bytes())
            .any(|at| at == 0 || raw.get(at - 1) == Some(&b'\n'));
        if !closed {
            warnings.push(Warning::UnclosedMimePart {
                boundary: cut(boundary),
            });
        }
    }
    for p in &mail.subparts {
        check_closed(p, warnings);
    }
}

fn raw_body(p: &ParsedMail<'_>) -> Vec<u8> {
    match p.get_body_encoded() {
        Body::Base64(b) | Body::QuotedPrintable(b) => b.get_raw().to_vec(),
        Body::SevenBit(b) | Body::EightBit(b) => b.get_raw().to_vec(),
        Body::Binary(b) => b.get_raw().to_vec(),
    }
}

/// A part header's value, refused when it holds a CR or LF: mailparse keeps a bare CR inside
/// a value and RFC 2047 decoding can produce either, and such a value could neither be
/// written back as a header nor be trusted as a Content-ID reference.
fn part_header(p: &ParsedMail<'_>, name: &str, position: &str) -> Result<Option<String>, Mm7Error> {
    match p.headers.get_first_value(name) {
        Some(v) if v.contains(['\r', '\n']) => Err(Mm7Error::Multipart(format!(
            "part #{position}: {name} {:?} contains a line break",
            cut(&v)
        ))),
        v => Ok(v),
    }
}

fn convert(
    p: &ParsedMail<'_>,
    position: &str,
    warnings: &mut Vec<Warning>,
) -> Result<ContentPart, Mm7Error> {
    let content_id = part_header(p, "Content-ID", position)?.map(|id| strip_angles(&id).to_owned());
    let content_type =
        part_header(p, "Content-Type", position)?.unwrap_or_else(|| p.ctype.mimetype.clone());
    let content_location = part_header(p, "Content-Location", position)?;
    if !p.subparts.is_empty() {
        let parts = p
            .subparts
            .iter()
            .enumerate()
            .map(|(i, c)| convert(c, &format!("{position}.{i}"), warnings))
            .collect::<Result<_, _>>()?;
        return Ok(ContentPart {
            content_id,
            content_type,
            content_location,
            body: Vec::new(),
            parts,
        });
    }
    let body = match p.get_body_raw() {
        Ok(b) => b,
        Err(e) => {
            warnings.push(Warning::UndecodableContent {
                part: content_id.clone().unwrap_or_else(|| format!("#{position}")),
                encoding: p
                    .headers
                    .get_first_value("Content-Transfer-Encoding")
                    .unwrap_or_default(),
                reason: e.to_string(),
            });
            raw_body(p)
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
        header(
            out,
            "Content-Type",
            &format!("{mimetype}; boundary=\"{boundary}\""),
        );
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
