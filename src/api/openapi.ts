/**
 * The OpenAPI 3.1 document, generated from the zod schemas the API validates with and builds
 * its answers as (src/contract.ts), with zod 4's own z.toJSONSchema: OpenAPI 3.1 schemas are
 * JSON Schema 2020-12, which is what it emits, so no second schema library and no registry
 * augmentation of zod are needed.
 */
import { z } from 'zod';
import {
  CodecPayloads,
  DeadLetterList,
  DeadLetterReplayOutcomes,
  DeadLetterShown,
  EmailVerified,
  VerificationResendAccepted,
  VerificationResendRequest,
  VerifyEmailRequest,
  Liveness,
  LivenessFailure,
  PendingUserView,
  Problem,
  PublicReadiness,
  Readiness,
  SignupAccepted,
  SignupRequest,
  SignupStatusView,
  UserListPage,
  UserLookup,
  UserRowOnboardingState,
  UserView,
  VerificationState,
  VerificationUpdate,
  VerificationUpdated,
} from '../contract';
import { USER_LIST_DEFAULT_LIMIT, USER_LIST_MAX_LIMIT } from '../use-cases/list-users';
import { PROBLEM_KINDS, type ProblemKind } from './problem';

type Method = 'get' | 'post' | 'put' | 'delete';

/** The public listener (PORT) and the admin listener (ADMIN_PORT): each has a document of its own. */
export type Plane = 'public' | 'admin';

interface SuccessAnswer {
  description: string;
  /** A component name, or a raw content type for non-JSON answers such as /metrics. */
  schema?: keyof typeof COMPONENTS;
  contentType?: string;
  headers?: Record<string, { description: string; schema: { type: string } }>;
}

export interface Operation {
  method: Method;
  path: string;
  operationId: string;
  summary: string;
  tags: string[];
  /** `form`: the schema's fields may also come as application/x-www-form-urlencoded. */
  requestBody?: { schema: keyof typeof COMPONENTS; required: boolean; form?: boolean };
  /** Required unless `optional`; a string unless `schema` says otherwise. */
  queryParameters?: Array<{ name: string; description: string; optional?: boolean; schema?: Record<string, unknown> }>;
  /** A UUID unless `schema` says otherwise. */
  pathParameters?: Array<{ name: string; description: string; schema?: Record<string, unknown> }>;
  responses: Record<number, SuccessAnswer>;
  /** Problems this operation can answer with; each becomes its status code in the document. */
  problems: ProblemKind[];
  /** Needs `Authorization: Bearer <token>`. */
  bearer?: boolean;
  /** Optional request headers beside X-Request-Id. */
  headerParameters?: Array<{ name: string; description: string; schema: Record<string, unknown> }>;
}

const COMPONENTS = {
  SignupRequest: { schema: SignupRequest, io: 'input' },
  SignupAccepted: { schema: SignupAccepted, io: 'output' },
  UserLookup: { schema: UserLookup, io: 'output' },
  SignupStatusView: { schema: SignupStatusView, io: 'output' },
  UserView: { schema: UserView, io: 'output' },
  PendingUserView: { schema: PendingUserView, io: 'output' },
  VerificationUpdate: { schema: VerificationUpdate, io: 'input' },
  VerificationUpdated: { schema: VerificationUpdated, io: 'output' },
  Problem: { schema: Problem, io: 'output' },
  Liveness: { schema: Liveness, io: 'output' },
  LivenessFailure: { schema: LivenessFailure, io: 'output' },
  Readiness: { schema: Readiness, io: 'output' },
  PublicReadiness: { schema: PublicReadiness, io: 'output' },
  UserListPage: { schema: UserListPage, io: 'output' },
  DeadLetterList: { schema: DeadLetterList, io: 'output' },
  DeadLetterShown: { schema: DeadLetterShown, io: 'output' },
  DeadLetterReplayOutcomes: { schema: DeadLetterReplayOutcomes, io: 'output' },
  CodecPayloads: { schema: CodecPayloads, io: 'output' },
  VerifyEmailRequest: { schema: VerifyEmailRequest, io: 'input' },
  EmailVerified: { schema: EmailVerified, io: 'output' },
  VerificationResendRequest: { schema: VerificationResendRequest, io: 'input' },
  VerificationResendAccepted: { schema: VerificationResendAccepted, io: 'output' },
} as const satisfies Record<string, { schema: z.ZodType; io: 'input' | 'output' }>;

const USER_ID = [{ name: 'user_id', description: 'the user_id from the 202 answer to POST /signup' }];
const BODY_PROBLEMS: ProblemKind[] = ['validation', 'malformedBody', 'unsupportedMediaType', 'payloadTooLarge'];

const ADMIN_AUTH: ProblemKind[] = ['authenticationRequired', 'forbidden'];

const openApiOperation = (plane: Plane): Operation => ({
  method: 'get',
  path: '/openapi.json',
  operationId: 'openapi',
  summary: `This document: the ${plane} listener's routes only`,
  tags: ['operations'],
  responses: { 200: { description: 'OpenAPI 3.1', contentType: 'application/json' } },
  problems: [],
  ...(plane === 'admin' ? { bearer: true } : {}),
});

/** Every route the public listener serves. The test compares this with the Express router. */
export const PUBLIC_OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/signup',
    operationId: 'signup',
    summary: 'Accept a signup; onboarding continues asynchronously',
    tags: ['users'],
    requestBody: { schema: 'SignupRequest', required: true },
    headerParameters: [
      {
        name: 'Idempotency-Key',
        description:
          'IETF httpapi Idempotency-Key: the same key and the same body within 24 h replay the first answer (status, Location, body); ' +
          'the same key with another body is refused (422); while the first request with the key runs, 409 with Retry-After. ' +
          'Answers 5xx are not kept: a retry runs again under the same user_id, so a signup is never onboarded twice. ' +
          'A body refused as invalid (400) does not use the key up. 16 to 128 characters; a random UUID is ideal',
        schema: { type: 'string', pattern: '^[A-Za-z0-9._~:+/=-]{16,128}$' },
      },
    ],
    responses: {
      202: {
        description:
          'Published and confirmed by the broker. With DUPLICATE_SIGNUP_RESPONSE=accepted (the default) a registered address gets this same answer, ' +
          'and its owner a mail saying someone tried to sign up with it',
        schema: 'SignupAccepted',
        headers: { Location: { description: '/users/{user_id}', schema: { type: 'string' } } },
      },
    },
    problems: [
      ...BODY_PROBLEMS,
      'invalidIdempotencyKey',
      'emailAlreadyRegistered',
      'idempotentRequestInFlight',
      'idempotencyKeyReused',
      'tooManyRequests',
      'serviceUnavailable',
      'overloaded',
      'internal',
    ],
  },
  {
    method: 'get',
    path: '/users/{user_id}',
    operationId: 'getSignupStatus',
    summary: 'Where a signup is. No personal data: the full record is on the admin listener. Rate-limited per client',
    tags: ['users'],
    pathParameters: USER_ID,
    responses: {
      200: {
        description:
          'Where the signup is, and nothing personal: user_id, onboarding_state, verification_state, created_at. The id of a hidden duplicate answers as a new, unverified signup. ' +
          'Answered from the database when Temporal does not answer within TEMPORAL_LOOKUP_TIMEOUT_MS: then `run_state: "UNKNOWN"`',
        schema: 'SignupStatusView',
      },
    },
    problems: ['validation', 'badRequest', 'notFound', 'tooManyRequests', 'serviceUnavailable', 'internal'],
  },
  ...verificationOperations(),
  {
    method: 'get',
    path: '/healthz',
    operationId: 'liveness',
    summary: 'Liveness: the process answers, and its publisher has not been down past PUBLISHER_DOWN_LIVENESS_MS (the reason is logged, not shown)',
    tags: ['operations'],
    responses: {
      200: { description: 'Alive', schema: 'Liveness' },
      503: { description: 'The publisher has been down past its limit: restart the process', schema: 'LivenessFailure' },
    },
    problems: [],
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    summary: 'Readiness, for load balancers and orchestrators: the status alone (each dependency is on the admin listener)',
    tags: ['operations'],
    responses: {
      200: { description: 'Ready: Postgres and RabbitMQ are up', schema: 'PublicReadiness' },
      503: { description: 'Not ready', schema: 'PublicReadiness' },
    },
    problems: [],
  },
  openApiOperation('public'),
];

/**
 * Every route the admin listener serves (ADMIN_PORT, loopback by default), each behind the
 * admin token; /metrics and /readyz are opened to a scraper by ADMIN_OPEN_PROBES=true.
 */
export const ADMIN_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/users/{user_id}',
    operationId: 'getUserRecord',
    summary: 'The full user record, personal data included (never the hash)',
    tags: ['users'],
    pathParameters: USER_ID,
    responses: { 200: { description: 'The user row', schema: 'UserView' } },
    problems: ['validation', 'badRequest', ...ADMIN_AUTH, 'notFound', 'serviceUnavailable', 'internal'],
    bearer: true,
  },
  {
    method: 'put',
    path: '/users/{user_id}',
    operationId: 'setVerificationState',
    summary: 'Set the verification state (an empty body means VERIFIED)',
    tags: ['users'],
    pathParameters: USER_ID,
    requestBody: { schema: 'VerificationUpdate', required: false },
    responses: { 200: { description: 'Updated', schema: 'VerificationUpdated' } },
    problems: [...BODY_PROBLEMS, 'badRequest', ...ADMIN_AUTH, 'notFound', 'serviceUnavailable', 'internal'],
    bearer: true,
  },
  ...(['encode', 'decode'] as const).map(
    (operation): Operation => ({
      method: 'post',
      path: `/codec/${operation}`,
      operationId: `codec${operation[0].toUpperCase()}${operation.slice(1)}`,
      summary: `Temporal codec server: ${operation} payloads (AES-256-GCM), for the Web UI and the CLI (admin or codec token)`,
      tags: ['operations'],
      requestBody: { schema: 'CodecPayloads', required: true },
      responses: { 200: { description: `The payloads, ${operation}d, in the same order`, schema: 'CodecPayloads' } },
      problems: [...BODY_PROBLEMS, ...ADMIN_AUTH, 'internal'],
      bearer: true,
    }),
  ),
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    summary: 'Readiness with each dependency: Postgres and RabbitMQ (publisher connected), Temporal for information; a failure by its fixed code',
    tags: ['operations'],
    responses: {
      200: {
        description: 'Postgres and RabbitMQ are up. Temporal may be down (listed under `informational`): signups need only the two',
        schema: 'Readiness',
      },
      503: { description: 'Postgres or RabbitMQ is down (the body says which, and its failure code)', schema: 'Readiness' },
    },
    problems: ADMIN_AUTH,
    bearer: true,
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics of this process (hidden duplicates included: admin only)',
    tags: ['operations'],
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' } },
    problems: ADMIN_AUTH,
    bearer: true,
  },
  openApiOperation('admin'),
  ...erasureListingAndDlqOperations(),
];

/** The admin plane's erasure, listing and DLQ routes (admin-user-routes.ts, dlq-routes.ts). */
function erasureListingAndDlqOperations(): Operation[] {
  const letterId = [{ name: 'id', description: 'the message id (the user_id for signups the API published)', schema: { type: 'string', minLength: 1, maxLength: 200 } }];
  const dateTime = { type: 'string', format: 'date-time' };
  return [
    {
      method: 'get',
      path: '/users',
      operationId: 'listUsers',
      summary: 'Users a page at a time, in (created_at, user_id) order; filters combine',
      tags: ['users'],
      queryParameters: [
        { name: 'limit', description: `rows per page, 1–${USER_LIST_MAX_LIMIT}`, optional: true, schema: { type: 'integer', minimum: 1, maximum: USER_LIST_MAX_LIMIT, default: USER_LIST_DEFAULT_LIMIT } },
        { name: 'cursor', description: 'the `next_cursor` of the previous page (opaque)', optional: true },
        { name: 'onboarding_state', description: 'only users in this onboarding state', optional: true, schema: { type: 'string', enum: UserRowOnboardingState.options } },
        { name: 'verification_state', description: 'only users in this verification state', optional: true, schema: { type: 'string', enum: VerificationState.options } },
        { name: 'created_after', description: 'created at or after (RFC 3339)', optional: true, schema: dateTime },
        { name: 'created_before', description: 'created before (RFC 3339)', optional: true, schema: dateTime },
      ],
      responses: { 200: { description: 'One page', schema: 'UserListPage' } },
      problems: ['validation', ...ADMIN_AUTH, 'serviceUnavailable', 'internal'],
      bearer: true,
    },
    {
      method: 'delete',
      path: '/users/{user_id}',
      operationId: 'eraseUser',
      summary:
        'Erase a user: the row, the signup, links, counters and idempotency keys; its workflow runs (terminated and deleted); its DLQ letters. Leaves a tombstone (the id only), publishes user.erased, writes an audit line. Idempotent',
      tags: ['users'],
      pathParameters: [{ name: 'user_id', description: 'the user to erase' }],
      responses: { 204: { description: 'Erased, now or by an earlier DELETE (every retry answers the same)' } },
      problems: ['validation', 'badRequest', ...ADMIN_AUTH, 'notFound', 'serviceUnavailable', 'internal'],
      bearer: true,
    },
    {
      method: 'get',
      path: '/dlq',
      operationId: 'listDeadLetters',
      summary: 'Every letter in the DLQ, told with the database: ids, reason, failure type, counts. No personal data',
      tags: ['dlq'],
      responses: { 200: { description: 'The letters, oldest first', schema: 'DeadLetterList' } },
      problems: [...ADMIN_AUTH, 'serviceUnavailable', 'internal'],
      bearer: true,
    },
    {
      method: 'get',
      path: '/dlq/{id}',
      operationId: 'showDeadLetter',
      summary: 'One letter as `npm run dlq -- show` prints it: headers and body, hash and address redacted',
      tags: ['dlq'],
      pathParameters: letterId,
      responses: { 200: { description: 'The letter', schema: 'DeadLetterShown' } },
      problems: ['validation', 'badRequest', ...ADMIN_AUTH, 'notFound', 'serviceUnavailable', 'internal'],
      bearer: true,
    },
    {
      method: 'post',
      path: '/dlq/{id}/replay',
      operationId: 'replayDeadLetter',
      summary: 'Replay one letter as `npm run dlq -- replay <id>` does: republished (confirmed), or only removed when its user is onboarded; poison is skipped',
      tags: ['dlq'],
      pathParameters: letterId,
      responses: { 200: { description: 'What was done', schema: 'DeadLetterReplayOutcomes' } },
      problems: ['validation', 'badRequest', ...ADMIN_AUTH, 'notFound', 'serviceUnavailable', 'internal'],
      bearer: true,
    },
  ];
}

/** The verification link's page, its button and resend (docs/verification.md). */
function verificationOperations(): Operation[] {
  const html = (description: string): SuccessAnswer => ({ description, contentType: 'text/html' });
  return [
    {
      method: 'get',
      path: '/verify',
      operationId: 'verificationPage',
      summary: 'The page a verification mail links to: one button that confirms. Opening it changes nothing',
      tags: ['verification'],
      queryParameters: [{ name: 'token', description: 'the token from the link in the mail' }],
      responses: {
        200: html('The page with the button'),
        400: html('The link is malformed or not valid'),
        409: html('The link was used already, or the address is verified already'),
        410: html('The link expired, or a newer one was sent'),
        503: html('The database is unavailable; try again'),
      },
      problems: [],
    },
    {
      method: 'post',
      path: '/verify',
      operationId: 'verifyEmail',
      summary: 'Use a verification token. The page’s form posts it (an HTML page answers); a client posts JSON (JSON answers)',
      tags: ['verification'],
      requestBody: { schema: 'VerifyEmailRequest', required: true, form: true },
      responses: { 200: { description: 'Verified (as a page for the form)', schema: 'EmailVerified' } },
      problems: [
        ...BODY_PROBLEMS,
        'verificationTokenInvalid',
        'verificationTokenUsed',
        'verificationTokenExpired',
        'serviceUnavailable',
        'internal',
      ],
    },
    {
      method: 'post',
      path: '/verification/resend',
      operationId: 'resendVerification',
      summary: 'Ask for a fresh verification link. Always 202, whether the address is known or not',
      tags: ['verification'],
      requestBody: { schema: 'VerificationResendRequest', required: true },
      responses: { 202: { description: 'Accepted; a mail follows only for an address waiting for verification', schema: 'VerificationResendAccepted' } },
      problems: [...BODY_PROBLEMS, 'tooManyRequests', 'internal'],
    },
  ];
}

function componentSchema(name: keyof typeof COMPONENTS): Record<string, unknown> {
  const { schema, io } = COMPONENTS[name];
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' });
  return json;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function operationObject(op: Operation) {
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(op.responses)) {
    responses[status] = {
      description: answer.description,
      ...(answer.headers ? { headers: answer.headers } : {}),
      content: answer.schema
        ? { 'application/json': { schema: ref(answer.schema) } }
        : { [answer.contentType ?? 'application/json']: { schema: { type: 'string' } } },
    };
  }
  // Several problem kinds can share a status (400): one response lists them all.
  for (const kind of op.problems) {
    const { status, title, type } = PROBLEM_KINDS[kind];
    const existing = responses[status] as { description: string } | undefined;
    const line = `${title} (\`${type}\`)`;
    responses[status] = {
      description: existing ? `${existing.description}; ${line}` : line,
      ...(status === 503 || status === 429 || kind === 'idempotentRequestInFlight' ? { headers: { 'Retry-After': { description: 'seconds', schema: { type: 'integer' } } } } : {}),
      ...(status === 401 ? { headers: { 'WWW-Authenticate': { description: 'Bearer', schema: { type: 'string' } } } } : {}),
      content: { 'application/problem+json': { schema: ref('Problem') } },
    };
  }
  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: op.tags,
    ...(op.bearer ? { security: [{ bearerAuth: [] }] } : {}),
    parameters: [
      ...(op.pathParameters ?? []).map((p) => ({
        name: p.name,
        in: 'path',
        required: true,
        description: p.description,
        schema: p.schema ?? { type: 'string', format: 'uuid' },
      })),
      ...(op.queryParameters ?? []).map((p) => ({
        name: p.name,
        in: 'query',
        required: !p.optional,
        description: p.description,
        schema: p.schema ?? { type: 'string' },
      })),
      ...(op.headerParameters ?? []).map((p) => ({ name: p.name, in: 'header', required: false, description: p.description, schema: p.schema })),
      {
        name: 'X-Request-Id',
        in: 'header',
        required: false,
        description: 'Echoed back and carried through the queue, the bridge and the workflow logs; generated when absent',
        schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
      },
    ],
    ...(op.requestBody
      ? {
          requestBody: {
            required: op.requestBody.required,
            content: {
              'application/json': { schema: ref(op.requestBody.schema) },
              ...(op.requestBody.form ? { 'application/x-www-form-urlencoded': { schema: ref(op.requestBody.schema) } } : {}),
            },
          },
        }
      : {}),
    responses,
  };
}

/** The operations of one listener. */
export const operationsOf = (plane: Plane): Operation[] => (plane === 'public' ? PUBLIC_OPERATIONS : ADMIN_OPERATIONS);

/**
 * The document of one listener: only its own routes, and only the schemas they use, so the
 * public document shows nothing of the admin plane.
 */
export function openApiDocument(version: string, plane: Plane = 'public') {
  const operations = operationsOf(plane);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    paths[op.path] ??= {};
    paths[op.path][op.method] = operationObject(op);
  }
  // The schemas this listener's operations name.
  const used = new Set<string>(JSON.stringify(paths).match(/#\/components\/schemas\/(\w+)/g)?.map((r) => r.split('/').pop() as string));
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: plane === 'public' ? 'Onboarding service' : 'Onboarding service: admin',
      version,
      description:
        plane === 'public'
          ? 'User signup with durable, asynchronous onboarding (RabbitMQ → Temporal → Postgres). The public listener: no personal data is read back here.'
          : 'The admin listener (ADMIN_PORT, loopback by default): personal data and operations, every route behind ADMIN_API_TOKEN (/metrics and /readyz open with ADMIN_OPEN_PROBES=true).',
    },
    tags: plane === 'public' ? [{ name: 'users' }, { name: 'verification' }, { name: 'operations' }] : [{ name: 'users' }, { name: 'dlq' }, { name: 'operations' }],
    paths,
    components: {
      schemas: Object.fromEntries(
        Object.keys(COMPONENTS)
          .filter((name) => used.has(name))
          .map((name) => [name, componentSchema(name as keyof typeof COMPONENTS)]),
      ),
      ...(plane === 'admin'
        ? { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_TOKEN (or CODEC_API_TOKEN for /codec)' } } }
        : {}),
    },
  };
}
