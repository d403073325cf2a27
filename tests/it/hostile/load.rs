//! The same hostile servers under `golive load`, two seconds each, every
//! case at once: the run ends in bounded time and memory, writes every
//! report and its raw results, never panics, and what the server did shows
//! in the load report (errors, 429s, contract drift).

use super::*;

/// Every file a load run leaves in its report directory.
const LOAD_FILES: [&str; 5] = [
    "report.json",
    "report.md",
    "report.html",
    "junit.xml",
    "load-results.json",
];

/// A load run lasts 2 s, each request at most 1 s, then at most 1 s of grace.
const LOAD_LIMIT: Duration = Duration::from_secs(20);

fn load_against(port: u16) -> Outcome {
    let out = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "load",
        "--pack",
        "removit",
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--rate",
        "20/s",
        "--duration",
        "2s",
        "--max-in-flight",
        "20",
        "--schema-sample",
        "100%",
        "--var",
        "http_timeout=1s",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    run_golive(&args, out.path(), &LOAD_FILES, false)
}

fn load_suite() -> &'static BTreeMap<Case, Outcome> {
    static SUITE: OnceLock<BTreeMap<Case, Outcome>> = OnceLock::new();
    SUITE.get_or_init(|| {
        std::thread::scope(|scope| {
            let runs: Vec<_> = Case::SUITE
                .iter()
                .map(|&case| {
                    scope.spawn(move || {
                        let (other, _) = recorder();
                        let (port, _) = serve(case, other);
                        (case, load_against(port))
                    })
                })
                .collect();
            let results: BTreeMap<Case, Outcome> = runs
                .into_iter()
                .map(|h| h.join().expect("case ran"))
                .collect();
            // The figures for the record (`cargo test hostile::load -- --nocapture`).
            for (case, o) in &results {
                let failing: Vec<&str> = o
                    .report
                    .as_ref()
                    .map(|r| {
                        checks(r)
                            .iter()
                            .filter(|c| field(c, "status") == "fail")
                            .map(|c| field(c, "id"))
                            .collect()
                    })
                    .unwrap_or_default();
                println!(
                    "load {case:?}: exit {} in {:.1} s, peak RSS {} KiB, failing {failing:?}",
                    o.code,
                    o.took.as_secs_f64(),
                    o.peak_rss_kb.map_or("?".into(), |k| k.to_string()),
                );
            }
            results
        })
    })
}

/// The status of check `removit.load.<slo>` in a load run's report.
fn load_check<'o>(o: &'o Outcome, id: &str) -> &'o str {
    let full = format!("removit.load.{id}");
    o.report
        .as_ref()
        .and_then(|r| checks(r).iter().find(|c| field(c, "id") == full))
        .map(|c| field(c, "status"))
        .unwrap_or("(absent)")
}

#[test]
fn every_case_through_golive_load_is_bounded_reported_and_never_panics() {
    for (case, o) in load_suite() {
        let ctx = format!("{case:?}: exit {}\n{}\n{}", o.code, o.stdout, o.stderr);
        assert!(matches!(o.code, 0 | 1 | 3), "{ctx}");
        assert!(o.all_files, "not every file was written: {ctx}");
        assert!(o.report.is_some(), "report.json does not parse: {ctx}");
        assert!(o.took < LOAD_LIMIT, "took {:?}: {ctx}", o.took);
        if let Some(kb) = o.peak_rss_kb {
            assert!(kb < RSS_LIMIT_KB, "peak RSS {kb} KiB: {ctx}");
        }
        for text in [&o.stdout, &o.stderr] {
            assert!(!text.contains("panicked at"), "{ctx}");
        }
        // Nothing a hostile server does reads as a healthy run.
        let report = o.report.as_ref().unwrap();
        assert!(
            checks(report).iter().any(|c| field(c, "status") == "fail"),
            "no check failed: {ctx}"
        );
    }
}

#[test]
fn what_the_server_did_shows_in_the_load_report() {
    let suite = load_suite();
    // A 429 on every request: the 429 SLO is breached.
    assert_eq!(load_check(&suite[&Case::Always429], "429"), "fail");
    // Answers that never come whole count as errors.
    for case in [
        Case::ResetMidResponse,
        Case::HeadersThenSilence,
        Case::TricklingBody,
    ] {
        assert_eq!(load_check(&suite[&case], "errors"), "fail", "{case:?}");
    }
    // Bodies that break the schema, or say they are HTML, are contract drift.
    for case in [Case::InvalidJson, Case::JsonAsHtml] {
        assert_eq!(load_check(&suite[&case], "contract"), "fail", "{case:?}");
    }
}
