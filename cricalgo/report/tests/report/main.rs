//! Integration tests of the report crate on synthetic run folders written here.

mod browser;
mod compare;
mod fixtures;
mod prometheus;
mod rendering;
