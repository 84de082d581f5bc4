//! The `keel` binary: parses the command line, runs the command, and turns an error into a
//! message on stderr, a hint of what to do next, and an exit status: 1 for a failure, 2 for a
//! command line that is wrong (as clap's own refusals), listed in `keel --help`.

use clap::FromArgMatches;
use std::process::ExitCode;

// Scoring allocates multi-megabyte batch buffers; glibc's malloc maps and unmaps them on every
// batch, and the page faults dominated batch profiles. mimalloc keeps them (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = keel_cli::help::command().get_matches();
    let cli = match keel_cli::cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match keel_cli::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our stdout went away (`keel score ... | head`): it has what it wanted.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.exit_status())
        }
    }
}
