//! The inbox: the durable `deposits` row written in the webhook's request path, duplicate and
//! confirmation-update semantics, and the status view.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::deposit::NewDeposit;

/// What the inbox did with a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A new row; the deposit must be nudged onto the queue.
    New(Uuid),
    /// The same `(chain, tx_hash)` was stored before. `requeue` is set when the deposit awaits a
    /// worker: still `received`, or made eligible again by raised confirmations.
    Duplicate {
        /// The first delivery's id.
        tx_id: Uuid,
        /// Whether the stored confirmations went up.
        raised: bool,
        /// Whether the deposit became eligible for crediting again.
        requeue: bool,
    },
    /// Same `(chain, tx_hash)`, different amount: nothing changed.
    Conflict {
        /// The first delivery's id.
        tx_id: Uuid,
        /// The stored amount.
        stored: Decimal,
    },
}

/// The quick-return write: one `INSERT … ON CONFLICT DO NOTHING … RETURNING`; on conflict the
/// stored row is compared and its confirmations raised (never lowered).
pub async fn accept(
    pool: &PgPool,
    deposit: &NewDeposit,
    raw: &[u8],
) -> Result<Accepted, sqlx::Error> {
    let inserted: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO deposits (chain, tx_hash, amount, currency, confirmations, provider_status,
                               to_address, block_number, user_ref, raw_payload, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (chain, tx_hash) DO NOTHING
         RETURNING id",
    )
    .bind(&deposit.chain)
    .bind(&deposit.tx_hash)
    .bind(deposit.amount)
    .bind(&deposit.currency)
    .bind(deposit.confirmations)
    .bind(&deposit.provider_status)
    .bind(&deposit.to_address)
    .bind(deposit.block_number)
    .bind(&deposit.user_ref)
    .bind(raw)
    .bind(sqlx::types::Json(&deposit.payload))
    .fetch_optional(pool)
    .await?;
    if let Some((tx_id,)) = inserted {
        return Ok(Accepted::New(tx_id));
    }
    // The conflicting row is committed (ON CONFLICT waited for it); a new statement sees it.
    let (tx_id, stored, confirmations, status): (Uuid, Decimal, i64, String) = sqlx::query_as(
        "SELECT id, amount, confirmations, status FROM deposits WHERE chain = $1 AND tx_hash = $2",
    )
    .bind(&deposit.chain)
    .bind(&deposit.tx_hash)
    .fetch_one(pool)
    .await?;
    if stored.normalize() != deposit.amount.normalize() {
        return Ok(Accepted::Conflict { tx_id, stored });
    }
    // A redelivery of a deposit still waiting for a worker nudges the queue again: the first
    // delivery's nudge may have been lost (an answer that timed out after the commit, a Redis
    // blip). Workers skip entries whose deposit is done, so an extra nudge is harmless.
    let waiting = status == "received";
    if deposit.confirmations <= confirmations {
        return Ok(Accepted::Duplicate {
            tx_id,
            raised: false,
            requeue: waiting,
        });
    }
    let updated: Option<(String, String)> = sqlx::query_as(
        "WITH old AS (SELECT id, status FROM deposits WHERE id = $1 FOR UPDATE)
         UPDATE deposits d
         SET confirmations = $2,
             status = CASE WHEN d.status = 'pending_confirmations' THEN 'received' ELSE d.status END,
             updated_at = now()
         FROM old WHERE d.id = old.id AND d.confirmations < $2
         RETURNING old.status, d.status",
    )
    .bind(tx_id)
    .bind(deposit.confirmations)
    .fetch_optional(pool)
    .await?;
    Ok(match updated {
        Some((before, after)) => Accepted::Duplicate {
            tx_id,
            raised: true,
            requeue: after == "received" && (before == "pending_confirmations" || waiting),
        },
        None => Accepted::Duplicate {
            tx_id,
            raised: false,
            requeue: waiting,
        },
    })
}

/// `GET /api/v1/deposits/{tx_id}`.
#[derive(Debug, Clone, Serialize)]
pub struct DepositView {
    /// The deposit id.
    pub tx_id: Uuid,
    /// The provider's id.
    pub tx_hash: String,
    /// The chain.
    pub chain: String,
    /// Decimal string.
    pub amount: String,
    /// The currency.
    pub currency: String,
    /// Stored confirmations.
    pub confirmations: i64,
    /// One of the deposit states.
    pub status: String,
    /// The credited user, when resolved.
    pub user_id: Option<Uuid>,
    /// When the inbox row was written.
    pub received_at: DateTime<Utc>,
    /// When the worker finished with it.
    pub processed_at: Option<DateTime<Utc>>,
}

type ViewRow = (
    Uuid,
    String,
    String,
    Decimal,
    String,
    i64,
    String,
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// The status of one deposit, `None` when unknown.
pub async fn view(pool: &PgPool, tx_id: Uuid) -> Result<Option<DepositView>, sqlx::Error> {
    let row: Option<ViewRow> = sqlx::query_as(
        "SELECT id, tx_hash, chain, amount, currency, confirmations, status, user_id, received_at, processed_at
         FROM deposits WHERE id = $1",
    )
    .bind(tx_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(
            tx_id,
            tx_hash,
            chain,
            amount,
            currency,
            confirmations,
            status,
            user_id,
            received_at,
            processed_at,
        )| {
            DepositView {
                tx_id,
                tx_hash,
                chain,
                amount: amount.normalize().to_string(),
                currency,
                confirmations,
                status,
                user_id,
                received_at,
                processed_at,
            }
        },
    ))
}
