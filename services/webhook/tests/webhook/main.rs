//! The webhook app on real Postgres and Redis: the response table, bad input, signatures, body
//! limits, exact decimals, byte-identical payloads, concurrent duplicates and a Postgres outage.

mod binary;
mod harness;
mod inputs;
mod outage;
mod responses;
mod signatures;
