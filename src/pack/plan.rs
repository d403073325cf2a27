//! The typed view of a step: which one action it takes. `model.rs` keeps
//! the serde surface (six optional fields, as pack authors write them);
//! `Step::action` turns that into one `Action`, so the rule "exactly one
//! action" lives here, validation reports it with the file and step, and the
//! engine matches on the enum (a new primitive is one variant, and the
//! compiler names every match that must handle it). `PlanStep` is what
//! validation compiles beside each step: expressions parsed, captures typed.

use super::capture::Capture;
use super::expr::Expr;
use std::collections::BTreeSet;

use super::model::{Assertion, AuthSpec, BurstSpec, PollSpec, RequestSpec, ScenarioFile, Step};
use super::template::{self, Template};

/// What loading a scenario compiles for each of its steps, so nothing is
/// parsed again while the check runs.
#[derive(Debug, Clone)]
pub struct PlanStep {
    /// `step 2 \`poll\``: how findings and errors name the step.
    pub label: String,
    /// `when:`, parsed.
    pub when: Option<Expr>,
    /// An `assert` step's expressions, parsed (parallel to its list).
    pub asserts: Vec<Expr>,
    /// The step's captures, typed, in name order.
    pub captures: Vec<(String, Capture)>,
}

/// What a step does.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Send one request, or one per endpoint of a set (`for_each`).
    Request {
        spec: &'a RequestSpec,
        for_each: Option<ForEach>,
    },
    /// Poll a job until a terminal state.
    Poll(&'a PollSpec),
    /// N requests at a given concurrency.
    Burst(&'a BurstSpec),
    /// Send exactly the request of the named earlier step again.
    Repeat(&'a str),
    /// Sleep for a duration (a template).
    Wait(&'a Template),
    /// Assertions over the values captured so far.
    Assert(&'a [Assertion]),
}

/// `for_each:` on a request step: which of the pack's endpoints it visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForEach {
    /// Every endpoint with `auth: true`.
    Protected,
    /// Every endpoint.
    All,
}

impl ForEach {
    /// Whether an endpoint (by its `auth`) is in the set.
    pub fn includes(self, auth: bool) -> bool {
        self == ForEach::All || auth
    }
}

impl Step {
    /// The step's one action, or why it has not exactly one.
    pub fn action(&self) -> Result<Action<'_>, String> {
        let mut found: Vec<Action<'_>> = Vec::with_capacity(1);
        if let Some(spec) = &self.request {
            found.push(Action::Request {
                spec,
                for_each: None,
            });
        }
        if let Some(p) = &self.poll {
            found.push(Action::Poll(p));
        }
        if let Some(b) = &self.burst {
            found.push(Action::Burst(b));
        }
        if let Some(r) = &self.repeat {
            found.push(Action::Repeat(r));
        }
        if let Some(w) = &self.wait {
            found.push(Action::Wait(w));
        }
        if let Some(a) = &self.assert {
            found.push(Action::Assert(a));
        }
        let mut action = match found.as_slice() {
            [one] => *one,
            many => {
                return Err(format!(
                    "a step needs exactly one of request, poll, burst, repeat, wait, assert (found {})",
                    many.len()
                ));
            }
        };
        match (&mut action, self.for_each.as_deref()) {
            (_, None) => {}
            (Action::Request { for_each, .. }, Some(set)) => {
                *for_each = Some(match set {
                    "protected" => ForEach::Protected,
                    "all" => ForEach::All,
                    other => {
                        return Err(format!("for_each: `{other}` (use `protected` or `all`)"));
                    }
                });
            }
            (_, Some(_)) => return Err("for_each goes with request".into()),
        }
        Ok(action)
    }
}

impl RequestSpec {
    /// The key role the request sends (`valid` unless it says; `none` and
    /// `invalid` send no real key).
    pub fn key_role(&self) -> &str {
        match &self.auth {
            None => "valid",
            Some(AuthSpec::Role(r)) => r,
            Some(AuthSpec::Full(f)) => &f.key,
        }
    }

    /// The `{{names}}` its path, parameters, query, headers and body use.
    pub fn template_names(&self, out: &mut Vec<String>) {
        if let Some(j) = &self.json {
            template::names_in_value(j, out);
        }
        for v in self
            .params
            .values()
            .chain(self.query.values())
            .chain(self.headers.values())
        {
            out.extend(template::names(v));
        }
        for v in self.path.iter().chain(self.body.iter()) {
            out.extend(template::names(v));
        }
        if let Some(mp) = &self.multipart {
            for v in mp.fields.values() {
                out.extend(template::names(v));
            }
        }
    }
}

/// What a check needs from the target before it can run, known at load:
/// the key roles its requests send and the names its requests use.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// Key roles other than `none` and `invalid`.
    pub roles: BTreeSet<String>,
    pub names: Vec<String>,
}

impl Requirements {
    pub fn of(spec: &ScenarioFile) -> Requirements {
        let mut req = Requirements::default();
        for s in &spec.steps {
            let requests = [
                s.request.as_ref(),
                s.poll.as_ref().map(|p| &p.request),
                s.burst.as_ref().map(|b| &b.request),
            ];
            for r in requests.into_iter().flatten() {
                let role = r.key_role();
                if !matches!(role, "none" | "invalid") {
                    req.roles.insert(role.to_string());
                }
                r.template_names(&mut req.names);
            }
        }
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Step {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn one_action_each() {
        let s = step("request: { endpoint: status }\nfor_each: protected");
        assert!(matches!(
            s.action(),
            Ok(Action::Request {
                for_each: Some(ForEach::Protected),
                ..
            })
        ));
        assert!(matches!(step("wait: 1s").action(), Ok(Action::Wait(w)) if w.as_str() == "1s"));
        assert!(matches!(
            step("repeat: first").action(),
            Ok(Action::Repeat("first"))
        ));
    }

    #[test]
    fn none_two_or_a_stray_for_each_are_refused() {
        let none = step("name: nothing").action().unwrap_err();
        assert!(
            none.contains("exactly one") && none.contains("found 0"),
            "{none}"
        );
        let two = step("wait: 1s\nrepeat: first").action().unwrap_err();
        assert!(two.contains("found 2"), "{two}");
        let stray = step("wait: 1s\nfor_each: all").action().unwrap_err();
        assert_eq!(stray, "for_each goes with request");
        let bad = step("request: { endpoint: status }\nfor_each: some")
            .action()
            .unwrap_err();
        assert!(bad.contains("use `protected` or `all`"), "{bad}");
        assert!(ForEach::All.includes(false) && !ForEach::Protected.includes(false));
    }
}
