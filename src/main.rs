//! The `jailctl` binary: parse the command line, hand it to the library, map errors to exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    jailctl::cli::main()
}
