//! Command line and config file, redis-server style:
//! `mayfly [/path/to/mayfly.conf] [--port 6380] [--bind 127.0.0.1] [--save ""] …`.
//! A config file line is `name value…`; `#` starts a comment; values may be quoted with
//! double quotes (with `\n`, `\t`, `\"`, `\\` and `\xHH` escapes) or single quotes.
//! Every directive goes through the engine's parameter table: an unknown one, or one whose
//! feature does not exist yet (`appendonly yes`, `save 900 1`, …), stops the start-up with the
//! reason, so nothing is accepted that would silently do nothing.

use mayfly_engine::config::Config;

/// Splits a config line into words with Redis's quoting rules. Err on unbalanced quotes.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unbalanced quotes".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('r') => word.push('\r'),
                        Some('t') => word.push('\t'),
                        Some('x') => {
                            let hex: String = chars.by_ref().take(2).collect();
                            let b = u8::from_str_radix(&hex, 16)
                                .map_err(|_| "bad \\x escape".to_string())?;
                            word.push(b as char);
                        }
                        Some(c) => word.push(c),
                        None => return Err("unbalanced quotes".into()),
                    },
                    Some(c) => word.push(c),
                }
            }
        } else if first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unbalanced quotes".into()),
                    Some('\'') => break,
                    Some('\\') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        word.push('\'');
                    }
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// Applies one directive (`name value…`) to `config`.
pub fn apply(config: &mut Config, name: &str, values: &[String]) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    // Multi-word values (`save 900 1 300 10`) are kept as one space-joined string.
    let value = values.join(" ");
    // Several `save` lines add up, as in Redis (and several `client-output-buffer-limit`
    // lines each set their class: the table's setter merges them).
    if name == "save" && !value.is_empty() && !config.save.is_empty() {
        let joined = format!("{} {value}", config.save);
        return config.load(&name, &joined);
    }
    config.load(&name, &value)
}

/// Parses a config file's text.
pub fn parse_file(config: &mut Config, text: &str, file: &str) -> Result<(), String> {
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = split_words(line).map_err(|e| format!("{file}:{}: {e}", n + 1))?;
        if words.is_empty() {
            continue;
        }
        apply(config, &words[0], &words[1..]).map_err(|e| {
            format!("{file}:{}: bad directive or wrong number of arguments: '{}': {e}", n + 1, line)
        })?;
    }
    Ok(())
}

/// Parses the process arguments (without argv[0]); returns the config and the config file path.
pub fn parse_args(args: &[String]) -> Result<(Config, String), String> {
    let mut config = Config::default();
    let mut rest = args;
    let mut file = String::new();
    if let Some(first) = rest.first() {
        if first == "-h" || first == "--help" {
            return Err(usage());
        }
        if first == "-v" || first == "--version" {
            return Err(format!(
                "mayfly {} (Redis {} compatible)",
                env!("CARGO_PKG_VERSION"),
                crate::server::REDIS_VERSION
            ));
        }
        if !first.starts_with("--") {
            file = first.clone();
            let text = std::fs::read_to_string(first)
                .map_err(|e| format!("cannot read config file {first}: {e}"))?;
            parse_file(&mut config, &text, first)?;
            rest = &rest[1..];
        }
    }
    let mut i = 0;
    while i < rest.len() {
        let Some(name) = rest[i].strip_prefix("--") else {
            return Err(format!("unexpected argument '{}'\n{}", rest[i], usage()));
        };
        let mut values = Vec::new();
        i += 1;
        while i < rest.len() && !rest[i].starts_with("--") {
            values.push(rest[i].clone());
            i += 1;
        }
        apply(&mut config, name, &values).map_err(|e| format!("--{name}: {e}"))?;
    }
    // Settings whose feature does not exist yet are judged on the final values, so a flag
    // can put back the default a config file line changed.
    let refused = config.refused();
    if !refused.is_empty() {
        return Err(format!("cannot start: {}", refused.join("\n")));
    }
    Ok((config, file))
}

pub fn usage() -> String {
    "usage: mayfly [/path/to/mayfly.conf] [--port 6379] [--bind 127.0.0.1] [--shards N] [--requirepass PASS] [--<redis-config-name> value ...]\n\
     Safe defaults: listens on 127.0.0.1:6379, one shard per CPU."
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_units() {
        let args: Vec<String> =
            ["--port", "6380", "--maxmemory", "1gb", "--save", "", "--shards", "2"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let (c, _) = parse_args(&args).unwrap();
        assert_eq!(c.port, 6380);
        assert_eq!(c.maxmemory, 1 << 30);
        assert_eq!(c.save, "");
        assert_eq!(c.shards, 2);
    }

    #[test]
    fn config_file_with_quotes_and_comments() {
        let mut c = Config::default();
        parse_file(
            &mut c,
            "# comment\nport 7000\nrequirepass \"p a\\\"ss\"\nbind '127.0.0.1'\nsave \"\"\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.requirepass, "p a\"ss");
        assert_eq!(c.bind, "127.0.0.1");
        assert_eq!(c.save, "");
        // Refused values are judged once everything is read (see parse_args).
        parse_file(&mut c, "save 900 1\nsave 300 10\nno-appendfsync-on-rewrite yes\n", "t.conf")
            .unwrap();
        assert_eq!(c.save, "900 1 300 10");
        let refused = c.refused();
        // Save points take effect; only no-appendfsync-on-rewrite yes is refused.
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused.iter().all(|r| r.contains("persistence is not available yet")));
        assert!(parse_file(&mut c, "nosuchthing 1\n", "t.conf").is_err());
        assert!(split_words("\"unbalanced").is_err());
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn refused_values_stop_the_start_and_a_later_flag_can_undo_them() {
        let dir = std::env::temp_dir().join(format!("mayfly-args-{}.conf", std::process::id()));
        std::fs::write(&dir, "save 900 1\nno-appendfsync-on-rewrite yes\n").unwrap();
        let file = dir.to_str().unwrap();
        let err = parse_args(&args(&[file])).unwrap_err();
        assert!(err.contains("no-appendfsync-on-rewrite 'yes' is refused"), "{err}");
        let (c, _) =
            parse_args(&args(&[file, "--no-appendfsync-on-rewrite", "no", "--save", ""])).unwrap();
        assert_eq!(c.save, "");
        assert!(parse_args(&args(&["--no-appendfsync-on-rewrite", "yes"])).is_err());
        assert!(parse_args(&args(&["--nosuchthing", "1"])).is_err());
        let _ = std::fs::remove_file(&dir);
    }
}
