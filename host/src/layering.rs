//! The layer rule of the crate docs, checked on the source itself: every
//! module's references (`crate::…`, `super::…`, `self::…` paths in code, not
//! in comments) are resolved to the module they name, and then
//!
//! - a top-level module only uses top-level modules of a lower layer
//!   (so `serve` never uses `cli`, and `runtime` and `backends` never use
//!   each other; `cli` is the top, as it dispatches to `serve`);
//! - no two sibling modules (at any depth) use each other, directly or
//!   through a ring of siblings.
//!
//! A reference from a module to its own parent or child does not count as a
//! cycle: a parent declares and uses its children, and a child may use what
//! its parent defines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layer of each top-level module: a module may only use modules of a
/// lower layer.
const LAYERS: [(&str, u8); 9] = [
    ("limits", 0),
    ("secrets", 0),
    ("policy", 1),
    ("ports", 2),
    ("runtime", 3),
    ("backends", 3),
    ("app", 4),
    ("serve", 5),
    // The command line dispatches to every command, `serve` included.
    ("cli", 6),
];

type Module = Vec<String>;

/// Every module of `src/` with its source, keyed by its path (`runtime::imports::http`).
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: Module = rel
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if matches!(parts.as_slice(), [one] if one == "lib" || one == "main" || one == "layering")
            {
                continue;
            }
            out.insert(parts, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The names `lib.rs` re-exports at the crate root, and the module each
/// comes from (`Runtime` → `runtime`).
fn root_reexports(lib: &str) -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    let text = code_only(lib);
    for stmt in text.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (base, names) = match rest.split_once("::{") {
            Some((base, names)) => (base, names.trim_end_matches('}').to_string()),
            None => match rest.rsplit_once("::") {
                Some((base, name)) => (base, name.to_string()),
                None => continue,
            },
        };
        let base: Module = base.split("::").map(str::to_string).collect();
        for name in names.split(',') {
            let name = name.trim();
            let name = name.rsplit(" as ").next().unwrap_or(name).trim();
            if name.is_empty() {
                continue;
            }
            let target = if name == "self" {
                base.clone()
            } else {
                let mut m = base.clone();
                m.push(name.to_string());
                m
            };
            out.insert(
                if name == "self" {
                    base.last().cloned().unwrap_or_default()
                } else {
                    name.to_string()
                },
                target,
            );
        }
    }
    out
}

/// The source with comments removed (line comments, doc comments), so a doc
/// link does not count as a use.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a module's code names, as written after `crate::`, `super::`
/// or `self::`, resolved against the module's own path.
fn references(module: &Module, is_dir_module: bool, text: &str) -> Vec<Module> {
    let code = code_only(text);
    let mut out = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", parent(module, is_dir_module)),
        ("self::", self_base(module, is_dir_module)),
    ] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut path = base.clone();
            let mut tail = rest;
            // `super::super::x`
            while let Some(t) = tail.strip_prefix("super::") {
                path.pop();
                tail = t;
            }
            let mut segs: Vec<String> = Vec::new();
            for seg in tail.split("::") {
                let ident: String = seg
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if ident.is_empty() {
                    // `crate::{a, b}`: every name in the group.
                    if let Some(group) = seg.strip_prefix('{') {
                        let group = group.split('}').next().unwrap_or("");
                        for name in group.split(',') {
                            let name: String = name
                                .trim()
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            if !name.is_empty() {
                                let mut p = path.clone();
                                p.extend(segs.iter().cloned());
                                p.push(name);
                                out.push(p);
                            }
                        }
                    }
                    break;
                }
                let last = ident.len() != seg.len();
                segs.push(ident);
                if last {
                    break;
                }
            }
            if !segs.is_empty() {
                path.extend(segs);
                out.push(path);
            }
        }
    }
    out
}

fn parent(module: &Module, is_dir_module: bool) -> Module {
    let mut p = self_base(module, is_dir_module);
    p.pop();
    p
}

fn self_base(module: &Module, _is_dir_module: bool) -> Module {
    module.clone()
}

/// The longest known module a path starts with; a root re-export resolves
/// to the module it comes from.
fn resolve(
    path: &Module,
    known: &BTreeSet<Module>,
    reexports: &BTreeMap<String, Module>,
) -> Option<Module> {
    let path = match path.as_slice() {
        [first, rest @ ..] if !known.iter().any(|m| m[0] == *first) => {
            let mut p = reexports.get(first)?.clone();
            p.extend(rest.iter().cloned());
            p
        }
        _ => path.clone(),
    };
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

/// Module-to-module uses, self-references dropped.
fn edges() -> BTreeSet<(Module, Module)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let known: BTreeSet<Module> = mods.keys().cloned().collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = root_reexports(&lib);
    let mut out = BTreeSet::new();
    for (module, text) in &mods {
        let is_dir = src.join(module.join("/")).is_dir();
        for r in references(module, is_dir, text) {
            if let Some(target) = resolve(&r, &known, &reexports)
                && target != *module
            {
                out.insert((module.clone(), target));
            }
        }
    }
    out
}

fn is_ancestor(a: &Module, b: &Module) -> bool {
    a.len() < b.len() && b[..a.len()] == a[..]
}

#[test]
fn top_level_modules_use_only_lower_layers() {
    let rank: BTreeMap<&str, u8> = LAYERS.into_iter().collect();
    let mut wrong = Vec::new();
    for (from, to) in edges() {
        if from[0] == to[0] {
            continue;
        }
        let (Some(a), Some(b)) = (rank.get(from[0].as_str()), rank.get(to[0].as_str())) else {
            wrong.push(format!(
                "{} or {} has no layer",
                from.join("::"),
                to.join("::")
            ));
            continue;
        };
        if b >= a {
            wrong.push(format!("{} uses {}", from.join("::"), to.join("::")));
        }
    }
    assert!(wrong.is_empty(), "layer rule broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_sibling_modules_use_each_other() {
    // Every use between two modules, lifted to the two siblings under their
    // deepest common ancestor.
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, to) in edges() {
        if is_ancestor(&from, &to) || is_ancestor(&to, &from) {
            continue;
        }
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        graph
            .entry(from[..=common].to_vec())
            .or_default()
            .insert(to[..=common].to_vec());
    }
    // A depth-first search for a back edge names one cycle.
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        on_path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(i) = on_path.iter().position(|m| m == node) {
            let mut cycle = on_path[i..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if !done.insert(node.clone()) {
            return None;
        }
        on_path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, on_path, done) {
                return Some(c);
            }
        }
        on_path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "a module cycle: {}",
            cycle
                .unwrap()
                .iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" -> ")
        );
    }
}

#[test]
fn the_checker_sees_a_cycle_and_a_layer_break() {
    // The resolver on a made-up pair of modules: `a::x` uses `a::y` and back.
    let known: BTreeSet<Module> = [
        vec!["a".to_string()],
        vec!["a".into(), "x".into()],
        vec!["a".into(), "y".into()],
    ]
    .into_iter()
    .collect();
    let x: Module = vec!["a".into(), "x".into()];
    let refs = references(
        &x,
        false,
        "use super::y::Thing;\nuse crate::{a::y, a};\n// crate::b::z\n",
    );
    let resolved: BTreeSet<Module> = refs
        .iter()
        .filter_map(|r| resolve(r, &known, &BTreeMap::new()))
        .collect();
    assert!(
        resolved.contains(&vec!["a".to_string(), "y".to_string()]),
        "{resolved:?}"
    );
    assert!(
        !resolved.iter().any(|m| m[0] == "b"),
        "comments do not count: {resolved:?}"
    );
    // And the real edges include a use the crate is known to make.
    let e = edges();
    assert!(
        e.contains(&(
            vec!["serve".into(), "events".into()],
            vec!["app".into(), "input".into()]
        )),
        "serve reads its events through app::input"
    );
}
