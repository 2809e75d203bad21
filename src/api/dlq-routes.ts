/**
 * The DLQ over HTTP, on the admin listener: list, show one, replay one. The same operations as
 * `npm run dlq` (src/use-cases/review-dead-letters.ts), so both tell and replay a letter alike.
 */
import express from 'express';
import { z } from 'zod';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../errors';
import { type DeadLetterOperations, deadLetterDetail, deadLetterSummary } from '../use-cases/review-dead-letters';
import { ADMIN_AUTH_PROBLEMS, type AdminOperation, adminPathObjects } from './admin-openapi';

export interface DlqRoutesDeps {
  deadLetters: Pick<DeadLetterOperations, 'list' | 'find' | 'replay'>;
}

// An AMQP message id as the API sets it (a user_id), or any short printable id another publisher set.
const LETTER_ID = /^[\x21-\x7e]{1,200}$/;

function letterId(raw: string): string {
  if (!LETTER_ID.test(raw)) throw new ValidationError('invalid letter id', [{ field: 'id', code: 'invalid_id', message: 'must be 1–200 printable characters' }]);
  return raw;
}

export function dlqRoutes({ deadLetters }: DlqRoutesDeps): express.Router {
  const router = express.Router();
  router.get('/dlq', async (_req, res) => {
    const letters = await deadLetters.list();
    res.json({ count: letters.length, letters: letters.map(deadLetterSummary) });
  });
  router.get('/dlq/:id', async (req, res) => {
    const id = letterId(req.params.id);
    const letter = await deadLetters.find(id);
    if (!letter) throw new NotFoundError(`no message ${id} in the DLQ`);
    res.json(deadLetterDetail(letter));
  });
  router.post('/dlq/:id/replay', async (req, res) => {
    const id = letterId(req.params.id);
    const outcomes = await deadLetters.replay(id);
    if (outcomes.length === 0) throw new NotFoundError(`no message ${id} in the DLQ`);
    // The copy is still in the DLQ: the broker refused or could not route the republished message.
    const failed = outcomes.find((o) => o.outcome === 'failed');
    if (failed) throw new ServiceUnavailableError('rabbitmq', failed.message);
    res.json({ outcomes });
  });
  return router;
}

const Summary = z.object({
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

const DeadLetterList = z.object({ count: z.number().int(), letters: z.array(Summary) });
const DeadLetterShown = Summary.extend({
  email: z.string().nullable().meta({ description: 'masked (a***@example.com #digest), never in clear' }),
  workflow_id: z.string().nullable(),
  headers: z.record(z.string(), z.unknown()),
  body: z.unknown().meta({ description: 'the message body, password_hash and email replaced' }),
});
const ReplayOutcomes = z.object({
  outcomes: z.array(z.object({ id: z.string(), outcome: z.enum(['replayed', 'removed', 'skipped', 'failed']), message: z.string() })),
});

const ID = [{ name: 'id', description: 'the message id (the user_id for signups the API published)' }];

const OPERATIONS: AdminOperation[] = [
  {
    method: 'get',
    path: '/dlq',
    operationId: 'listDeadLetters',
    summary: 'Every letter in the DLQ, told with the database: ids, reason, failure type, counts. No personal data',
    tags: ['dlq'],
    responses: { 200: { description: 'The letters, oldest first', schema: DeadLetterList } },
    problems: [...ADMIN_AUTH_PROBLEMS, 'serviceUnavailable', 'internal'],
  },
  {
    method: 'get',
    path: '/dlq/{id}',
    operationId: 'showDeadLetter',
    summary: 'One letter as `npm run dlq -- show` prints it: headers and body, hash and address redacted',
    tags: ['dlq'],
    pathParameters: ID,
    responses: { 200: { description: 'The letter', schema: DeadLetterShown } },
    problems: ['validation', 'badRequest', ...ADMIN_AUTH_PROBLEMS, 'notFound', 'serviceUnavailable', 'internal'],
  },
  {
    method: 'post',
    path: '/dlq/{id}/replay',
    operationId: 'replayDeadLetter',
    summary: 'Replay one letter as `npm run dlq -- replay <id>` does: republished (confirmed), or only removed when its user is onboarded; poison is skipped',
    tags: ['dlq'],
    pathParameters: ID,
    responses: { 200: { description: 'What was done', schema: ReplayOutcomes } },
    problems: ['validation', 'badRequest', ...ADMIN_AUTH_PROBLEMS, 'notFound', 'serviceUnavailable', 'internal'],
  },
];

export const dlqPaths = adminPathObjects(OPERATIONS);
