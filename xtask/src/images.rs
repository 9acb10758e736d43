//! `cargo xtask images`: builds the staging images without any registry.

use clap::Args;

#[derive(Debug, Default, Args)]
pub struct ImagesArgs {}

pub fn run(_args: ImagesArgs) -> anyhow::Result<()> {
    eprintln!("xtask images: no images are defined yet");
    Ok(())
}
