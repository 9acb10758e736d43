//! Run folders and reports: manifest with checksums, HTML with SVG plots, Markdown, run comparison.
//!
//! The reports are built only from the files of a run folder (`summary.json`, `verdict.json`,
//! `timeseries.csv`, `stack.json`, `prometheus.json`, `smoke/`): that is the contract between the
//! load engine, the gate, the stack and this crate. The verdict is never recomputed here — it is
//! read from `verdict.json`, the same document the exit code came from.

pub mod audit;
pub mod compare;
pub mod error;
pub mod folder;
mod format;
pub mod html;
pub mod input;
pub mod manifest;
pub mod markdown;
pub mod plots;
pub mod prometheus;

use std::path::Path;

pub use error::{ReportError, Result};
pub use input::RunData;
pub use manifest::{Manifest, ManifestInfo, read_manifest, verify_manifest, write_manifest};

/// Reads the run folder and writes `report.html` and `report.md` into it.
pub fn write_reports(dir: &Path, info: &ManifestInfo) -> Result<RunData> {
    let data = RunData::load(dir)?;
    render_into(dir, info, &data)?;
    Ok(data)
}

fn render_into(dir: &Path, info: &ManifestInfo, data: &RunData) -> Result<()> {
    let html_path = dir.join("report.html");
    std::fs::write(&html_path, html::render(info, data)?)
        .map_err(|e| ReportError::io(&html_path, e))?;
    let md_path = dir.join("report.md");
    std::fs::write(&md_path, markdown::render(info, data)).map_err(|e| ReportError::io(&md_path, e))
}

/// Finishes a run folder: the reports, then `manifest.json` over every file (reports included).
///
/// The manifest's verdict and `incomplete` flag are taken from `verdict.json` when it exists, so
/// the manifest, the reports and the exit code can never disagree.
pub fn finish_run_folder(dir: &Path, info: &ManifestInfo) -> Result<Manifest> {
    let data = RunData::load(dir)?;
    let mut info = info.clone();
    if let Some(verdict) = &data.verdict {
        info.verdict = Some(verdict.verdict.clone());
        info.incomplete |= verdict.incomplete;
    }
    render_into(dir, &info, &data)?;
    write_manifest(dir, &info)
}
