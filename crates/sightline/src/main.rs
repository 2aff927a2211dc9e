//! The `sightline` binary: parses the command line and hands off to the
//! subcommand. All behaviour lives in the library crates; this only wires them.

mod alerting;
mod am_cmd;
mod check;
mod cli;
mod prom_api;
mod rules_wiring;
mod run;
mod serve;
mod tracing_pipeline;
mod tsdb_cmd;

use std::process::ExitCode;

use clap::Parser;

/// glibc malloc spent half the remote-write CPU in allocation and consolidation
/// (perf, 200k series); mimalloc's per-thread free lists remove most of that.
/// Built with `no_thp`: transparent huge pages left mostly-empty 2 MiB pages
/// resident, ~40% more RSS per series at 100k series.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(args) => run::run(*args),
        cli::Command::Check(c) => check::check(c),
        cli::Command::Tsdb(c) => tsdb_cmd::tsdb(c),
        cli::Command::Alertmanager(c) => am_cmd::run(c),
        cli::Command::Test(cli::TestCommand::Rules { files }) => {
            let (passed, failed) =
                sightline_rules::unittest::run_files(&files, &mut std::io::stdout());
            println!("{passed} test groups passed, {failed} failed");
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
