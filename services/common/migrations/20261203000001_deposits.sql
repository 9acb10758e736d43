-- The deposit pipeline schema. The constraints here are what make a double credit impossible in
-- the database itself: one ledger row per deposit, non-negative balances, positive amounts.

CREATE TABLE IF NOT EXISTS users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    telegram_id bigint UNIQUE,
    username    text,
    status      text NOT NULL DEFAULT 'active',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS wallets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL UNIQUE REFERENCES users (id),
    deposit_balance numeric(30, 8) NOT NULL DEFAULT 0 CHECK (deposit_balance >= 0),
    winning_balance numeric(30, 8) NOT NULL DEFAULT 0 CHECK (winning_balance >= 0),
    bonus_balance   numeric(30, 8) NOT NULL DEFAULT 0 CHECK (bonus_balance >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The inbox and source of truth. `id` is the `tx_id` the webhook answers with.
CREATE TABLE IF NOT EXISTS deposits (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chain           text NOT NULL,
    tx_hash         text NOT NULL,
    amount          numeric(30, 8) NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    confirmations   bigint NOT NULL DEFAULT 0 CHECK (confirmations >= 0),
    provider_status text,
    to_address      text,
    block_number    bigint,
    -- The user reference as the provider sent it (top-level `user_id`), unresolved.
    user_ref        text,
    -- The user the worker resolved and credited.
    user_id         uuid REFERENCES users (id),
    raw_payload     bytea NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'received' CHECK (status IN
                        ('received', 'pending_confirmations', 'credited', 'unattributed', 'failed', 'rejected')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    UNIQUE (chain, tx_hash)
);

-- The sweeper looks for inbox rows still waiting.
CREATE INDEX IF NOT EXISTS deposits_received_idx ON deposits (updated_at) WHERE status = 'received';

CREATE TABLE IF NOT EXISTS ledger_entries (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    deposit_id uuid NOT NULL UNIQUE REFERENCES deposits (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    amount     numeric(30, 8) NOT NULL CHECK (amount > 0),
    currency   text NOT NULL,
    kind       text NOT NULL DEFAULT 'deposit',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS audit_logs (
    id          bigserial PRIMARY KEY,
    deposit_id  uuid REFERENCES deposits (id),
    action      text NOT NULL,
    from_status text,
    to_status   text,
    detail      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_logs_deposit_idx ON audit_logs (deposit_id);
