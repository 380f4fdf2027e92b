//! The source tree's layers, read from its `use` lines without compiling anything: every module of
//! `src/` imports only modules of lower layers (so folders have no import circles), no two files
//! import each other, and `src/main.rs` stays a dispatcher.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first; a module may import only modules of lower layers.
/// `data`, `draw` and `fsutil` stand beside the engine's floors and import none of them.
const LAYERS: [&[&str]; 12] = [
    &["error"],
    &["fsutil"],
    &["gpu", "data"],
    &["tensor", "draw"],
    &["ops"],
    &["autograd", "gradcheck"],
    &["nn"],
    &["models", "optimizer"],
    &["checkpoint"],
    &["evaluate", "bench"],
    &["train", "pictures"],
    &["cli"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer of tests/layers.rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/ops/conv/mod.rs` is ["ops", "conv"]; main.rs and lib.rs are [].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Identifiers following `prefix` in `text` (`crate::a::b` gives ["a", "b"] for prefix `crate::`),
/// with `{...}` groups after them opened one level.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        if text[..at].ends_with(|c: char| ident(c) || c == ':') {
            continue;
        }
        let mut rest = &text[at + prefix.len()..];
        let mut path = Vec::new();
        loop {
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            path.push(rest[..end].to_owned());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|&c| ident(c)).collect();
                if !name.is_empty() {
                    found.push([path.clone(), vec![name]].concat());
                }
            }
        } else {
            found.push(path);
        }
    }
    found
}

/// `text` without its `pub use ...;` and `pub(crate) use ...;` statements.
fn without_reexports(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(at) = ["pub use ", "pub(crate) use "]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
    {
        kept.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = &rest[rest.find(';').map_or(rest.len(), |e| e + 1)..];
    }
    kept.push_str(rest);
    kept
}

/// Every module each file of `src/` refers to (the longest prefix of each path that is a module).
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for (me, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        // `super` of `a::b` is `a`, whether `b` is a file or a folder's mod.rs.
        let parent: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
        let mut paths = paths_after(&text, "crate::");
        // The binary reaches the library as `wgnn::`; its own modules as `crate::`.
        paths.extend(paths_after(&text, "wgnn::"));
        paths.extend(
            paths_after(&text, "super::")
                .into_iter()
                .map(|p| [&parent[..], &p[..]].concat()),
        );
        // A folder's mod.rs using its own children (`resume::save_resume_point`); its re-exports
        // (`pub use layers::Conv2d;`) are the folder's face, not a use.
        if file.ends_with("mod.rs") {
            let used = without_reexports(&text);
            for child in modules
                .keys()
                .filter(|m| m.len() == me.len() + 1 && m.starts_with(me))
            {
                let name = child.last().unwrap();
                paths.extend(
                    paths_after(&used, &format!("{name}::"))
                        .into_iter()
                        .map(|p| [&child[..], &p[..]].concat()),
                );
            }
        }
        let mut targets = BTreeSet::new();
        for path in paths {
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p))
                .unwrap_or_default();
            if !target.is_empty() && &target != me {
                targets.insert(target);
            }
        }
        edges.insert(me.clone(), targets);
    }
    edges
}

/// Fails listing `found`, one a line under `what`, unless there are none.
#[track_caller]
fn assert_none(what: &str, found: &[String]) {
    assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
}

#[test]
fn modules_import_only_lower_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in imports() {
        // main.rs is the binary's root: it may use cli.
        let Some(top) = from.first() else { continue };
        for to in targets {
            if to[0] != *top && layer_of(&to[0]) >= layer_of(top) {
                wrong.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert_none("imports against the layers", &wrong);
}

#[test]
fn no_two_files_import_each_other() {
    let edges = imports();
    let mut circles = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                circles.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    assert_none("import circles", &circles);
}

#[test]
fn files_stay_small_and_main_only_dispatches() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let lines = |f: &Path| std::fs::read_to_string(f).unwrap().lines().count();
    let large: Vec<String> = files
        .iter()
        .filter(|f| lines(f) > 600)
        .map(|f| format!("{} ({} lines)", f.display(), lines(f)))
        .collect();
    assert!(large.is_empty(), "files over 600 lines: {large:?}");
    assert!(lines(&src.join("main.rs")) < 100, "src/main.rs grew");
}
