/**
 * The DLQ over HTTP, on the admin listener: list, show one, replay one. The same operations as
 * `npm run dlq` (src/use-cases/review-dead-letters.ts), so both tell and replay a letter alike.
 */
import express from 'express';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../errors';
import { type DeadLetterOperations, deadLetterDetail, deadLetterSummary } from '../use-cases/review-dead-letters';

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
