//! The crate's modules form layers: a module uses only modules below it (its own submodules
//! aside). Checked on the source, so a `use` that points upward fails here rather than in
//! review. Doc links (`[..](crate::x)`) are not uses and are not checked.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module and its layer; a module may use modules of lower layers only.
const LAYERS: &[(&str, u32)] = &[
    ("util", 0),
    ("telemetry", 0),
    ("receipt_class", 0),
    // The codecs sit beside the stored-message module, not above it: they use neither it
    // nor the stores.
    ("smpp", 1),
    ("mm7", 1),
    ("message", 1),
    ("store", 2),
    ("config", 3),
    ("bounce", 3),
    ("dlr", 3),
    ("event", 4),
    ("hooks", 5),
    ("retry", 6),
    ("console", 7),
    ("prelude", 8),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::<module>` names a line uses in code (not in comments or doc links).
fn uses(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        found.push(&after[..end]);
        rest = &after[end..];
    }
    found
}

#[test]
fn no_module_uses_one_above_it() {
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let Some(&mine) = layer.get(module) else {
            panic!(
                "src/{} is not in the layer table of tests/layers.rs",
                rel.display()
            );
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in uses(line) {
                if used == module || used.is_empty() {
                    continue;
                }
                match layer.get(used) {
                    Some(&theirs) if theirs < mine => {}
                    Some(&theirs) => upward.push(format!(
                        "src/{}:{}: {module} (layer {mine}) uses {used} (layer {theirs})",
                        rel.display(),
                        n + 1
                    )),
                    // Crate-root items (`crate::BoxError`, macros) are below everything.
                    None => {}
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses pointing up or sideways:\n{}",
        upward.join("\n")
    );
}
