//! The web UI's Fluent files: each parses cleanly, every language has exactly the same keys, and
//! every key is used by the code (as a string literal in `node/src/web`) and every key the code
//! uses exists.

use std::collections::BTreeSet;
use std::path::Path;

use fluent_bundle::FluentResource;
use node::web::i18n::{Language, Translator};

/// The message keys a Fluent file defines (`key = …` at the start of a line).
fn keys_of(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|line| {
            let (key, _) = line.split_once(" =")?;
            let is_key = !key.is_empty()
                && key.starts_with(|first: char| first.is_ascii_lowercase())
                && key.chars().all(|character| {
                    character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
                });
            is_key.then(|| key.to_owned())
        })
        .collect()
}

/// Every string literal of the web module's sources that looks like a message key.
fn literals_in_code() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut literals = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/web") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|extension| extension.to_str()) != Some("rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("source");
        for (index, piece) in source.split('"').enumerate() {
            if index % 2 == 1
                && !piece.is_empty()
                && piece.contains('-')
                && piece.chars().all(|character| {
                    character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
                })
            {
                literals.insert(piece.to_owned());
            }
        }
    }
    literals
}

/// The keys the code asks a translator for: `text("…")` and `text_with(\n "…"`.
fn keys_asked_for_in_code() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut keys = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/web") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("source");
        for marker in ["text(\"", "text_with(\""] {
            for (index, _) in source.match_indices(marker) {
                let rest = &source[index + marker.len()..];
                if let Some(end) = rest.find('"') {
                    keys.insert(rest[..end].to_owned());
                }
            }
        }
        // `text_with(` with its key on the next line, as rustfmt writes long calls.
        for (index, _) in source.match_indices("text_with(\n") {
            let rest = source[index..]
                .trim_start_matches("text_with(\n")
                .trim_start();
            if let Some(rest) = rest.strip_prefix('"')
                && let Some(end) = rest.find('"')
            {
                keys.insert(rest[..end].to_owned());
            }
        }
    }
    keys
}

#[test]
fn every_language_parses_and_has_the_same_keys() {
    let finnish = keys_of(Language::Finnish.fluent_source());
    assert!(finnish.len() > 50, "the Finnish file has its keys");
    for language in Language::ALL {
        let source = language.fluent_source();
        if let Err((_, errors)) = FluentResource::try_new(source.to_owned()) {
            panic!("{} does not parse: {errors:?}", language.code());
        }
        let keys = keys_of(source);
        let missing: Vec<_> = finnish.difference(&keys).collect();
        let extra: Vec<_> = keys.difference(&finnish).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: missing {missing:?}, not in Finnish {extra:?}",
            language.code()
        );
    }
}

#[test]
fn every_key_is_used_and_every_used_key_exists() {
    let defined = keys_of(Language::English.fluent_source());
    let literals = literals_in_code();
    let unused: Vec<_> = defined.difference(&literals).collect();
    assert!(unused.is_empty(), "keys no code uses: {unused:?}");
    let asked = keys_asked_for_in_code();
    assert!(asked.len() > 50, "the scan finds the code's keys");
    for language in Language::ALL {
        let keys = keys_of(language.fluent_source());
        let missing: Vec<_> = asked.difference(&keys).collect();
        assert!(
            missing.is_empty(),
            "{}: the code asks for keys the file lacks: {missing:?}",
            language.code()
        );
    }
}

#[test]
fn every_key_formats_in_every_language() {
    for language in Language::ALL {
        let translator = Translator::new(language);
        for key in keys_of(language.fluent_source()) {
            let key: &'static str = Box::leak(key.into_boxed_str());
            let text = translator.text_with(
                key,
                &[
                    ("count", 2.into()),
                    ("name", "Aino".into()),
                    ("class", "7A".into()),
                    ("max", 200.into()),
                    ("seconds", 5.into()),
                    ("when", "1.1.2027".into()),
                    ("grade", "9".into()),
                    ("status", "ok".into()),
                    ("number", 1.into()),
                    ("pupil", "Aino".into()),
                    ("assignment", "Fractions".into()),
                    ("names", "Aino, Leena".into()),
                    ("date", "8.9.2025".into()),
                    ("time", "8.15".into()),
                    ("dates", "8.9.2025–9.9.2025".into()),
                    ("hours", 30.into()),
                    ("days", 90.into()),
                    ("code", "092".into()),
                    ("title", "Worksheet".into()),
                    ("size", "50 MB".into()),
                    ("min", 8.into()),
                    ("page", 1.into()),
                    ("pages", 3.into()),
                    ("username", "aino.makinen01".into()),
                    ("provider", "MPASSid".into()),
                    ("score", "8 / 10".into()),
                ],
            );
            assert!(
                !text.is_empty() && text != key,
                "{}: {key}",
                language.code()
            );
            assert!(
                !text.contains('{'),
                "{}: {key} left a placeable: {text}",
                language.code()
            );
        }
    }
}
