//! The receipt-text scanner: SMPP 3.4 Appendix B as SMSCs really send it.

/// The fields of Appendix B, in the order [`Fields`] keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Id = 0,
    Sub = 1,
    Dlvrd = 2,
    SubmitDate = 3,
    DoneDate = 4,
    Stat = 5,
    Err = 6,
    Text = 7,
}

/// Byte ranges of each field's value in the text, first occurrence wins.
pub(crate) type Fields = [Option<(usize, usize)>; 8];

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0)
}

/// Case-insensitive prefix test.
fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// Spaces and tabs: what may sit between a key and its colon, and between the colon and the
/// value.
const fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// The key starting at the front of `s` and its length up to and including the colon, if
/// any. Keys match in any case; spaces or tabs may come before the colon; `submit date` and
/// `done date` are also accepted with several spaces, a tab, `_`, `-` or nothing between the
/// words, as SMSCs write them.
fn key_at(s: &[u8]) -> Option<(Key, usize)> {
    const DATES: [(&[u8], Key); 2] = [(b"submit", Key::SubmitDate), (b"done", Key::DoneDate)];
    const WORDS: [(&[u8], Key); 6] = [
        (b"id", Key::Id),
        (b"sub", Key::Sub),
        (b"stat", Key::Stat),
        (b"dlvrd", Key::Dlvrd),
        (b"err", Key::Err),
        (b"text", Key::Text),
    ];
    let dated = DATES.iter().find_map(|(word, key)| {
        if !starts_with_ci(s, word) {
            return None;
        }
        let mut i = word.len();
        while matches!(s.get(i), Some(b' ' | b'\t' | b'_' | b'-')) {
            i += 1;
        }
        starts_with_ci(&s[i..], b"date").then_some((*key, i + 4))
    });
    let (key, mut i) = dated.or_else(|| {
        WORDS
            .iter()
            .find(|(word, _)| starts_with_ci(s, word))
            .map(|(word, key)| (*key, word.len()))
    })?;
    while s.get(i).copied().is_some_and(is_blank) {
        i += 1;
    }
    (s.get(i) == Some(&b':')).then_some((key, i + 1))
}

/// Scans the text. Keys may be in any case and any order, fields may be separated by any run
/// of spaces, tabs and line ends (CRLF included); tokens that are not keys (trailing garbage,
/// vendor fields) are skipped. A value starts after the colon and any spaces or tabs after it,
/// and runs to the next whitespace, except `text:`, which starts right after its colon and runs
/// to the whitespace before the next key that has not been seen yet, or to the end.
pub(crate) fn scan(s: &[u8]) -> Fields {
    let mut fields: Fields = [None; 8];
    let mut i = 0;
    while i < s.len() {
        if is_space(s[i]) {
            i += 1;
            continue;
        }
        let Some((key, key_len)) = key_at(&s[i..]) else {
            while i < s.len() && !is_space(s[i]) {
                i += 1;
            }
            continue;
        };
        // Spaces or tabs after the colon are layout, unless what follows is the next key
        // (then the value is empty). `text:` is the message's first characters, taken as
        // they are, leading spaces included.
        let mut start = i + key_len;
        let mut value = start;
        while key != Key::Text && value < s.len() && is_blank(s[value]) {
            value += 1;
        }
        if value > start && key_at(&s[value..]).is_none() {
            start = value;
        }
        let end = if key == Key::Text {
            text_end(s, start, &fields)
        } else {
            let mut end = start;
            while end < s.len() && !is_space(s[end]) {
                end += 1;
            }
            end
        };
        let slot = &mut fields[key as usize];
        if slot.is_none() {
            *slot = Some((start, end));
        }
        i = end;
    }
    fields
}

/// Where the `text:` value starting at `start` ends.
fn text_end(s: &[u8], start: usize, fields: &Fields) -> usize {
    let mut j = start;
    while j < s.len() {
        if is_space(s[j])
            && let Some((key, _)) = s.get(j + 1..).and_then(key_at)
            && key != Key::Text
            && fields[key as usize].is_none()
        {
            // The spaces before the next key separate fields; they are not text.
            let mut end = j;
            while end > start && is_space(s[end - 1]) {
                end -= 1;
            }
            return end;
        }
        j += 1;
    }
    // Trailing NULs and line ends are padding, not text.
    let mut end = s.len();
    while end > start && matches!(s[end - 1], 0 | b'\r' | b'\n') {
        end -= 1;
    }
    end
}
