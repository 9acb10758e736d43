//! One module per subcommand. Each owns its clap arguments and an async `run`.

pub mod completions;
pub mod db;
pub mod full_run;
pub mod k8s;
pub mod monitoring;
pub mod perf;
pub mod perf_check;
pub mod perf_compare;
pub mod perf_run;
pub mod rollback;
pub mod smoke;
pub mod staging;
