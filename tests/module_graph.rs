//! The product crate's module graph has no import cycles (issue 18): among its top-level modules
//! (`azure`, `bounded`, `cli`, …, as `src/lib.rs` declares them), and among the submodules of
//! `azure` (the Graph client, token and transport) and `resources` (the resource types and the
//! schema rules). Edges are read from the sources: every `crate::…`, `super::…` and `self::…`
//! path in code (`use` trees included; comments and string literals are skipped), resolved
//! against the file's module and any inline `mod … { }` it sits in. A name a parent module
//! re-exports (`pub use child::Name`, or `pub use child::*` of a `pub` item) counts as its child.
//! Items only a macro defines are not resolved.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Top-level modules whose submodules must not form a cycle, as issue 18 names them.
const ACYCLIC_SUBMODULES_OF: &[&str] = &["azure", "resources"];

#[test]
fn top_level_modules_have_no_import_cycles() {
    let krate = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let modules = krate.top_level_modules();
    for expected in [
        "azure",
        "cli",
        "passwordboss",
        "plan",
        "resources",
        "sync",
        "telemetry",
    ] {
        assert!(
            modules.contains(expected),
            "src/lib.rs declares no module {expected}: {modules:?}"
        );
    }
    // None is allowed: `plan` decides over `domain` types and depends on neither client.
    let graph = krate.graph(&[], &modules);
    let problems: Vec<String> = graph
        .cycles()
        .iter()
        .map(|component| format!("import cycle: {}", graph.describe(component)))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Which top-level modules each layer of the core may import: the domain core knows no client,
/// no Kubernetes and no HTTP; the planner decides from the domain's types and the spec's rules
/// and depends on neither client.
const ALLOWED_IMPORTS: &[(&str, &[&str])] = &[
    ("domain", &["bounded"]),
    ("plan", &["domain", "resources", "bounded"]),
];

#[test]
fn the_domain_core_and_the_planner_import_no_client() {
    let krate = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = krate.graph(&[], &krate.top_level_modules());
    let mut problems = Vec::new();
    for (module, allowed) in ALLOWED_IMPORTS {
        assert!(graph.nodes.contains(*module), "no module {module}");
        for (target, places) in graph.edges.get(*module).into_iter().flatten() {
            if !allowed.contains(&target.as_str()) {
                problems.push(format!("{module} imports {target}: {}", places.join(", ")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn named_submodules_have_no_import_cycles() {
    let krate = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut problems = Vec::new();
    for parent in ACYCLIC_SUBMODULES_OF {
        let children = krate.children_of(parent);
        assert!(children.len() > 1, "{parent} has submodules: {children:?}");
        let graph = krate.graph(&[parent.to_string()], &children);
        for component in graph.cycles() {
            problems.push(format!("import cycle: {}", graph.describe(&component)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The checker on sources of its own: it must find each cycle, through `super::`, re-exports,
/// braced `use` trees and `crate::` paths in expressions, and nothing in comments, strings, raw
/// strings or character literals.
#[test]
fn the_checker_finds_cycles_and_only_real_references() {
    let krate = Crate::from_sources(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        (
            "a/mod.rs",
            "mod x; mod y; pub use x::Thing; pub use y::*;\n\
             // crate::d::Nothing is a comment\n",
        ),
        (
            "a/x.rs",
            "use super::{Other, y::Helper};\npub struct Thing;",
        ),
        (
            "a/y.rs",
            "pub struct Other; pub fn Helper() {}\n\
             fn f() { let _ = \"crate::d::Nope\"; let _ = crate::b::run(); }\n\
             fn g() -> super::Thing { super::x::Thing }",
        ),
        ("b.rs", "pub fn run() { crate::c::go(); }"),
        (
            "c.rs",
            "use crate::{a::{self, Thing}, b as _};\npub fn go() {}",
        ),
        (
            "d.rs",
            "mod inner { use super::super::a::Thing; }\n/* crate::a::X /* nested */ */\n\
             fn h<'a>(s: &'a str) -> char { let _ = r#\"crate::b::x\"#; '\"' }\n\
             fn k() { let _ = (b'\\'', \"\\\"crate::c::y\"); }",
        ),
    ]);
    let modules = krate.top_level_modules();
    let top = krate.graph(&[], &modules);
    let cycles = top.cycles();
    assert_eq!(
        cycles,
        vec![BTreeSet::from(["a".into(), "b".into(), "c".into()])],
        "{top:?}"
    );
    let described = top.describe(&cycles[0]);
    assert!(
        described.contains("a -> b (a/y.rs:2 crate::b::run)")
            && described.contains("c -> a (c.rs:1 crate::a"),
        "{described}"
    );
    assert_eq!(
        top.edges["d"].keys().collect::<Vec<_>>(),
        ["a"],
        "d uses a through super::super, from an inline module"
    );
    let inside = krate.graph(&["a".into()], &krate.children_of("a"));
    assert_eq!(
        inside.cycles(),
        vec![BTreeSet::from(["x".into(), "y".into()])],
        "x and y reach each other through re-exports and sibling paths: {inside:?}"
    );
}

/// Every source file of the crate: its module path (`src/a/b.rs` → `a::b`) and its tokens.
struct Crate {
    files: Vec<SourceFile>,
}

struct SourceFile {
    name: String,
    module: Vec<String>,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug)]
struct Token {
    text: String,
    line: usize,
}

/// One path in the code, resolved to an absolute module path (`["azure", "token", "X"]`).
struct Reference {
    /// The module the path is written in (inline modules included).
    from: Vec<String>,
    to: Vec<String>,
    file: String,
    line: usize,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut sources = Vec::new();
        collect_rs_files(src, src, &mut sources);
        assert!(!sources.is_empty(), "no sources under {}", src.display());
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str()))
            .collect();
        Crate::from_sources(&borrowed)
    }

    /// Files as (path relative to `src/`, text).
    fn from_sources(sources: &[(&str, &str)]) -> Crate {
        let files = sources
            .iter()
            .map(|(name, text)| SourceFile {
                name: name.to_string(),
                module: module_of(name),
                tokens: tokenize(text),
            })
            .collect();
        Crate { files }
    }

    fn file(&self, module: &[String]) -> Option<&SourceFile> {
        self.files
            .iter()
            .find(|f| f.module == module && !matches!(f.name.as_str(), "main.rs"))
    }

    /// The modules `lib.rs` declares.
    fn top_level_modules(&self) -> BTreeSet<String> {
        self.declared_modules(&[])
    }

    fn children_of(&self, parent: &str) -> BTreeSet<String> {
        self.declared_modules(&[parent.to_string()])
    }

    /// `mod name;` declarations of the file of `module`.
    fn declared_modules(&self, module: &[String]) -> BTreeSet<String> {
        let Some(file) = self.file(module) else {
            return BTreeSet::new();
        };
        file.tokens
            .windows(3)
            .filter(|w| w[0].text == "mod" && w[2].text == ";")
            .map(|w| w[1].text.clone())
            .collect()
    }

    /// Names `module` re-exports from its children: `pub use child::{A, B}` and, for
    /// `pub use child::*`, the child's `pub` items.
    fn reexports(&self, module: &[String]) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        let Some(file) = self.file(module) else {
            return names;
        };
        let children = self.declared_modules(module);
        let t = &file.tokens;
        for i in 0..t.len() {
            if !(t[i].text == "pub" && t.get(i + 1).is_some_and(|n| n.text == "use")) {
                continue;
            }
            let Some(child) = t.get(i + 2).map(|c| c.text.clone()) else {
                continue;
            };
            if !children.contains(&child) {
                continue;
            }
            for path in use_tree(t, i + 2, Vec::new()) {
                match path.get(1).map(String::as_str) {
                    Some("*") => {
                        let mut child_module = module.to_vec();
                        child_module.push(child.clone());
                        for item in self.pub_items(&child_module) {
                            names.insert(item, child.clone());
                        }
                    }
                    Some(name) => {
                        names.insert(name.to_string(), child.clone());
                    }
                    None => {}
                }
            }
        }
        names
    }

    /// Names of the `pub` items of `module`'s file (outside any braces).
    fn pub_items(&self, module: &[String]) -> BTreeSet<String> {
        let Some(file) = self.file(module) else {
            return BTreeSet::new();
        };
        let kinds = [
            "struct", "enum", "fn", "const", "static", "type", "trait", "mod", "union",
        ];
        let mut depth = 0usize;
        let mut items = BTreeSet::new();
        let t = &file.tokens;
        for i in 0..t.len() {
            match t[i].text.as_str() {
                "{" => depth += 1,
                "}" => depth = depth.saturating_sub(1),
                "pub" if depth == 0 => {
                    let mut j = i + 1;
                    if t.get(j).is_some_and(|n| n.text == "(") {
                        while t.get(j).is_some_and(|n| n.text != ")") {
                            j += 1;
                        }
                        j += 1;
                    }
                    while t
                        .get(j)
                        .is_some_and(|n| n.text == "async" || n.text == "unsafe")
                    {
                        j += 1;
                    }
                    if t.get(j).is_some_and(|k| kinds.contains(&k.text.as_str()))
                        && let Some(name) = t.get(j + 1)
                    {
                        items.insert(name.text.clone());
                    }
                }
                _ => {}
            }
        }
        items
    }

    /// Every `crate::`, `super::` and `self::` path of every file.
    fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        for file in &self.files {
            if file.name == "main.rs" {
                continue;
            }
            let t = &file.tokens;
            // Inline modules: (name, brace depth inside them).
            let mut inline: Vec<(String, usize)> = Vec::new();
            let mut depth = 0usize;
            let mut i = 0;
            while i < t.len() {
                let text = t[i].text.as_str();
                if text == "mod" && t.get(i + 2).is_some_and(|b| b.text == "{") {
                    depth += 1;
                    inline.push((t[i + 1].text.clone(), depth));
                    i += 3;
                    continue;
                }
                if text == "{" {
                    depth += 1;
                } else if text == "}" {
                    if inline.last().is_some_and(|(_, d)| *d == depth) {
                        inline.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                let starts_path = matches!(text, "crate" | "super" | "self")
                    && t.get(i + 1).is_some_and(|c| c.text == "::")
                    && !(i > 0 && matches!(t[i - 1].text.as_str(), "::" | "$"));
                if starts_path {
                    let mut here = file.module.clone();
                    here.extend(inline.iter().map(|(n, _)| n.clone()));
                    let (base, next) = match text {
                        "crate" => (Vec::new(), i + 2),
                        "self" => (here.clone(), i + 2),
                        _ => {
                            let mut base = here.clone();
                            base.pop();
                            let mut j = i + 2;
                            while t.get(j).is_some_and(|s| s.text == "super")
                                && t.get(j + 1).is_some_and(|c| c.text == "::")
                            {
                                base.pop();
                                j += 2;
                            }
                            (base, j)
                        }
                    };
                    for to in use_tree(t, next, base) {
                        out.push(Reference {
                            from: here.clone(),
                            to,
                            file: file.name.clone(),
                            line: t[i].line,
                        });
                    }
                }
                i += 1;
            }
        }
        out
    }

    /// The graph among `nodes`, the submodules of `parent` (the top-level modules for `[]`).
    fn graph(&self, parent: &[String], nodes: &BTreeSet<String>) -> Graph {
        let reexports = self.reexports(parent);
        let level = parent.len();
        let mut graph = Graph {
            nodes: nodes.clone(),
            edges: BTreeMap::new(),
        };
        for r in self.references() {
            if r.from.len() <= level || r.from[..level] != *parent || r.to.len() <= level {
                continue;
            }
            if r.to[..level] != *parent {
                continue;
            }
            let from = &r.from[level];
            let named = &r.to[level];
            let to = if nodes.contains(named) {
                named
            } else if let Some(child) = reexports.get(named) {
                child
            } else {
                continue;
            };
            if from != to && nodes.contains(from) {
                graph
                    .edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to.clone())
                    .or_default()
                    .push(format!("{}:{} crate::{}", r.file, r.line, r.to.join("::")));
            }
        }
        graph
    }
}

/// Module edges with the places that make them (`file:line path`).
#[derive(Debug)]
struct Graph {
    nodes: BTreeSet<String>,
    edges: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Graph {
    fn successors(&self, node: &str) -> impl Iterator<Item = &String> {
        self.edges.get(node).into_iter().flat_map(|e| e.keys())
    }

    /// The strongly connected components with more than one module, each a cycle or several.
    fn cycles(&self) -> Vec<BTreeSet<String>> {
        // A node's component: the nodes it reaches that also reach it.
        let reach = |start: &str| {
            let mut seen = BTreeSet::from([start.to_string()]);
            let mut queue = VecDeque::from([start.to_string()]);
            while let Some(n) = queue.pop_front() {
                for s in self.successors(&n) {
                    if seen.insert(s.clone()) {
                        queue.push_back(s.clone());
                    }
                }
            }
            seen
        };
        let reached: BTreeMap<&String, BTreeSet<String>> =
            self.nodes.iter().map(|n| (n, reach(n))).collect();
        let mut components: Vec<BTreeSet<String>> = Vec::new();
        for (node, reaches) in &reached {
            let component: BTreeSet<String> = reaches
                .iter()
                .filter(|other| reached.get(other).is_some_and(|r| r.contains(*node)))
                .cloned()
                .collect();
            if component.len() > 1 && !components.contains(&component) {
                components.push(component);
            }
        }
        components
    }

    /// One cycle through the component's first module, edge by edge with where each is made,
    /// then every other edge inside the component.
    fn describe(&self, component: &BTreeSet<String>) -> String {
        let start = component.iter().next().expect("a component has modules");
        // Shortest way back to `start` inside the component.
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::new();
        for s in self.successors(start).filter(|s| component.contains(*s)) {
            previous.insert(s.clone(), start.clone());
            queue.push_back(s.clone());
        }
        let mut cycle = vec![start.clone()];
        'search: while let Some(n) = queue.pop_front() {
            for s in self.successors(&n).filter(|s| component.contains(*s)) {
                if s == start {
                    let mut back = vec![n.clone()];
                    while back.last() != Some(start) {
                        let p = previous[back.last().expect("non-empty")].clone();
                        back.push(p);
                    }
                    back.pop();
                    back.reverse();
                    cycle.extend(back);
                    break 'search;
                }
                if !previous.contains_key(s) {
                    previous.insert(s.clone(), n.clone());
                    queue.push_back(s.clone());
                }
            }
        }
        cycle.push(start.clone());
        let edge = |a: &str, b: &str| {
            let places = &self.edges[a][b];
            let shown: Vec<&str> = places.iter().take(3).map(String::as_str).collect();
            let more = places.len().saturating_sub(3);
            format!(
                "{a} -> {b} ({}{})",
                shown.join(", "),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            )
        };
        let mut lines = vec![format!("{} (modules {component:?})", cycle.join(" -> "))];
        let on_cycle: BTreeSet<(&String, &String)> =
            cycle.windows(2).map(|w| (&w[0], &w[1])).collect();
        for w in cycle.windows(2) {
            lines.push(format!("  {}", edge(&w[0], &w[1])));
        }
        for a in component {
            for b in self.successors(a).filter(|b| component.contains(*b)) {
                if !on_cycle.contains(&(a, b)) {
                    lines.push(format!("  also {}", edge(a, b)));
                }
            }
        }
        lines.join("\n")
    }
}

fn collect_rs_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            out.push((name, text));
        }
    }
}

/// `lib.rs`, `main.rs` → the crate root; `a/mod.rs`, `a.rs` → `a`; `a/b.rs` → `a::b`.
fn module_of(name: &str) -> Vec<String> {
    let stem = name.strip_suffix(".rs").expect("a .rs file");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The paths a `use` tree (or an expression path) starting at `t[i]` names, after `prefix`:
/// `a::b::{c, d::{self, e}}` → `[a, b, c]`, `[a, b, d]`, `[a, b, d, e]`.
fn use_tree(t: &[Token], mut i: usize, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut path = prefix;
    loop {
        let Some(token) = t.get(i) else {
            return vec![path];
        };
        match token.text.as_str() {
            "{" => {
                let mut paths = Vec::new();
                let mut depth = 0;
                let mut j = i;
                while let Some(tok) = t.get(j) {
                    match tok.text.as_str() {
                        "{" => depth += 1,
                        "}" => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    if depth == 1
                        && matches!(tok.text.as_str(), "{" | ",")
                        && t.get(j + 1).is_some_and(|n| n.text != "}")
                    {
                        paths.extend(use_tree(t, j + 1, path.clone()));
                    }
                    j += 1;
                }
                return paths;
            }
            "self" => return vec![path],
            "*" => {
                path.push("*".into());
                return vec![path];
            }
            text if is_ident(text) => {
                path.push(text.to_string());
                let continues = t.get(i + 1).is_some_and(|c| c.text == "::")
                    && t.get(i + 2)
                        .is_some_and(|n| is_ident(&n.text) || n.text == "{" || n.text == "*");
                if !continues {
                    return vec![path];
                }
                i += 2;
            }
            _ => return vec![path],
        }
    }
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, with their line; comments, string and
/// character literals and lifetimes are left out.
fn tokenize(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut line);
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1F600}'), else a lifetime or a label.
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if matches!(word.as_str(), "r" | "br" | "cr") && matches!(at(i), '"' | '#') {
                // A raw string (r"…", r#"…"#), or a raw identifier (r#type).
                let mut hashes = 0;
                let mut j = i;
                while at(j) == '#' {
                    hashes += 1;
                    j += 1;
                }
                if at(j) == '"' {
                    i = j + 1;
                    loop {
                        if i >= chars.len() {
                            break;
                        }
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                            i += 1 + hashes;
                            break;
                        }
                        i += 1;
                    }
                    continue;
                }
                if hashes == 1 && word == "r" {
                    i = j;
                    continue;
                }
            }
            if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&chars, i + 1, &mut line);
                continue;
            }
            if word == "b" && at(i) == '\'' {
                // A byte literal: the character-literal branch skips it next.
                continue;
            }
            tokens.push(Token { text: word, line });
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// Past the end of a string literal whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\n' {
            *line += 1;
        }
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}
