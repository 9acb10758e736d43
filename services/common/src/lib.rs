//! Shared by the deposit services and the CLI: configuration, schema and migrations, the inbox, the credit transaction, metrics.
