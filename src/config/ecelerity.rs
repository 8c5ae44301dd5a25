//! The seed's `mstore { servers = (…) }` stanza, read from a Momentum `ecelerity.conf`.

use std::collections::BTreeMap;

/// The default Riak server of the mstore module (the seed: `("127.0.0.1:8098")`).
pub const DEFAULT_MSTORE_SERVER: &str = "127.0.0.1:8098";

/// Most servers an `mstore` stanza may list (the same bound as `RiakConfig::servers`).
pub const MAX_MSTORE_SERVERS: usize = 256;

/// The `mstore` module stanza of a Momentum configuration file:
///
/// ```text
/// mstore {
///   servers = ("127.0.0.1:8098" "10.0.0.2:8098")
/// }
/// ```
///
/// The seed's only module option is `servers`; the options common to all Momentum modules
/// (`debug_flags`, …) are kept in [`other`](MstoreModuleConfig::other) without interpretation.
///
/// `servers` holds 1 to [`MAX_MSTORE_SERVERS`] entries, each a `host:port` or
/// `http(s)://host:port` with a port from 1 to 65535; an empty list, a longer one or a bad entry
/// is an error naming the key, the value and the valid range (an absent `servers` takes the
/// seed's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MstoreModuleConfig {
    /// The Riak servers, `host:port` as written; one is picked at random per request.
    pub servers: Vec<String>,
    /// The other options of the stanza, by name, with their raw values.
    pub other: BTreeMap<String, String>,
}

impl Default for MstoreModuleConfig {
    fn default() -> Self {
        Self {
            servers: vec![DEFAULT_MSTORE_SERVER.to_owned()],
            other: BTreeMap::new(),
        }
    }
}

/// Why an `mstore` stanza could not be read; carries the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mstore stanza, line {line}: {reason}")]
pub struct StanzaError {
    /// 1-based line number in the file.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl MstoreModuleConfig {
    /// Reads the `mstore { … }` stanza from the text of a Momentum configuration file
    /// (other stanzas are skipped). Without such a stanza, or without `servers`, the seed's
    /// default `("127.0.0.1:8098")` applies.
    pub fn from_ecelerity_conf(text: &str) -> Result<Self, StanzaError> {
        let tokens = tokenize(text)?;
        let mut config = Self::default();
        let mut i = 0;
        let mut depth = 0usize;
        while i < tokens.len() {
            match &tokens[i].kind {
                Tok::Open => depth += 1,
                Tok::Close => depth = depth.saturating_sub(1),
                Tok::Word(w) if depth == 0 && w == "mstore" => {
                    if matches!(tokens.get(i + 1).map(|t| &t.kind), Some(Tok::Open)) {
                        i = config.read_body(&tokens, i + 2)?;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if config.servers.is_empty() {
            config.servers.push(DEFAULT_MSTORE_SERVER.to_owned());
        }
        Ok(config)
    }

    /// The servers as base URLs (`http://` is added where no scheme is written).
    pub fn server_urls(&self) -> Result<Vec<url::Url>, StanzaError> {
        self.servers
            .iter()
            .map(|s| {
                let text = if s.contains("://") {
                    s.clone()
                } else {
                    format!("http://{s}")
                };
                url::Url::parse(&text).map_err(|e| StanzaError {
                    line: 0,
                    reason: format!("servers: {s:?} is not a host:port or URL: {e}"),
                })
            })
            .collect()
    }

    /// The [`RiakStore`](crate::store::RiakStore) settings for these servers, the other
    /// settings at their defaults.
    #[cfg(feature = "riak")]
    pub fn riak_config(&self) -> crate::store::RiakConfig {
        crate::store::RiakConfig::new(self.servers.clone())
    }

    /// Reads `key = value` pairs up to the closing brace; returns the index after it.
    fn read_body(&mut self, tokens: &[Token], mut i: usize) -> Result<usize, StanzaError> {
        loop {
            let Some(tok) = tokens.get(i) else {
                let line = tokens.last().map_or(1, |t| t.line);
                return Err(StanzaError {
                    line,
                    reason: "missing `}` closing the mstore stanza".to_owned(),
                });
            };
            match &tok.kind {
                Tok::Close => return Ok(i + 1),
                Tok::Word(key) => {
                    if !matches!(tokens.get(i + 1).map(|t| &t.kind), Some(Tok::Eq)) {
                        return Err(StanzaError {
                            line: tok.line,
                            reason: format!("expected `=` after `{key}`"),
                        });
                    }
                    let (values, next) = read_value(tokens, i + 2, tok.line)?;
                    if key == "servers" {
                        check_servers(&values, tok.line)?;
                        self.servers = values;
                    } else {
                        self.other.insert(key.clone(), values.join(" "));
                    }
                    i = next;
                }
                other => {
                    return Err(StanzaError {
                        line: tok.line,
                        reason: format!("expected an option name, found {}", other.describe()),
                    });
                }
            }
        }
    }
}

/// Checks the `servers` list: 1 to [`MAX_MSTORE_SERVERS`] entries, each a host and port.
fn check_servers(values: &[String], line: usize) -> Result<(), StanzaError> {
    let shown = || {
        let mut list: Vec<String> = values.iter().take(4).map(|v| format!("{v:?}")).collect();
        if values.len() > 4 {
            list.push(format!("… {} more", values.len() - 4));
        }
        format!("({})", list.join(" "))
    };
    if values.is_empty() || values.len() > MAX_MSTORE_SERVERS {
        return Err(StanzaError {
            line,
            reason: format!(
                "servers = {}: {} servers, outside the valid range 1 to {MAX_MSTORE_SERVERS}",
                shown(),
                values.len()
            ),
        });
    }
    for server in values {
        let text = if server.contains("://") {
            server.clone()
        } else {
            format!("http://{server}")
        };
        let problem = match url::Url::parse(&text) {
            Err(e) => Some(e.to_string()),
            Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host().is_none() => {
                Some("expected host:port or http(s)://host:port".to_owned())
            }
            Ok(u) if u.port() == Some(0) => {
                Some("port 0 is outside the valid range 1 to 65535".to_owned())
            }
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            return Err(StanzaError {
                line,
                reason: format!("servers: {server:?}: {problem}"),
            });
        }
    }
    Ok(())
}

/// Reads a scalar or a parenthesised list; returns its items and the index after it.
fn read_value(
    tokens: &[Token],
    i: usize,
    line: usize,
) -> Result<(Vec<String>, usize), StanzaError> {
    match tokens.get(i).map(|t| &t.kind) {
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok((vec![w.clone()], i + 1)),
        Some(Tok::LParen) => {
            let mut items = Vec::new();
            let mut j = i + 1;
            loop {
                match tokens.get(j).map(|t| (&t.kind, t.line)) {
                    Some((Tok::RParen, _)) => return Ok((items, j + 1)),
                    Some((Tok::Word(w), _)) | Some((Tok::Quoted(w), _)) => items.push(w.clone()),
                    Some((Tok::Comma, _)) => {}
                    Some((other, l)) => {
                        return Err(StanzaError {
                            line: l,
                            reason: format!("expected a list item, found {}", other.describe()),
                        });
                    }
                    None => {
                        return Err(StanzaError {
                            line,
                            reason: "missing `)` closing the list".to_owned(),
                        });
                    }
                }
                j += 1;
            }
        }
        Some(other) => Err(StanzaError {
            line,
            reason: format!("expected a value, found {}", other.describe()),
        }),
        None => Err(StanzaError {
            line,
            reason: "expected a value, found the end of the file".to_owned(),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Open,
    Close,
    LParen,
    RParen,
    Eq,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(q) => format!("{q:?}"),
            Tok::Open => "`{`".into(),
            Tok::Close => "`}`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Eq => "`=`".into(),
            Tok::Comma => "`,`".into(),
        }
    }
}

#[derive(Debug)]
struct Token {
    kind: Tok,
    line: usize,
}

/// Splits Momentum configuration text into tokens; `#` starts a comment outside quotes.
fn tokenize(text: &str) -> Result<Vec<Token>, StanzaError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        let kind = match c {
            '\n' => {
                line += 1;
                continue;
            }
            c if c.is_whitespace() || c == ';' => continue,
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
                continue;
            }
            '{' => Tok::Open,
            '}' => Tok::Close,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '=' => Tok::Eq,
            ',' => Tok::Comma,
            '"' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => s.push(e),
                            None => break,
                        },
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            s.push(ch);
                        }
                        None => {
                            return Err(StanzaError {
                                line: start,
                                reason: "unterminated quoted string".to_owned(),
                            });
                        }
                    }
                }
                Tok::Quoted(s)
            }
            c => {
                let mut w = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "{}()=,;#\"".contains(n) {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                Tok::Word(w)
            }
        };
        tokens.push(Token { kind, line });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_at_and_past_their_boundaries() {
        let stanza = |list: &str| format!("# x\nmstore {{\n  servers = ({list})\n}}\n");
        let one = MstoreModuleConfig::from_ecelerity_conf(&stanza("\"10.0.0.1:65535\"")).unwrap();
        assert_eq!(one.servers, ["10.0.0.1:65535"]);
        let most: Vec<String> = (0..MAX_MSTORE_SERVERS)
            .map(|n| format!("\"10.0.{}.{}:8098\"", n / 256, n % 256))
            .collect();
        let most = MstoreModuleConfig::from_ecelerity_conf(&stanza(&most.join(" "))).unwrap();
        assert_eq!(most.servers.len(), MAX_MSTORE_SERVERS);

        let too_many: Vec<&str> = vec!["\"h:1\""; MAX_MSTORE_SERVERS + 1];
        for (list, want) in [
            (
                String::new(),
                "servers = (): 0 servers, outside the valid range 1 to 256",
            ),
            (
                too_many.join(" "),
                "257 servers, outside the valid range 1 to 256",
            ),
            (
                "\"10.0.0.1:0\"".to_owned(),
                "\"10.0.0.1:0\": port 0 is outside the valid range 1 to 65535",
            ),
            (
                "\"10.0.0.1:65536\"".to_owned(),
                "\"10.0.0.1:65536\": invalid port",
            ),
            (
                "\"ftp://h:1\"".to_owned(),
                "\"ftp://h:1\": expected host:port",
            ),
        ] {
            let err = MstoreModuleConfig::from_ecelerity_conf(&stanza(&list)).unwrap_err();
            assert_eq!(err.line, 3, "{err}");
            assert!(err.reason.contains(want), "{err}");
        }
        // Without `servers` the seed's default applies.
        let bare = MstoreModuleConfig::from_ecelerity_conf("mstore {\n}\n").unwrap();
        assert_eq!(bare.servers, [DEFAULT_MSTORE_SERVER]);
    }

    #[test]
    fn tokenizer_keeps_line_numbers() {
        let err =
            MstoreModuleConfig::from_ecelerity_conf("\n\nmstore {\n servers \"x\"\n}").unwrap_err();
        assert_eq!(err.line, 4);
    }
}
