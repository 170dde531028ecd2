//! How a failure is told: a line on stderr for people and, with `--output json`, one JSON
//! object on one line of stdout for scripts (`code`, `message`, `request_id`, `exit_code`,
//! and `hint` or `details` when there are some). The object's `exit_code` is the process's.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::edges::cli::error::CliError;
use crate::edges::cli::output::{exit, Output};

/// A failure as scripts read it.
#[derive(Debug, Serialize)]
pub struct Failure<'a> {
    /// Stable code.
    pub code: &'a str,
    /// For people.
    pub message: String,
    /// The broker's `x-request-id` when the failure came from its answer, else null.
    pub request_id: Option<&'a str>,
    /// The process exit code.
    pub exit_code: u8,
    /// What would make a refused request possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'a str>,
    /// A "no" verdict's own report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'a serde_json::Value>,
}

/// Tells `e` and answers the exit code to end with.
pub fn failure(output: Output, e: &CliError) -> ExitCode {
    eprintln!("error: {e}");
    let code = e.exit_code();
    // A program `exec` ran owns stdout and its status; nothing of latchkey's is added.
    if output == Output::Json && !matches!(e, CliError::Program(..)) {
        print_one(&Failure {
            code: e.code(),
            message: e.message(),
            request_id: e.request_id(),
            exit_code: code,
            hint: e.hint(),
            details: e.details(),
        });
    }
    ExitCode::from(code)
}

/// Tells a command line clap refused: its own text on stderr (help and `--version` on
/// stdout, exit 0), and with `--output json` among `args` the JSON object (code `usage`).
pub fn usage(e: &clap::Error, args: &[OsString]) -> ExitCode {
    let _ = e.print();
    if e.exit_code() == 0 {
        return ExitCode::SUCCESS;
    }
    if asks_for_json(args) {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        print_one(&Failure {
            code: "usage",
            message: first.strip_prefix("error: ").unwrap_or(first).to_string(),
            request_id: None,
            exit_code: exit::USAGE,
            hint: None,
            details: None,
        });
    }
    ExitCode::from(exit::USAGE)
}

/// Whether the raw command line (without the program name) asks for `--output json`:
/// read by hand, since clap refused the rest of it. Arguments after `--` are a program's.
pub fn asks_for_json(args: &[OsString]) -> bool {
    let mut json = false;
    let mut args = args.iter().map(|a| a.to_str().unwrap_or_default());
    while let Some(arg) = args.next() {
        match arg {
            "--" => break,
            "--output" => json = args.next() == Some("json"),
            _ => {
                if let Some(value) = arg.strip_prefix("--output=") {
                    json = value == "json";
                }
            }
        }
    }
    json
}

fn print_one(failure: &Failure<'_>) {
    match serde_json::to_string(failure) {
        // A reader that has gone (`| head`, a closed pipe) is no reason to panic.
        Ok(line) => {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        // Every field is a string or a number: this cannot fail, but say so if it does.
        Err(e) => eprintln!("error: cannot write the failure as JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_is_asked_for_by_either_spelling_and_not_after_the_separator() {
        assert!(asks_for_json(&args(&["--output", "json", "request"])));
        assert!(asks_for_json(&args(&["request", "--output=json"])));
        assert!(!asks_for_json(&args(&["request", "--output", "text"])));
        assert!(!asks_for_json(&args(&[
            "--output", "json", "--output", "text"
        ])));
        assert!(!asks_for_json(&args(&[
            "exec", "x", "--", "--output", "json"
        ])));
        assert!(!asks_for_json(&args(&["--output"])));
    }
}
