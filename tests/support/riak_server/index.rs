//! Secondary indexes: exact and range queries, pagination with Erlang-term continuations.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Term {
    Int(i128),
    Bin(Vec<u8>),
}

impl Term {
    pub(super) fn text(&self) -> String {
        match self {
            Term::Int(n) => n.to_string(),
            Term::Bin(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }

    pub(super) fn etf(&self, out: &mut Vec<u8>) {
        match self {
            Term::Int(n) if (0..=255).contains(n) => out.extend_from_slice(&[97, *n as u8]),
            Term::Int(n) if i32::try_from(*n).is_ok() => {
                out.push(98);
                out.extend_from_slice(&(*n as i32).to_be_bytes());
            }
            Term::Int(n) => {
                let mut digits = n.unsigned_abs().to_le_bytes().to_vec();
                while digits.last() == Some(&0) {
                    digits.pop();
                }
                out.extend_from_slice(&[110, digits.len() as u8, u8::from(*n < 0)]);
                out.extend_from_slice(&digits);
            }
            Term::Bin(b) => etf_bin(b, out),
        }
    }
}

pub(super) fn etf_bin(b: &[u8], out: &mut Vec<u8>) {
    out.push(109);
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

pub(super) fn etf_term(raw: &[u8]) -> Option<(Term, &[u8])> {
    let (&tag, rest) = raw.split_first()?;
    match tag {
        97 => Some((Term::Int(i128::from(*rest.first()?)), &rest[1..])),
        98 => {
            let (n, rest) = rest.split_first_chunk::<4>()?;
            Some((Term::Int(i128::from(i32::from_be_bytes(*n))), rest))
        }
        110 => {
            let (&len, rest) = rest.split_first()?;
            let (&sign, rest) = rest.split_first()?;
            let digits = rest.get(..len as usize)?;
            if digits.len() > 16 {
                return None;
            }
            let mut value: u128 = 0;
            for (i, d) in digits.iter().enumerate() {
                value |= u128::from(*d) << (8 * i);
            }
            let value = i128::try_from(value).ok()?;
            Some((
                Term::Int(if sign == 1 { -value } else { value }),
                &rest[len as usize..],
            ))
        }
        109 => {
            let (len, rest) = rest.split_first_chunk::<4>()?;
            let len = u32::from_be_bytes(*len) as usize;
            Some((Term::Bin(rest.get(..len)?.to_vec()), &rest[len..]))
        }
        _ => None,
    }
}

pub(super) fn index_query<'q>(
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    name: &str,
    values: &[&str],
    q: impl Fn(&str) -> Option<&'q str>,
) -> Response {
    let name = String::from_utf8_lossy(&unquote(name)).to_ascii_lowercase();
    let is_int = name.ends_with("_int");
    if !(is_int || name.ends_with("_bin") || name == "$bucket" || name == "$key") {
        return text(
            400,
            "Bad Request",
            false,
            "text/plain",
            &format!("Invalid query: {{unknown_field_type,<<\"{name}\">>}}\n"),
        );
    }
    let parse = |raw: &str| -> Result<Term, Response> {
        let raw = unquote(raw);
        if is_int {
            std::str::from_utf8(&raw)
                .ok()
                .and_then(|s| s.parse::<i128>().ok())
                .map(Term::Int)
                .ok_or_else(|| {
                    text(400, "Bad Request", false, "text/plain", &format!(
                        "Invalid query: {{field_parsing_failed,{{<<\"{name}\">>,<<\"{}\">>}}}}\n",
                        String::from_utf8_lossy(&raw)
                    ))
                })
        } else {
            Ok(Term::Bin(raw))
        }
    };
    let (start, end, range) = match values {
        [v] => match parse(v) {
            Ok(t) => (t.clone(), t, false),
            Err(r) => return r,
        },
        [a, b] => match (parse(a), parse(b)) {
            (Ok(a), Ok(b)) => (a, b, true),
            (Err(r), _) | (_, Err(r)) => return r,
        },
        _ => {
            return crash(
                false,
                "{error,function_clause,[{riak_kv_wm_index,malformed_request,2}]}",
            );
        }
    };
    let max_results = match q("max_results") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return text(
                    400,
                    "Bad Request",
                    false,
                    "text/plain",
                    &format!("Invalid \"max_results\". \"{v}\" is not a positive integer"),
                );
            }
        },
    };
    let after: Option<(Term, Vec<u8>)> = match q("continuation") {
        None => None,
        Some(c) => {
            let decoded = B64.decode(c).ok().and_then(|raw| {
                let rest = raw.strip_prefix(&[131u8][..])?;
                if range {
                    let rest = rest.strip_prefix(&[104u8, 2][..])?;
                    let (term, rest) = etf_term(rest)?;
                    let (Term::Bin(key), []) = etf_term(rest)? else {
                        return None;
                    };
                    Some((term, key))
                } else {
                    let (Term::Bin(key), []) = etf_term(rest)? else {
                        return None;
                    };
                    Some((start.clone(), key))
                }
            });
            match decoded {
                Some(d) => Some(d),
                None => {
                    return crash(
                        false,
                        "{error,function_clause,\n    [{base64,decode_list,\n         [[],<<>>]}]}",
                    );
                }
            }
        }
    };
    let return_terms = range && q("return_terms") == Some("true");
    let mut entries: Vec<(Term, Vec<u8>)> = Vec::new();
    {
        let mut state = cluster.lock();
        reap(&mut state, id);
        if let Some(bucket) = state.buckets.get(id) {
            for (key, obj) in &bucket.objects {
                let mut terms: Vec<Term> = match name.as_str() {
                    "$bucket" => {
                        vec![Term::Bin(id.1.clone())]
                    }
                    "$key" => vec![Term::Bin(key.clone())],
                    _ if obj.is_deleted() => Vec::new(),
                    _ => obj
                        .siblings
                        .iter()
                        .filter(|s| !s.deleted)
                        .flat_map(|s| s.indexes.get(&name).cloned().unwrap_or_default())
                        .collect(),
                };
                terms.sort();
                terms.dedup();
                for t in terms {
                    if t >= start && t <= end {
                        entries.push((t, key.clone()));
                    }
                }
            }
        }
    }
    let mut continuation = None;
    if let Some(max) = max_results {
        entries.sort();
        if let Some(after) = &after {
            entries.retain(|e| e > after);
        }
        if entries.len() >= max {
            entries.truncate(max);
            let (term, key) = &entries[max - 1];
            let mut raw = vec![131u8];
            if range {
                raw.extend_from_slice(&[104, 2]);
                term.etf(&mut raw);
            }
            etf_bin(key, &mut raw);
            continuation = Some(B64.encode(raw));
        }
    } else {
        // Riak gives no order without max_results; neither do we.
        entries.sort_by_key(|(t, k)| {
            mix(k.iter().fold(t.text().len() as u64, |h, b| {
                h.wrapping_mul(31).wrapping_add(u64::from(*b))
            }))
        });
    }
    let mut body = if return_terms {
        let items: Vec<String> = entries
            .iter()
            .map(|(t, k)| format!("{{{}:{}}}", json_utf8(t.text().as_bytes()), json_utf8(k)))
            .collect();
        format!("{{\"results\":[{}]", items.join(","))
    } else {
        let items: Vec<String> = entries.iter().map(|(_, k)| json_utf8(k)).collect();
        format!("{{\"keys\":[{}]", items.join(","))
    };
    if let Some(c) = continuation {
        body.push_str(&format!(",\"continuation\":\"{c}\""));
    }
    body.push('}');
    text(200, "OK", true, "application/json", &body)
}
