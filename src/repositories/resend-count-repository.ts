/** The verification_resend_counts table: resend requests per address (an HMAC of it) and fixed window. */
import type { Queryable } from '../db/transaction';

/**
 * Counts one more request for the address in the current window and returns the count so far.
 * Windows older than a day are dropped now and then, so the table stays small.
 */
export async function countResendRequest(db: Queryable, addressKey: Buffer, windowMs: number): Promise<number> {
  const { rows } = await db.query<{ requests: number }>(
    `INSERT INTO verification_resend_counts (address_key, window_start, requests)
     VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) * 1000 / $2) * $2 / 1000), 1)
     ON CONFLICT (address_key, window_start) DO UPDATE SET requests = verification_resend_counts.requests + 1
     RETURNING requests`,
    [addressKey, windowMs],
  );
  if (Math.random() < 0.01) {
    await db.query(`DELETE FROM verification_resend_counts WHERE window_start < now() - make_interval(secs => $1::double precision / 1000) - interval '1 day'`, [windowMs]);
  }
  return rows[0].requests;
}

/** Erasure: the resend counters of the user's address (an HMAC of it), every window. */
export async function deleteResendCounts(db: Queryable, addressKey: Buffer): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM verification_resend_counts WHERE address_key = $1', [addressKey]);
  return rowCount ?? 0;
}
