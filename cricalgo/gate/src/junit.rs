//! JUnit XML from verdicts: one testsuite per phase, one testcase per threshold and per functional
//! check. A testcase fails exactly when its row makes the verdict fail, so the XML has failures
//! exactly when the verdict failed.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::model::{MetricType, Summary};
use crate::threshold::Selector;
use crate::verdict::{Status, ThresholdResult, Verdict, format_observed};

/// One phase of a run (`smoke`, `load`) with its verdict and, when known, its summary (for
/// per-check counts in `system-out`).
#[derive(Debug, Clone, Copy)]
pub struct Phase<'a> {
    pub name: &'a str,
    pub verdict: &'a Verdict,
    pub summary: Option<&'a Summary>,
}

/// Why JUnit XML could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("failed to serialise JUnit XML")]
pub struct JunitError(#[from] quick_junit::SerializeError);

/// The JUnit XML document for a run's phases.
pub fn to_junit(run_name: &str, phases: &[Phase<'_>]) -> Result<String, JunitError> {
    let mut report = Report::new(run_name);
    for phase in phases {
        report.add_test_suite(suite(phase));
    }
    Ok(report.to_string()?)
}

fn metric_type_for(row: &ThresholdResult, summary: Option<&Summary>) -> MetricType {
    let name = Selector::parse(&row.metric)
        .map(|s| s.name)
        .unwrap_or_else(|_| row.metric.clone());
    summary
        .and_then(|s| s.metric_type_of(&name))
        .or_else(|| crate::model::builtin_metric_type(&name))
        .unwrap_or(MetricType::Gauge)
}

fn suite(phase: &Phase<'_>) -> TestSuite {
    let mut suite = TestSuite::new(phase.name);
    for row in &phase.verdict.thresholds {
        let name = row.label();
        let status = if row.failing {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let observed = row
                .observed
                .map(|v| format_observed(v, metric_type_for(row, phase.summary)))
                .unwrap_or_else(|| "no value".to_owned());
            let message = match row.status {
                Status::NoData => format!(
                    "no data for `{}`: limit `{}` could not be checked",
                    row.metric, row.expression
                ),
                _ => format!(
                    "observed {observed}, limit `{}` ({})",
                    row.expression,
                    row.source_word()
                ),
            };
            status.set_message(message);
            status.set_type("threshold");
            status
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(format!("{}.thresholds", phase.name));
        suite.add_test_case(case);
    }
    for check in &phase.verdict.checks {
        let status = if check.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(
                check
                    .message
                    .clone()
                    .unwrap_or_else(|| "check failed".to_owned()),
            );
            status.set_type("check");
            status
        };
        let mut case = TestCase::new(check.name.clone(), status);
        case.set_classname(format!("{}.checks", phase.name));
        suite.add_test_case(case);
    }
    if phase.verdict.incomplete {
        let failing = !phase.verdict.passed()
            && !phase.verdict.thresholds.iter().any(|r| r.failing)
            && phase.verdict.checks.iter().all(|c| c.passed);
        let status = if failing {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message("the run was interrupted and is incomplete");
            status.set_type("incomplete");
            status
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new("run complete", status);
        case.set_classname(format!("{}.run", phase.name));
        suite.add_test_case(case);
    }
    let mut out = String::new();
    if let Some(summary) = phase.summary {
        for (path, check) in summary.root_group.all_checks() {
            out.push_str(&format!(
                "check {path}: {} passed, {} failed\n",
                check.passes, check.fails
            ));
        }
    }
    for note in &phase.verdict.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&format!(
        "verdict: {}\n",
        if phase.verdict.passed() {
            "passed"
        } else {
            "failed"
        }
    ));
    suite.set_system_out(out);
    suite
}

impl ThresholdResult {
    /// Where the threshold came from, as a word for messages.
    pub fn source_word(&self) -> &'static str {
        match self.source {
            crate::threshold::Source::Default => "default",
            crate::threshold::Source::Scenario => "scenario",
            crate::threshold::Source::Flag => "flag",
            crate::threshold::Source::File => "file",
            crate::threshold::Source::Recorded => "recorded by k6",
        }
    }
}
