//! CLI integration tests: one test binary for the `cricalgo` crate, one module per area. Each test
//! runs the built binary in a temporary folder and asserts stdout, stderr and the exit code.

mod db;
mod full_run;
mod k8s_monitoring;
mod perf_check;
mod perf_run;
mod staging;
