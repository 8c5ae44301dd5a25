//! A small, bounded XML tree over `quick-xml` events, and the escaping writer the encoder uses.
//!
//! The tree borrows element names and (unescaped) text from the input, so building it costs one
//! `Vec` of nodes; the decoder then walks it by local name. DOCTYPE is refused, only the five
//! predefined entities and character references are resolved, and depth and element count are
//! bounded by [`Limits`].

use std::borrow::Cow;

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::Limits;
use super::error::{Mm7Error, cut};
use quick_xml::XmlVersion;

/// Index of a node in [`Doc::nodes`].
pub(crate) type NodeId = usize;

/// One element.
#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub start: BytesStart<'a>,
    /// Unescaped text directly inside the element (all text events joined).
    pub text: Cow<'a, str>,
    pub parent: Option<NodeId>,
    pub first_child: Option<NodeId>,
    pub next_sibling: Option<NodeId>,
    last_child: Option<NodeId>,
}

/// A parsed document: `nodes[0]` is the root element.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub nodes: Vec<Node<'a>>,
}

fn xml_err(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> Mm7Error {
    Mm7Error::Xml {
        position: reader.error_position(),
        reason: e.to_string(),
    }
}

impl<'a> Doc<'a> {
    /// Parses `input` into a tree, within `limits`.
    pub fn parse(input: &'a str, limits: &Limits) -> Result<Self, Mm7Error> {
        let mut reader = Reader::from_str(input);
        let mut nodes: Vec<Node<'a>> = Vec::with_capacity(32);
        let mut stack: Vec<NodeId> = Vec::with_capacity(8);
        let mut root_closed = false;
        loop {
            let event = reader.read_event().map_err(|e| xml_err(&reader, e))?;
            match event {
                Event::Start(start) | Event::Empty(start)
                    if root_closed || (stack.is_empty() && !nodes.is_empty()) =>
                {
                    return Err(Mm7Error::Xml {
                        position: reader.buffer_position(),
                        reason: format!("second root element <{}>", start.name().as_ref()),
                    });
                }
                Event::Start(start) => {
                    let id = push(&mut nodes, &stack, start, limits)?;
                    stack.push(id);
                    if stack.len() > limits.max_xml_depth {
                        return Err(Mm7Error::LimitExceeded {
                            what: "XML element nesting",
                            limit: limits.max_xml_depth,
                        });
                    }
                }
                Event::Empty(start) => {
                    if stack.len() >= limits.max_xml_depth {
                        return Err(Mm7Error::LimitExceeded {
                            what: "XML element nesting",
                            limit: limits.max_xml_depth,
                        });
                    }
                    push(&mut nodes, &stack, start, limits)?;
                    if stack.is_empty() {
                        root_closed = true;
                    }
                }
                Event::End(_) => {
                    stack.pop();
                    if stack.is_empty() {
                        root_closed = true;
                    }
                }
                Event::Text(t) => {
                    if let Some(&top) = stack.last() {
                        let content = t.xml10_content();
                        append(&mut nodes[top].text, content);
                    } else if !t.chars().all(|c| c.is_ascii_whitespace()) {
                        return Err(Mm7Error::Xml {
                            position: reader.buffer_position(),
                            reason: "text outside the root element".into(),
                        });
                    }
                }
                Event::CData(c) => {
                    if let Some(&top) = stack.last() {
                        append(&mut nodes[top].text, c.into_inner());
                    }
                }
                Event::GeneralRef(r) => {
                    let ch = match r.resolve_char_ref().map_err(|e| xml_err(&reader, e))? {
                        Some(ch) => ch,
                        None => match r.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(Mm7Error::Xml {
                                    position: reader.buffer_position(),
                                    reason: format!("undefined entity &{};", cut(other)),
                                });
                            }
                        },
                    };
                    if let Some(&top) = stack.last() {
                        nodes[top].text.to_mut().push(ch);
                    }
                }
                Event::DocType(_) => return Err(Mm7Error::Doctype),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        if !stack.is_empty() {
            return Err(Mm7Error::Xml {
                position: reader.buffer_position(),
                reason: "document ends inside an element".into(),
            });
        }
        if nodes.is_empty() {
            return Err(Mm7Error::Xml {
                position: 0,
                reason: "no root element".into(),
            });
        }
        Ok(Doc { nodes })
    }

    /// The local name of a node (prefix removed).
    pub fn name(&self, id: NodeId) -> &str {
        self.nodes[id].start.local_name().into_inner()
    }

    /// The node's text, trimmed.
    pub fn text(&self, id: NodeId) -> &str {
        self.nodes[id].text.trim()
    }

    /// The node's element children.
    pub fn children(&self, id: NodeId) -> Children<'_, 'a> {
        Children {
            doc: self,
            next: self.nodes[id].first_child,
        }
    }

    /// The first child with this local name.
    pub fn child(&self, id: NodeId, name: &str) -> Option<NodeId> {
        self.children(id).find(|&c| self.name(c) == name)
    }

    /// An attribute's unescaped value, found by local name (any prefix).
    pub fn attr(&self, id: NodeId, local: &str) -> Option<Cow<'_, str>> {
        self.nodes[id]
            .start
            .attributes()
            .with_checks(false)
            .flatten()
            .find(|a| a.key.local_name().as_ref() == local)
            .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok())
    }

    /// The namespace URI of a node's own name, resolved through the `xmlns` declarations on it
    /// and its ancestors. Empty when the name is in no namespace.
    pub fn namespace(&self, id: NodeId) -> Cow<'_, str> {
        let name = self.nodes[id].start.name();
        let prefix = name.prefix().map(|p| p.into_inner());
        let mut cur = Some(id);
        while let Some(n) = cur {
            for a in self.nodes[n]
                .start
                .attributes()
                .with_checks(false)
                .flatten()
            {
                let key = a.key.as_ref();
                let hit = match &prefix {
                    None => key == "xmlns",
                    Some(p) => key.strip_prefix("xmlns:") == Some(p),
                };
                if hit {
                    return a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .unwrap_or(Cow::Borrowed(""));
                }
            }
            cur = self.nodes[n].parent;
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

fn append<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

fn push<'a>(
    nodes: &mut Vec<Node<'a>>,
    stack: &[NodeId],
    start: BytesStart<'a>,
    limits: &Limits,
) -> Result<NodeId, Mm7Error> {
    if nodes.len() >= limits.max_elements {
        return Err(Mm7Error::LimitExceeded {
            what: "XML element count",
            limit: limits.max_elements,
        });
    }
    let id = nodes.len();
    let parent = stack.last().copied();
    nodes.push(Node {
        start,
        text: Cow::Borrowed(""),
        parent,
        first_child: None,
        next_sibling: None,
        last_child: None,
    });
    if let Some(p) = parent {
        match nodes[p].last_child {
            Some(last) => nodes[last].next_sibling = Some(id),
            None => nodes[p].first_child = Some(id),
        }
        nodes[p].last_child = Some(id);
    }
    Ok(id)
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
        self.next = self.doc.nodes[id].next_sibling;
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
    fn malformed_documents_are_errors() {
        let l = Limits::default();
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "text", "<a/>tail"] {
            assert!(Doc::parse(bad, &l).is_err(), "{bad:?}");
        }
    }
}
