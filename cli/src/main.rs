//! The `affine-db` binary: [`affine_db_cli::run_from_args`] on the process
//! arguments.

fn main() {
    std::process::exit(affine_db_cli::run_from_args(std::env::args_os()));
}
