//! The `volley run` flags that set k6 options, generated from the option table
//! ([`volley_common::options::CLI_FLAGS`]) so that an option with a flag is declared in one
//! place. Clap only collects the values; [`Options::from_cli`] parses them, so a bad value is
//! an options error (exit code 104) with the option's own wording.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use volley_common::options::{CliShape, Options, OptionsError, CLI_FLAGS};

/// The option flags as given: option key → values (none for a switch).
#[derive(Debug, Clone, Default)]
pub struct OptionFlags {
    given: Vec<(&'static str, Vec<String>)>,
}

impl OptionFlags {
    /// The CLI layer of the options.
    pub fn to_options(&self) -> Result<Options, OptionsError> {
        Options::from_cli(|key| {
            self.given
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, values)| values.clone())
        })
    }
}

impl FromArgMatches for OptionFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for flag in CLI_FLAGS {
            let values = match flag.shape {
                CliShape::Switch => m.get_flag(flag.key).then(Vec::new),
                CliShape::Value | CliShape::Int | CliShape::Repeated => m
                    .get_raw(flag.key)
                    .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect()),
            };
            if let Some(values) = values {
                given.push((flag.key, values));
            }
        }
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for OptionFlags {
    fn augment_args(cmd: Command) -> Command {
        CLI_FLAGS.iter().fold(cmd, |cmd, flag| {
            let mut arg = Arg::new(flag.key).long(flag.long).help(flag.help);
            if let Some(short) = flag.short {
                arg = arg.short(short);
            }
            arg = match flag.shape {
                CliShape::Switch => arg.action(ArgAction::SetTrue),
                CliShape::Value => arg.action(ArgAction::Set),
                CliShape::Int => arg
                    .action(ArgAction::Set)
                    .value_parser(clap::value_parser!(i64)),
                CliShape::Repeated => arg.action(ArgAction::Append),
            };
            if flag.shape != CliShape::Switch {
                arg = arg.value_name(flag.field.to_uppercase());
            }
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        options: OptionFlags,
    }

    fn parse(args: &[&str]) -> Result<Options, OptionsError> {
        use clap::Parser;
        let mut argv = vec!["volley"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().options.to_options()
    }

    #[test]
    fn flags_set_their_options() {
        let o = parse(&[
            "-u",
            "3",
            "-d",
            "10s",
            "--stage",
            "1s:2",
            "-s",
            "2s:0",
            "--tag",
            "a=b",
            "-l",
            "--no-setup",
            "--summary-trend-stats",
            "avg, p(99)",
            "--user-agent",
            "ua",
        ])
        .unwrap();
        assert_eq!(o.vus, Some(3));
        assert_eq!(o.duration, Some(std::time::Duration::from_secs(10)));
        assert_eq!(o.stages.as_ref().map(Vec::len), Some(2));
        assert_eq!(o.tags.unwrap()["a"], "b");
        assert_eq!(o.linger, Some(true));
        assert_eq!(o.no_setup, Some(true));
        assert_eq!(o.no_teardown, None);
        assert_eq!(o.paused, None);
        assert_eq!(
            o.summary_trend_stats,
            Some(vec!["avg".to_string(), "p(99)".to_string()])
        );
        assert_eq!(o.user_agent.as_deref(), Some("ua"));
        assert_eq!(parse(&[]).unwrap(), Options::default());
    }

    #[test]
    fn bad_values_keep_their_wording() {
        assert_eq!(
            parse(&["--tag", "nope"]).unwrap_err().to_string(),
            "invalid --tag \"nope\": use NAME=VALUE"
        );
        assert_eq!(
            parse(&["--duration", "1"]).expect_err("a bare number").to_string(),
            "invalid --duration: missing unit in duration \"1\"; write it with a unit, e.g. 1s or 1m30s"
        );
        assert!(parse(&["--duration", "ten"])
            .unwrap_err()
            .to_string()
            .starts_with("invalid --duration: "));
        assert!(parse(&["--stage", "10s"])
            .unwrap_err()
            .to_string()
            .starts_with("--stage: stage 1 (\"10s\") doesn't have a target"));
    }

    #[test]
    fn integer_flags_are_checked_by_the_parser() {
        use clap::Parser;
        assert!(Cli::try_parse_from(["volley", "--vus", "many"]).is_err());
    }
}
