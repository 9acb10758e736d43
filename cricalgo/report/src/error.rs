//! Errors of the report crate: each variant names the file or value that caused it.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing a run folder.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the run folder could not be read or written.
    #[error("failed to access `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file of the run folder is not valid JSON or has the wrong shape.
    #[error("`{path}` is not a valid {what}: {source}; regenerate the run folder")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the file should hold (`verdict.json`, `manifest`, …).
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A line of `timeseries.csv` could not be parsed.
    #[error("`{path}` line {line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A folder that should be a run folder has no `summary.json` nor `verdict.json`.
    #[error(
        "`{0}` is not a run folder (no `summary.json` or `verdict.json`); pass a folder under `artifacts/`"
    )]
    NotARunFolder(PathBuf),
    /// A checksum in `manifest.json` does not match the file on disk.
    #[error(
        "checksum mismatch for `{file}` in `{dir}`: manifest says {expected}, file has {actual}"
    )]
    ChecksumMismatch {
        /// The run folder.
        dir: PathBuf,
        /// The relative path.
        file: String,
        /// sha256 recorded in the manifest.
        expected: String,
        /// sha256 of the file now.
        actual: String,
    },
    /// A file is in the folder but not in `manifest.json`, or the reverse.
    #[error("`{file}` in `{dir}` is {problem}")]
    ManifestMismatch {
        /// The run folder.
        dir: PathBuf,
        /// The relative path.
        file: String,
        /// `listed in the manifest but missing` or `present but not listed in the manifest`.
        problem: &'static str,
    },
    /// A plot could not be drawn.
    #[error("failed to draw the `{plot}` plot: {message}")]
    Plot {
        /// Which plot.
        plot: &'static str,
        /// The drawing error.
        message: String,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
