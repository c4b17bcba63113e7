//! CONFIG GET / SET / RESETSTAT / REWRITE. A change is applied to the shared copy and to every
//! shard's own copy of the configuration. Parameters whose feature does not exist yet are
//! refused with the reason (the engine's `Support::DefaultOnly`); `dir` and `dbfilename` need
//! `enable-protected-configs`; `dir` changes the working directory and `loglevel` the log, as
//! in Redis.

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::shard::env::{Env, Job, Out};
use crate::shard::{call, here, submit};

use super::{lower, subcommand_error};

/// Applies `f` to the global config and every shard's copy.
pub async fn update_config(
    f: impl Fn(&mut mayfly_engine::config::Config) + Clone + Send + 'static,
) {
    let g = super::get().clone();
    g.shared.update_config(|c| f(c));
    let n = here().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let f = f.clone();
            submit(
                s,
                Job::Run(Box::new(move |env: &mut Env| {
                    f(&mut env.shard.config);
                    Out::Done
                })),
            )
        })
        .collect();
    for p in pending {
        p.get().await;
    }
}

pub async fn config(conn: &mut crate::conn::Conn, argv: &[Bytes]) -> Reply {
    use mayfly_engine::config::{Config, PARAMS};
    let sub = lower(&argv[1]);
    let g = super::get().clone();
    match sub.as_slice() {
        b"get" if argv.len() >= 3 => {
            let c = g.shared.read_config(|c| c.clone());
            let mut out: Vec<(Reply, Reply)> = Vec::new();
            for p in PARAMS {
                let names = std::iter::once(p.name).chain(p.alias);
                for name in names {
                    let matched = argv[2..].iter().any(|pat| {
                        mayfly_engine::glob::glob_match(
                            &pat.to_ascii_lowercase(),
                            name.as_bytes(),
                            true,
                        )
                    });
                    if matched && !out.iter().any(|(k, _)| *k == Reply::bulk_str(name)) {
                        out.push((Reply::bulk_str(name), Reply::bulk((p.get)(&c))));
                    }
                }
            }
            Reply::Map(out)
        }
        b"set" if !argv.len().is_multiple_of(2) => Reply::error("ERR syntax error"),
        b"set" => {
            let mut candidate: Config = g.shared.read_config(|c| c.clone());
            let mut seen: Vec<&str> = Vec::new();
            for pair in argv[2..].chunks(2) {
                let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                let Some(p) = mayfly_engine::config::find_param(&name) else {
                    return Reply::error(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ));
                };
                if seen.contains(&p.name) {
                    return Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"));
                }
                seen.push(p.name);
                if p.immutable {
                    return Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"));
                }
                if p.protected
                    && !super::access::protected_action_allowed(
                        &candidate.enable_protected_configs,
                        conn,
                    )
                {
                    return Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"));
                }
                if let Err(e) = p.apply(&mut candidate, &value) {
                    return Reply::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                    ));
                }
            }
            if seen.contains(&"dir") {
                // Redis's chdir; the parameter then reads back as the absolute directory.
                if let Err(e) = std::env::set_current_dir(&candidate.dir) {
                    let why = e.raw_os_error().map(errno_text).unwrap_or_else(|| e.to_string());
                    return Reply::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument 'dir') - {why}"
                    ));
                }
                if let Ok(cwd) = std::env::current_dir() {
                    candidate.dir = cwd.display().to_string();
                }
            }
            if seen.contains(&"loglevel") {
                crate::log::set_level(crate::log::Level::parse(&candidate.loglevel));
            }
            update_config(move |c| *c = candidate.clone()).await;
            if seen.contains(&"appendonly")
                || seen.contains(&"appendfsync")
                || seen.contains(&"aof-timestamp-enabled")
            {
                if let Err(e) = super::aof::config_changed().await {
                    return Reply::error(format!("ERR {e}"));
                }
            }
            if seen.contains(&"maxmemory") {
                let n = here().nshards;
                let pending: Vec<_> = (0..n)
                    .map(|s| {
                        submit(
                            s,
                            Job::Run(Box::new(|env: &mut Env| {
                                env.evict_now();
                                Out::Done
                            })),
                        )
                    })
                    .collect();
                for p in pending {
                    p.get().await;
                }
            }
            Reply::ok()
        }
        b"resetstat" if argv.len() == 2 => {
            let n = here().nshards;
            for s in 0..n {
                call(
                    s,
                    Job::Run(Box::new(|env: &mut Env| {
                        env.stats = Default::default();
                        env.shard.stats = Default::default();
                        Out::Done
                    })),
                )
                .await;
            }
            Reply::ok()
        }
        b"rewrite" if argv.len() == 2 => {
            if g.config_file.is_empty() {
                return Reply::error("ERR The server is running without a config file");
            }
            let c = g.shared.read_config(|c| c.clone());
            let body: String = PARAMS
                .iter()
                .map(|p| format!("{} \"{}\"\n", p.name, (p.get)(&c).replace('"', "\\\"")))
                .collect();
            match std::fs::write(&g.config_file, body) {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::error(format!("ERR Rewriting config file: {e}")),
            }
        }
        b"help" if argv.len() == 2 => Reply::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "CONFIG"),
    }
}

/// The C library's text for an errno (what Redis puts in its CONFIG SET dir error).
fn errno_text(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a static or thread-local NUL-terminated string.
    let ptr = unsafe { libc::strerror(errno) };
    if ptr.is_null() {
        return format!("errno {errno}");
    }
    // SAFETY: non-null and NUL-terminated, per strerror's contract.
    unsafe { std::ffi::CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}
