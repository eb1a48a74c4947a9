//! What the bench binaries without criterion share (`benches/scale.rs`,
//! `benches/scoring.rs`): the mode and its `--name value` arguments from
//! the command line, and credentials for the loopback emulator.

use std::str::FromStr;

/// `--name value` arguments after the mode.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Vec<String>);

impl Args {
    /// The value after `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        let flag = format!("--{name}");
        self.0
            .iter()
            .position(|a| *a == flag)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }

    /// `--name` as a number, `default` when not given; panics on one
    /// that does not parse.
    pub fn num<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("--{name} {v:?} is not a number")),
        }
    }

    /// `--name`, which must be given.
    pub fn need(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("--{name} is required"))
    }

    /// `--sizes` as a comma-separated list, `default` when not given.
    pub fn sizes(&self, default: &[u64]) -> Vec<u64> {
        match self.get("sizes") {
            None => default.to_vec(),
            Some(v) => v
                .split(',')
                .map(|s| s.trim().parse().expect("--sizes is a comma-separated list"))
                .collect(),
        }
    }
}

/// The mode (the first argument, `--bench` left out) and the arguments
/// after it; `None` without a mode, as `cargo test --bench NAME` runs it.
pub fn mode_and_args() -> Option<(String, Args)> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().filter(|a| !a.starts_with('-'))?.clone();
    Some((mode, Args(args[1..].to_vec())))
}

/// Credentials for the loopback emulator, which takes any, where none are
/// set; never a profile of the host's.
pub fn emulator_credentials() {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "affine-test"),
        ("AWS_SECRET_ACCESS_KEY", "affine-test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
    std::env::remove_var("AWS_PROFILE");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_by_name() {
        let a = Args(
            ["--miners", "3", "--sizes", "10, 20", "--url", "x"]
                .map(String::from)
                .to_vec(),
        );
        assert_eq!(a.num("miners", 1usize), 3);
        assert_eq!(a.num("samples", 7usize), 7);
        assert_eq!(a.sizes(&[1]), [10, 20]);
        assert_eq!(a.need("url"), "x");
        assert_eq!(a.get("endpoint"), None);
    }
}
