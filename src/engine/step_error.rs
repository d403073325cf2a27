//! Why a step could not establish anything (the check's status `error`):
//! a kind, the step it happened in, and the context in words. A broken
//! expectation is not one of these: it is a `Finding`.

use std::fmt;

/// What went wrong, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepErrorKind {
    /// A template, duration or number in the step could not be rendered.
    Render,
    /// A `when:` or `assert` expression could not be parsed or evaluated.
    Expression,
    /// The target never answered (transport failures through every retry).
    NoAnswer,
    /// A value the step needs was in a body that could not be read as JSON.
    Unreadable,
    /// A job did not reach a terminal state within its deadline.
    JobDeadline,
    /// Not run: an earlier check of the pack already showed why it cannot be.
    Blocked,
    /// The step would outlast the check's time limit.
    OutOfTime,
    /// The pack asks for something it does not declare (a `repeat` of a step
    /// that sent nothing, a poll without a `jobs` section).
    Pack,
}

/// A step that could not establish its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub kind: StepErrorKind,
    /// The step's label (`step 2 \`poll\``, with `[endpoint]` for a route of `for_each`).
    pub step: String,
    /// What happened, in words.
    pub context: String,
}

impl StepError {
    pub fn new(kind: StepErrorKind, step: &str, context: impl Into<String>) -> StepError {
        StepError {
            kind,
            step: step.to_string(),
            context: context.into(),
        }
    }

    /// A constructor for `map_err` at one step: `.map_err(at(Render, label))`.
    pub fn at<E: fmt::Display>(kind: StepErrorKind, step: &str) -> impl Fn(E) -> StepError + '_ {
        move |e| StepError::new(kind, step, e.to_string())
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.context)
    }
}

impl std::error::Error for StepError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_the_step_then_the_context() {
        let e = StepError::new(
            StepErrorKind::NoAnswer,
            "step 1 `create`",
            "connection refused",
        );
        assert_eq!(e.to_string(), "step 1 `create`: connection refused");
        let mapped: Result<(), StepError> =
            Err("bad").map_err(StepError::at(StepErrorKind::Render, "step 2 `poll`"));
        let e = mapped.unwrap_err();
        assert_eq!((e.kind, e.context.as_str()), (StepErrorKind::Render, "bad"));
    }
}
