//! `volley controller --config FILE.toml` and `volley agent --config FILE.toml`: settings from a
//! TOML file, layered under the `VOLLEY_*` variables and the flags (flags win, then variables,
//! then the file, then the defaults). A key is its flag's clap id (`--data-dir` → `data_dir`,
//! `--label` → `labels`), so every flag has one by construction; docs/configuration.md lists
//! them, and a test keeps that page equal to what [`reference`] generates from clap.
//!
//! The file is read with the `config` crate; each value is checked against its flag's type
//! (naming the key, the value and what was expected) and unknown keys are refused with the
//! nearest valid one. The layers are then merged by where clap says each value came from, and
//! the command line is parsed again with the file's values added as flags, so the file goes
//! through exactly the checks a flag does. `--check` prints the result ([`Effective`]).

use std::any::TypeId;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use config::{Source, Value, ValueKind};

/// The subcommands that take `--config`.
pub(crate) const CONFIGURABLE: [&str; 2] = ["controller", "agent"];

/// A configuration file larger than this is refused unread.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Variables read outside clap (by `logging`), per key: they count as the key's variable layer.
const OTHER_ENV: [(&str, &[&str]); 1] = [("log_level", &["VOLLEY_LOG", "RUST_LOG"])];

/// `--config` and `--check` themselves, and clap's own flags: no key.
const NOT_KEYS: [&str; 4] = ["config", "check", "help", "version"];

/// What a key's value is in TOML, from its flag's clap type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    Bool,
    List,
    Text,
    Whole,
    Number,
    Addr,
    Choice(Vec<String>),
}

impl Kind {
    /// The kind of `arg`'s value; `None`: a type this module cannot take from TOML yet (the
    /// test `every_flag_has_a_key_a_kind_and_a_variable` fails on it).
    pub(crate) fn of(arg: &Arg) -> Option<Kind> {
        match arg.get_action() {
            ArgAction::SetTrue => return Some(Kind::Bool),
            ArgAction::Append => return Some(Kind::List),
            ArgAction::Set => {}
            _ => return None,
        }
        let parser = arg.get_value_parser();
        if let Some(values) = parser.possible_values() {
            return Some(Kind::Choice(
                values.map(|v| v.get_name().to_string()).collect(),
            ));
        }
        let t = parser.type_id();
        if t == TypeId::of::<String>() || t == TypeId::of::<PathBuf>() {
            Some(Kind::Text)
        } else if t == TypeId::of::<u64>() || t == TypeId::of::<usize>() {
            Some(Kind::Whole)
        } else if t == TypeId::of::<f64>() {
            Some(Kind::Number)
        } else if t == TypeId::of::<SocketAddr>() {
            Some(Kind::Addr)
        } else {
            None
        }
    }

    fn expected(&self) -> String {
        match self {
            Kind::Bool => "true or false".into(),
            Kind::List => "a list of strings, e.g. [\"a\", \"b\"]".into(),
            Kind::Text => "a string in quotes".into(),
            Kind::Whole => "a whole number from 0 up".into(),
            Kind::Number => "a number".into(),
            Kind::Addr => "an address HOST:PORT in quotes, e.g. \"127.0.0.1:6565\"".into(),
            Kind::Choice(names) => format!(
                "one of {}",
                names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// `value` as the flag's arguments, or why it does not fit.
    fn flag_values(&self, value: &Value) -> Option<Vec<String>> {
        let one = |s: String| Some(vec![s]);
        match (self, &value.kind) {
            (Kind::Bool, ValueKind::Boolean(b)) => one(b.to_string()),
            (Kind::List, ValueKind::Array(items)) => items
                .iter()
                .map(|v| match &v.kind {
                    ValueKind::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            (Kind::Text, ValueKind::String(s)) => one(s.clone()),
            (Kind::Whole, ValueKind::I64(n)) if *n >= 0 => one(n.to_string()),
            (Kind::Whole, ValueKind::U64(n)) => one(n.to_string()),
            (Kind::Number, ValueKind::I64(n)) => one(n.to_string()),
            (Kind::Number, ValueKind::U64(n)) => one(n.to_string()),
            (Kind::Number, ValueKind::Float(f)) if f.is_finite() => one(f.to_string()),
            (Kind::Addr, ValueKind::String(s)) if s.trim().parse::<SocketAddr>().is_ok() => {
                one(s.trim().to_string())
            }
            (Kind::Choice(names), ValueKind::String(s)) if names.contains(s) => one(s.clone()),
            _ => None,
        }
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Origin {
    Flag,
    Env(String),
    File,
    Default,
    Unset,
}

/// One key of the effective configuration, for `--check`.
#[derive(Clone, Debug)]
pub(crate) struct Setting {
    pub key: String,
    pub kind: Kind,
    pub values: Vec<String>,
    pub origin: Origin,
    pub secret: bool,
}

/// The effective configuration of a `volley controller` or `volley agent`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Effective {
    pub command: String,
    pub file: Option<PathBuf>,
    pub settings: Vec<Setting>,
}

impl Effective {
    /// The settings as a TOML document (usable as a `--config` file unless a secret was
    /// redacted), each line saying where its value came from.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "# volley {} --check: the effective configuration (flags win, then VOLLEY_* variables, then {}, then defaults)\n",
            self.command,
            self.file
                .as_ref()
                .map_or("no --config file".to_string(), |f| format!(
                    "--config {}",
                    f.display()
                ))
        );
        for s in &self.settings {
            let from = match &s.origin {
                Origin::Flag => "flag".to_string(),
                Origin::Env(name) => format!("variable {name}"),
                Origin::File => "file".into(),
                Origin::Default => "default".into(),
                Origin::Unset => {
                    out.push_str(&format!("# {} is not set\n", s.key));
                    continue;
                }
            };
            let value = if s.secret {
                "\"<redacted>\"".to_string()
            } else {
                toml_value(&s.kind, &s.values)
            };
            out.push_str(&format!("{} = {value}  # {from}\n", s.key));
        }
        out
    }
}

fn toml_value(kind: &Kind, values: &[String]) -> String {
    // A JSON string is a valid TOML basic string.
    let quoted = |s: &String| serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
    match kind {
        Kind::List => format!(
            "[{}]",
            values.iter().map(quoted).collect::<Vec<_>>().join(", ")
        ),
        Kind::Bool | Kind::Whole | Kind::Number => values.first().cloned().unwrap_or_default(),
        Kind::Text | Kind::Addr | Kind::Choice(_) => values.first().map(quoted).unwrap_or_default(),
    }
}

/// The keyed arguments of a subcommand of a built `volley` command (globals included).
pub(crate) fn keyed_args(sub: &Command) -> impl Iterator<Item = &Arg> {
    sub.get_arguments()
        .filter(|a| !NOT_KEYS.contains(&a.get_id().as_str()))
}

/// The variables that set `arg` (clap's `env`, or those read elsewhere).
pub(crate) fn env_names(arg: &Arg) -> Vec<String> {
    let id = arg.get_id().as_str();
    if let Some((_, names)) = OTHER_ENV.iter().find(|(k, _)| *k == id) {
        return names.iter().map(|n| n.to_string()).collect();
    }
    arg.get_env()
        .map(|e| vec![e.to_string_lossy().into_owned()])
        .unwrap_or_default()
}

/// Unsets the empty variables of the configurable subcommands' keys: an empty `VOLLEY_*`
/// variable (as a template may render one) means "not set", not an empty value. Call it
/// before parsing, while the process has one thread.
pub(crate) fn drop_empty_variables(cmd: &Command) {
    for name in CONFIGURABLE {
        let Some(sub) = cmd.find_subcommand(name) else {
            continue;
        };
        for arg in sub.get_arguments() {
            if let Some(var) = arg.get_env() {
                if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
                    std::env::remove_var(var);
                }
            }
        }
    }
}

/// `matches` with a `controller` or `agent` subcommand's `--config` file layered in (other
/// commands unchanged), and the effective configuration for `--check`. `cmd` is the built
/// `volley` command that made `matches`.
pub(crate) fn layer(
    cmd: &Command,
    matches: ArgMatches,
) -> Result<(ArgMatches, Option<Effective>), String> {
    let Some((name, sm)) = matches.subcommand() else {
        return Ok((matches, None));
    };
    if !CONFIGURABLE.contains(&name) {
        return Ok((matches, None));
    }
    let name = name.to_string();
    let sub = cmd
        .find_subcommand(&name)
        .ok_or_else(|| format!("no subcommand {name}"))?;
    let file_path = sm.get_one::<PathBuf>("config").cloned();
    let file = match &file_path {
        Some(p) => read(p)?,
        None => Default::default(),
    };
    let mut errors = unknown_keys(sub, &file, file_path.as_deref());
    let mut argv: Vec<String> = vec!["volley".into(), name.clone()];
    let mut origins = Vec::new();
    for arg in sub.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let kind = Kind::of(arg);
        let raw = || -> Vec<String> {
            sm.get_raw(id)
                .map(|r| r.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default()
        };
        // Flags and clap's variables go on as flags; a variable read elsewhere (VOLLEY_LOG)
        // is left to its reader; the file's value goes on as a flag where neither is set.
        let (origin, values) = match sm.value_source(id) {
            Some(ValueSource::CommandLine) => (Origin::Flag, raw()),
            Some(ValueSource::EnvVariable) => (Origin::Env(env_names(arg).concat()), raw()),
            source => match other_env(arg) {
                Some((var, value)) => (Origin::Env(var), vec![value]),
                None => match (file.get(id), &kind) {
                    (Some(v), Some(kind)) => match kind.flag_values(v) {
                        Some(values) => (Origin::File, values),
                        None => {
                            errors.push(format!(
                                "{}: {id} = {}: expected {}{}",
                                shown_path(file_path.as_deref()),
                                shown(v),
                                kind.expected(),
                                example(arg, kind)
                            ));
                            (Origin::File, Vec::new())
                        }
                    },
                    _ if source == Some(ValueSource::DefaultValue) => (Origin::Default, raw()),
                    _ => (Origin::Unset, Vec::new()),
                },
            },
        };
        let as_flag = match &origin {
            Origin::Flag | Origin::File => true,
            Origin::Env(_) => arg.get_env().is_some(),
            Origin::Default | Origin::Unset => false,
        };
        if as_flag {
            let long = arg.get_long().unwrap_or(id);
            if kind == Some(Kind::Bool) {
                let on = match origin {
                    Origin::File => values.iter().any(|v| v == "true"),
                    _ => sm.get_flag(id),
                };
                if on {
                    argv.push(format!("--{long}"));
                }
            } else {
                argv.extend(values.iter().map(|v| format!("--{long}={v}")));
            }
        }
        origins.push((id.to_string(), origin, values));
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let layered = cmd.clone().try_get_matches_from(&argv).map_err(|e| {
        let text = e.render().to_string();
        let text = text.trim().trim_start_matches("error: ").to_string();
        match &file_path {
            Some(p) => format!(
                "{text}\n(the flags, VOLLEY_* variables and --config {} together; a key is its flag's name with _ for -: docs/configuration.md)",
                p.display()
            ),
            None => text,
        }
    })?;
    let fsm = layered
        .subcommand_matches(&name)
        .ok_or("the subcommand was lost in layering")?;
    let settings = keyed_args(sub)
        .filter_map(|arg| {
            let id = arg.get_id().as_str();
            let kind = Kind::of(arg)?;
            let (_, origin, given) = origins.iter().find(|(k, _, _)| k == id)?;
            let values = match (&kind, origin) {
                (Kind::Bool, _) => vec![fsm.get_flag(id).to_string()],
                (_, Origin::Env(_)) if arg.get_env().is_none() => given.clone(),
                _ => fsm
                    .get_raw(id)
                    .map(|r| r.map(|v| v.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default(),
            };
            let origin = match origin {
                Origin::Default if values.is_empty() && kind != Kind::List => Origin::Unset,
                // An empty list is what a repeatable flag given no value means.
                Origin::Unset if kind == Kind::List => Origin::Default,
                o => o.clone(),
            };
            Some(Setting {
                key: id.to_string(),
                secret: arg.is_hide_env_values_set(),
                kind,
                values,
                origin,
            })
        })
        .collect();
    let effective = Effective {
        command: name,
        file: file_path,
        settings,
    };
    Ok((layered, Some(effective)))
}

/// The variable read outside clap that sets `arg`, and its value, when one is set.
fn other_env(arg: &Arg) -> Option<(String, String)> {
    let (_, names) = OTHER_ENV
        .iter()
        .find(|(k, _)| *k == arg.get_id().as_str())?;
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (n.to_string(), v))
    })
}

/// The file's top-level keys and values, through the `config` crate.
fn read(path: &Path) -> Result<config::Map<String, Value>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read --config {shown}: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "--config {shown} is {} bytes: a configuration file may hold at most {MAX_FILE_BYTES}",
            meta.len()
        ));
    }
    config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .and_then(|c| c.collect())
        .map_err(|e| format!("cannot read --config {shown}: {e}"))
}

/// An error for each key of the file that is no flag's, naming the nearest one.
fn unknown_keys(
    sub: &Command,
    file: &config::Map<String, Value>,
    path: Option<&Path>,
) -> Vec<String> {
    let keys: Vec<&str> = keyed_args(sub).map(|a| a.get_id().as_str()).collect();
    file.keys()
        .filter(|k| !keys.contains(&k.as_str()))
        .map(|k| {
            let nearest = keys
                .iter()
                .min_by_key(|c| distance(k, c))
                .copied()
                .unwrap_or("");
            format!(
                "{}: unknown key `{k}` for volley {}; the nearest valid key is `{nearest}` (every key: docs/configuration.md)",
                shown_path(path),
                sub.get_name()
            )
        })
        .collect()
}

fn shown_path(path: Option<&Path>) -> String {
    path.map_or("--config".into(), |p| format!("--config {}", p.display()))
}

/// A TOML-ish rendering of a value the file gave, for an error.
fn shown(v: &Value) -> String {
    match &v.kind {
        ValueKind::Nil => "nothing".into(),
        ValueKind::Boolean(b) => b.to_string(),
        ValueKind::I64(n) => n.to_string(),
        ValueKind::I128(n) => n.to_string(),
        ValueKind::U64(n) => n.to_string(),
        ValueKind::U128(n) => n.to_string(),
        ValueKind::Float(f) => f.to_string(),
        ValueKind::String(s) => serde_json::to_string(s).unwrap_or_default(),
        ValueKind::Table(_) => "a table".into(),
        ValueKind::Array(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `, e.g. key = <default>` when the flag has a default to show.
fn example(arg: &Arg, kind: &Kind) -> String {
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if defaults.is_empty() || matches!(kind, Kind::Bool | Kind::Choice(_) | Kind::Addr) {
        return String::new();
    }
    format!(", e.g. {} = {}", arg.get_id(), toml_value(kind, &defaults))
}

/// Edit distance, for the nearest key.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The reference tables of docs/configuration.md: every key of each configurable subcommand,
/// its flag, its variable and its default.
#[cfg(test)]
pub(crate) fn reference(cmd: &Command) -> String {
    let mut out = String::new();
    for name in CONFIGURABLE {
        let Some(sub) = cmd.find_subcommand(name) else {
            continue;
        };
        out.push_str(&format!(
            "### `volley {name}`\n\n| key | flag | variable | default | what |\n|---|---|---|---|---|\n"
        ));
        for arg in keyed_args(sub) {
            let long = arg.get_long().unwrap_or_default();
            let env = env_names(arg)
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", then ");
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = match Kind::of(arg) {
                Some(Kind::Bool) => "`false`".to_string(),
                Some(Kind::List) => "`[]`".to_string(),
                Some(kind) if !defaults.is_empty() => format!("`{}`", toml_value(&kind, &defaults)),
                _ => "not set".to_string(),
            };
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('|', "\\|");
            let global = if arg.is_global_set() {
                " (every command)"
            } else {
                ""
            };
            out.push_str(&format!(
                "| `{}` | `--{long}`{global} | {env} | {default} | {help} |\n",
                arg.get_id()
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn volley() -> Command {
        let mut cmd = crate::Cli::command();
        cmd.build();
        cmd
    }

    /// `volley SUB --config FILE args…` with `toml` as FILE, layered.
    fn layered(sub: &str, toml: &str, args: &[&str]) -> Result<Effective, String> {
        let dir = std::env::temp_dir().join(format!(
            "volley-config-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("volley.toml");
        std::fs::write(&file, toml).unwrap();
        let mut cmd = volley();
        let mut argv = vec!["volley".to_string(), sub.into(), "--config".into()];
        argv.push(file.display().to_string());
        argv.extend(args.iter().map(|a| a.to_string()));
        let m = cmd
            .try_get_matches_from_mut(argv)
            .map_err(|e| e.to_string())?;
        let out = layer(&cmd, m).map(|(_, e)| e.expect("configurable"));
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    fn setting<'a>(e: &'a Effective, key: &str) -> &'a Setting {
        e.settings
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("no {key}"))
    }

    #[test]
    fn every_flag_has_a_key_a_kind_and_a_variable() {
        let cmd = volley();
        for name in CONFIGURABLE {
            let sub = cmd.find_subcommand(name).unwrap();
            let ids: Vec<&str> = sub.get_arguments().map(|a| a.get_id().as_str()).collect();
            assert!(ids.contains(&"config") && ids.contains(&"check"), "{name}");
            let mut envs = Vec::new();
            let mut keys = 0;
            for arg in keyed_args(sub) {
                let id = arg.get_id().as_str();
                keys += 1;
                assert!(
                    arg.get_long().is_some(),
                    "volley {name}: {id} has no --flag"
                );
                assert!(
                    Kind::of(arg).is_some(),
                    "volley {name}: the type of --{} has no TOML kind: teach Kind::of",
                    arg.get_long().unwrap_or(id)
                );
                let env = env_names(arg);
                assert!(
                    !env.is_empty(),
                    "volley {name}: {id} has no VOLLEY_* variable"
                );
                for e in env {
                    assert!(
                        e.starts_with("VOLLEY_") || e == "RUST_LOG",
                        "{name}: {id}: {e}"
                    );
                    assert!(
                        !envs.contains(&e),
                        "volley {name}: {e} is two keys' variable"
                    );
                    envs.push(e);
                }
            }
            // Every flag but --config, --check and --help is a key.
            assert_eq!(keys + 3, ids.len(), "volley {name}: {ids:?}");
        }
    }

    #[test]
    fn docs_configuration_md_lists_every_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let doc = std::fs::read_to_string(path).expect("docs/configuration.md");
        let (begin, end) = ("<!-- keys: begin -->\n", "<!-- keys: end -->");
        let want = reference(&volley());
        let start = doc.find(begin).expect("the begin marker") + begin.len();
        let stop = doc.find(end).expect("the end marker");
        if doc[start..stop] != want {
            if std::env::var_os("VOLLEY_UPDATE_DOCS").is_some() {
                let updated = format!("{}{want}{}", &doc[..start], &doc[stop..]);
                std::fs::write(path, updated).unwrap();
            }
            panic!(
                "docs/configuration.md's key tables differ from the flags: run this test with VOLLEY_UPDATE_DOCS=1 to rewrite them"
            );
        }
    }

    #[test]
    fn the_file_fills_what_flags_leave_unset() {
        let e = layered(
            "controller",
            "max_groups = 12\nmax_series = 99\ninsecure = true\ndeny_targets = [\"10.0.0.0/8\", \"db.internal\"]\nlisten = \"127.0.0.1:7001\"\nmax_vus = 5\noverload_cpu = 75.5\n",
            &["--max-series", "7"],
        )
        .unwrap();
        let s = setting(&e, "max_groups");
        assert_eq!(
            (s.values.clone(), &s.origin),
            (vec!["12".into()], &Origin::File)
        );
        let s = setting(&e, "max_series");
        assert_eq!(
            (s.values.clone(), &s.origin),
            (vec!["7".into()], &Origin::Flag)
        );
        assert_eq!(setting(&e, "insecure").values, ["true"]);
        assert_eq!(
            setting(&e, "deny_targets").values,
            ["10.0.0.0/8", "db.internal"]
        );
        assert_eq!(setting(&e, "overload_cpu").values, ["75.5"]);
        let s = setting(&e, "max_duration");
        assert_eq!(
            (s.values.clone(), &s.origin),
            (vec!["60m".into()], &Origin::Default)
        );
        assert_eq!(setting(&e, "max_storage").origin, Origin::Unset);
        let text = e.render();
        assert!(text.contains("max_groups = 12  # file\n"), "{text}");
        assert!(
            text.contains("listen = \"127.0.0.1:7001\"  # file\n"),
            "{text}"
        );
        assert!(text.contains("# max_storage is not set\n"), "{text}");
    }

    #[test]
    fn an_unknown_key_names_the_nearest_one() {
        let err = layered("controller", "max_group = 3\ndata-dir = \"/x\"\n", &[]).unwrap_err();
        assert!(
            err.contains("unknown key `max_group` for volley controller; the nearest valid key is `max_groups`"),
            "{err}"
        );
        assert!(
            err.contains("`data-dir`") && err.contains("`data_dir`"),
            "{err}"
        );
        // The agent's keys are not the controller's.
        let err = layered("agent", "data_dir = \"/x\"\n", &[]).unwrap_err();
        assert!(
            err.contains("unknown key `data_dir` for volley agent"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key_the_value_and_what_was_expected() {
        for (toml, want) in [
            ("max_groups = \"forty\"", "max_groups = \"forty\": expected a whole number from 0 up, e.g. max_groups = 40"),
            ("max_groups = -1", "max_groups = -1: expected a whole number"),
            ("insecure = \"yes\"", "insecure = \"yes\": expected true or false"),
            ("listen = \"localhost\"", "listen = \"localhost\": expected an address HOST:PORT"),
            ("deny_targets = \"10.0.0.0/8\"", "deny_targets = \"10.0.0.0/8\": expected a list of strings"),
            ("agent_lost_after = 10", "agent_lost_after = 10: expected a string in quotes, e.g. agent_lost_after = \"10s\""),
            ("log_format = \"xml\"", "log_format = \"xml\": expected one of \"text\", \"json\", \"raw\""),
        ] {
            let err = layered("controller", toml, &[]).unwrap_err();
            assert!(err.contains(want), "{toml}: {err}");
        }
        // Every wrong key is reported at once.
        let err = layered("agent", "max_vus = true\nworkers = 1.5\n", &[]).unwrap_err();
        assert_eq!(err.lines().count(), 2, "{err}");
    }

    #[test]
    fn the_file_goes_through_the_flags_own_rules_and_secrets_are_redacted() {
        // --tls-cert needs --tls-key, from the file as from the command line.
        let err = layered("controller", "tls_cert = \"/c.pem\"\n", &[]).unwrap_err();
        assert!(err.contains("--tls-key"), "{err}");
        let e = layered(
            "agent",
            "token = \"hunter2-hunter2\"\nlabels = [\"zone=a\"]\n",
            &[],
        )
        .unwrap();
        let text = e.render();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("token = \"<redacted>\"  # file"), "{text}");
        assert!(text.contains("labels = [\"zone=a\"]  # file"), "{text}");
    }

    #[test]
    fn nearest_is_by_edit_distance() {
        assert_eq!(distance("max_group", "max_groups"), 1);
        assert_eq!(distance("data-dir", "data_dir"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
