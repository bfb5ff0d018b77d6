//! `custos serve --config FILE`: settings from a TOML file whose keys are the
//! options' long names. Precedence: command line, then environment, then
//! the file, then the defaults.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Parses the command line, filling `serve`'s unset options from its config file.
pub(crate) fn parse() -> anyhow::Result<Cli> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&args);
    let extra = match matches.subcommand() {
        Some(("serve", serve)) => match serve.get_one::<PathBuf>("config") {
            Some(path) => settings(path, serve)?,
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    if extra.is_empty() {
        return Ok(Cli::from_arg_matches(&matches)?);
    }
    args.extend(extra.into_iter().map(OsString::from));
    Ok(Cli::from_arg_matches(&Cli::command().get_matches_from(&args))?)
}

/// `--name=value` for each setting of the file not given otherwise.
fn settings(path: &PathBuf, given: &clap::ArgMatches) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{}: not valid TOML", path.display()))?;
    let command = Cli::command();
    let serve = command.find_subcommand("serve").expect("serve is a subcommand");
    let mut extra = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let Some(arg) = serve.get_arguments().find(|arg| arg.get_long() == Some(long.as_str()) && long != "config")
        else {
            bail!("{}: unknown setting `{key}`", path.display());
        };
        if matches!(
            given.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for value in values {
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    bail!("{}: `{key}` must be a string, number or boolean, not {}", path.display(), other.type_str())
                }
            };
            extra.push(format!("--{long}={text}"));
        }
    }
    Ok(extra)
}
