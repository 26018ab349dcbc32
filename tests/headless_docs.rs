//! docs/HEADLESS.md names every command, event and error kind the headless protocol has, and
//! nothing it does not: the documented tables are compared with the implementation (commands
//! as the decoder itself lists them, events and error kinds from the core's source).

use std::collections::BTreeSet;

use talpa::headless::protocol::decode_request;

const DOC: &str = include_str!("../docs/HEADLESS.md");

/// The text of the section under `## title`, up to the next `## ` heading.
fn section(title: &str) -> &'static str {
    let start = DOC
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("docs/HEADLESS.md has a `## {title}` section"));
    let rest = &DOC[start + title.len() + 5..];
    rest.find("\n## ").map_or(rest, |end| &rest[..end])
}

/// Every `name` in backticks in the first column of the section's table rows.
fn first_column_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        names.extend(backticked(first));
    }
    names
}

/// Every `snake_case` word in backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The variants of `pub enum NAME` in `source`, in snake case (their serde names).
fn enum_variants(source: &str, name: &str) -> BTreeSet<String> {
    let start = source
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("enum {name} in the source"));
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("end of enum")];
    body.lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| {
            snake_case(
                l.split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or(""),
            )
        })
        .collect()
}

fn assert_same(what: &str, documented: &BTreeSet<String>, implemented: &BTreeSet<String>) {
    let undocumented: Vec<_> = implemented.difference(documented).collect();
    let phantom: Vec<_> = documented.difference(implemented).collect();
    assert!(
        undocumented.is_empty() && phantom.is_empty(),
        "{what}: implemented but not in docs/HEADLESS.md: {undocumented:?}; documented but not \
         implemented: {phantom:?}"
    );
}

#[test]
fn every_command_is_documented_and_every_documented_command_exists() {
    // serde lists the variants it knows when it meets an unknown one: that list is exactly
    // what the headless decoder accepts.
    let reply = decode_request(r#"{"cmd":"no such command"}"#).expect_err("unknown command");
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("JSON reply");
    let message = reply["error"]["message"].as_str().expect("message");
    let list = message
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("serde names the known commands: {message}"));
    let implemented: BTreeSet<String> = backticked(list).into_iter().collect();
    assert!(implemented.len() > 50, "{implemented:?}");
    assert_same(
        "commands",
        &first_column_names(section("Commands")),
        &implemented,
    );
}

#[test]
fn every_event_is_documented_and_every_documented_event_exists() {
    let implemented = enum_variants(include_str!("../src/core/events.rs"), "Event");
    assert!(implemented.contains("message_held"), "{implemented:?}");
    assert_same(
        "events",
        &first_column_names(section("Events")),
        &implemented,
    );
}

#[test]
fn every_error_kind_is_documented_and_every_documented_kind_exists() {
    let source = include_str!("../src/core/error.rs");
    let kind_fn = &source[source.find("pub fn kind(").expect("CoreError::kind")..];
    let kind_fn = &kind_fn[..kind_fn.find("\n    }\n").expect("end of kind")];
    let implemented: BTreeSet<String> = kind_fn
        .split("=> \"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    assert!(implemented.contains("wrong_passphrase"), "{implemented:?}");
    let kinds = section("Error kinds");
    let paragraph = &kinds[..kinds.find("\n\n").unwrap_or(kinds.len())];
    let documented: BTreeSet<String> = backticked(paragraph).into_iter().collect();
    assert_same("error kinds", &documented, &implemented);
}
