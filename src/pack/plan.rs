//! The typed view of a step: which one action it takes. `model.rs` keeps
//! the serde surface (six optional fields, as pack authors write them);
//! `Step::action` turns that into one `Action`, so the rule "exactly one
//! action" lives here, validation reports it with the file and step, and the
//! engine matches on the enum (a new primitive is one variant, and the
//! compiler names every match that must handle it).

use super::model::{Assertion, BurstSpec, PollSpec, RequestSpec, Step};

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
    Wait(&'a str),
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
        assert!(matches!(step("wait: 1s").action(), Ok(Action::Wait("1s"))));
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
