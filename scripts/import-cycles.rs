//! Fails when files of one crate import each other in a cycle: builds the
//! graph of `crate::`, `super::`, `self::` and child-module paths between
//! the `.rs` files of each source folder given, and reports every set of
//! files that reach one another. Built with plain `rustc` by
//! `import-cycles.sh`, so CI needs nothing beyond the toolchain.
//!
//! A name a module imports counts as that module's only if it is defined
//! there: `use super::Item`, where the parent itself imported `Item` from
//! a sibling, points at the sibling. Otherwise a crate root that re-exports
//! its API, or a parent that gathers its children's names, would seem to
//! be in a cycle with every file that uses those names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type ModPath = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

/// One path a file mentions, with its line, as written (not yet resolved).
struct Mention {
    module: ModPath,
    path: Vec<String>,
    line: usize,
}

struct File {
    path: PathBuf,
    module: ModPath,
    mentions: Vec<Mention>,
}

/// Tokens with their lines; comments, strings and characters are dropped.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(b[i] == b'\n');
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"')) => {
                let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push((Tok::Ident("r".into()), line));
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    line += usize::from(b[i] == b'\n');
                    i += 1;
                }
                i += close.len();
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    line += usize::from(b[i] == b'\n');
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            // A character literal, not a lifetime: 'x', '\n', '\u{..}'.
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push((Tok::Ident(src[start..i].to_owned()), line));
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                out.push((Tok::Colons, line));
                i += 2;
            }
            _ => {
                let tok = match c {
                    b'{' => Tok::Open,
                    b'}' => Tok::Close,
                    b',' => Tok::Comma,
                    b';' => Tok::Semi,
                    b'*' => Tok::Star,
                    _ => Tok::Other,
                };
                out.push((tok, line));
                i += 1;
            }
        }
    }
    out
}

/// The paths of a `use` tree starting at `toks[*i]`, each with the name it
/// binds (its last segment, or its `as` alias).
fn use_tree(toks: &[(Tok, usize)], i: &mut usize, prefix: &[String]) -> Vec<(Vec<String>, String)> {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(name)) => {
                path.push(name.clone());
                *i += 1;
                if toks.get(*i).map(|t| &t.0) == Some(&Tok::Colons) {
                    *i += 1;
                    continue;
                }
                let mut bound = name.clone();
                if name == "self" {
                    path.pop();
                    bound = path.last().cloned().unwrap_or_default();
                }
                if let (Some(Tok::Ident(kw)), Some(Tok::Ident(alias))) =
                    (toks.get(*i).map(|t| &t.0), toks.get(*i + 1).map(|t| &t.0))
                    && kw == "as"
                {
                    bound = alias.clone();
                    *i += 2;
                }
                return vec![(path, bound)];
            }
            Some(Tok::Star) => {
                *i += 1;
                path.push("*".into());
                return vec![(path, "*".into())];
            }
            Some(Tok::Open) => {
                *i += 1;
                let mut all = Vec::new();
                while !matches!(toks.get(*i).map(|t| &t.0), Some(Tok::Close) | None) {
                    all.extend(use_tree(toks, i, &path));
                    if toks.get(*i).map(|t| &t.0) == Some(&Tok::Comma) {
                        *i += 1;
                    }
                }
                *i += 1;
                return all;
            }
            _ => return Vec::new(),
        }
    }
}

/// The file's mentions of paths, and the names its modules (and inline
/// modules) bind with `use`: (module, name) -> absolute-or-relative path.
fn scan(
    file: &mut File,
    src: &str,
    imports: &mut HashMap<(ModPath, String), (ModPath, Vec<String>)>,
    inline: &mut HashMap<ModPath, PathBuf>,
) {
    let toks = tokenize(src);
    let mut depth = 0usize;
    let mut stack: Vec<(String, usize)> = Vec::new();
    let module = |stack: &[(String, usize)]| {
        let mut m = file.module.clone();
        m.extend(stack.iter().map(|(n, _)| n.clone()));
        m
    };
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = (&toks[i].0, toks[i].1);
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) =
                    (toks.get(i + 1).map(|t| &t.0), toks.get(i + 2).map(|t| &t.0))
                {
                    stack.push((name.clone(), depth));
                    inline.insert(module(&stack), file.path.clone());
                    i += 2;
                    continue;
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                let here = module(&stack);
                i += 1;
                if toks.get(i).map(|t| &t.0) == Some(&Tok::Colons) {
                    i += 1;
                }
                for (path, bound) in use_tree(&toks, &mut i, &[]) {
                    if bound != "*" && !bound.is_empty() {
                        imports.insert((here.clone(), bound), (here.clone(), path.clone()));
                    }
                    file.mentions.push(Mention {
                        module: here.clone(),
                        path,
                        line,
                    });
                }
                continue;
            }
            Tok::Ident(first)
                if toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Colons)
                    && (i == 0 || toks[i - 1].0 != Tok::Colons) =>
            {
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j).map(|t| &t.0) == Some(&Tok::Colons) {
                    match toks.get(j + 1).map(|t| &t.0) {
                        Some(Tok::Ident(next)) => path.push(next.clone()),
                        _ => break,
                    }
                    j += 2;
                }
                file.mentions.push(Mention {
                    module: module(&stack),
                    path,
                    line,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

struct Crate {
    files: Vec<File>,
    modules: HashMap<ModPath, PathBuf>,
    imports: HashMap<(ModPath, String), (ModPath, Vec<String>)>,
}

impl Crate {
    /// `path` as written in `module`, made absolute; `None` for another
    /// crate's path.
    fn absolute(&self, module: &ModPath, path: &[String]) -> Option<ModPath> {
        let mut base = module.clone();
        let mut rest = path;
        match rest.first().map(String::as_str)? {
            "crate" => {
                base.clear();
                rest = &rest[1..];
            }
            "self" => rest = &rest[1..],
            "super" => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            first => {
                let mut child = module.clone();
                child.push(first.to_owned());
                if !self.modules.contains_key(&child) {
                    // A name this module imported (`use x; x::f()`) was
                    // already counted at its `use`.
                    return None;
                }
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what `path` (absolute) names.
    fn resolve(&self, path: &ModPath, hops: usize) -> Option<&PathBuf> {
        let mut k = path.len();
        while !self.modules.contains_key(&path[..k]) {
            k -= 1;
        }
        let module = path[..k].to_vec();
        if let Some(name) = path.get(k)
            && hops < 16
            && let Some((from, target)) = self.imports.get(&(module.clone(), name.clone()))
            && let Some(mut target) = self.absolute(from, target)
            && target != *path
        {
            target.extend(path[k + 1..].iter().cloned());
            return self.resolve(&target, hops + 1);
        }
        self.modules.get(&module)
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: ModPath = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if parts.is_empty() && (stem == "lib" || stem == "main") || stem == "mod" {
        return parts;
    }
    parts.push(stem.to_owned());
    parts
}

/// The crate under `src`: its files, their modules and the names bound.
fn load(src: &Path) -> Crate {
    let mut paths = Vec::new();
    rs_files(src, &mut paths);
    paths.sort();
    // A binary beside a library is its own crate, which only uses the library.
    if paths.contains(&src.join("lib.rs")) {
        paths.retain(|p| p != &src.join("main.rs"));
    }
    let mut krate = Crate {
        files: Vec::new(),
        modules: HashMap::new(),
        imports: HashMap::new(),
    };
    let mut inline = HashMap::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut file = File {
            module: module_of(src, &path),
            path,
            mentions: Vec::new(),
        };
        krate.modules.insert(file.module.clone(), file.path.clone());
        scan(&mut file, &text, &mut krate.imports, &mut inline);
        krate.files.push(file);
    }
    for (module, path) in inline {
        krate.modules.entry(module).or_insert(path);
    }
    krate
}

/// Edges between distinct files, each with the first line that makes it.
fn edges(krate: &Crate) -> BTreeMap<(PathBuf, PathBuf), usize> {
    let mut edges = BTreeMap::new();
    for file in &krate.files {
        for m in &file.mentions {
            let Some(abs) = krate.absolute(&m.module, &m.path) else {
                continue;
            };
            let abs: ModPath = abs.into_iter().filter(|s| s != "*").collect();
            if let Some(to) = krate.resolve(&abs, 0)
                && *to != file.path
            {
                edges
                    .entry((file.path.clone(), to.clone()))
                    .or_insert(m.line);
            }
        }
    }
    edges
}

/// Strongly connected sets of more than one file (Tarjan).
fn cycles(
    nodes: &BTreeSet<PathBuf>,
    edges: &BTreeMap<(PathBuf, PathBuf), usize>,
) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        next: &'a BTreeMap<&'a PathBuf, Vec<&'a PathBuf>>,
        index: HashMap<&'a PathBuf, usize>,
        low: HashMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for &w in t.next.get(v).into_iter().flatten() {
            if !t.index.contains_key(w) {
                visit(t, w);
                let low = t.low[v].min(t.low[w]);
                t.low.insert(v, low);
            } else if t.on.contains(w) {
                let low = t.low[v].min(t.index[w]);
                t.low.insert(v, low);
            }
        }
        if t.low[v] == t.index[v] {
            let mut set = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                set.push(w.clone());
                if w == v {
                    break;
                }
            }
            if set.len() > 1 {
                set.sort();
                t.found.push(set);
            }
        }
    }
    let mut next: BTreeMap<&PathBuf, Vec<&PathBuf>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut t = T {
        next: &next,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.found
}

fn main() -> ExitCode {
    let mut failed = false;
    for src in std::env::args().skip(1) {
        let krate = load(Path::new(&src));
        let edges = edges(&krate);
        let nodes: BTreeSet<PathBuf> = krate.files.iter().map(|f| f.path.clone()).collect();
        for set in cycles(&nodes, &edges) {
            failed = true;
            eprintln!("import cycle among {} files:", set.len());
            for ((from, to), line) in &edges {
                if set.contains(from) && set.contains(to) {
                    eprintln!("  {}:{line} -> {}", from.display(), to.display());
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
