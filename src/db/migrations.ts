/**
 * Versioned schema changes, applied in order and recorded in schema_migrations.
 * Add a new entry to change the schema; never edit one that has shipped.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'users',
    sql: `
      CREATE TABLE users (
        user_id            uuid PRIMARY KEY,
        email              text NOT NULL,
        first_name         text NOT NULL,
        last_name          text NOT NULL,
        password_hash      text NOT NULL,
        verification_state text NOT NULL DEFAULT 'PENDING'
                           CHECK (verification_state IN ('PENDING', 'VERIFIED', 'REJECTED')),
        onboarding_state   text NOT NULL DEFAULT 'PERSISTED'
                           CHECK (onboarding_state IN ('PERSISTED', 'COMPLETED')),
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now(),
        onboarded_at       timestamptz
      );
      -- One account per address, whatever its case: a concurrent duplicate fails here.
      CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
    `,
  },
  {
    version: 2,
    name: 'signup_requests',
    sql: `
      -- Accepted signups not yet (or never) turned into a user row, so GET /users/{id}
      -- can say "queued" or "failed, because ..." instead of 404. No personal data here.
      CREATE TABLE signup_requests (
        user_id        uuid PRIMARY KEY,
        accepted_at    timestamptz NOT NULL DEFAULT now(),
        failed_at      timestamptz,
        failure_reason text
      );
    `,
  },
  {
    version: 3,
    name: 'email_verification',
    sql: `
      ALTER TABLE users DROP CONSTRAINT users_verification_state_check;
      ALTER TABLE users ADD CONSTRAINT users_verification_state_check
        CHECK (verification_state IN ('PENDING', 'VERIFIED', 'REJECTED', 'EXPIRED'));

      -- One row per link mailed (or being mailed). The token is selector + verifier: the
      -- selector finds the row, the verifier is kept only as its SHA-256 and compared in
      -- constant time, so neither a database reader nor a timing attack recovers a usable link.
      CREATE TABLE verification_tokens (
        selector      bytea PRIMARY KEY,
        user_id       uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
        verifier_hash bytea NOT NULL,
        purpose       text NOT NULL CHECK (purpose IN ('verification', 'reminder', 'resend')),
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz NOT NULL,
        -- Set once, by the one request that used it (a conditional UPDATE).
        used_at       timestamptz,
        -- A newer link was mailed, or the verification run ended: this one no longer works.
        superseded_at timestamptz
      );
      CREATE INDEX verification_tokens_user ON verification_tokens (user_id) WHERE used_at IS NULL AND superseded_at IS NULL;

      -- Resend requests per address and fixed window. The address is kept only as an HMAC.
      CREATE TABLE verification_resend_counts (
        address_key  bytea NOT NULL,
        window_start timestamptz NOT NULL,
        requests     integer NOT NULL,
        PRIMARY KEY (address_key, window_start)
      );
    `,
  },
  {
    version: 4,
    name: 'idempotency_keys_and_rate_limit_counters',
    sql: `
      -- One row per Idempotency-Key (IETF httpapi draft) for 24 h. No personal data: the body is
      -- kept only as an HMAC (it holds a password), the stored answer is the 202 (an id).
      CREATE TABLE idempotency_keys (
        scope            text NOT NULL,        -- the operation, e.g. 'POST /signup'
        idempotency_key  text NOT NULL,
        fingerprint      text NOT NULL,        -- HMAC-SHA256 of the request body, server-side key
        user_id          uuid NOT NULL,        -- reserved at first claim; every run under the key uses it
        claim_token      uuid,                 -- the run holding the key, if any
        locked_until     timestamptz,          -- that run's lease: a crashed run's claim lapses
        response_status  smallint,             -- the stored answer; null until one is stored
        response_headers jsonb,
        response_body    text,                 -- as sent, byte for byte (jsonb would reorder keys)
        created_at       timestamptz NOT NULL DEFAULT now(),
        expires_at       timestamptz NOT NULL,
        PRIMARY KEY (scope, idempotency_key),
        CHECK ((response_status IS NULL) = (response_body IS NULL))
      );
      CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
      CREATE INDEX idempotency_keys_user_id_idx ON idempotency_keys (user_id);

      -- express-rate-limit counters shared by every API process (fixed windows). The key is an
      -- HMAC of what the limiter counts by (an IP prefix, an e-mail address), never the value.
      CREATE TABLE rate_limit_counters (
        limiter   text NOT NULL,
        key_hash  text NOT NULL,
        hits      integer NOT NULL CHECK (hits >= 0),
        reset_at  timestamptz NOT NULL,
        PRIMARY KEY (limiter, key_hash)
      );
      CREATE INDEX rate_limit_counters_reset_at_idx ON rate_limit_counters (reset_at);
    `,
  },
  {
    version: 5,
    name: 'erased_users',
    sql: `
      -- One row per erased user (DELETE /users/{id}): the id and nothing else. A signup still
      -- queued or a run still going finds it and ends without creating the user again.
      CREATE TABLE erased_users (
        user_id uuid PRIMARY KEY
      );
    `,
  },
  {
    version: 6,
    name: 'hidden_duplicate_signups',
    sql: `
      -- Set by the worker when a signup in DUPLICATE_SIGNUP_RESPONSE=accepted mode found its
      -- address registered: the request's id then reads as an unverified signup created at this
      -- time (and EXPIRED after VERIFICATION_EXPIRES_AFTER), like a new one. No personal data.
      ALTER TABLE signup_requests ADD COLUMN hidden_duplicate_at timestamptz;
    `,
  },
  {
    version: 7,
    name: 'verification_tokens_expiry_index',
    sql: `
      -- The purge schedule deletes links some days past their expiry, a batch at a time.
      CREATE INDEX verification_tokens_expires_at ON verification_tokens (expires_at);
    `,
  },
];
