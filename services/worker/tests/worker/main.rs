//! The worker on real Postgres and Redis: crediting exactly once end to end, unattributed
//! deposits, out-of-order confirmations (F6), duplicates (F5), balance overflow to the DLQ, a
//! killed worker process (F1), a Redis restart (F2), configuration errors and SIGTERM.

mod credit;
mod faults;
mod harness;
