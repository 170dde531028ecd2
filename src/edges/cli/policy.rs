//! `latchkey policy explain|test|check`: policy reviewed like code, offline, from its directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::edges::cli::error::Verdict;
use crate::edges::cli::output::{exit, Output};
use crate::model::duration;
use crate::model::policy::decide::{and_list, explain as explain_ask, Ask, Outcome, Who};
use crate::model::policy::{lint, table, Policy};

/// `latchkey policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Explain the decision for a principal asking for a role.
    Explain {
        /// The principal's email (as policy lines name it).
        #[arg(long = "as", value_name = "EMAIL")]
        user: String,
        /// The principal's groups, comma-separated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Resource.
        #[arg(long)]
        resource: String,
        /// Role.
        #[arg(long)]
        role: Option<String>,
        /// Duration asked.
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
        duration: Option<String>,
        /// Reason.
        #[arg(long)]
        reason: Option<String>,
        /// Ticket.
        #[arg(long)]
        ticket: Option<String>,
        /// As break-glass.
        #[arg(long)]
        breakglass: bool,
        /// Policy directory.
        #[arg(long, default_value = "policies")]
        policy_dir: PathBuf,
    },
    /// Run the table tests in DIR/tests against the policy in DIR.
    Test {
        /// Policy directory.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
    /// Lint: unknown resources or roles, roles nobody may review, durations above the provider's limits.
    Check {
        /// Policy directory.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
}

async fn load(dir: &Path) -> anyhow::Result<Policy> {
    Policy::load(dir)
        .await
        .with_context(|| format!("loading the policy in {}", dir.display()))
}

/// Runs a policy verb.
pub async fn run(output: Output, command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Explain {
            user,
            groups,
            resource,
            role,
            duration,
            reason,
            ticket,
            breakglass,
            policy_dir,
        } => {
            let policy = load(&policy_dir).await?;
            let duration = duration.as_deref().map(duration::parse).transpose()?;
            let ask = Ask {
                resource,
                role,
                duration,
                reason,
                ticket,
                breakglass,
            };
            let who = Who {
                name: &user,
                user_id: &user,
                groups: &groups,
            };
            explain(output, &policy, &who, &ask)
        }
        PolicyCommand::Test { dir } => test(output, &dir).await,
        PolicyCommand::Check { dir } => check(output, &dir).await,
    }
}

/// `policy explain`: the decision for `who` asking `ask`, with its reasons, what would
/// make it possible, and who can approve; decided as if the reason, ticket and duration
/// were right, with those a real request would still need said apart.
fn explain(output: Output, policy: &Policy, who: &Who<'_>, ask: &Ask) -> anyhow::Result<()> {
    let d = explain_ask(policy, who, ask);
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&d)?),
        Output::Text => {
            let verdict = match d.outcome {
                Outcome::Refused => format!("REFUSED ({})", d.code.unwrap_or("refused")),
                Outcome::AutoApproved => "AUTO-APPROVED".into(),
                Outcome::Breakglass => "BREAK-GLASS (active at once, reviewed after)".into(),
                Outcome::NeedsReview => format!(
                    "NEEDS REVIEW ({} approval(s); {} denial(s) end it)",
                    d.approvals, d.denials
                ),
            };
            println!("{verdict}");
            for line in &d.explanation {
                println!("  - {line}");
            }
            if let Some(h) = &d.hint {
                println!("  to make it possible: {h}");
            }
            if d.outcome == Outcome::NeedsReview {
                println!("  who can approve: {}", d.reviewers);
            }
            if !d.unmet.is_empty() {
                let needs: Vec<String> = d.unmet.iter().map(|u| u.need.clone()).collect();
                println!("  a real request would also need: {}", and_list(&needs));
            }
        }
    }
    Ok(())
}

/// `policy test`: the table tests in `dir/tests`; any failure is an error.
async fn test(output: Output, dir: &Path) -> anyhow::Result<()> {
    let policy = load(dir).await?;
    let results = table::run(&policy, &dir.join("tests"))?;
    let failed = results.iter().filter(|r| !r.passed).count();
    if failed > 0 && output == Output::Json {
        bail!(Verdict {
            code: "policy_tests_failed",
            message: format!("{failed} policy test(s) failed"),
            exit_code: exit::FAILURE,
            details: serde_json::to_value(&results)?,
        });
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Output::Text => {
            for r in &results {
                if r.passed {
                    println!("ok    {}", r.name);
                } else {
                    println!("FAIL  {}\n      {}", r.name, r.detail);
                }
            }
            println!("{} passed, {failed} failed", results.len() - failed);
        }
    }
    if failed > 0 {
        bail!(Verdict {
            code: "policy_tests_failed",
            message: format!("{failed} policy test(s) failed"),
            exit_code: exit::FAILURE,
            details: serde_json::Value::Null,
        });
    }
    Ok(())
}

/// `policy check`: the linter's findings; an error-level finding is an error.
async fn check(output: Output, dir: &Path) -> anyhow::Result<()> {
    let policy = load(dir).await?;
    let findings = lint::check(&policy);
    let errors = findings.iter().any(|f| f.level == lint::Level::Error);
    let verdict = |details| Verdict {
        code: "policy_has_errors",
        message: "the policy has errors".into(),
        exit_code: exit::FAILURE,
        details,
    };
    if errors && output == Output::Json {
        bail!(verdict(serde_json::to_value(&findings)?));
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
        Output::Text => {
            for f in &findings {
                println!("{:?}: {}", f.level, f.message);
            }
            if findings.is_empty() {
                println!(
                    "{}: {} resources, {} policy lines, no findings (hash {})",
                    dir.display(),
                    policy.catalogue.resources.len(),
                    policy.rules.len(),
                    &policy.hash[..12]
                );
            }
        }
    }
    if errors {
        bail!(verdict(serde_json::Value::Null));
    }
    Ok(())
}
