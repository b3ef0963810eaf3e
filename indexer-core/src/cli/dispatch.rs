//! The process entrypoint and the dispatch of a parsed command line; what is printed and the
//! exit code are decided in [`crate::output`].

use clap::Parser;

use super::rebuild_args::{Rebuilt, run_rebuild};
use super::{AliasTarget, Cli, Command, Target};
use crate::error::{Error, exit};
use crate::output::{Given, Outcome, Report};
use crate::shutdown::Signals;
use std::time::Duration;

/// The process entrypoint: parse the command line, start logging, run, print the report on
/// stdout and exit with its code (see [`crate::output`]).
pub fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return crate::output::argument_error(&error, &args),
    };
    let json_logs = crate::logging::init(cli.log_format);
    crate::summary::emf::configure(crate::summary::emf::Config {
        namespace: cli.metrics_namespace.clone(),
        json_logs,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = Error::Job(format!("cannot start the async runtime: {error}"));
            return Outcome::failed(cli.command.mode(), cli.command.given(), &error).print();
        }
    };
    runtime.block_on(run(cli)).print()
}

impl Command {
    /// The command's name, as its summary's `mode`.
    pub fn mode(&self) -> &'static str {
        match self {
            Command::Rebuild(_) => "rebuild",
            Command::Status(_) => "status",
            Command::Jobs(_) => "jobs",
            Command::Abandon(_) => "abandon",
            Command::Rollback(_) => "rollback",
            Command::Verify(_) => "verify",
            Command::Resync(_) => "resync",
            Command::Sync(_) => "sync",
            Command::MappingDiff(_) => "mapping-diff",
            Command::Follow(_) => "follow",
        }
    }

    /// The table, alias and entity the operator named, for a failure's summary.
    pub fn given(&self) -> Given {
        let target = |t: &Target| Given {
            table: t.table.clone(),
            alias: t.index.clone(),
            entity: t.entity.clone(),
        };
        let alias = |t: &AliasTarget| Given {
            alias: t.index.clone(),
            ..Given::default()
        };
        let given = match self {
            Command::Rebuild(args) => target(&args.target),
            Command::Verify(args) => target(&args.common.target),
            Command::Resync(args) => target(&args.common.target),
            Command::Sync(args) => target(&args.common.target),
            Command::MappingDiff(args) => target(&args.target),
            Command::Follow(args) => target(&args.target),
            Command::Status(args) => alias(&args.target),
            Command::Jobs(args) => alias(&args.target),
            Command::Abandon(args) => alias(&args.target),
            Command::Rollback(args) => alias(&args.target),
        };
        given.or_env()
    }
}

/// How long a run stopped at once by a second signal may still take to record its stop.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs `work` until it ends or signals stop it. A command that writes nothing (`at_once`), or
/// has not written yet (not [`crate::shutdown::armed`]), stops at the first signal. Once armed,
/// a command handles the first signal itself (a rebuild saves its checkpoints, `verify
/// --fix`/`resync`/`sync` end their job as interrupted) or finishes its short change
/// (`abandon`, `rollback`); a second signal gives it `grace` to record what it can, and a third
/// (or the grace running out) ends the process with exit 5.
async fn interruptible<T>(
    mode: &str,
    at_once: bool,
    grace: Duration,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let mut signals = Signals::new();
    tokio::pin!(work);
    if at_once {
        return tokio::select! {
            result = &mut work => result,
            _ = signals.recv() => Err(Error::Interrupted(format!(
                "{mode} stopped by a signal; it writes nothing, so nothing needs undoing"
            ))),
        };
    }
    tokio::select! {
        result = &mut work => return result,
        _ = signals.recv() => {}
    }
    // Not yet armed: it has written nothing, so it stops now. (The work runs on this task; had
    // it armed after the signal came, `arm_for` refused it before any write.)
    if !crate::shutdown::armed() {
        return Err(Error::Interrupted(format!(
            "{mode} stopped by a signal before it wrote anything"
        )));
    }
    tokio::select! {
        result = &mut work => return result,
        _ = signals.recv() => {}
    }
    tracing::warn!(
        grace_s = grace.as_secs(),
        "second signal: stopping at once; waiting up to {} s for the {mode} to record where it got to (signal again to exit now)",
        grace.as_secs()
    );
    let cut = Error::Interrupted(format!(
        "{mode} stopped at once by a further signal before it recorded where it got to; what \
         was acknowledged stays, and once its lock's lease runs out the next run takes over; \
         `indexer status` says where the alias points (a rebuild past its swap has moved it)"
    ));
    tokio::select! {
        result = tokio::time::timeout(grace, &mut work) => result.unwrap_or(Err(cut)),
        _ = signals.until(3) => Err(cut),
    }
}

/// Runs a parsed command line: what to print on stdout, and the exit code.
pub async fn run(cli: Cli) -> Outcome {
    // Listen before anything else: no signal may fall back to killing the process unrecorded.
    crate::shutdown::listen();
    let (mode, given) = (cli.command.mode(), cli.command.given());
    let at_once = match &cli.command {
        Command::Status(_) | Command::Jobs(_) | Command::MappingDiff(_) => true,
        Command::Verify(args) => !args.fix,
        Command::Rebuild(_)
        | Command::Abandon(_)
        | Command::Rollback(_)
        | Command::Resync(_)
        | Command::Sync(_)
        | Command::Follow(_) => false,
    };
    // Local workers get the parent's signals and their own grace: the parent waits longer.
    let grace = match &cli.command {
        Command::Rebuild(args) if args.workers > 1 && args.worker.is_none() => STOP_GRACE * 2,
        _ => STOP_GRACE,
    };
    if matches!(&cli.command, Command::Abandon(_) | Command::Rollback(_)) {
        // Short changes: a first signal lets them finish.
        if let Err(error) = crate::shutdown::arm_for(mode) {
            return Outcome::failed(mode, given, &error);
        }
    }
    let result = interruptible(mode, at_once, grace, execute(cli.command)).await;
    result.unwrap_or_else(|error: Error| Outcome::failed(mode, given, &error))
}

/// Runs one command: what to print on stdout, and the exit code.
async fn execute(command: Command) -> Result<Outcome, Error> {
    match command {
        Command::Rebuild(args) => match run_rebuild(args).await {
            Ok(Rebuilt::Summary(summary)) => Ok(Outcome::summary(*summary)),
            Ok(Rebuilt::Workers(value, code)) => Ok(Outcome::new(Report::Metered(value), code)),
            Err(error) => Err(error),
        },
        Command::Status(args) => {
            async {
                let (alias, client) = args.target.resolve().await?;
                let report = crate::ops::status(&client, &alias).await?;
                Ok(Outcome::new(Report::Status(Box::new(report)), exit::SUCCESS).json(args.json))
            }
            .await
        }
        Command::Jobs(args) => {
            async {
                let (alias, client) = args.target.resolve().await?;
                let report = crate::ops::jobs(&client, &alias, args.limit).await?;
                Ok(Outcome::new(Report::Jobs(report), exit::SUCCESS).json(args.json))
            }
            .await
        }
        Command::Abandon(args) => {
            async {
                let (alias, client) = args.target.resolve().await?;
                let value =
                    crate::ops::abandon(&client, &alias, args.job.as_deref(), args.keep_index)
                        .await?;
                Ok(Outcome::new(Report::Json(value), exit::SUCCESS))
            }
            .await
        }
        Command::Rollback(args) => {
            async {
                let (alias, client) = args.target.resolve().await?;
                let value = crate::ops::rollback(&client, &alias, args.lease.timing()?).await?;
                Ok(Outcome::new(Report::Json(value), exit::SUCCESS))
            }
            .await
        }
        Command::Verify(args) => {
            async {
                let (dynamo, search, target) = args.common.resolve().await?;
                let options = crate::drift::commands::VerifyOptions {
                    fix: args.fix,
                    max_changes: args.max_changes,
                    force: args.force,
                    dry_run: args.dry_run,
                };
                let (value, code) =
                    crate::drift::commands::verify(&dynamo, &search, &target, &options).await?;
                Ok(Outcome::new(Report::Verify(value), code).json(args.json))
            }
            .await
        }
        Command::Resync(args) => {
            async {
                let mut ids = args.ids.clone();
                if let Some(path) = &args.ids_file {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Error::Input(format!("cannot read --ids-file {}: {e}", path.display()))
                    })?;
                    ids.extend(text.lines().map(str::to_owned));
                }
                let (dynamo, search, target) = args.common.resolve().await?;
                let (value, code) =
                    crate::drift::commands::resync(&dynamo, &search, &target, &ids).await?;
                Ok(Outcome::new(Report::Json(value), code))
            }
            .await
        }
        Command::Sync(args) => {
            async {
                let (dynamo, search, target) = args.common.resolve().await?;
                let (value, code) = crate::drift::commands::sync(&dynamo, &search, &target).await?;
                Ok(Outcome::new(Report::Metered(value), code))
            }
            .await
        }
        Command::Follow(args) => crate::follow::args::run(args).await.map(Outcome::summary),
        Command::MappingDiff(args) => {
            async {
                let target = args.target.resolve(false)?;
                let host = target
                    .host
                    .clone()
                    .ok_or_else(|| Error::Input("no host given".into()))?;
                let timeout = std::time::Duration::from_secs(args.request_timeout.max(1));
                let client = args.target.connect.connect(
                    host,
                    timeout,
                    crate::sink::retry::RetryPolicy::default(),
                )?;
                crate::preflight::search_cluster(&client).await?;
                let (value, code) =
                    crate::entities::compat::report(&client, &target.alias, target.entity).await?;
                Ok(Outcome::new(Report::Json(value), code))
            }
            .await
        }
    }
}
