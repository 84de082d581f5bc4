//! The `keel` binary: parses the command line, runs the command, and turns an error into a
//! message on stderr and exit status 1 (clap exits with 2 for a malformed command line).

use clap::Parser;
use std::process::ExitCode;

// Scoring allocates multi-megabyte batch buffers; glibc's malloc maps and unmaps them on every
// batch, and the page faults dominated batch profiles. mimalloc keeps them (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = keel_cli::cli::Cli::parse();
    match keel_cli::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our stdout went away (`keel score ... | head`): it has what it wanted.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
