//! The casbin part of the policy: who may request, be auto-approved, review, use
//! break-glass, read the audit log, administer. Explicit deny rules win over allows.
//!
//! A request to casbin is `(subjects, object, action)`: `subjects` lists the principal
//! and its groups (`user:alice@example.com|group:eng`), `object` is `resource#role`
//! (or `audit`, `broker`), and policy lines match them with `*` wildcards.

use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};

pub use crate::model::policy::action::Action;

/// The casbin model the broker requires; `policies/model.conf` must say the same.
pub const MODEL: &str = "[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = subjectMatch(r.sub, p.sub) && globMatch(r.obj, p.obj) && r.act == p.act
";

/// A rule decision and the lines that made it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleOutcome {
    /// Allowed.
    pub allowed: bool,
    /// The matching policy lines (`p, group:eng, aws:*, request, allow`); the deny that won, if any.
    pub rules: Vec<String>,
}

/// One policy line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    subject: String,
    object: String,
    action: String,
    deny: bool,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let eft = if self.deny { "deny" } else { "allow" };
        write!(
            f,
            "p, {}, {}, {}, {eft}",
            self.subject, self.object, self.action
        )
    }
}

/// The loaded casbin enforcer, and the lines again for explanations.
pub struct Rules {
    enforcer: Enforcer,
    lines: Vec<Line>,
    /// Indices into `lines`, by action.
    by_action: [Vec<usize>; 6],
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rules({} lines)", self.lines.len())
    }
}

/// `*` matches any run of characters, anywhere in the pattern.
pub fn glob_match(value: &str, pattern: &str) -> bool {
    let (v, p) = (value.as_bytes(), pattern.as_bytes());
    let (mut vi, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = vi;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

fn subject_match(subjects: &str, pattern: &str) -> bool {
    pattern == "*" || subjects.split('|').any(|s| glob_match(s, pattern))
}

/// Why the rules could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("policy rules: {0}")]
pub struct RulesError(pub String);

impl Rules {
    /// Loads the model and the policy lines (CSV, `#` comments).
    pub async fn load(model: &str, policy_csv: &str) -> Result<Self, RulesError> {
        let normalise = |s: &str| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(str::split_whitespace)
                .collect::<Vec<_>>()
                .join(" ")
        };
        if normalise(model) != normalise(MODEL) {
            return Err(RulesError(format!(
                "model.conf must be the broker's model:\n{MODEL}"
            )));
        }
        let mut lines = Vec::new();
        for (n, line) in policy_csv.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != 5 || fields[0] != "p" {
                return Err(RulesError(format!(
                    "policy.csv line {}: expected `p, SUBJECT, OBJECT, ACTION, allow|deny`",
                    n + 1
                )));
            }
            if !(fields[1] == "*"
                || fields[1].starts_with("user:")
                || fields[1].starts_with("group:"))
            {
                return Err(RulesError(format!(
                    "policy.csv line {}: subject must be user:EMAIL, group:NAME or *",
                    n + 1
                )));
            }
            if !Action::ALL.iter().any(|a| a.as_str() == fields[3]) {
                return Err(RulesError(format!(
                    "policy.csv line {}: unknown action {:?}",
                    n + 1,
                    fields[3]
                )));
            }
            if !matches!(fields[4], "allow" | "deny") {
                return Err(RulesError(format!(
                    "policy.csv line {}: effect must be allow or deny",
                    n + 1
                )));
            }
            lines.push(Line {
                subject: fields[1].to_string(),
                object: fields[2].to_string(),
                action: fields[3].to_string(),
                deny: fields[4] == "deny",
            });
        }
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| RulesError(e.to_string()))?;
        let adapter = StringAdapter::new(policy_csv.to_string());
        let mut enforcer = Enforcer::new(model, adapter)
            .await
            .map_err(|e| RulesError(e.to_string()))?;
        enforcer.add_function(
            "subjectMatch",
            OperatorFunction::Arg2(|a: Dynamic, b: Dynamic| {
                subject_match(&a.to_string(), &b.to_string()).into()
            }),
        );
        enforcer.add_function(
            "globMatch",
            OperatorFunction::Arg2(|a: Dynamic, b: Dynamic| {
                glob_match(&a.to_string(), &b.to_string()).into()
            }),
        );
        let mut by_action: [Vec<usize>; 6] = Default::default();
        for (i, line) in lines.iter().enumerate() {
            if let Some(a) = Action::ALL.iter().find(|a| a.as_str() == line.action) {
                by_action[a.index()].push(i);
            }
        }
        Ok(Rules {
            enforcer,
            lines,
            by_action,
        })
    }

    /// Number of policy lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no policy lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Every line, as written back (`p, group:eng, *, request, allow`).
    pub fn lines_text(&self) -> Vec<String> {
        self.lines.iter().map(|l| l.to_string()).collect()
    }

    /// Every distinct subject named by a line (for finding who may review).
    pub fn subjects(&self) -> Vec<String> {
        let mut s: Vec<String> = self.lines.iter().map(|l| l.subject.clone()).collect();
        s.sort();
        s.dedup();
        s
    }

    /// Decides `action` on `object` for the principal `user` (email or id) with `groups`:
    /// allowed when some line allows and none denies. This evaluates the broker's model
    /// directly over the lines of that action (casbin would run its script engine over
    /// every line); [`Rules::check_casbin`] is the reference it is tested against.
    pub fn check(
        &self,
        user: &str,
        groups: &[String],
        object: &str,
        action: Action,
    ) -> RuleOutcome {
        let subjects = subjects(user, groups);
        let mut matched: Vec<&Line> = self.by_action[action.index()]
            .iter()
            .map(|&i| &self.lines[i])
            .filter(|l| {
                subjects.iter().any(|s| glob_match(s, &l.subject)) && glob_match(object, &l.object)
            })
            .collect();
        let allowed = !matched.is_empty() && matched.iter().all(|l| !l.deny);
        // The explanation: the lines that matched, the winning deny first.
        matched.sort_by_key(|l| !l.deny);
        RuleOutcome {
            allowed,
            rules: matched.iter().map(|l| l.to_string()).collect(),
        }
    }

    /// The same question put to casbin's own enforcer with `model.conf`.
    pub fn check_casbin(
        &self,
        user: &str,
        groups: &[String],
        object: &str,
        action: Action,
    ) -> bool {
        let joined = subjects(user, groups).join("|");
        // An evaluation error refuses: fail closed.
        self.enforcer
            .enforce((joined.as_str(), object, action.as_str()))
            .unwrap_or(false)
    }

    /// The subjects that `review` lines allow on `object`, less those a `review` deny names.
    pub fn reviewers(&self, object: &str) -> Vec<String> {
        let lines: Vec<&Line> = self.by_action[Action::Review.index()]
            .iter()
            .map(|&i| &self.lines[i])
            .filter(|l| glob_match(object, &l.object))
            .collect();
        if lines.iter().any(|l| l.deny && l.subject == "*") {
            return Vec::new();
        }
        let mut out: Vec<String> = lines
            .iter()
            .filter(|l| !l.deny && !lines.iter().any(|d| d.deny && d.subject == l.subject))
            .map(|l| l.subject.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `user:EMAIL` and `group:NAME` for each group. `|` is refused in a group because casbin
/// receives the subjects joined by it; such a group could pose as another subject.
fn subjects(user: &str, groups: &[String]) -> Vec<String> {
    let mut out = vec![format!("user:{}", user.to_lowercase())];
    out.extend(
        groups
            .iter()
            .filter(|g| !g.contains('|'))
            .map(|g| format!("group:{g}")),
    );
    out
}

#[cfg(test)]
mod tests;
