/**
 * The one contract between the API, the queue, the bridge and the activities.
 * Every type that crosses a process boundary is inferred from a schema here.
 */
import { z } from 'zod';
import { FailureType } from './onboarding-policy';
import { checkPasswordLength, PASSWORD_SCHEMA_META } from './security/password-rule';

// C0 and C1 control characters, DEL included: they break logs, e-mails and UIs.
const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F-\u009F]/;

/**
 * A string field whose absence reads "is required" rather than zod's type message, and which
 * must be well-formed Unicode: a lone surrogate would silently become U+FFFD in Postgres.
 */
const requiredString = () =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
    .refine((value) => value.isWellFormed(), { error: 'must be well-formed Unicode', abort: true });

// EXPIRED: nobody verified the address in time (VERIFICATION_EXPIRES_AFTER); a resend reopens it.
export const VERIFICATION_STATES = ['PENDING', 'VERIFIED', 'REJECTED', 'EXPIRED'] as const;
export const VerificationState = z.enum(VERIFICATION_STATES);
export type VerificationState = z.infer<typeof VerificationState>;

/** Where a signup is on its way from the queue to a user row. */
export const ONBOARDING_STATES = ['QUEUED', 'PROCESSING', 'PERSISTED', 'COMPLETED', 'FAILED'] as const;
export const OnboardingState = z.enum(ONBOARDING_STATES);
export type OnboardingState = z.infer<typeof OnboardingState>;

export const Email = requiredString()
  .trim()
  .toLowerCase()
  .max(254, { error: 'must be at most 254 characters' })
  .pipe(z.email({ error: 'must be a valid e-mail address' }));

export const PersonName = requiredString()
  .trim()
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  .refine((value) => !CONTROL_CHARACTERS.test(value), { error: 'must not contain control characters' });

/**
 * The length part of the password rule (8 to 256 code points after NFKC); the rest (common,
 * too guessable, personal data) is refineSignupPassword in src/security/password-policy.ts.
 */
export const Password = requiredString().superRefine(checkPasswordLength).meta(PASSWORD_SCHEMA_META);

export const UserId = z.uuid({ error: 'must be a UUID' });

/** POST /signup body, field names as in the FastAPI service this replaces. Unknown keys are ignored, as there. */
export const SignupRequest = z.object({
  email: Email,
  first_name: PersonName,
  last_name: PersonName,
  password: Password,
});
export type SignupRequest = z.infer<typeof SignupRequest>;

// PHC string of an argon2id hash: the only form in which a password may leave the API process.
const ARGON2ID_PHC = /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
export const PasswordHash = z.string().max(512).regex(ARGON2ID_PHC, { error: 'must be an argon2id PHC string' });

export const SIGNUP_MESSAGE_VERSION = 1;

/** The body of a message on the onboarding queue and the input of the onboarding workflow. */
export const SignupMessage = z.strictObject({
  version: z.literal(SIGNUP_MESSAGE_VERSION),
  user_id: UserId,
  email: Email,
  first_name: PersonName,
  last_name: PersonName,
  password_hash: PasswordHash,
  requested_at: z.iso.datetime(),
  request_id: z.string().max(200).optional(),
});
export type SignupMessage = z.infer<typeof SignupMessage>;

/** PUT /users/{user_id} body; an empty body means VERIFIED, as in the service this replaces. */
export const VerificationUpdate = z.object({
  verification_state: VerificationState.default('VERIFIED'),
});
export type VerificationUpdate = z.infer<typeof VerificationUpdate>;

export const FieldIssue = z.object({
  field: z.string().meta({ description: 'dotted path of the field, or (body)' }),
  message: z.string(),
  code: z.string(),
});
export type FieldIssue = z.infer<typeof FieldIssue>;

/** Flattens zod issues into the field-level list every error response and log line uses. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : '(body)',
    message: issue.message,
    // A refusal of ours says why in params.reason (e.g. password_common); zod's own issues keep their code.
    code: reasonOf(issue) ?? issue.code,
  }));
}

function reasonOf(issue: z.core.$ZodIssue): string | undefined {
  const reason = (issue as { params?: { reason?: unknown } }).params?.reason;
  return typeof reason === 'string' ? reason : undefined;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

/** Parses raw queue bytes into a SignupMessage, never throwing: poison messages are a result, not an exception. */
export function parseSignupMessage(body: Buffer): ParseResult<SignupMessage> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, issues: [{ field: '(body)', message: 'is not valid JSON', code: 'invalid_json' }] };
  }
  const parsed = SignupMessage.safeParse(json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: toFieldIssues(parsed.error) };
}

// Proto3 JSON encodes bytes as standard base64 (the Web UI and the CLI send it padded).
const Base64Bytes = z.base64({ error: 'must be base64' });

/**
 * Body of the Temporal codec server protocol (POST /codec/encode and /codec/decode), as the Web
 * UI and `temporal --codec-endpoint` send it and expect it back: payloads in proto3 JSON.
 */
export const CodecPayloads = z.object({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), Base64Bytes).optional(),
        data: Base64Bytes.optional(),
      }),
    )
    .max(10_000),
});
export type CodecPayloads = z.infer<typeof CodecPayloads>;

// ---- HTTP answers. The API builds its bodies as these types; /openapi.json is generated from
// ---- these schemas and the request schemas above, so the document cannot drift from the code.

/** JSON renders a Date this way; the API converts explicitly so the type says string. */
const Timestamp = z.iso.datetime();

export const SignupAccepted = z.object({
  status: z.literal('SUCCESS'),
  message: z.string(),
  user_id: UserId,
  verification: z.literal('PENDING'),
});
export type SignupAccepted = z.infer<typeof SignupAccepted>;

export const UserView = z.object({
  user_id: UserId,
  email: z.string(),
  first_name: z.string(),
  last_name: z.string(),
  verification_state: VerificationState,
  onboarding_state: z.enum(['PERSISTED', 'COMPLETED']),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type UserView = z.infer<typeof UserView>;

/** The onboarding states a user row can be in: what the admin listing filters on. */
export const UserRowOnboardingState = z.enum(['PERSISTED', 'COMPLETED']);

/** GET /users (admin): one page of the listing. */
export const UserListPage = z.object({
  users: z.array(UserView),
  next_cursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last page' }),
});

/** A DLQ letter as GET /dlq lists it: ids, reason and counts, no personal data. */
export const DeadLetterSummary = z.object({
  id: z.string(),
  user_id: z.string().nullable(),
  reason: z.enum(['poison', 'workflow-failed', 'unhandleable', 'expired', 'other']),
  failure_type: z.string().nullable(),
  detail: z.string(),
  user: z.enum(['COMPLETED', 'PERSISTED', 'none', 'unknown']),
  verdict: z.string(),
  replay: z.enum(['republish', 'remove', 'skip']),
  dead_letter_count: z.number().int(),
  dead_lettered_at: z.string().nullable(),
});
export const DeadLetterList = z.object({ count: z.number().int(), letters: z.array(DeadLetterSummary) });
/** One letter as GET /dlq/{id} shows it (and `npm run dlq -- show` prints it). */
export const DeadLetterShown = DeadLetterSummary.extend({
  email: z.string().nullable().meta({ description: 'masked (a***@example.com #digest), never in clear' }),
  workflow_id: z.string().nullable(),
  headers: z.record(z.string(), z.unknown()),
  body: z.unknown().meta({ description: 'the message body, password_hash and email replaced' }),
});
export const DeadLetterReplayOutcomes = z.object({
  outcomes: z.array(z.object({ id: z.string(), outcome: z.enum(['replayed', 'removed', 'skipped', 'failed']), message: z.string() })),
});

/** A signup accepted but not (yet) a user row. */
export const PendingUserView = z.object({
  user_id: UserId,
  verification_state: z.literal('PENDING'),
  onboarding_state: z.enum(['QUEUED', 'PROCESSING', 'FAILED']),
  failure_reason: z.string().optional(),
  run_state: z.literal('UNKNOWN').optional().meta({
    description:
      'Present only when Temporal did not answer within TEMPORAL_LOOKUP_TIMEOUT_MS: onboarding_state is then what the database records (QUEUED: accepted, no user yet), and the run may be further along',
  }),
});
export type PendingUserView = z.infer<typeof PendingUserView>;

export const UserLookup = z.union([UserView, PendingUserView]);

/**
 * Why a signup FAILED, as the public status read tells it: a fixed code, never the recorded text
 * (which can hold a server's or a driver's own words). The detail is in the DLQ tooling.
 */
export const PublicFailureReason = z.enum([...Object.values(FailureType), 'Unhandleable', 'Other']);
export type PublicFailureReason = z.infer<typeof PublicFailureReason>;

/**
 * GET /users/{user_id} on the public listener: where a signup is, and nothing personal. The id
 * of a hidden duplicate (DUPLICATE_SIGNUP_RESPONSE=accepted) answers exactly as a new signup
 * whose owner has not verified yet: COMPLETED, PENDING, later EXPIRED.
 */
export const SignupStatusView = z.object({
  user_id: UserId,
  onboarding_state: OnboardingState,
  verification_state: VerificationState,
  created_at: Timestamp.meta({ description: 'when the user was created; while onboarding is not done, when the signup was accepted' }),
  failure_reason: PublicFailureReason.optional().meta({ description: 'FAILED only: why onboarding failed, as a fixed code (the detail is in the DLQ tooling)' }),
  run_state: z.literal('UNKNOWN').optional().meta({
    description:
      'Present only when Temporal did not answer within TEMPORAL_LOOKUP_TIMEOUT_MS: onboarding_state is then what the database records (QUEUED: accepted, no user yet), and the run may be further along',
  }),
});
export type SignupStatusView = z.infer<typeof SignupStatusView>;

export const VerificationUpdated = z.object({
  user_id: UserId,
  verification_state: VerificationState,
  updated_at: Timestamp,
});
export type VerificationUpdated = z.infer<typeof VerificationUpdated>;

/** RFC 9457 problem details, with the extensions this API adds. */
export const Problem = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.int().min(100).max(599),
  detail: z.string().optional(),
  request_id: z.string().optional(),
  errors: z.array(FieldIssue).optional().meta({ description: '400 validation errors, one per field' }),
  service: z.enum(['rabbitmq', 'postgres', 'temporal']).optional().meta({ description: '503: the dependency that is unavailable' }),
  reason: z.string().optional().meta({ description: 'verification token problems: why the token was refused' }),
});
export type Problem = z.infer<typeof Problem>;

export const Liveness = z.object({ status: z.literal('ok') });
/** /healthz while the process cannot heal by itself: a part of it down past its limit, and why. */
export const LivenessFailure = z.object({
  status: z.literal('failing'),
  reason: z
    .string()
    .optional()
    .meta({ description: 'e.g. "publisher down for 301 s (limit 300 s): publish channel cannot be opened: …". Only on the worker\'s own port: the API\'s public /healthz gives the status alone and logs the reason' }),
});
export type LivenessFailure = z.infer<typeof LivenessFailure>;

/** Why a dependency check failed, from a fixed set: never a driver's text, which can name hosts, users or rows. */
export const DEPENDENCY_FAILURES = ['timeout', 'unreachable', 'not_connected', 'failed'] as const;
export type DependencyFailureCode = (typeof DEPENDENCY_FAILURES)[number];

export const DependencyStatus = z.object({
  status: z.enum(['up', 'down']),
  latency_ms: z.number().nonnegative(),
  failure: z
    .enum(DEPENDENCY_FAILURES)
    .optional()
    .meta({ description: 'why it is down: no answer in time, not reachable, not connected (a publisher or consumer), or it answered with an error' }),
  error: z.string().optional().meta({ description: "the error's own text; only on the worker's own port, never on the API's listeners" }),
});
export type DependencyStatus = z.infer<typeof DependencyStatus>;

export const Readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  dependencies: z.record(z.string(), DependencyStatus),
  informational: z
    .array(z.string())
    .optional()
    .meta({ description: 'dependencies reported for information only: their being down does not make the process not ready' }),
});
export type Readiness = z.infer<typeof Readiness>;

/** The public listener's /readyz: ready or not, nothing about the dependencies behind it. */
export const PublicReadiness = z.object({ status: z.enum(['ready', 'not_ready']) }).strict();
export type PublicReadiness = z.infer<typeof PublicReadiness>;

// ---- E-mail verification (docs/verification.md).

/**
 * A verification token as the link carries it: 64 base64url characters, a 16-byte selector and a
 * 32-byte random verifier. Checked for shape here; src/verification/token.ts decodes it.
 */
export const VERIFICATION_TOKEN_LENGTH = 64;
export const VerificationToken = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .max(VERIFICATION_TOKEN_LENGTH, { error: 'is too long to be a verification token' })
  .regex(/^[A-Za-z0-9_-]{64}$/, { error: 'is not a verification token' });

/** POST /verify as JSON, for clients that verify in their own UI. */
export const VerifyEmailRequest = z.object({
  token: VerificationToken,
  // A client that knows who is signed in sends it, so a token of someone else's is refused.
  user_id: UserId.optional(),
});
export type VerifyEmailRequest = z.infer<typeof VerifyEmailRequest>;

export const EmailVerified = z.object({
  user_id: UserId,
  verification_state: z.literal('VERIFIED'),
});
export type EmailVerified = z.infer<typeof EmailVerified>;

/** POST /verification/resend. */
export const VerificationResendRequest = z.object({ email: Email });
export type VerificationResendRequest = z.infer<typeof VerificationResendRequest>;

/** The one answer to every resend, whether the address is known or not. */
export const VerificationResendAccepted = z.object({
  status: z.literal('ACCEPTED'),
  message: z.string(),
});
export type VerificationResendAccepted = z.infer<typeof VerificationResendAccepted>;
