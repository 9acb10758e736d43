//! The worker's unit of work on Postgres: claim a received deposit, resolve its user, check
//! confirmations and credit it in one transaction; record failures; sweep stale inbox rows.

use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// What processing one deposit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ledger row written, wallet credited, status `credited`.
    Credited,
    /// No user could be resolved; never credited.
    Unattributed,
    /// Below the confirmation threshold; waits for a webhook with more.
    PendingConfirmations,
    /// Not `received` any more (done already) or held by another worker: nothing to do.
    Skipped,
}

impl Outcome {
    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Credited => "credited",
            Self::Unattributed => "unattributed",
            Self::PendingConfirmations => "pending_confirmations",
            Self::Skipped => "skipped",
        }
    }
}

/// Why processing failed.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// Worth retrying: connection lost, pool timeout, deadlock, serialization failure.
    #[error("transient database error: {0}")]
    Transient(#[source] sqlx::Error),
    /// Retrying cannot help: the credit violates a constraint (e.g. the balance would overflow
    /// `numeric(30,8)`). The deposit goes to the DLQ.
    #[error("credit cannot be applied: {0}")]
    Permanent(String),
}

impl From<sqlx::Error> for CreditError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            // 22xxx data exceptions (numeric overflow), 23xxx integrity violations.
            if let Some(code) = db.code()
                && (code.starts_with("22") || code.starts_with("23"))
            {
                return Self::Permanent(format!("{} (sqlstate {code})", db.message()));
            }
        }
        Self::Transient(err)
    }
}

const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$";

type ClaimRow = (
    Decimal,
    String,
    i64,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Processes one deposit in one transaction. A deposit is credited at most once: the row is
/// claimed `FOR UPDATE SKIP LOCKED` only while `received`, and the ledger's unique deposit id
/// backs that up in the database.
pub async fn process(pool: &PgPool, tx_id: Uuid, threshold: i64) -> Result<Outcome, CreditError> {
    let mut tx = pool.begin().await?;
    // Claim and resolve the user in one round trip: `user_id`, then `metadata.user_id`, then
    // `metadata.telegram_id`.
    let claimed: Option<ClaimRow> = sqlx::query_as(
        "SELECT d.amount, d.currency, d.confirmations,
                COALESCE(
                    (SELECT u.id FROM users u
                      WHERE u.id = CASE WHEN d.user_ref ~ $2 THEN d.user_ref::uuid END),
                    (SELECT u.id FROM users u
                      WHERE u.id = CASE WHEN d.payload #>> '{metadata,user_id}' ~ $2
                                        THEN (d.payload #>> '{metadata,user_id}')::uuid END),
                    (SELECT u.id FROM users u
                      WHERE u.telegram_id = CASE WHEN d.payload #>> '{metadata,telegram_id}' ~ '^[0-9]{1,18}$'
                                                 THEN (d.payload #>> '{metadata,telegram_id}')::bigint END)),
                d.user_ref, d.payload #>> '{metadata,user_id}', d.payload #>> '{metadata,telegram_id}'
         FROM deposits d
         WHERE d.id = $1 AND d.status = 'received'
         FOR UPDATE OF d SKIP LOCKED",
    )
    .bind(tx_id)
    .bind(UUID_PATTERN)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((amount, currency, confirmations, user, user_ref, meta_user, meta_telegram)) = claimed
    else {
        return Ok(Outcome::Skipped);
    };
    let Some(user_id) = user else {
        let reason = unattributed_reason(user_ref, meta_user, meta_telegram);
        transition(&mut tx, tx_id, "unattributed", None, &reason).await?;
        tx.commit().await?;
        return Ok(Outcome::Unattributed);
    };
    if confirmations < threshold {
        let reason = format!("{confirmations} of {threshold} confirmations");
        transition(
            &mut tx,
            tx_id,
            "pending_confirmations",
            Some(user_id),
            &reason,
        )
        .await?;
        tx.commit().await?;
        return Ok(Outcome::PendingConfirmations);
    }
    credit(&mut tx, tx_id, user_id, amount, &currency).await?;
    tx.commit().await?;
    Ok(Outcome::Credited)
}

/// The credit itself, one statement: ledger row (unique per deposit), wallet balance (created on
/// first credit, `CHECK >= 0`, overflow fails), deposit `credited`, audit row.
async fn credit(
    tx: &mut sqlx::PgConnection,
    tx_id: Uuid,
    user_id: Uuid,
    amount: Decimal,
    currency: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH ledger AS (
             INSERT INTO ledger_entries (deposit_id, user_id, amount, currency)
             VALUES ($1, $2, $3, $4) RETURNING deposit_id
         ), wallet AS (
             INSERT INTO wallets (user_id, deposit_balance)
             SELECT $2, $3 FROM ledger
             ON CONFLICT (user_id) DO UPDATE
             SET deposit_balance = wallets.deposit_balance + EXCLUDED.deposit_balance, updated_at = now()
             RETURNING user_id
         ), deposit AS (
             UPDATE deposits SET status = 'credited', user_id = $2, processed_at = now(),
                                 updated_at = now(), last_error = NULL
             WHERE id = (SELECT deposit_id FROM ledger) AND EXISTS (SELECT 1 FROM wallet)
             RETURNING id
         )
         INSERT INTO audit_logs (deposit_id, action, from_status, to_status, detail)
         SELECT id, 'credit', 'received', 'credited',
                jsonb_build_object('user_id', $2::text, 'amount', $3::text, 'currency', $4::text)
         FROM deposit",
    )
    .bind(tx_id)
    .bind(user_id)
    .bind(amount)
    .bind(currency)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn transition(
    tx: &mut sqlx::PgConnection,
    tx_id: Uuid,
    to: &str,
    user_id: Option<Uuid>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let done = to == "unattributed";
    sqlx::query(
        "WITH deposit AS (
             UPDATE deposits SET status = $2, user_id = COALESCE($3, user_id), last_error = $4,
                                 updated_at = now(),
                                 processed_at = CASE WHEN $5 THEN now() ELSE processed_at END
             WHERE id = $1 RETURNING id
         )
         INSERT INTO audit_logs (deposit_id, action, from_status, to_status, detail)
         SELECT id, $2, 'received', $2, jsonb_build_object('reason', $4::text) FROM deposit",
    )
    .bind(tx_id)
    .bind(to)
    .bind(user_id)
    .bind(reason)
    .bind(done)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn unattributed_reason(
    user_ref: Option<String>,
    meta_user: Option<String>,
    meta_telegram: Option<String>,
) -> String {
    let mut reasons = Vec::new();
    if let Some(value) = user_ref {
        reasons.push(format!("user_id `{}` is not a known user", shorten(&value)));
    }
    if let Some(value) = meta_user.filter(|v| !v.is_empty()) {
        reasons.push(format!(
            "metadata.user_id `{}` is not a known user",
            shorten(&value)
        ));
    }
    if let Some(value) = meta_telegram.filter(|v| !v.is_empty()) {
        reasons.push(format!(
            "metadata.telegram_id `{}` is not a known user",
            shorten(&value)
        ));
    }
    if reasons.is_empty() {
        "no user reference (user_id, metadata.user_id, metadata.telegram_id)".to_owned()
    } else {
        reasons.join("; ")
    }
}

fn shorten(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Records a failed attempt. Returns the attempt count and whether the deposit is now `failed`
/// (attempts reached `max_attempts`, or `permanent`).
pub async fn record_failure(
    pool: &PgPool,
    tx_id: Uuid,
    error: &str,
    max_attempts: u32,
    permanent: bool,
) -> Result<(i32, bool), sqlx::Error> {
    let row: Option<(i32, String)> = sqlx::query_as(
        "WITH deposit AS (
             UPDATE deposits
             SET attempts = attempts + 1, last_error = $2, updated_at = now(),
                 status = CASE WHEN status = 'received' AND ($4 OR attempts + 1 >= $3) THEN 'failed' ELSE status END,
                 processed_at = CASE WHEN status = 'received' AND ($4 OR attempts + 1 >= $3) THEN now() ELSE processed_at END
             WHERE id = $1 RETURNING id, attempts, status
         ), audit AS (
             INSERT INTO audit_logs (deposit_id, action, from_status, to_status, detail)
             SELECT id, 'attempt_failed', 'received', status, jsonb_build_object('error', $2::text, 'attempt', attempts)
             FROM deposit
         )
         SELECT attempts, status FROM deposit",
    )
    .bind(tx_id)
    .bind(error)
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .bind(permanent)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((attempts, status)) => (attempts, status == "failed"),
        None => (0, false),
    })
}

/// Marks inbox rows still `received` after `grace` as touched and returns their ids, to be put
/// on the queue again. Rows another worker holds are skipped.
pub async fn sweep(pool: &PgPool, grace: Duration, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "UPDATE deposits SET updated_at = now()
         WHERE id IN (SELECT id FROM deposits
                      WHERE status = 'received' AND updated_at < now() - make_interval(secs => $1)
                      ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(grace.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Inbox rows awaiting work (`received`).
pub async fn awaiting(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM deposits WHERE status = 'received'")
            .fetch_one(pool)
            .await?;
    Ok(count)
}
