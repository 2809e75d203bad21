/**
 * The argon2id cap's mechanism, on plain promises: at most `concurrency` at once, at most
 * `queueLimit` waiting in arrival order, every task past that refused at once with
 * OverloadedError (and counted), a slot freed by a failing task as by a finishing one.
 */
import { createConcurrencyLimit } from '../../src/concurrency-limit';
import { OverloadedError } from '../../src/errors';

/** A task the test finishes by hand. */
function gate() {
  let open!: (value: string) => void;
  let fail!: (err: Error) => void;
  const done = new Promise<string>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { task: () => done, open, fail };
}

const tick = () => new Promise((r) => setImmediate(r));

it('runs at most `concurrency` tasks, queues up to `queueLimit`, refuses the rest at once', async () => {
  let shed = 0;
  const limit = createConcurrencyLimit({ concurrency: 2, queueLimit: 1, onShed: () => shed++ });
  const gates = [gate(), gate(), gate()];
  const started: number[] = [];
  const runs = gates.map((g, i) => limit.run(() => (started.push(i), g.task())));
  await tick();
  expect(started).toEqual([0, 1]);
  expect([limit.active(), limit.waiting()]).toEqual([2, 1]);

  const refused = await limit.run(async () => 'never').catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(OverloadedError);
  expect(refused).toMatchObject({ retryAfterSeconds: 1 });
  expect(shed).toBe(1);
  // The same answer before any work of the caller's own.
  expect(() => limit.refuseIfFull()).toThrow(OverloadedError);
  expect(shed).toBe(2);

  // The first to finish hands its slot to the one waiting.
  gates[0].open('a');
  await expect(runs[0]).resolves.toBe('a');
  await tick();
  expect(started).toEqual([0, 1, 2]);
  expect([limit.active(), limit.waiting()]).toEqual([2, 0]);
  expect(() => limit.refuseIfFull()).not.toThrow();

  gates[1].fail(new Error('hash failed'));
  await expect(runs[1]).rejects.toThrow('hash failed');
  gates[2].open('c');
  await expect(runs[2]).resolves.toBe('c');
  expect([limit.active(), limit.waiting()]).toEqual([0, 0]);
  await expect(limit.run(async () => 'free again')).resolves.toBe('free again');
});

it('with no wait queue, refuses everything past the cap', async () => {
  const limit = createConcurrencyLimit({ concurrency: 1, queueLimit: 0 });
  const g = gate();
  const first = limit.run(g.task);
  await expect(limit.run(async () => 'second')).rejects.toBeInstanceOf(OverloadedError);
  g.open('first');
  await expect(first).resolves.toBe('first');
});

it('serves the queue in arrival order', async () => {
  const limit = createConcurrencyLimit({ concurrency: 1, queueLimit: 3 });
  const order: number[] = [];
  const g = gate();
  const runs = [limit.run(g.task), ...[1, 2, 3].map((i) => limit.run(async () => void order.push(i)))];
  g.open('x');
  await Promise.all(runs);
  expect(order).toEqual([1, 2, 3]);
});
