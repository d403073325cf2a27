//! A target too slow to check in bounded time. Once a pack has seen
//! `answers` responses in a row each slower than its `slow_target.slower_than`
//! (by default its SLA), the rest of its checks would each take minutes: only
//! the checks that judge speed (family `timeouts`) still run, and they decide
//! the verdict. `--patient` turns this off.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// Watches a pack's answer times; fires once when the target is slow.
pub struct Pace {
    /// `None`: never declared slow (no threshold, or `--patient`).
    threshold: Option<Duration>,
    answers: usize,
    in_a_row: Mutex<Vec<Duration>>,
    slow: watch::Sender<Option<String>>,
}

impl Pace {
    pub fn new(threshold: Option<Duration>, answers: usize) -> Pace {
        Pace {
            threshold,
            answers: answers.max(1),
            in_a_row: Mutex::new(Vec::new()),
            slow: watch::channel(None).0,
        }
    }

    /// A pace that never fires.
    pub fn off() -> Pace {
        Pace::new(None, 1)
    }

    /// One answered request took `took`.
    pub fn observe(&self, took: Duration) {
        let Some(threshold) = self.threshold else {
            return;
        };
        if self.slow.borrow().is_some() {
            return;
        }
        let Ok(mut seen) = self.in_a_row.lock() else {
            return;
        };
        if took <= threshold {
            seen.clear();
            return;
        }
        seen.push(took);
        if seen.len() >= self.answers {
            let times: Vec<String> = seen
                .iter()
                .map(|d| format!("{:.1} s", d.as_secs_f64()))
                .collect();
            let why = format!(
                "the target answered {} requests in a row slower than {} ({}), so a full run would take many minutes; only the timeouts checks ran (--patient runs every check)",
                seen.len(),
                crate::report::text::ms(threshold.as_secs_f64() * 1000.0),
                times.join(", ")
            );
            self.slow.send_replace(Some(why));
        }
    }

    /// Why the target counts as slow, once it does.
    pub fn slow(&self) -> Option<String> {
        self.slow.borrow().clone()
    }

    /// Resolves once the target counts as slow (never, if it does not).
    pub async fn wait_slow(&self) -> String {
        let mut rx = self.slow.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn fires_after_enough_slow_answers_in_a_row_only() {
        let p = Pace::new(Some(S * 2), 3);
        p.observe(S * 3);
        p.observe(S * 3);
        p.observe(S); // a fast answer starts the count again
        p.observe(S * 3);
        p.observe(S * 3);
        assert_eq!(p.slow(), None);
        p.observe(S * 3);
        let why = p.slow().expect("slow after three in a row");
        assert!(
            why.contains("3 requests in a row slower than 2.00 s"),
            "{why}"
        );
        assert!(why.contains("3.0 s, 3.0 s, 3.0 s"), "{why}");
    }

    #[test]
    fn an_answer_at_the_threshold_is_not_slow_and_off_never_fires() {
        let p = Pace::new(Some(S * 2), 1);
        p.observe(S * 2);
        assert_eq!(p.slow(), None);
        let off = Pace::off();
        for _ in 0..10 {
            off.observe(S * 100);
        }
        assert_eq!(off.slow(), None);
    }

    #[tokio::test]
    async fn waiters_wake_when_it_fires() {
        let p = std::sync::Arc::new(Pace::new(Some(S), 1));
        let w = {
            let p = p.clone();
            tokio::spawn(async move { p.wait_slow().await })
        };
        tokio::task::yield_now().await;
        p.observe(S * 2);
        let why = tokio::time::timeout(S * 5, w).await.unwrap().unwrap();
        assert!(why.contains("slower than 1.00 s"), "{why}");
    }
}
