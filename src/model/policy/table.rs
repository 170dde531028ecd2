//! `latchkey policy test DIR`: table tests of expected decisions, kept next to the
//! policy in `DIR/tests/*.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::policy::decide::{decide, Ask, Outcome, Who};

use crate::model::duration;
use crate::model::policy::review::may_review;
use crate::model::policy::Policy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
    #[serde(default, rename = "review")]
    reviews: Vec<ReviewCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    resource: String,
    role: Option<String>,
    duration: Option<String>,
    reason: Option<String>,
    ticket: Option<String>,
    #[serde(default)]
    breakglass: bool,
    expect: Outcome2,
    code: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Outcome2 {
    Refused,
    AutoApproved,
    Breakglass,
    NeedsReview,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewCase {
    name: String,
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    resource: String,
    role: String,
    requester: String,
    /// Minutes since the reviewer logged in (default 0).
    #[serde(default)]
    login_minutes_ago: i64,
    expect: ReviewExpect,
    code: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ReviewExpect {
    Allowed,
    Refused,
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// File and case name.
    pub name: String,
    /// Whether it matched.
    pub passed: bool,
    /// Expected versus got, when it did not.
    pub detail: String,
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Refused => "refused",
        Outcome::AutoApproved => "auto_approved",
        Outcome::Breakglass => "breakglass",
        Outcome::NeedsReview => "needs_review",
    }
}

fn expected_name(o: Outcome2) -> &'static str {
    match o {
        Outcome2::Refused => "refused",
        Outcome2::AutoApproved => "auto_approved",
        Outcome2::Breakglass => "breakglass",
        Outcome2::NeedsReview => "needs_review",
    }
}

/// Runs every `*.toml` in `dir` against `policy`.
pub fn run(policy: &Policy, dir: &Path) -> anyhow::Result<Vec<CaseResult>> {
    let files = table_files(dir)?;
    let now = chrono::Utc::now();
    let mut results = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let file: File =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        for c in file.cases {
            results.push(decision_case(policy, &path, &stem, c)?);
        }
        for r in file.reviews {
            results.push(review_case(policy, &stem, r, now));
        }
    }
    Ok(results)
}

/// The `*.toml` files of `dir`, sorted; none is an error.
fn table_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no *.toml table tests in {}", dir.display());
    }
    Ok(files)
}

/// A `[[case]]`: the decision's outcome (and code, when given) as expected.
fn decision_case(policy: &Policy, path: &Path, stem: &str, c: Case) -> anyhow::Result<CaseResult> {
    let duration = c
        .duration
        .as_deref()
        .map(duration::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{}: {}: {e}", path.display(), c.name))?;
    let ask = Ask {
        resource: c.resource,
        role: c.role,
        duration,
        reason: c.reason,
        ticket: c.ticket,
        breakglass: c.breakglass,
    };
    let who = Who {
        name: &c.user,
        user_id: &c.user,
        groups: &c.groups,
    };
    let d = decide(policy, &who, &ask);
    let got = outcome_name(d.outcome);
    let code_ok = c.code.as_deref().is_none_or(|want| d.code == Some(want));
    let passed = got == expected_name(c.expect) && code_ok;
    Ok(CaseResult {
        name: format!("{stem}: {}", c.name),
        passed,
        detail: if passed {
            String::new()
        } else {
            format!(
                "expected {}{}, got {got}{} ({})",
                expected_name(c.expect),
                c.code
                    .as_deref()
                    .map(|x| format!(" [{x}]"))
                    .unwrap_or_default(),
                d.code.map(|x| format!(" [{x}]")).unwrap_or_default(),
                d.explanation.join("; ")
            )
        },
    })
}

/// A `[[review]]`: whether the user may review such a request at `now`, as expected.
fn review_case(
    policy: &Policy,
    stem: &str,
    r: ReviewCase,
    now: chrono::DateTime<chrono::Utc>,
) -> CaseResult {
    let who = Who {
        name: &r.user,
        user_id: &r.user,
        groups: &r.groups,
    };
    let auth_time = Some(now - chrono::Duration::minutes(r.login_minutes_ago));
    let got = may_review(
        policy,
        &who,
        auth_time,
        &r.resource,
        &r.role,
        &r.requester,
        now,
    );
    let passed = match (&got, r.expect) {
        (Ok(_), ReviewExpect::Allowed) => true,
        (Err(e), ReviewExpect::Refused) => r.code.as_deref().is_none_or(|c| c == e.code),
        _ => false,
    };
    CaseResult {
        name: format!("{stem}: {}", r.name),
        passed,
        detail: if passed {
            String::new()
        } else {
            format!("expected {:?} {:?}, got {got:?}", r.expect, r.code)
        },
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_example_policy_passes_its_table_tests() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let policy = super::Policy::load(&dir).await.unwrap();
        let results = super::run(&policy, &dir.join("tests")).unwrap();
        assert!(results.len() >= 15, "{}", results.len());
        let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
}
