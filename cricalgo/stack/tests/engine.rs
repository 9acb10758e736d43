//! The convergence engine against the real Docker engine, on small stacks of the local base image
//! (`BASE_IMAGE` in `compose/.env`, written by `cargo xtask images`): fail fast on unhealthy and on
//! exit with the last log lines, idempotent re-`up`, scale down, orphans, `down`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cricalgo_stack::{Event, LoadOptions, Outcome, StackError, Target, UpOptions};

fn base_image() -> String {
    let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compose/.env");
    let vars = cricalgo_stack::compose::read_env_file(&env).unwrap_or_else(|err| {
        panic!("{err}: these tests need the local images, run `cargo xtask images` first")
    });
    vars.get("BASE_IMAGE")
        .cloned()
        .expect("`BASE_IMAGE` in compose/.env: run `cargo xtask images`")
}

struct Stack {
    dir: tempfile::TempDir,
    target: Target,
    notes: Arc<Mutex<Vec<String>>>,
}

impl Stack {
    fn new(project: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = notes.clone();
        let target = Target {
            project: project.to_owned(),
            state_dir: dir.path().join("state"),
            reporter: Arc::new(move |event| {
                if let Event::Note(note) = event {
                    sink.lock().unwrap().push(note);
                }
            }),
        };
        Stack { dir, target, notes }
    }

    fn options(&self, text: &str, scale: &[(&str, u32)]) -> UpOptions {
        let file: PathBuf = self.dir.path().join("compose.yml");
        std::fs::write(&file, text).unwrap();
        let empty = self.dir.path().join("empty.env");
        std::fs::write(&empty, "").unwrap();
        UpOptions {
            load: LoadOptions {
                file,
                env_file: Some(empty),
                project: self.target.project.clone(),
                environment: HashMap::from([("BASE_IMAGE".to_owned(), base_image())]),
            },
            scale: scale.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect(),
            timeout: Duration::from_secs(60),
            ready: None,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Dropped inside the test's runtime: clean up from a thread of its own.
        let target = self.target.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let _ = runtime.block_on(cricalgo_stack::down(&target, true));
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unhealthy_service_fails_fast_with_its_last_log_lines() {
    let stack = Stack::new("cricalgo-t-unhealthy");
    let options = stack.options(
        r#"
services:
  sick:
    image: ${BASE_IMAGE}
    command: ["sh", "-c", "echo sick-marker-line; exec sleep 600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 200ms
      timeout: 1s
      retries: 1
  after:
    image: ${BASE_IMAGE}
    command: ["sleep", "600"]
    depends_on:
      sick:
        condition: service_healthy
"#,
        &[],
    );
    let started = std::time::Instant::now();
    let err = cricalgo_stack::up(&stack.target, &options)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not fast: {:?}",
        started.elapsed()
    );
    match &err {
        StackError::Unhealthy { service, logs, .. } => {
            assert_eq!(service, "sick");
            assert!(logs.contains("sick-marker-line"), "{logs}");
        }
        other => panic!("expected unhealthy, got {other}"),
    }
    let rows = cricalgo_stack::status(&stack.target).await.unwrap();
    assert!(
        rows.iter().all(|r| r.service != "after"),
        "dependent started: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exited_service_fails_with_code_and_logs() {
    let stack = Stack::new("cricalgo-t-exited");
    let options = stack.options(
        r#"
services:
  crash:
    image: ${BASE_IMAGE}
    command: ["sh", "-c", "echo boom-marker; exit 3"]
"#,
        &[],
    );
    let err = cricalgo_stack::up(&stack.target, &options)
        .await
        .unwrap_err();
    match &err {
        StackError::Exited {
            service,
            code,
            logs,
            ..
        } => {
            assert_eq!(service, "crash");
            assert_eq!(*code, 3);
            assert!(logs.contains("boom-marker"), "{logs}");
        }
        other => panic!("expected exited, got {other}"),
    }
}

const SMALL: &str = r#"
services:
  a:
    image: ${BASE_IMAGE}
    command: ["sleep", "600"]
    scale: 2
    healthcheck:
      test: ["CMD", "true"]
      interval: 200ms
      retries: 3
  done:
    image: ${BASE_IMAGE}
    command: ["true"]
  b:
    image: ${BASE_IMAGE}
    command: ["sleep", "600"]
    depends_on:
      done:
        condition: service_completed_successfully
      a:
        condition: service_healthy
"#;

fn outcomes(report: &cricalgo_stack::UpReport, service: &str) -> Vec<Outcome> {
    report
        .services
        .iter()
        .find(|s| s.service == service)
        .map(|s| s.replicas.iter().map(|(_, o)| *o).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn reup_is_idempotent_scale_removes_extras_and_orphans_are_reported() {
    let stack = Stack::new("cricalgo-t-converge");
    let first = cricalgo_stack::up(&stack.target, &stack.options(SMALL, &[]))
        .await
        .unwrap();
    assert_eq!(outcomes(&first, "a"), [Outcome::Created, Outcome::Created]);
    assert!(first.new_revision);

    let second = cricalgo_stack::up(&stack.target, &stack.options(SMALL, &[]))
        .await
        .unwrap();
    assert!(second.unchanged(), "{second:?}");
    assert!(!second.new_revision);
    assert_eq!(second.revision, first.revision);

    let scaled = cricalgo_stack::up(&stack.target, &stack.options(SMALL, &[("a", 1)]))
        .await
        .unwrap();
    assert_eq!(outcomes(&scaled, "a"), [Outcome::Kept, Outcome::Removed]);
    assert_eq!(outcomes(&scaled, "b"), [Outcome::Kept]);

    // Back to revision 1 (two replicas of `a`).
    let rolled = cricalgo_stack::rollback(&stack.target, Duration::from_secs(60), None)
        .await
        .unwrap();
    assert_eq!(outcomes(&rolled, "a"), [Outcome::Kept, Outcome::Created]);

    // `b` leaves the file: its container is an orphan, reported, and `down` removes it.
    let without_b = SMALL.split("  b:\n").next().unwrap().to_owned();
    let report = cricalgo_stack::up(&stack.target, &stack.options(&without_b, &[]))
        .await
        .unwrap();
    assert_eq!(report.orphans, ["cricalgo-t-converge-b-1"]);
    assert!(
        stack
            .notes
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.contains("orphan"))
    );

    let down = cricalgo_stack::down(&stack.target, true).await.unwrap();
    assert_eq!(down.containers.len(), 4, "{down:?}");
    assert_eq!(down.networks, ["cricalgo-t-converge_default"]);
    assert!(
        cricalgo_stack::status(&stack.target)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_without_an_earlier_revision_is_refused() {
    let stack = Stack::new("cricalgo-t-norollback");
    let err = cricalgo_stack::rollback(&stack.target, Duration::from_secs(10), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StackError::NoPreviousRevision { count: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no earlier revision"));
}
