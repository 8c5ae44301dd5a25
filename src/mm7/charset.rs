//! The SOAP part's character encoding: read from the MIME `charset` parameter, else the XML
//! declaration, else a byte order mark, and turned into UTF-8 with `encoding_rs` (the WHATWG
//! Encoding Standard's decoders: GB2312 and GBK as GBK, ISO-8859-1 as windows-1252, UTF-16
//! with its byte order mark).
//!
//! A byte order mark is the bytes' own evidence and wins over a declaration that disagrees with
//! it (as the Encoding Standard decides); every disagreement between the declarations and the
//! bytes is reported as a [`Warning::CharsetMismatch`].

use std::borrow::Cow;

use encoding_rs::{CoderResult, Encoding, UTF_8};

use super::error::{Mm7Error, cut};
use super::warning::Warning;

/// How far into the part an XML declaration is looked for.
const DECL_WINDOW: usize = 256;

/// The `encoding` pseudo-attribute of an XML declaration at the start of `bytes`, read as
/// ASCII (which covers every ASCII-compatible encoding).
fn xml_decl_encoding(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(DECL_WINDOW)];
    let rest = head.strip_prefix(b"<?xml")?;
    let end = super::xml::find_seq(rest, b"?>")?;
    let decl = std::str::from_utf8(&rest[..end]).ok()?;
    let at = super::xml::find_seq(decl.as_bytes(), b"encoding")?;
    let after = decl[at + "encoding".len()..].trim_start();
    let after = after.strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    let quote = u8::try_from(quote).ok()?;
    memchr::memchr(quote, value.as_bytes()).and_then(|e| value.get(..e))
}

fn lookup(label: &str) -> Result<&'static Encoding, Mm7Error> {
    for_label(label).ok_or_else(|| Mm7Error::Charset { label: cut(label) })
}

/// The encoding a label names; `UTF-8`, the label nearly every part carries, without the
/// general lookup.
fn for_label(label: &str) -> Option<&'static Encoding> {
    let label = label.trim();
    if label.eq_ignore_ascii_case("utf-8") {
        return Some(UTF_8);
    }
    Encoding::for_label(label.as_bytes())
}

/// Whether a declared encoding is the one a byte order mark shows (`UTF-16` names both byte
/// orders).
fn same(declared: &'static Encoding, label: &str, actual: &'static Encoding) -> bool {
    declared == actual || (label.trim().eq_ignore_ascii_case("utf-16") && actual != UTF_8)
}

/// Decodes `bytes` with an exactly sized output: the first pass only counts. Text that would
/// more than double in size is refused before the output is allocated: no real text grows
/// that much (ISO-8859-1 letters double, GBK's Chinese grows by half), but a part made of
/// windows-1252 0x80 bytes would triple, and the decoded message holds the text twice.
fn decode_exact(encoding: &'static Encoding, bytes: &[u8]) -> Result<(String, bool), Mm7Error> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut scratch = [0u8; 4096];
    let mut src = bytes;
    let mut total = 0usize;
    loop {
        let (result, read, written, _) = decoder.decode_to_utf8(src, &mut scratch, true);
        total = total.saturating_add(written);
        src = &src[read..];
        if result == CoderResult::InputEmpty {
            break;
        }
    }
    let limit = bytes.len().saturating_mul(MAX_GROWTH).max(64);
    if total > limit {
        return Err(Mm7Error::LimitExceeded {
            what: "SOAP part size once decoded to UTF-8 (twice its size)",
            limit,
        });
    }
    let mut out = String::with_capacity(total);
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut src = bytes;
    let mut errors = false;
    loop {
        let (result, read, had_errors) = decoder.decode_to_string(src, &mut out, true);
        errors |= had_errors;
        src = &src[read..];
        match result {
            CoderResult::InputEmpty => break,
            CoderResult::OutputFull => out.reserve(16),
        }
    }
    Ok((out, errors))
}

/// How many times its size a SOAP part may grow when decoded to UTF-8.
const MAX_GROWTH: usize = 2;

/// The SOAP part as UTF-8 text. `mime_charset` is the `charset` parameter of its
/// Content-Type, when there is one.
pub(crate) fn soap_text<'a>(
    bytes: &'a [u8],
    mime_charset: Option<&str>,
    warnings: &mut Vec<Warning>,
) -> Result<Cow<'a, str>, Mm7Error> {
    let bom = Encoding::for_bom(bytes);
    let after_bom = &bytes[bom.map_or(0, |(_, len)| len)..];
    let decl = xml_decl_encoding(after_bom);
    let mime = mime_charset.map(|label| Ok::<_, Mm7Error>((label, lookup(label)?)));
    let mime = mime.transpose()?;
    let decl = match decl {
        // The XML declaration's label is only refused when it is the one used.
        Some(d) if mime.is_some() => for_label(d).map(|e| (d, e)),
        Some(d) => Some((d, lookup(d)?)),
        None => None,
    };
    if let (Some((label, enc)), Some(d)) = (mime, xml_decl_encoding(after_bom))
        && decl.is_none_or(|(_, e)| e != enc)
    {
        warnings.push(Warning::CharsetMismatch {
            declared: format!("charset={} (Content-Type)", cut(label)),
            found: format!(
                "encoding={} (XML declaration); the Content-Type wins",
                cut(d)
            ),
        });
    }
    let declared = mime.or(decl);
    let encoding = match (bom, declared) {
        (Some((actual, _)), Some((label, enc))) => {
            if !same(enc, label, actual) {
                warnings.push(Warning::CharsetMismatch {
                    declared: cut(label),
                    found: format!("a {} byte order mark, which wins", actual.name()),
                });
            }
            actual
        }
        (Some((actual, _)), None) => actual,
        (None, Some((_, enc))) => enc,
        (None, None) => UTF_8,
    };
    if encoding == UTF_8 {
        match std::str::from_utf8(after_bom) {
            Ok(text) => return Ok(Cow::Borrowed(text)),
            // Declared UTF-8 by the Content-Type, but the bytes are not, and the XML
            // declaration names another encoding: the bytes agree with the declaration.
            Err(_) if bom.is_none() && mime.is_some() => {
                if let Some((label, enc)) = decl.filter(|(_, e)| *e != UTF_8) {
                    warnings.push(Warning::CharsetMismatch {
                        declared: "UTF-8 (Content-Type)".into(),
                        found: format!(
                            "bytes that are not UTF-8; decoded as {} (XML declaration {})",
                            enc.name(),
                            cut(label)
                        ),
                    });
                    return decode_with(enc, after_bom, warnings);
                }
                return Err(not_utf8(after_bom));
            }
            Err(_) => return Err(not_utf8(after_bom)),
        }
    }
    decode_with(encoding, after_bom, warnings)
}

fn not_utf8(bytes: &[u8]) -> Mm7Error {
    match std::str::from_utf8(bytes) {
        Err(e) => Mm7Error::NotUtf8(e.to_string()),
        Ok(_) => Mm7Error::NotUtf8("invalid UTF-8".into()),
    }
}

fn decode_with<'a>(
    encoding: &'static Encoding,
    bytes: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Cow<'a, str>, Mm7Error> {
    let (text, had_errors) = decode_exact(encoding, bytes)?;
    if had_errors {
        warnings.push(Warning::CharsetMismatch {
            declared: encoding.name().to_owned(),
            found: "byte sequences that are not in that encoding (replaced with U+FFFD)".into(),
        });
    }
    Ok(Cow::Owned(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_is_found_in_either_quote() {
        assert_eq!(
            xml_decl_encoding(br#"<?xml version="1.0" encoding="GB2312"?><a/>"#),
            Some("GB2312")
        );
        assert_eq!(
            xml_decl_encoding(b"<?xml version='1.0' encoding = 'iso-8859-1' ?>"),
            Some("iso-8859-1")
        );
        assert_eq!(xml_decl_encoding(br#"<?xml version="1.0"?>"#), None);
        assert_eq!(xml_decl_encoding(b"<a/>"), None);
    }

    #[test]
    fn exact_decoding_sizes_its_output() {
        let (text, errors) = decode_exact(encoding_rs::WINDOWS_1252, b"caf\xe9 \x80").unwrap();
        assert_eq!(text, "café €");
        assert_eq!(text.capacity(), text.len());
        assert!(!errors);
        let euros = vec![0x80u8; 1000];
        assert!(matches!(
            decode_exact(encoding_rs::WINDOWS_1252, &euros),
            Err(Mm7Error::LimitExceeded { limit: 2000, .. })
        ));
    }
}
