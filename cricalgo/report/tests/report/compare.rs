//! `perf compare` logic on two synthetic runs.

use cricalgo_report::compare::compare;
use cricalgo_report::finish_run_folder;

use crate::fixtures::{Outcome, info, write_run};

#[test]
fn compare_reports_deltas_and_the_verdict_change() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_run(a.path(), Outcome::Passed);
    write_run(b.path(), Outcome::Failed);
    finish_run_folder(a.path(), &info(Outcome::Passed)).unwrap();
    finish_run_folder(b.path(), &info(Outcome::Failed)).unwrap();
    let c = compare(a.path(), b.path()).unwrap();
    assert_eq!(c.verdict_change.as_deref(), Some("passed → failed"));
    let row = |name: &str| c.figures.iter().find(|r| r.figure == name).unwrap().clone();
    assert_eq!(row("throughput_rps").a, Some(118.2));
    assert_eq!(row("throughput_rps").direction.as_deref(), Some("better"));
    assert_eq!(row("error_rate").direction.as_deref(), Some("worse"));
    assert_eq!(row("p95_ms").direction.as_deref(), Some("better"));
    let p95 = row("p95_ms");
    assert!((p95.delta.unwrap() - (11.8 - 1480.0)).abs() < 1e-9);
    assert!(
        c.threshold_changes
            .iter()
            .any(|t| t.metric == "http_req_failed" && t.b.as_deref() == Some("failed"))
    );
    let md = c.to_markdown();
    assert!(md.contains("Verdict changed: **passed → failed**"), "{md}");
    assert!(
        md.contains("| error_rate | 0.00 % | 62.00 % | +62.00 pp (worse) |"),
        "{md}"
    );
    let out = tempfile::tempdir().unwrap();
    c.write(out.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("compare.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict_change"], "passed → failed");
}

#[test]
fn compare_refuses_a_folder_that_is_not_a_run() {
    let a = tempfile::tempdir().unwrap();
    let err = compare(a.path(), a.path()).unwrap_err();
    assert!(err.to_string().contains("is not a run folder"), "{err}");
}
