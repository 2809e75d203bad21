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
];
