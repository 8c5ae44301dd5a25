//! A small, bounded XML tree built by the crate's own scanner, and the escaping writer the
//! encoder uses.
//!
//! The tree refers to element names and text by offsets into the input, so a node is a few
//! `u32`s, and the nodes of an MM7 message fit the one allocation made for [`INLINE`] of them. Text that had to be unescaped is kept in a side list. The
//! decoder then walks the tree by local name. DOCTYPE is refused, only the five predefined
//! entities and character references are resolved, and depth and element count are bounded by
//! [`Limits`].

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::escape::escape;
use quick_xml::events::attributes::Attributes;

use super::Limits;
use super::error::{Mm7Error, cut};

/// Index of a node; 0 is the root element.
pub(crate) type NodeId = usize;

/// Marks "no node" in the compact links below.
const NONE: u32 = u32::MAX;

/// How many nodes a [`Doc`] makes room for at first; every MM7 message fits.
const INLINE: usize = 32;

/// An element's text: a slice of the input, or an entry of [`Doc::owned`] when it had to be
/// unescaped or joined.
#[derive(Debug, Clone, Copy)]
enum Text {
    Slice(u32, u32),
    Owned(u32),
}

/// One element, all offsets into the input.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Where the start tag's content (qualified name, then attributes) starts, and its length.
    tag_start: u32,
    tag_len: u32,
    /// Length of the qualified name.
    name_len: u32,
    /// Where the local name starts within the tag (after `prefix:`).
    local_start: u32,
    text: Text,
    parent: u32,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
}

const EMPTY: Node = Node {
    tag_start: 0,
    tag_len: 0,
    name_len: 0,
    local_start: 0,
    text: Text::Slice(0, 0),
    parent: NONE,
    first_child: NONE,
    last_child: NONE,
    next_sibling: NONE,
};

fn link(id: u32) -> Option<NodeId> {
    (id != NONE).then_some(id as usize)
}

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    input: &'a str,
    nodes: Vec<Node>,
    len: usize,
    owned: Vec<String>,
    /// Whether the input holds a CR at all; without one, text needs no line-end normalizing.
    has_cr: bool,
}

fn syntax(position: usize, reason: impl Into<String>) -> Mm7Error {
    Mm7Error::Xml {
        position: position as u64,
        reason: reason.into(),
    }
}

/// XML's white space (XML 1.0 §2.3 `S`).
fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The first `byte` at or after `from`.
fn find_byte(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    memchr::memchr(byte, bytes.get(from..)?).map(|i| from + i)
}

/// The `>` that ends the start tag whose content begins at `from`: the first one outside a
/// quoted attribute value.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let i = at + memchr::memchr3(b'>', b'"', b'\'', bytes.get(at..)?)?;
        match bytes[i] {
            b'>' => return Some(i),
            quote => at = find_byte(bytes, i + 1, quote)? + 1,
        }
    }
}

/// Where `pat` (two or three bytes) first occurs in `hay`: a memchr for its first byte and
/// a compare, which for these short markers beats building a substring finder.
pub(crate) fn find_seq(hay: &[u8], pat: &[u8]) -> Option<usize> {
    let first = *pat.first()?;
    let mut at = 0;
    while let Some(i) = memchr::memchr(first, hay.get(at..)?) {
        let i = at + i;
        if hay.get(i..i + pat.len()) == Some(pat) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// XML 1.0 §2.11: CR LF and a lone CR are read as LF.
fn normalize_eols(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&b'\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// The offset of `part` in `input` when it is a slice of it.
fn offset_in(input: &str, part: &str) -> Option<u32> {
    let offset = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    let end = offset.checked_add(part.len())?;
    input
        .get(offset..end)
        .filter(|s| s.as_ptr() == part.as_ptr())
        .and_then(|_| u32::try_from(offset).ok())
}

impl<'a> Doc<'a> {
    /// Parses `input` into a tree, within `limits`.
    ///
    /// The scanner is the crate's own: it reads exactly the XML an MM7 envelope may hold
    /// (elements, attributes, text, CDATA, character and predefined entity references,
    /// comments and processing instructions), refuses DOCTYPE, checks that end tags match,
    /// and builds the tree as it goes, with no event values in between.
    pub fn parse(input: &'a str, limits: &Limits) -> Result<Self, Mm7Error> {
        if u32::try_from(input.len()).is_err() {
            return Err(Mm7Error::LimitExceeded {
                what: "SOAP part size (4 GiB)",
                limit: u32::MAX as usize,
            });
        }
        check_chars(input)?;
        let mut doc = Doc {
            input,
            nodes: Vec::with_capacity(INLINE),
            len: 0,
            owned: Vec::new(),
            has_cr: memchr::memchr(b'\r', input.as_bytes()).is_some(),
        };
        let bytes = input.as_bytes();
        // The innermost open element (NONE outside the root) and how deep it is; its
        // ancestors are reached through the parent links, so no separate stack is kept.
        let mut open = NONE;
        let mut depth = 0usize;
        let mut pos = 0usize;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            // Most text runs are short (a value, or the indentation between two tags): look
            // at a few bytes before paying for a vector search.
            let short = rest.iter().take(16).position(|&b| b == b'<' || b == b'&');
            let next = match short {
                Some(i) => pos + i,
                None if rest.len() <= 16 => bytes.len(),
                None => {
                    memchr::memchr2(b'<', b'&', &rest[16..]).map_or(bytes.len(), |i| pos + 16 + i)
                }
            };
            if next > pos {
                doc.text_run(open, pos, next, limits)?;
                pos = next;
                continue;
            }
            if bytes[pos] == b'&' {
                pos = doc.reference(open, pos, limits)?;
                continue;
            }
            match bytes.get(pos + 1) {
                Some(b'/') => {
                    let Some(gt) = find_byte(bytes, pos + 2, b'>') else {
                        return Err(syntax(pos, "unclosed end tag"));
                    };
                    let name = input
                        .get(pos + 2..gt)
                        .unwrap_or("")
                        .trim_end_matches(is_space);
                    let Some(node) = doc.get(open) else {
                        return Err(syntax(
                            pos,
                            format!("end tag </{}> with no open element", cut(name)),
                        ));
                    };
                    let open_name = doc.qname_of(node);
                    if open_name != name {
                        return Err(syntax(
                            pos,
                            format!(
                                "end tag </{}> does not close <{}>",
                                cut(name),
                                cut(open_name)
                            ),
                        ));
                    }
                    open = node.parent;
                    depth = depth.saturating_sub(1);
                    pos = gt + 1;
                }
                Some(b'?') => {
                    let Some(end) = find_seq(&bytes[pos + 2..], b"?>") else {
                        return Err(syntax(pos, "unclosed processing instruction"));
                    };
                    pos = pos + 2 + end + 2;
                }
                Some(b'!') => {
                    let tail = &bytes[pos..];
                    if tail.starts_with(b"<!--") {
                        let Some(end) = find_seq(&tail[4..], b"-->") else {
                            return Err(syntax(pos, "unclosed comment"));
                        };
                        pos += 4 + end + 3;
                    } else if tail.starts_with(b"<![CDATA[") {
                        let Some(end) = find_seq(&tail[9..], b"]]>") else {
                            return Err(syntax(pos, "unclosed CDATA section"));
                        };
                        if open == NONE {
                            return Err(syntax(pos, "CDATA outside the root element"));
                        }
                        let text = input.get(pos + 9..pos + 9 + end).unwrap_or("");
                        doc.check_text(open, text.len(), limits)?;
                        let text = if doc.has_cr {
                            normalize_eols(text)
                        } else {
                            Cow::Borrowed(text)
                        };
                        doc.append(open, text);
                        pos += 9 + end + 3;
                    } else if tail.len() >= 9 && tail[2..9].eq_ignore_ascii_case(b"DOCTYPE") {
                        return Err(Mm7Error::Doctype);
                    } else {
                        return Err(syntax(pos, "unknown markup after <!"));
                    }
                }
                _ => {
                    let Some(gt) = tag_end(bytes, pos + 1) else {
                        return Err(syntax(pos, "unclosed start tag"));
                    };
                    let empty = gt > pos + 1 && bytes[gt - 1] == b'/';
                    let content_end = if empty { gt - 1 } else { gt };
                    let content = input.get(pos + 1..content_end).unwrap_or("");
                    let name_len = content
                        .as_bytes()
                        .iter()
                        .position(|&b| is_space_byte(b))
                        .unwrap_or(content.len());
                    if name_len == 0 {
                        return Err(syntax(pos, "start tag without a name"));
                    }
                    if open == NONE && doc.len > 0 {
                        return Err(syntax(
                            pos,
                            format!("second root element <{}>", cut(&content[..name_len])),
                        ));
                    }
                    if empty {
                        if depth >= limits.max_xml_depth {
                            return Err(too_deep(limits));
                        }
                    } else {
                        depth += 1;
                        if depth > limits.max_xml_depth {
                            return Err(too_deep(limits));
                        }
                    }
                    check_attributes(content, name_len, limits)?;
                    let id = doc.push(open, pos as u32 + 1, content.len(), name_len, limits)?;
                    if !empty {
                        open = id;
                    }
                    pos = gt + 1;
                }
            }
        }
        if open != NONE {
            return Err(syntax(bytes.len(), "document ends inside an element"));
        }
        if doc.len == 0 {
            return Err(Mm7Error::Xml {
                position: 0,
                reason: "no root element".into(),
            });
        }
        Ok(doc)
    }

    /// Text between two pieces of markup, `input[start..end]`.
    fn text_run(
        &mut self,
        open: u32,
        start: usize,
        end: usize,
        limits: &Limits,
    ) -> Result<(), Mm7Error> {
        let text = self.input.get(start..end).unwrap_or("");
        let blank = text.bytes().all(|b| b.is_ascii_whitespace());
        match self.get(open) {
            // MM7 elements hold either children or text, never both: whitespace between
            // children is layout, and keeping it would mean joining text.
            Some(node) if blank && node.first_child != NONE => Ok(()),
            Some(_) => {
                self.check_text(open, text.len(), limits)?;
                let text = if self.has_cr {
                    normalize_eols(text)
                } else {
                    Cow::Borrowed(text)
                };
                self.append(open, text);
                Ok(())
            }
            None if blank => Ok(()),
            None => Err(syntax(start, "text outside the root element")),
        }
    }

    /// A character or predefined entity reference at `at`; returns where the text goes on.
    fn reference(&mut self, open: u32, at: usize, limits: &Limits) -> Result<usize, Mm7Error> {
        let bytes = self.input.as_bytes();
        // No name this crate resolves is longer than a character reference to U+10FFFF.
        let window = &bytes[at + 1..bytes.len().min(at + 1 + 12)];
        let Some(semi) = window.iter().position(|&b| b == b';') else {
            return Err(syntax(at, "unterminated or unknown entity reference"));
        };
        let name = self.input.get(at + 1..at + 1 + semi).unwrap_or("");
        let ch = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let code = match name.strip_prefix('#') {
                    Some(hex) if hex.starts_with('x') => {
                        u32::from_str_radix(&hex[1..], 16).ok().filter(|_| {
                            hex.len() > 1 && hex[1..].bytes().all(|b| b.is_ascii_hexdigit())
                        })
                    }
                    Some(dec) => dec
                        .parse::<u32>()
                        .ok()
                        .filter(|_| dec.bytes().all(|b| b.is_ascii_digit())),
                    None => {
                        return Err(syntax(at, format!("undefined entity &{};", cut(name))));
                    }
                };
                let Some(code) = code else {
                    return Err(syntax(
                        at,
                        format!("invalid character reference &{};", cut(name)),
                    ));
                };
                match char::from_u32(code).filter(|&c| is_xml_char(c)) {
                    Some(c) => c,
                    None => {
                        return Err(syntax(
                            at,
                            format!(
                                "character reference to U+{code:04X}, which is not an XML 1.0 Char"
                            ),
                        ));
                    }
                }
            }
        };
        if open != NONE {
            self.check_text(open, ch.len_utf8(), limits)?;
            let mut buf = [0u8; 4];
            self.append(open, Cow::Owned(ch.encode_utf8(&mut buf).to_owned()));
        }
        Ok(at + 1 + semi + 1)
    }

    /// The qualified name of a node.
    fn qname_of(&self, node: &Node) -> &'a str {
        let input: &'a str = self.input;
        input
            .get(node.tag_start as usize..(node.tag_start + node.name_len) as usize)
            .unwrap_or("")
    }

    fn get(&self, id: u32) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut Node> {
        self.nodes.get_mut(id as usize)
    }

    fn node(&self, id: NodeId) -> &Node {
        u32::try_from(id)
            .ok()
            .and_then(|id| self.get(id))
            .unwrap_or(&EMPTY)
    }

    /// Appends an element under `parent` (NONE for the root) and returns its id. The start
    /// tag's content (name and attributes) is `tag_len` bytes at `tag_start`.
    fn push(
        &mut self,
        parent: u32,
        tag_start: u32,
        tag_len: usize,
        name_len: usize,
        limits: &Limits,
    ) -> Result<u32, Mm7Error> {
        if self.len >= limits.max_elements.min(NONE as usize - 1) {
            return Err(Mm7Error::LimitExceeded {
                what: "XML element count",
                limit: limits.max_elements,
            });
        }
        let content = self
            .input
            .get(tag_start as usize..tag_start as usize + tag_len)
            .unwrap_or("");
        let local_start = content.as_bytes()[..name_len.min(content.len())]
            .iter()
            .position(|&b| b == b':')
            .map_or(0, |i| i + 1);
        let id = self.len as u32;
        let node = Node {
            tag_start,
            tag_len: tag_len as u32,
            name_len: name_len as u32,
            local_start: local_start as u32,
            parent,
            ..EMPTY
        };
        self.nodes.push(node);
        self.len += 1;
        if let Some(last) = self.get(parent).map(|p| p.last_child) {
            if let Some(prev) = self.get_mut(last) {
                prev.next_sibling = id;
            } else if let Some(p) = self.get_mut(parent) {
                p.first_child = id;
            }
            if let Some(p) = self.get_mut(parent) {
                p.last_child = id;
            }
        }
        Ok(id)
    }

    /// Refuses `more` bytes of text for an element whose text would then exceed the limit,
    /// before anything is copied.
    fn check_text(&self, id: u32, more: usize, limits: &Limits) -> Result<(), Mm7Error> {
        let current = match self.get(id).map(|n| n.text) {
            Some(Text::Slice(_, len)) => len as usize,
            Some(Text::Owned(i)) => self.owned.get(i as usize).map_or(0, String::len),
            None => 0,
        };
        if current.saturating_add(more) > limits.max_text_bytes {
            return Err(Mm7Error::LimitExceeded {
                what: "XML text size of one element",
                limit: limits.max_text_bytes,
            });
        }
        Ok(())
    }

    /// Adds text to an element: kept as a slice of the input while it is one piece of it.
    fn append(&mut self, id: u32, more: Cow<'_, str>) {
        let input = self.input;
        let Some(current) = self.get(id).map(|n| n.text) else {
            return;
        };
        let slice = match &more {
            Cow::Borrowed(s) => offset_in(input, s).map(|at| (at, s.len() as u32)),
            Cow::Owned(_) => None,
        };
        let text = match (current, slice) {
            (Text::Slice(_, 0), Some((at, len))) => Text::Slice(at, len),
            (Text::Owned(i), _) => {
                if let Some(s) = self.owned.get_mut(i as usize) {
                    s.push_str(&more);
                }
                Text::Owned(i)
            }
            (Text::Slice(at, len), _) => {
                let mut s = input
                    .get(at as usize..(at + len) as usize)
                    .unwrap_or("")
                    .to_owned();
                s.push_str(&more);
                self.owned.push(s);
                Text::Owned((self.owned.len() - 1) as u32)
            }
        };
        if let Some(n) = self.get_mut(id) {
            n.text = text;
        }
    }

    fn tag(&self, id: NodeId) -> &'a str {
        let n = self.node(id);
        let input: &'a str = self.input;
        input
            .get(n.tag_start as usize..(n.tag_start + n.tag_len) as usize)
            .unwrap_or("")
    }

    /// The local name of a node (prefix removed).
    pub fn name(&self, id: NodeId) -> &'a str {
        let n = self.node(id);
        self.tag(id)
            .get(n.local_start as usize..n.name_len as usize)
            .unwrap_or("")
    }

    fn attributes(&self, id: NodeId) -> Attributes<'a> {
        let mut attrs = Attributes::new(self.tag(id), self.node(id).name_len as usize);
        attrs.with_checks(false);
        attrs
    }

    /// The node's text, trimmed.
    pub fn text(&self, id: NodeId) -> &str {
        let raw = match self.node(id).text {
            Text::Slice(at, len) => self.input.get(at as usize..(at + len) as usize),
            Text::Owned(i) => self.owned.get(i as usize).map(String::as_str),
        };
        raw.unwrap_or("").trim()
    }

    /// The node's element children.
    pub fn children(&self, id: NodeId) -> Children<'_, 'a> {
        Children {
            doc: self,
            next: link(self.node(id).first_child),
        }
    }

    /// The first child with this local name.
    pub fn child(&self, id: NodeId, name: &str) -> Option<NodeId> {
        self.children(id).find(|&c| self.name(c) == name)
    }

    /// An attribute's unescaped value, found by local name (any prefix).
    pub fn attr(&self, id: NodeId, local: &str) -> Option<Cow<'a, str>> {
        self.attributes(id)
            .flatten()
            .find(|a| a.key.local_name().as_ref() == local)
            .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok())
    }

    /// The namespace URI of a node's own name, resolved through the `xmlns` declarations on it
    /// and its ancestors. Empty when the name is in no namespace.
    pub fn namespace(&self, id: NodeId) -> Cow<'a, str> {
        let qname = self
            .tag(id)
            .get(..self.node(id).name_len as usize)
            .unwrap_or("");
        let prefix = qname
            .as_bytes()
            .iter()
            .position(|&b| b == b':')
            .and_then(|i| qname.get(..i));
        let mut cur = Some(id);
        while let Some(n) = cur {
            let attrs = self
                .tag(n)
                .get(self.node(n).name_len as usize..)
                .unwrap_or("");
            if let Some(value) = xmlns_value(attrs, prefix) {
                // Namespace URIs rarely hold references; only unescape when one does.
                if !value.contains('&') {
                    return Cow::Borrowed(value);
                }
                return quick_xml::escape::unescape(value)
                    .map(|v| Cow::Owned(v.into_owned()))
                    .unwrap_or(Cow::Borrowed(""));
            }
            cur = link(self.node(n).parent);
        }
        Cow::Borrowed("")
    }

    /// All text under a node, joined with single spaces (for Fault `detail`).
    pub fn deep_text(&self, id: NodeId) -> String {
        let mut out = String::new();
        self.collect_text(id, &mut out, 0);
        out
    }

    fn collect_text(&self, id: NodeId, out: &mut String, depth: usize) {
        let t = self.text(id);
        if !t.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
        }
        // The tree's depth is already bounded by the limits; this guard only keeps the
        // recursion obviously finite.
        if depth < 64 {
            for c in self.children(id) {
                self.collect_text(c, out, depth + 1);
            }
        }
    }
}

/// The `key="value"` pairs of a start tag's attribute text, as written (quotes removed, not
/// unescaped). A scan over the real attribute syntax: text inside one attribute's value is
/// never taken for another attribute. Stops at the first thing that is not an attribute;
/// quick-xml has already checked that the tag is well-formed enough to be an element.
pub(crate) fn attribute_pairs(attrs: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = attrs;
    std::iter::from_fn(move || {
        let trimmed = rest.trim_start();
        let eq = memchr::memchr(b'=', trimmed.as_bytes())?;
        let key = trimmed.get(..eq)?.trim_end();
        if key.is_empty()
            || key
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\'')
        {
            rest = "";
            return None;
        }
        let after = trimmed.get(eq + 1..)?.trim_start();
        let quote = *after
            .as_bytes()
            .first()
            .filter(|c| **c == b'"' || **c == b'\'')?;
        let body = after.get(1..)?;
        let Some(end) = memchr::memchr(quote, body.as_bytes()) else {
            rest = "";
            return None;
        };
        rest = body.get(end + 1..)?;
        Some((key, body.get(..end)?))
    })
}

/// The value of `xmlns` (no prefix) or `xmlns:<prefix>` in a start tag's attribute text.
fn xmlns_value<'t>(attrs: &'t str, prefix: Option<&str>) -> Option<&'t str> {
    attribute_pairs(attrs)
        .find(|(key, _)| match prefix {
            None => *key == "xmlns",
            Some(p) => key.strip_prefix("xmlns:") == Some(p),
        })
        .map(|(_, value)| value)
}

/// Refuses a start tag with an attribute value over the limit; a tag shorter than the limit
/// cannot hold one, so only long tags are scanned. `tag` is the tag's content, its name the
/// first `name_len` bytes.
fn check_attributes(tag: &str, name_len: usize, limits: &Limits) -> Result<(), Mm7Error> {
    if tag.len() <= limits.max_attribute_bytes {
        return Ok(());
    }
    let attrs = tag.get(name_len..).unwrap_or("");
    let too_long = attribute_pairs(attrs).any(|(_, v)| v.len() > limits.max_attribute_bytes)
        // Whatever the scan could not read as attributes is still refused when it is long.
        || attrs.len() > limits.max_attribute_bytes.saturating_mul(4).max(1 << 20);
    if too_long {
        return Err(Mm7Error::LimitExceeded {
            what: "XML attribute value size",
            limit: limits.max_attribute_bytes,
        });
    }
    Ok(())
}

/// Whether a character is an XML 1.0 `Char` (XML 1.0 §2.2).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Whether a chunk may hold a byte [`check_chars`] must look at: a C0 control or the lead
/// byte of U+FFFE / U+FFFF. Written without early exits so that it compiles to vector code.
fn suspicious(chunk: &[u8]) -> bool {
    chunk.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0xEF)
    })
}

/// Refuses a document holding a character that is not an XML 1.0 `Char`: the C0 controls
/// other than tab, LF and CR (NUL among them), U+FFFE and U+FFFF. Chunks with no control
/// byte and no 0xEF are passed over without looking at single bytes.
fn check_chars(input: &str) -> Result<(), Mm7Error> {
    const CHUNK: usize = 64;
    let bytes = input.as_bytes();
    let mut base = 0;
    for chunk in bytes.chunks(CHUNK) {
        if suspicious(chunk) {
            // Two bytes past the chunk, for a U+FFFE / U+FFFF that straddles its end.
            let end = bytes.len().min(base + CHUNK + 2);
            if let Some(bad) = first_bad_char(&bytes[base..end], base) {
                return Err(bad);
            }
        }
        base += chunk.len();
    }
    Ok(())
}

fn first_bad_char(bytes: &[u8], base: usize) -> Option<Mm7Error> {
    let bad = bytes.iter().enumerate().find_map(|(i, &b)| match b {
        b'\t' | b'\n' | b'\r' => None,
        0..0x20 => Some((i, u32::from(b))),
        0xEF if bytes.get(i + 1) == Some(&0xBF)
            && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
        {
            Some((i, 0xFFFE + u32::from(bytes[i + 2] - 0xBE)))
        }
        _ => None,
    });
    bad.map(|(at, code)| Mm7Error::Xml {
        position: (base + at) as u64,
        reason: format!("character U+{code:04X} is not an XML 1.0 Char"),
    })
}

fn too_deep(limits: &Limits) -> Mm7Error {
    Mm7Error::LimitExceeded {
        what: "XML element nesting",
        limit: limits.max_xml_depth,
    }
}

/// Iterator over a node's element children.
pub(crate) struct Children<'d, 'a> {
    doc: &'d Doc<'a>,
    next: Option<NodeId>,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.next?;
        self.next = link(self.doc.node(id).next_sibling);
        Some(id)
    }
}

/// Writes XML into a `String`, escaping text and attribute values.
pub(crate) struct Writer {
    pub out: String,
}

impl Writer {
    pub fn new() -> Self {
        Writer {
            out: String::with_capacity(1024),
        }
    }

    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn open_attrs(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            self.out.push_str(&escape(*v));
            self.out.push('"');
        }
        self.out.push('>');
    }

    pub fn empty_attrs(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.open_attrs(name, attrs);
        self.out.pop();
        self.out.push_str("/>");
    }

    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        self.out.push_str(&escape(text));
        self.close(name);
    }

    pub fn opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.elem(name, t);
        }
    }

    pub fn opt_bool(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.elem(name, if v { "true" } else { "false" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_walks_by_local_name_and_resolves_namespaces() {
        let xml = r#"<a:Root xmlns:a="urn:a" xmlns="urn:d"><Child x:k="v &amp; w" xmlns:x="urn:x">t &lt;1&#x41;</Child><a:Other/></a:Root>"#;
        let doc = Doc::parse(xml, &Limits::default()).unwrap();
        assert_eq!(doc.name(0), "Root");
        assert_eq!(doc.namespace(0), "urn:a");
        let child = doc.child(0, "Child").unwrap();
        assert_eq!(doc.namespace(child), "urn:d");
        assert_eq!(doc.text(child), "t <1A");
        assert_eq!(doc.attr(child, "k").as_deref(), Some("v & w"));
        assert_eq!(doc.children(0).count(), 2);
    }

    #[test]
    fn trees_larger_than_the_inline_nodes_and_joined_text_work() {
        let kids: String = (0..40).map(|i| format!("<k{i}>v{i}</k{i}>")).collect();
        let xml = format!("<r>{kids}<t>a &amp; <![CDATA[<b>]]> c\r\nd</t></r>");
        let doc = Doc::parse(&xml, &Limits::default()).unwrap();
        assert_eq!(doc.children(0).count(), 41);
        let k39 = doc.child(0, "k39").unwrap();
        assert_eq!(doc.text(k39), "v39");
        assert_eq!(doc.namespace(k39), "");
        let t = doc.child(0, "t").unwrap();
        assert_eq!(doc.text(t), "a & <b> c\nd");
    }

    #[test]
    fn xmlns_scan_finds_only_the_right_key() {
        let attrs =
            r#" xmlns:mm7x="urn:x" a:xmlns:mm7="urn:no" xmlns:mm7 = 'urn:yes' xmlns="urn:d""#;
        assert_eq!(xmlns_value(attrs, Some("mm7")), Some("urn:yes"));
        assert_eq!(xmlns_value(attrs, Some("mm7x")), Some("urn:x"));
        assert_eq!(xmlns_value(attrs, None), Some("urn:d"));
        assert_eq!(xmlns_value(attrs, Some("env")), None);
        assert_eq!(xmlns_value(r#" xmlns="unterminated"#, None), None);
        let doc = Doc::parse(r#"<a xmlns="urn:a&amp;b"/>"#, &Limits::default()).unwrap();
        assert_eq!(doc.namespace(0), "urn:a&b");
        // An xmlns spelled inside another attribute's value is that value, not a declaration.
        let spoof = r#" note=' xmlns="urn:evil" xmlns:m="urn:evil"' xmlns="urn:real""#;
        assert_eq!(xmlns_value(spoof, None), Some("urn:real"));
        assert_eq!(xmlns_value(spoof, Some("m")), None);
        let doc = Doc::parse(
            r#"<m:a note=" xmlns:m=&quot;urn:evil&quot;" xmlns:m="urn:m"/>"#,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(doc.namespace(0), "urn:m");
    }

    #[test]
    fn non_xml_chars_and_oversized_values_are_refused() {
        let l = Limits {
            max_attribute_bytes: 8,
            max_text_bytes: 8,
            ..Limits::default()
        };
        for bad in [
            "<a>\u{0}</a>",
            "<a>\u{1}</a>",
            "<a>&#1;</a>",
            "<a>\u{FFFE}</a>",
            "<a b='\u{1b}'/>",
        ] {
            let err = Doc::parse(bad, &l).unwrap_err();
            assert!(err.to_string().contains("XML 1.0 Char"), "{bad:?}: {err}");
        }
        assert!(Doc::parse("<a b='12345678'>12345678</a>", &l).is_ok());
        for (bad, what) in [
            ("<a b='123456789'/>", "XML attribute value size"),
            ("<a>123456789</a>", "XML text size of one element"),
            ("<a>1234&amp;5678</a>", "XML text size of one element"),
            (
                "<a>1234<![CDATA[5678]]>9</a>",
                "XML text size of one element",
            ),
        ] {
            assert!(
                matches!(Doc::parse(bad, &l), Err(Mm7Error::LimitExceeded { what: w, .. }) if w == what),
                "{bad}"
            );
        }
    }

    #[test]
    fn doctype_and_unknown_entities_are_refused() {
        let l = Limits::default();
        let bomb = r#"<!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>"#;
        assert_eq!(Doc::parse(bomb, &l).unwrap_err(), Mm7Error::Doctype);
        assert!(matches!(
            Doc::parse("<a>&x;</a>", &l).unwrap_err(),
            Mm7Error::Xml { .. }
        ));
    }

    #[test]
    fn depth_and_count_are_bounded() {
        let l = Limits {
            max_xml_depth: 3,
            max_elements: 5,
            ..Limits::default()
        };
        assert!(Doc::parse("<a><b><c/></b></a>", &l).is_ok());
        assert!(matches!(
            Doc::parse("<a><b><c><d/></c></b></a>", &l).unwrap_err(),
            Mm7Error::LimitExceeded { .. }
        ));
        assert!(matches!(
            Doc::parse("<a><b/><b/><b/><b/><b/></a>", &l).unwrap_err(),
            Mm7Error::LimitExceeded { .. }
        ));
    }

    #[test]
    fn the_scanner_reads_markup_an_envelope_may_hold() {
        let l = Limits::default();
        let xml = "<?xml version='1.0'?>\r\n<!-- a > comment --><r a='x>y' b=\"<\"><?pi x?>\
                   <t>a\r\nb\rc</t><e/><f x='1' /><c><![CDATA[a\r\n&amp;]]></c>\
                   <n>&#65;&#x42;&lt;</n></r >";
        let doc = Doc::parse(xml, &l).unwrap();
        assert_eq!(doc.attr(0, "a").as_deref(), Some("x>y"));
        assert_eq!(doc.text(doc.child(0, "t").unwrap()), "a\nb\nc");
        assert_eq!(doc.text(doc.child(0, "c").unwrap()), "a\n&amp;");
        assert_eq!(doc.text(doc.child(0, "n").unwrap()), "AB<");
        assert_eq!(
            doc.attr(doc.child(0, "f").unwrap(), "x").as_deref(),
            Some("1")
        );
        assert_eq!(doc.children(0).count(), 5);
        assert_eq!(find_seq(b"ab-->", b"-->"), Some(2));
        assert_eq!(find_seq(b"--", b"-->"), None);
    }

    #[test]
    fn malformed_documents_are_errors() {
        let l = Limits::default();
        for bad in [
            "<a><!-- open",
            "<a><![CDATA[ open</a>",
            "<![CDATA[x]]><a/>",
            "<a><?pi",
            "<a b='>",
            "<a></a",
            "</a>",
            "<a></a></a>",
            "< a/>",
            "<>",
            "<a>&amp</a>",
            "<a>&nbsp;</a>",
            "<a>&#xZZ;</a>",
            "<a>&#;</a>",
            "<a>&#1114112;</a>",
            "<a>&averyveryverylongname;</a>",
            "<a><!ELEMENT a></a>",
            "<!doctype a><a/>",
        ] {
            assert!(Doc::parse(bad, &l).is_err(), "{bad:?}");
        }
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "text", "<a/>tail"] {
            assert!(Doc::parse(bad, &l).is_err(), "{bad:?}");
        }
    }
}
