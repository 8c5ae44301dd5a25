//! Quorum parameters, per-key faults and the get coordinator's answers under them.

use super::*;

/// Every bucket here has Riak's default `n_val`.
pub(super) const N_VAL: u32 = 3;

/// A quorum parameter as a number of replicas; `None` for a value Riak refuses.
pub(super) fn quorum_value(text: &str, default: u32) -> Option<u32> {
    match text {
        "one" => Some(1),
        "quorum" => Some(N_VAL / 2 + 1),
        "all" => Some(N_VAL),
        "default" => Some(default),
        n => n.parse().ok(),
    }
}

/// Riak's checks of `r`, `pr`, `w`, `dw`, `pw`, `rw` and `timeout` on an object request,
/// with the response headers recorded for each method.
pub(super) fn check_request_params<'q>(
    req: &Request,
    q: &impl Fn(&str) -> Option<&'q str>,
) -> Option<Response> {
    let names: &[&str] = match req.method.as_str() {
        "GET" | "HEAD" => &["r", "pr"],
        "PUT" | "POST" => &["w", "dw", "pw"],
        "DELETE" => &["rw", "r", "w", "pr", "pw", "dw"],
        _ => &[],
    };
    let refuse = |body: String, get_type: Option<&str>| {
        let mut r = Response::new(400, "Bad Request");
        let ctype = match req.method.as_str() {
            "GET" | "HEAD" => get_type.map(str::to_owned),
            "DELETE" => Some("text/html".to_owned()),
            _ => Some(
                req.header("content-type")
                    .unwrap_or("text/plain")
                    .to_owned(),
            ),
        };
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            r = r.h("Vary", "Accept-Encoding");
        }
        r = r
            .h("Server", SERVER)
            .h("Date", http_date(SystemTime::now()));
        if let Some(ctype) = ctype {
            r = r.h("Content-Type", ctype);
        }
        r.with_body(body.into_bytes())
    };
    for name in names {
        let Some(value) = q(name) else { continue };
        match quorum_value(value, 0) {
            None => {
                return Some(refuse(
                    format!(
                        "{name} query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'\n"
                    ),
                    Some("text/plain"),
                ));
            }
            Some(n) if n > N_VAL => {
                return Some(refuse(
                    format!(
                        "Specified w/dw/pw/node_confirms values invalid for bucket n value of {N_VAL}\n"
                    ),
                    None,
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(t) = q("timeout")
        && t.parse::<u64>().is_err()
    {
        return Some(refuse(
            format!("Bad timeout value \"{t}\"\n"),
            Some("text/plain"),
        ));
    }
    None
}

/// A `503` from Riak's request coordinator; writes carry `Vary`, reads do not (transcript 13).
pub(super) fn unsatisfied(req: &Request, body: String) -> Response {
    let write = matches!(req.method.as_str(), "PUT" | "POST" | "DELETE");
    text(503, "Service Unavailable", write, "text/plain", &body)
}

/// What a [`KeyFault`] makes the cluster answer, if it changes the answer.
pub(super) fn key_fault_answer<'q>(
    req: &Request,
    cluster: &Cluster,
    id: &(String, Vec<u8>),
    key: &[u8],
    q: &impl Fn(&str) -> Option<&'q str>,
) -> Option<Response> {
    if !cluster.any_key_fault.load(Ordering::Relaxed) {
        return None;
    }
    let mut state = cluster.lock();
    let fault = *state.key_faults.get(&(id.1.clone(), key.to_vec()))?;
    let holding = match fault {
        KeyFault::None => return None,
        KeyFault::Unavailable => return Some(unsatisfied(req, "request timed out\n".into())),
        KeyFault::Fallbacks { holding } => u32::from(holding).min(N_VAL),
    };
    let param = |name: &str, default: u32| {
        q(name)
            .and_then(|v| quorum_value(v, default))
            .unwrap_or(default)
    };
    let flag = |name: &str, default: bool| q(name).map_or(default, |v| v == "true");
    match req.method.as_str() {
        "PUT" | "POST" | "DELETE" => {
            // The put coordinator counts the primaries in the preference list before it writes.
            let pw = param("pw", 0);
            (pw > holding)
                .then(|| unsatisfied(req, format!("PW-value unsatisfied: {holding}/{pw}\n")))
        }
        "GET" | "HEAD" => {
            reap(&mut state, id);
            let exists = state
                .buckets
                .get(id)
                .and_then(|b| b.objects.get(key))
                .is_some_and(|o| !o.is_deleted());
            if !exists {
                // Every replica says "not found" anyway.
                return None;
            }
            let r = param("r", N_VAL / 2 + 1);
            let pr = param("pr", 0);
            let notfound_ok = flag("notfound_ok", true);
            let basic_quorum = flag("basic_quorum", false);
            match get_core(holding, r, pr, notfound_ok, basic_quorum) {
                GetOutcome::Found => None,
                GetOutcome::NotFound => Some(not_found_object()),
                GetOutcome::Unsatisfied(body) => Some(unsatisfied(req, body)),
            }
        }
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum GetOutcome {
    Found,
    NotFound,
    Unsatisfied(String),
}

/// Riak's get coordinator (`riak_kv_get_fsm` + `riak_kv_get_core`) for an object that
/// `holding` primaries have, the other `N_VAL - holding` replicas being empty fallbacks whose
/// "not found" answers arrive first.
pub(super) fn get_core(
    holding: u32,
    r: u32,
    pr: u32,
    notfound_ok: bool,
    basic_quorum: bool,
) -> GetOutcome {
    // The coordinator refuses at once when the preference list has too few primaries.
    if pr > holding {
        return GetOutcome::Unsatisfied(format!("PR-value unsatisfied: {holding}/{pr}\n"));
    }
    let fail_threshold = if basic_quorum {
        (N_VAL / 2 + 1).min(N_VAL - r + 1)
    } else {
        N_VAL - r + 1
    };
    let (mut ok, mut pok, mut notfound, mut found) = (0u32, 0u32, 0u32, false);
    let answers = (0..N_VAL - holding)
        .map(|_| false)
        .chain((0..holding).map(|_| true));
    for has_object in answers {
        if has_object {
            ok += 1;
            pok += 1;
            found = true;
        } else if notfound_ok {
            ok += 1;
        } else {
            notfound += 1;
        }
        let enough = (ok >= r && pok >= pr) || notfound >= fail_threshold || ok + notfound >= N_VAL;
        if enough {
            break;
        }
    }
    if ok >= r && pok >= pr {
        return if found {
            GetOutcome::Found
        } else {
            GetOutcome::NotFound
        };
    }
    // Only "not found"s (no tombstones here): Riak answers "not found".
    if notfound > 0 && ok == 0 {
        return GetOutcome::NotFound;
    }
    if (pr > 0 && pok < pr && ok >= r) || pr >= r {
        return GetOutcome::Unsatisfied(format!("PR-value unsatisfied: {pok}/{pr}\n"));
    }
    GetOutcome::Unsatisfied(format!("R-value unsatisfied: {ok}/{r}\n"))
}

/// `GET /types/{type}/props`, in the order Riak 3.2.2 writes them (transcripts 13 and 14).
pub(super) fn type_props(cluster: &Cluster, bucket_type: &str) -> Response {
    let state = cluster.lock();
    let Some(&mult) = state.types.get(bucket_type) else {
        return not_found_html_vary("Accept-Encoding");
    };
    let consistent = state.consistent.contains(bucket_type);
    let dvv = bucket_type != "default";
    let body = format!(
        r#"{{"props":{{"young_vclock":20,"w":"quorum","sync_on_write":"backend","small_vclock":50,"rw":"quorum","r":"quorum","pw":0,"precommit":[],"pr":0,"postcommit":[],"old_vclock":86400,"notfound_ok":true,"node_confirms":0,"n_val":3,"linkfun":{{"mod":"riak_kv_wm_link_walker","fun":"mapreduce_linkfun"}},"last_write_wins":false,"dw":"quorum","dvv_enabled":{dvv},"chash_keyfun":{{"mod":"riak_core_util","fun":"chash_std_keyfun"}},"big_vclock":50,"basic_quorum":false,"allow_mult":{mult},{}"active":true,"claimant":"dev1@127.0.0.1"}}}}"#,
        if consistent {
            r#""consistent":true,"#
        } else {
            ""
        }
    );
    text(200, "OK", true, "application/json", &body)
}

pub(super) fn is_consistent(state: &State, id: &(String, Vec<u8>)) -> bool {
    state.consistent.contains(&id.0)
}

/// The `412` webmachine answers when a precondition fails.
pub(super) fn precondition_failed() -> Response {
    text(
        412,
        "Precondition Failed",
        true,
        "text/html",
        "<html><head><title>412 Precondition Failed</title></head><body><h1>Precondition Failed</h1><p><hr><address>mochiweb+webmachine web server</address></body></html>",
    )
}

/// Whether a request carries a webmachine precondition.
pub(super) fn is_conditional(req: &Request) -> bool {
    ["if-match", "if-none-match", "if-unmodified-since"]
        .iter()
        .any(|h| req.header(h).is_some())
}
