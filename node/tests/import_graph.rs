//! The node's modules import one another in one direction only: edges (the JSON API, the web
//! pages, OpenID, LTI, OneRoster) → the application layer (`crate::school`) → model, repository
//! and store. A cycle is how the code base grew into one knot before, so this test reads every
//! module of `node/src` and fails on any cycle, naming it.
//!
//! A module depends on another when it names it: in a `use crate::…`, `use super::…` or
//! `use self::…` declaration, or in a `crate::…` path anywhere in its code. A name a module
//! re-exports (`pub use`) leads to the module that defines it, and a module's re-exports of its
//! own submodules are part of the module tree, as `mod` declarations are, not dependencies.
//! Comments, strings and the unit-test modules (`#[cfg(test)]` onwards) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path below the crate root: `["api", "assignments"]` for `src/api/assignments.rs`.
type ModulePath = Vec<String>;

/// What each module re-exports: the exported name and the path (from the crate root) it names.
type ReExports = BTreeMap<ModulePath, BTreeMap<String, Vec<String>>>;

/// One `use` declaration: whether it is a re-export, and its tree.
struct UseDeclaration {
    public: bool,
    tree: String,
}

#[test]
fn the_node_modules_import_each_other_without_a_cycle() {
    let source_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = library_modules(&source_root);
    assert!(
        modules.len() > 50,
        "found only {} modules under {}",
        modules.len(),
        source_root.display()
    );
    let graph = import_graph(&modules);
    let cycles = cycles_of(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles in node/src (each line: modules that reach each other):\n{}",
        cycles
            .iter()
            .map(|cycle| cycle.join(", "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Web pages call the application layer's operations, as the JSON API does; none names a module
/// of the API (its handlers, its error type or its helpers), as pages once did when they called
/// handlers as functions. Then a page can neither allow what the API refuses nor grow a rule of
/// its own beside the API's.
#[test]
fn web_pages_name_no_module_of_the_json_api() {
    let callers = dependencies_between_top_level_modules("web", &["api"]);
    assert!(
        callers.is_empty(),
        "web pages that name the JSON API instead of the application layer:\n{}",
        callers.join("\n")
    );
}

/// The edges the application layer must never name: they are built on it, so an operation that
/// reached back into one would tie the layer to HTTP or to a protocol again.
const EDGES_ABOVE_THE_APPLICATION_LAYER: [&str; 7] = [
    "api",
    "web",
    "oidc",
    "lti",
    "oneroster",
    "server",
    "upstream_login",
];

#[test]
fn the_application_layer_names_no_json_handler_and_no_web_page() {
    let upward =
        dependencies_between_top_level_modules("school", &EDGES_ABOVE_THE_APPLICATION_LAYER);
    assert!(
        upward.is_empty(),
        "application-layer modules that name an edge above them:\n{}",
        upward.join("\n")
    );
}

/// Every dependency of a module under `src/<from>` on a module under one of `src/<to>`, as
/// `from/module → to/module` lines.
fn dependencies_between_top_level_modules(from: &str, to: &[&str]) -> Vec<String> {
    let source_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&library_modules(&source_root));
    let mut found = Vec::new();
    for (module, dependencies) in &graph {
        if module.first().is_none_or(|top| top != from) {
            continue;
        }
        for dependency in dependencies {
            if dependency
                .first()
                .is_some_and(|top| to.contains(&top.as_str()))
            {
                found.push(format!("{} → {}", module.join("/"), dependency.join("/")));
            }
        }
    }
    found
}

#[test]
fn the_reader_finds_imports_of_every_form() {
    let modules: BTreeMap<ModulePath, PathBuf> = ["", "a", "a/b", "a/c", "d"]
        .into_iter()
        .map(|name| (module_path(name), PathBuf::new()))
        .collect();
    let source = "
        // use crate::d; (a comment names nothing)
        use super::c::{self, Thing};
        pub(crate) use crate::{d::Other as Renamed, a::b};
        fn f() { crate::d::call(); let text = \"crate::e::x\"; }
        #[cfg(test)]
        mod tests { use crate::a::c; }
    ";
    let no_re_exports = ReExports::new();
    let found = dependencies_of(&module_path("a/b"), source, &modules, &no_re_exports);
    assert_eq!(
        found,
        BTreeSet::from([module_path("a/c"), module_path("d")]),
        "the test module's import, the string and the comment are not dependencies; `a::b` is \
         itself"
    );
    // `a` re-exports `Thing` from its submodule `c`: naming `crate::a::Thing` depends on `a/c`,
    // and `a`'s own re-export is no dependency of `a`.
    let facade = "pub use self::c::Thing;";
    let re_exports =
        ReExports::from([(module_path("a"), re_exports_of(&module_path("a"), facade))]);
    assert_eq!(
        dependencies_of(
            &module_path("d"),
            "use crate::a::Thing;",
            &modules,
            &re_exports
        ),
        BTreeSet::from([module_path("a/c")])
    );
    assert!(dependencies_of(&module_path("a"), facade, &modules, &re_exports).is_empty());
    let graph = BTreeMap::from([
        (module_path("a"), BTreeSet::from([module_path("d")])),
        (module_path("d"), BTreeSet::from([module_path("a")])),
        (module_path("a/b"), BTreeSet::from([module_path("a")])),
    ]);
    assert_eq!(
        cycles_of(&graph),
        vec![vec!["a".to_owned(), "d".to_owned()]]
    );
}

fn module_path(name: &str) -> ModulePath {
    name.split('/')
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every module file of the library: `src/**/*.rs` but the binaries (`main.rs`, `bin/`).
fn library_modules(source_root: &Path) -> BTreeMap<ModulePath, PathBuf> {
    let mut modules = BTreeMap::new();
    let mut folders = vec![source_root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", folder.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let relative = path
                .strip_prefix(source_root)
                .expect("below the source root")
                .to_path_buf();
            if path.is_dir() {
                if relative != Path::new("bin") {
                    folders.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs")
                || relative == Path::new("main.rs")
            {
                continue;
            }
            let mut parts: ModulePath = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                parts.pop();
            }
            modules.insert(parts, path);
        }
    }
    modules
}

fn import_graph(
    modules: &BTreeMap<ModulePath, PathBuf>,
) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let sources: BTreeMap<&ModulePath, String> = modules
        .iter()
        .map(|(module, file)| {
            let source = std::fs::read_to_string(file)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
            (module, source)
        })
        .collect();
    let re_exports: ReExports = sources
        .iter()
        .map(|(module, source)| ((*module).clone(), re_exports_of(module, source)))
        .collect();
    sources
        .iter()
        .map(|(module, source)| {
            let dependencies = dependencies_of(module, source, modules, &re_exports);
            ((*module).clone(), dependencies)
        })
        .collect()
}

/// The names `module` re-exports, each with the absolute path it stands for.
fn re_exports_of(module: &ModulePath, source: &str) -> BTreeMap<String, Vec<String>> {
    let code = code_without_comments_and_tests(source);
    use_declarations(&code)
        .into_iter()
        .filter(|declaration| declaration.public)
        .flat_map(|declaration| expand_use_tree(&declaration.tree))
        .filter_map(|(name, path)| Some((name, absolute(module, &path)?)))
        .collect()
}

/// The modules `module` names. In a `mod.rs` as in a file module, `self` is the module and
/// `super` the module it is declared in.
fn dependencies_of(
    module: &ModulePath,
    source: &str,
    modules: &BTreeMap<ModulePath, PathBuf>,
    re_exports: &ReExports,
) -> BTreeSet<ModulePath> {
    let code = code_without_comments_and_tests(source);
    let mut named: Vec<Vec<String>> = Vec::new();
    for declaration in use_declarations(&code) {
        for (_, path) in expand_use_tree(&declaration.tree) {
            let Some(path) = absolute(module, &path) else {
                continue;
            };
            let re_exports_own_submodule =
                declaration.public && path.len() > module.len() && path.starts_with(module);
            if !re_exports_own_submodule {
                named.push(path);
            }
        }
    }
    named.extend(
        crate_paths(&without_use_declarations(&code))
            .into_iter()
            .map(|path| path[1..].to_vec()),
    );
    named
        .into_iter()
        .filter_map(|path| defining_module(&path, modules, re_exports))
        .filter(|found| found != module)
        .collect()
}

/// The module that defines what `path` names: its longest module prefix, followed through that
/// module's re-exports (a few steps at most, so that a re-export loop cannot hang the test).
fn defining_module(
    path: &[String],
    modules: &BTreeMap<ModulePath, PathBuf>,
    re_exports: &ReExports,
) -> Option<ModulePath> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let module = longest_module_prefix(&path, modules)?;
        let next = path.get(module.len());
        let Some(target) = next.and_then(|name| re_exports.get(&module)?.get(name)) else {
            return Some(module);
        };
        let mut followed = target.clone();
        followed.extend(path[module.len() + 1..].iter().cloned());
        path = followed;
    }
    longest_module_prefix(&path, modules)
}

/// The source without `//` comments (doc comments included) and `/* */` comments, and without
/// everything from the first `#[cfg(test)]`: the unit tests sit at the end of a module.
fn code_without_comments_and_tests(source: &str) -> String {
    let before_tests = source
        .find("#[cfg(test)]")
        .map_or(source, |start| &source[..start]);
    let mut code = String::with_capacity(before_tests.len());
    let mut rest = before_tests;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else if let Some(after) = rest.strip_prefix('"') {
            // A string's text is not code; skip to its closing quote (escapes honoured).
            let mut characters = after.char_indices();
            let mut end = after.len();
            while let Some((index, character)) = characters.next() {
                match character {
                    '\\' => {
                        characters.next();
                    }
                    '"' => {
                        end = index + 1;
                        break;
                    }
                    _ => {}
                }
            }
            code.push_str("\"\"");
            rest = &after[end..];
        } else {
            let character = rest.chars().next().expect("not empty");
            code.push(character);
            rest = &rest[character.len_utf8()..];
        }
    }
    code
}

/// The tree of every `use` declaration that starts at `crate`, `super` or `self`, without the
/// `use` and the `;`, with no whitespace but the spaces around `as`.
fn use_declarations(code: &str) -> Vec<UseDeclaration> {
    let mut declarations = Vec::new();
    let mut search_from = 0;
    while let Some(found) = code[search_from..].find("use ") {
        let start = search_from + found;
        search_from = start + 4;
        let starts_a_word = code[..start]
            .chars()
            .next_back()
            .is_none_or(|before| !(before.is_alphanumeric() || before == '_'));
        if !starts_a_word {
            continue;
        }
        let Some(length) = code[start..].find(';') else {
            break;
        };
        let mut tree = code[start + 4..start + length]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for (spaced, tight) in [(" ::", "::"), (":: ", "::"), (" {", "{"), ("{ ", "{")] {
            tree = tree.replace(spaced, tight);
        }
        for (spaced, tight) in [(" }", "}"), ("} ", "}"), (" ,", ","), (", ", ",")] {
            tree = tree.replace(spaced, tight);
        }
        if ["crate::", "super::", "self::"]
            .iter()
            .any(|root| tree.starts_with(root))
        {
            let before = code[..start].trim_end();
            let public =
                before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
            declarations.push(UseDeclaration { public, tree });
        }
    }
    declarations
}

/// The names a use tree brings in, each with its path: `a::{b, c::{d as e, self}}` is `b` for
/// `a::b`, `e` for `a::c::d` and `c` for `a::c`.
fn expand_use_tree(tree: &str) -> Vec<(String, Vec<String>)> {
    fn expand(prefix: &[String], tree: &str, paths: &mut Vec<(String, Vec<String>)>) {
        match tree.find('{') {
            Some(open) if tree.ends_with('}') => {
                let mut base = prefix.to_vec();
                base.extend(segments(tree[..open].trim_end_matches("::")));
                for item in top_level_items(&tree[open + 1..tree.len() - 1]) {
                    let (item, alias) = match item.split_once(" as ") {
                        Some((item, alias)) => (item, Some(alias)),
                        None => (item, None),
                    };
                    if item == "self" {
                        let name = alias.or(base.last().map(String::as_str)).unwrap_or("");
                        paths.push((name.to_owned(), base.clone()));
                    } else if let Some(alias) = alias {
                        let mut path = base.clone();
                        path.extend(segments(item));
                        paths.push((alias.to_owned(), path));
                    } else {
                        expand(&base, item, paths);
                    }
                }
            }
            _ => {
                let (tree, alias) = match tree.split_once(" as ") {
                    Some((tree, alias)) => (tree, Some(alias)),
                    None => (tree, None),
                };
                let mut path = prefix.to_vec();
                path.extend(segments(tree));
                let name = alias.or(path.last().map(String::as_str)).unwrap_or("");
                paths.push((name.to_owned(), path));
            }
        }
    }
    let mut paths = Vec::new();
    expand(&[], tree, &mut paths);
    paths
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .filter(|segment| !segment.is_empty() && *segment != "*")
        .map(str::to_owned)
        .collect()
}

/// The comma-separated items of a use group, nested groups kept whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, character) in group.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&group[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items.into_iter().filter(|item| !item.is_empty()).collect()
}

/// The code with every `use …;` declaration cut out.
fn without_use_declarations(code: &str) -> String {
    let mut kept = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(found) = rest.find("use ") {
        let starts_a_word = rest[..found]
            .chars()
            .next_back()
            .is_none_or(|before| !(before.is_alphanumeric() || before == '_'));
        let end = rest[found..].find(';').map(|length| found + length + 1);
        match end {
            Some(end) if starts_a_word => {
                kept.push_str(&rest[..found]);
                rest = &rest[end..];
            }
            _ => {
                kept.push_str(&rest[..found + 4]);
                rest = &rest[found + 4..];
            }
        }
    }
    kept.push_str(rest);
    kept
}

/// Every `crate::a::b…` path written in the code outside `use` declarations.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut search_from = 0;
    while let Some(found) = code[search_from..].find("crate::") {
        let start = search_from + found;
        search_from = start + "crate::".len();
        let starts_a_word = code[..start]
            .chars()
            .next_back()
            .is_none_or(|before| !(before.is_alphanumeric() || before == '_'));
        if !starts_a_word {
            continue;
        }
        let path: String = code[start..]
            .chars()
            .take_while(|character| {
                character.is_alphanumeric() || *character == '_' || *character == ':'
            })
            .collect();
        // `crate::{…}` opens a use group, which `use_declarations` reads.
        let path = segments(&path);
        if path.len() > 1 {
            paths.push(path);
        }
    }
    paths
}

/// The path from the crate root that `path` (starting at `crate`, `super` or `self`) names, as
/// seen from `module`.
fn absolute(module: &ModulePath, path: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some(module.iter().cloned().chain(rest.iter().cloned()).collect()),
        "super" => {
            let mut base = module.clone();
            base.pop();
            let mut rest = rest;
            while let Some((next, after)) = rest.split_first() {
                if next != "super" {
                    break;
                }
                base.pop();
                rest = after;
            }
            Some(base.into_iter().chain(rest.iter().cloned()).collect())
        }
        _ => None,
    }
}

fn longest_module_prefix(
    path: &[String],
    modules: &BTreeMap<ModulePath, PathBuf>,
) -> Option<ModulePath> {
    (0..=path.len())
        .rev()
        .map(|length| path[..length].to_vec())
        .find(|prefix| modules.contains_key(prefix))
}

/// The strongly connected components of more than one module (Tarjan's algorithm), each sorted,
/// as `a/b`-style names.
fn cycles_of(graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<String>> {
    struct Search<'graph> {
        graph: &'graph BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        next_index: usize,
        index: BTreeMap<&'graph ModulePath, usize>,
        lowest: BTreeMap<&'graph ModulePath, usize>,
        stack: Vec<&'graph ModulePath>,
        on_stack: BTreeSet<&'graph ModulePath>,
        components: Vec<Vec<String>>,
    }
    impl<'graph> Search<'graph> {
        fn visit(&mut self, module: &'graph ModulePath) {
            self.index.insert(module, self.next_index);
            self.lowest.insert(module, self.next_index);
            self.next_index += 1;
            self.stack.push(module);
            self.on_stack.insert(module);
            for dependency in self.graph.get(module).into_iter().flatten() {
                let Some((dependency, _)) = self.graph.get_key_value(dependency) else {
                    continue;
                };
                if !self.index.contains_key(dependency) {
                    self.visit(dependency);
                    let lowest = self.lowest[module].min(self.lowest[dependency]);
                    self.lowest.insert(module, lowest);
                } else if self.on_stack.contains(dependency) {
                    let lowest = self.lowest[module].min(self.index[dependency]);
                    self.lowest.insert(module, lowest);
                }
            }
            if self.lowest[module] == self.index[module] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(if member.is_empty() {
                        "lib".to_owned()
                    } else {
                        member.join("/")
                    });
                    if member == module {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.components.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        next_index: 0,
        index: BTreeMap::new(),
        lowest: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for module in graph.keys() {
        if !search.index.contains_key(module) {
            search.visit(module);
        }
    }
    search.components.sort();
    search.components
}
