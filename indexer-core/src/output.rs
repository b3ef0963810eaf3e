//! What a command prints on stdout and the code it exits with: decided here, and only here.
//!
//! - stdout carries one JSON object at every exit: a run's summary, an operator report, or —
//!   for any failure, bad arguments included — a summary with `"status": "failed"`, the error
//!   and the table, alias and entity as they were given.
//! - For a person (stdout is a terminal and `--json` was not given), `status`, `jobs` and
//!   `verify` are laid out as text, a failure before any work began as `error: <message>`, and
//!   other objects as indented JSON.
//! - An error is shown once. It is logged on stderr (JSON lines in ECS and CI), except when
//!   stdout and stderr are the same terminal: then the summary on stdout says it. An argument
//!   error there is clap's own message with the usage line, and nothing on stdout.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use chrono::Utc;
use serde_json::Value;

use crate::error::Error;
use crate::report::{JobsReport, StatusReport, jobs_text, status_text};
use crate::summary::Summary;

/// What a command reports.
#[derive(Debug)]
pub enum Report {
    /// A run's summary (and any failure's).
    Summary(Box<Summary>),
    Status(Box<StatusReport>),
    Jobs(JobsReport),
    /// `verify`'s verdict.
    Verify(Value),
    /// A run's report with CloudWatch metrics embedded in its JSON: `sync`, a `--workers K` run.
    Metered(Value),
    /// Any other report: `abandon`, `rollback`, `resync`, `mapping-diff`.
    Json(Value),
}

/// A report and the process's exit code.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub code: i32,
    /// `--json`: JSON even on a terminal.
    pub json: bool,
}

/// What the operator named, echoed in a failure's summary whether or not it was valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    pub table: Option<String>,
    pub alias: Option<String>,
    pub entity: Option<String>,
}

/// Whether stdout and stderr are the same terminal, where the summary already shows an error and
/// a log line would repeat it.
pub fn same_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

impl Outcome {
    pub fn new(report: Report, code: i32) -> Outcome {
        Outcome {
            report,
            code,
            json: false,
        }
    }

    /// A run's summary, with the exit code its status means.
    pub fn summary(summary: Summary) -> Outcome {
        let code = summary.exit_code(None);
        Outcome::new(Report::Summary(Box::new(summary)), code)
    }

    /// JSON even on a terminal, when `json`.
    pub fn json(mut self, json: bool) -> Outcome {
        self.json = json;
        self
    }

    /// A command in `mode` failed with `error`: the summary that says so, and the error's exit
    /// code. The error is logged unless the summary is about to show it on the same terminal.
    pub fn failed(mode: &'static str, given: Given, error: &Error) -> Outcome {
        if !same_terminal() {
            tracing::error!(mode, error = %format!("{error:#}"), "the command failed");
        }
        Outcome::failure(mode, given, error)
    }

    fn failure(mode: &'static str, given: Given, error: &Error) -> Outcome {
        let mut summary = Summary::new(mode).failed(error);
        summary.table = given.table;
        summary.alias = given.alias;
        summary.entity = given.entity;
        Outcome::new(Report::Summary(Box::new(summary)), error.exit_code())
    }

    /// The text for stdout: JSON, or a person's rendering when `terminal` and not `--json`.
    pub fn render(&self, terminal: bool) -> Result<String, serde_json::Error> {
        let for_person = terminal && !self.json;
        let json = |value: &dyn erased::Json| value.text(for_person);
        match &self.report {
            Report::Status(report) if for_person => Ok(status_text(report, Utc::now())),
            Report::Jobs(report) if for_person => Ok(jobs_text(report, Utc::now())),
            Report::Verify(value) if for_person => Ok(crate::drift::commands::verify_text(value)),
            Report::Summary(summary) if for_person && summary.job_id.is_none() => {
                // Failed before it started any work: the error is all there is to say.
                match &summary.error {
                    Some(error) => Ok(format!("error: {error}")),
                    None => json(summary.as_ref()),
                }
            }
            // For machines, a run's JSON carries its metrics ([`crate::summary::emf`]).
            Report::Summary(summary) if !for_person => {
                let mut line = serde_json::to_value(summary)?;
                crate::summary::emf::embed(&mut line);
                serde_json::to_string(&line)
            }
            Report::Verify(value) | Report::Metered(value) if !for_person => {
                let mut line = value.clone();
                crate::summary::emf::embed(&mut line);
                serde_json::to_string(&line)
            }
            Report::Summary(summary) => json(summary.as_ref()),
            Report::Status(report) => json(report.as_ref()),
            Report::Jobs(report) => json(report),
            Report::Verify(value) | Report::Metered(value) | Report::Json(value) => json(value),
        }
    }

    /// Prints the report on stdout and returns the exit code.
    pub fn print(&self) -> ExitCode {
        let printed = self
            .render(std::io::stdout().is_terminal())
            .map_err(std::io::Error::other)
            .and_then(|text| writeln!(std::io::stdout().lock(), "{text}"));
        if let Err(error) = printed {
            eprintln!("indexer: cannot print the report: {error}");
            return ExitCode::from(1);
        }
        ExitCode::from(u8::try_from(self.code).unwrap_or(1))
    }
}

/// Serialising any report, compact for machines and indented for people.
mod erased {
    pub trait Json {
        fn text(&self, indented: bool) -> Result<String, serde_json::Error>;
    }

    impl<T: serde::Serialize> Json for T {
        fn text(&self, indented: bool) -> Result<String, serde_json::Error> {
            if indented {
                serde_json::to_string_pretty(self)
            } else {
                serde_json::to_string(self)
            }
        }
    }
}

/// The commands, as a failure's summary names them.
const MODES: [&str; 9] = [
    "rebuild",
    "status",
    "jobs",
    "abandon",
    "rollback",
    "verify",
    "resync",
    "sync",
    "mapping-diff",
];

impl Given {
    /// Best effort from raw arguments that did not parse: the command, and the `--table`,
    /// `--index` and `--entity` values (or their environment variables).
    pub fn from_args(args: &[OsString]) -> (&'static str, Given) {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mode = args
            .iter()
            .skip(1)
            .find_map(|a| MODES.iter().find(|m| **m == a.as_str()))
            .copied()
            .unwrap_or("indexer");
        let flag = |name: &str| {
            let prefix = format!("{name}=");
            args.iter()
                .enumerate()
                .find_map(|(i, arg)| match arg.strip_prefix(&prefix) {
                    Some(value) => Some(value.to_owned()),
                    None if arg == name => args.get(i + 1).cloned(),
                    None => None,
                })
        };
        let given = Given {
            table: flag("--table"),
            alias: flag("--index"),
            entity: flag("--entity"),
        };
        (mode, given.or_env())
    }

    /// Fills what was not given on the command line from the environment, as the flags do.
    pub fn or_env(self) -> Given {
        let env = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        };
        Given {
            table: self
                .table
                .or_else(|| env(&["DYNAMO_TABLE", "DYNAMODB_TABLE"])),
            alias: self
                .alias
                .or_else(|| env(&["INDEX_NAME", "ELASTICSEARCH_INDEX"])),
            entity: self.entity.or_else(|| env(&["ENTITY"])),
        }
    }
}

/// clap's message without its decoration: `error: ` and the usage and help hints dropped,
/// lines joined.
fn clap_message(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect();
    let joined = crate::validate::redact_urls_in(&lines.join(" "));
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// Command-line arguments that did not parse: clap's message on stderr, a failed summary on
/// stdout, exit 2. `--help` and `--version` print what they print and exit 0.
pub fn argument_error(error: &clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    // clap quotes the values it refuses: a URL among them must not show its password.
    {
        use std::io::Write;
        let text = crate::validate::redact_urls_in(&error.render().to_string());
        let _ = write!(std::io::stderr().lock(), "{text}");
    }
    if same_terminal() {
        return ExitCode::from(2);
    }
    let message = match error.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            format!("no command given: use one of {}", MODES.join(", "))
        }
        _ => clap_message(error),
    };
    let (mode, given) = Given::from_args(args);
    let mut outcome = Outcome::failure(mode, given, &Error::Input(message));
    outcome.code = crate::error::exit::BAD_INPUT;
    outcome.print()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_failure_carries_what_was_given() {
        let (mode, given) = Given::from_args(&os(&[
            "indexer",
            "rebuild",
            "--table=Persons",
            "--index",
            "persons",
            "--segments",
            "x",
        ]));
        assert_eq!(mode, "rebuild");
        assert_eq!(given.table.as_deref(), Some("Persons"));
        assert_eq!(given.alias.as_deref(), Some("persons"));
        let outcome = Outcome::failure(mode, given, &Error::Input("bad".into()));
        assert_eq!(outcome.code, 2);
        let json: Value =
            serde_json::from_str(&outcome.render(false).expect("json")).expect("json");
        assert_eq!(json["status"], "failed");
        assert_eq!(json["table"], "Persons");
        assert_eq!(json["alias"], "persons");
        assert_eq!(json["error"], "bad");
        assert_eq!(json["mode"], "rebuild");
        assert_eq!(outcome.render(true).expect("text"), "error: bad");
    }

    #[test]
    fn clap_messages_lose_their_decoration() {
        let error = clap::Command::new("indexer")
            .arg(
                clap::Arg::new("segments")
                    .long("segments")
                    .value_parser(clap::value_parser!(u32)),
            )
            .try_get_matches_from(["indexer", "--segments", "lots"])
            .expect_err("not a number");
        assert_eq!(
            clap_message(&error),
            "invalid value 'lots' for '--segments <segments>': invalid digit found in string"
        );
    }
}
