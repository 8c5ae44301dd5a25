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

/// The key starting at the front of `s` and its length (colon included), if any. `submit date`
/// and `done date` are also accepted with `_` or without the space, as some SMSCs write them.
fn key_at(s: &[u8]) -> Option<(Key, usize)> {
    const KEYS: [(&[u8], Key); 14] = [
        (b"id:", Key::Id),
        (b"sub:", Key::Sub),
        (b"stat:", Key::Stat),
        (b"submit date:", Key::SubmitDate),
        (b"submit_date:", Key::SubmitDate),
        (b"submitdate:", Key::SubmitDate),
        (b"submit-date:", Key::SubmitDate),
        (b"dlvrd:", Key::Dlvrd),
        (b"done date:", Key::DoneDate),
        (b"done_date:", Key::DoneDate),
        (b"donedate:", Key::DoneDate),
        (b"done-date:", Key::DoneDate),
        (b"err:", Key::Err),
        (b"text:", Key::Text),
    ];
    let first = s.first()?.to_ascii_lowercase();
    KEYS.iter()
        .filter(|(k, _)| k[0] == first)
        .find(|(k, _)| starts_with_ci(s, k))
        .map(|(k, key)| (*key, k.len()))
}

/// Scans the text. Keys may be in any case and any order; tokens that are not keys (trailing
/// garbage, vendor fields) are skipped. A value runs to the next whitespace, except `text:`,
/// which runs to the next key that has not been seen yet, or to the end.
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
        let start = i + key_len;
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
            return j;
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
