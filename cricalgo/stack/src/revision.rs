//! Compose revisions: what each successful `up`, `scale` or `rollback` converged to (resolved
//! spec, image ids, config hashes), one JSON file each under `<state>/revisions/<project>/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StackError;
use crate::compose::ProjectSpec;

/// One recorded convergence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revision {
    pub number: u64,
    pub recorded_at: String,
    /// `up`, `scale` or `rollback`.
    pub source: String,
    /// For a rollback: the revision whose content was restored.
    #[serde(default)]
    pub restores: Option<u64>,
    pub spec: ProjectSpec,
    /// Image id per service (containers of this revision run exactly these).
    pub image_ids: BTreeMap<String, String>,
    pub config_hashes: BTreeMap<String, String>,
}

impl Revision {
    /// Same stack content (spec and images), whatever number or source.
    pub fn same_content(&self, spec: &ProjectSpec, image_ids: &BTreeMap<String, String>) -> bool {
        &self.spec == spec && &self.image_ids == image_ids
    }
}

fn folder(state_dir: &Path, project: &str) -> PathBuf {
    state_dir.join("revisions").join(project)
}

fn error(path: &Path, message: impl ToString) -> StackError {
    StackError::Revision {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Every revision of a project, oldest first.
pub fn list(state_dir: &Path, project: &str) -> Result<Vec<Revision>, StackError> {
    let dir = folder(state_dir, project);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(error(&dir, err)),
    };
    let mut revisions = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|err| error(&path, err))?;
        let revision: Revision = serde_json::from_str(&text).map_err(|err| {
            error(
                &path,
                format!("unreadable revision ({err}); delete the file to forget it"),
            )
        })?;
        revisions.push(revision);
    }
    revisions.sort_by_key(|revision| revision.number);
    Ok(revisions)
}

/// The number the next recorded revision gets.
pub fn next_number(revisions: &[Revision]) -> u64 {
    revisions.last().map_or(1, |revision| revision.number + 1)
}

/// Writes a revision (atomically: temp file then rename).
pub fn write(state_dir: &Path, project: &str, revision: &Revision) -> Result<PathBuf, StackError> {
    let dir = folder(state_dir, project);
    std::fs::create_dir_all(&dir).map_err(|err| error(&dir, err))?;
    let path = dir.join(format!("{:06}.json", revision.number));
    let temp = dir.join(format!(".{:06}.json.tmp", revision.number));
    let text = serde_json::to_string_pretty(revision).expect("revision serializes");
    std::fs::write(&temp, text).map_err(|err| error(&temp, err))?;
    std::fs::rename(&temp, &path).map_err(|err| error(&path, err))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(number: u64) -> Revision {
        Revision {
            number,
            recorded_at: "now".into(),
            source: "up".into(),
            restores: None,
            spec: ProjectSpec {
                name: "p".into(),
                services: BTreeMap::new(),
                volumes: Vec::new(),
            },
            image_ids: BTreeMap::new(),
            config_hashes: BTreeMap::new(),
        }
    }

    #[test]
    fn write_then_list_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(dir.path(), "p").unwrap().is_empty());
        for number in [2, 1, 10] {
            write(dir.path(), "p", &revision(number)).unwrap();
        }
        let numbers: Vec<u64> = list(dir.path(), "p")
            .unwrap()
            .iter()
            .map(|r| r.number)
            .collect();
        assert_eq!(numbers, [1, 2, 10]);
        assert_eq!(next_number(&list(dir.path(), "p").unwrap()), 11);
        assert!(list(dir.path(), "other").unwrap().is_empty());
    }
}
