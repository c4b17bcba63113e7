//! Walks every directive of `deploy/mayfly.conf` against the real server (issue 20, point 5:
//! each parameter either takes effect or is refused, and the sample file says which).
//!
//! The file marks a parameter CONFIG SET can change with `[runtime]` and one whose feature
//! does not exist yet with `[refused, e.g. VALUE]`. This test checks that the marks agree with
//! the engine's parameter table, that the file loads and sets every parameter to its default,
//! that runtime parameters round-trip through CONFIG SET, that start-only ones answer Redis's
//! immutable-config error, and that every refused one refuses its example value both in
//! CONFIG SET and at start-up.

mod common;

use common::{RawClient, Resp, Server};
use mayfly_engine::config::{Support, PARAMS};
use mayfly_net::server::args::split_words;

struct Directive {
    line: usize,
    name: String,
    value: String,
    runtime: bool,
    refused_example: Option<String>,
}

fn conf_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/mayfly.conf")
}

/// The directives and the marks in the comment block above each (a directive right after
/// another, with no comment or blank line between, shares its marks).
fn parse_conf(text: &str) -> Vec<Directive> {
    let mut out: Vec<Directive> = Vec::new();
    let mut block = String::new();
    let mut prev_was_directive = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            block.clear();
            prev_was_directive = false;
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            block.push_str(comment);
            block.push('\n');
            prev_was_directive = false;
            continue;
        }
        let words = split_words(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let (runtime, refused_example) = if block.is_empty() && prev_was_directive {
            let last = out.last().expect("a previous directive");
            (last.runtime, last.refused_example.clone())
        } else {
            let refused = block.find("[refused, e.g. ").map(|i| {
                let rest = &block[i + "[refused, e.g. ".len()..];
                let inner = &rest[..rest.find(']').expect("closing ]")];
                split_words(inner).expect("example value").join(" ")
            });
            (block.contains("[runtime"), refused)
        };
        out.push(Directive {
            line: n + 1,
            name: words[0].clone(),
            value: words[1..].join(" "),
            runtime,
            refused_example,
        });
        block.clear();
        prev_was_directive = true;
    }
    out
}

fn config_get(c: &mut RawClient, name: &str) -> String {
    let reply = Resp::parse(&c.cmd(&["CONFIG", "GET", name]));
    let items = reply.items();
    assert_eq!(items.len(), 2, "CONFIG GET {name}: {items:?}");
    String::from_utf8_lossy(items[1].as_bytes()).into_owned()
}

fn config_set(c: &mut RawClient, name: &str, value: &str) -> String {
    String::from_utf8_lossy(&c.cmd(&["CONFIG", "SET", name, value])).into_owned()
}

#[test]
fn sample_conf_marks_agree_with_the_parameter_table() {
    let text = std::fs::read_to_string(conf_path()).expect("deploy/mayfly.conf");
    let directives = parse_conf(&text);
    for p in PARAMS {
        let matches: Vec<&Directive> = directives.iter().filter(|d| d.name == p.name).collect();
        assert_eq!(matches.len(), 1, "deploy/mayfly.conf must set `{}` exactly once", p.name);
        let d = matches[0];
        assert_eq!(d.runtime, !p.immutable, "line {}: [runtime] mark of `{}`", d.line, p.name);
        let refused = matches!(p.support, Support::DefaultOnly(_));
        assert_eq!(
            d.refused_example.is_some(),
            refused,
            "line {}: [refused] mark of `{}`",
            d.line,
            p.name
        );
        if let Some(alias) = p.alias {
            assert!(text.contains(alias), "alias {alias} of {} is not mentioned", p.name);
        }
    }
    for d in &directives {
        assert!(
            PARAMS.iter().any(|p| p.name == d.name),
            "line {}: `{}` is not a parameter the server knows",
            d.line,
            d.name
        );
    }
}

#[test]
fn every_directive_takes_effect_or_is_refused() {
    let text = std::fs::read_to_string(conf_path()).expect("deploy/mayfly.conf");
    let directives = parse_conf(&text);
    let conf = conf_path();
    let conf = conf.to_str().expect("utf-8 path");
    let dir = std::env::temp_dir();
    let dir = dir.to_str().expect("utf-8 temp dir");
    // The file loads (with `dir` pointed at a directory that exists here)...
    let server =
        Server::start_with_config(conf, &["--dir", dir, "--enable-protected-configs", "yes"]);
    let mut c = server.raw();
    // ...and sets every parameter to its default: the same as no file at all.
    let plain = Server::start(&["--dir", dir, "--enable-protected-configs", "yes"]);
    let mut p = plain.raw();
    for d in &directives {
        if d.name == "port" || d.name == "bind" {
            continue;
        }
        assert_eq!(
            config_get(&mut c, &d.name),
            config_get(&mut p, &d.name),
            "line {}: {}",
            d.line,
            d.name
        );
    }
    for d in &directives {
        if d.name == "port" || d.name == "bind" {
            continue;
        }
        let before = config_get(&mut c, &d.name);
        let value = if d.name == "dir" { dir.to_string() } else { d.value.clone() };
        if d.runtime {
            assert_eq!(
                config_set(&mut c, &d.name, &value),
                "+OK\r\n",
                "line {}: {}",
                d.line,
                d.name
            );
            assert_eq!(
                config_get(&mut c, &d.name),
                before,
                "line {}: {} round trip",
                d.line,
                d.name
            );
        } else {
            assert_eq!(
                config_set(&mut c, &d.name, &value),
                format!("-ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config\r\n", d.name),
                "line {}",
                d.line
            );
        }
        let Some(example) = &d.refused_example else { continue };
        if d.runtime {
            let got = config_set(&mut c, &d.name, example);
            assert!(
                got.starts_with(&format!(
                    "-ERR CONFIG SET failed (possibly related to argument '{}') - {} '",
                    d.name, d.name
                )) && got.contains("is refused"),
                "line {}: CONFIG SET {} {example:?} answered {got:?}",
                d.line,
                d.name
            );
            assert_eq!(
                config_get(&mut c, &d.name),
                before,
                "line {}: a refused value stuck",
                d.line
            );
        }
        let flag = format!("--{}", d.name);
        let mut args = vec![flag.as_str()];
        let words: Vec<&str> = example.split(' ').collect();
        args.extend(words);
        let (code, out) = common::run_to_exit(&args);
        assert_eq!(code, Some(1), "line {}: start-up with {args:?} was not refused: {out}", d.line);
        assert!(out.contains("is refused"), "line {}: {args:?}: {out}", d.line);
    }
}
