//! The load engine: executors, HTTP client, HDR metrics and the per-second time series; results flow out on a channel.
