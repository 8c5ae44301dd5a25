//! Reading the Prometheus text format in the tests.
#![allow(dead_code)]

/// The sum of every sample of `name` whose labels contain `labels` (a `k="v"` list, or "").
pub fn value(page: &str, name: &str, labels: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, r)) => (m, r),
                None => (series, ""),
            };
            (metric == name && rest.contains(labels)).then(|| v.parse::<f64>().ok())?
        })
        .sum()
}
