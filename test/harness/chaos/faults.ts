/**
 * What the chaos run does to the stack under load. A fault is one small function and the
 * command-line option that says how many times a run injects it; the runner spreads them over
 * the load, one at a time, and names each in the account.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Config } from '../../../src/config';
import type { ManagedProcess } from '../managed-process';
import { publishRaw } from '../queues';
import { untilReachable } from '../reachable';
import { sleep } from '../wait';

const run = promisify(execFile);

/** What a fault acts on: the run's own processes, and the shared services through its config. */
export interface ChaosContext {
  config: Config;
  temporal: ManagedProcess;
  apis: ManagedProcess[];
  workers: ManagedProcess[];
  /** Waits until every worker's bridge consumes the signup queue: how a supervisor sees a worker back. */
  untilBridgesConsume(what: string): Promise<void>;
}

export interface Fault {
  /** The option that says how many times a run injects it, e.g. `--worker-kills`. */
  option: string;
  defaultCount: number;
  /** What the log and the account call it. */
  name: string;
  /** Injects it once; `occurrence` counts this fault's injections in the run from 0. */
  run(ctx: ChaosContext, occurrence: number): Promise<void>;
  /** Puts a shared service back as the run found it, whatever happened; called at the end of every run that planned this fault. */
  restore?(): Promise<unknown>;
}

const rabbitmqctl = (command: 'stop_app' | 'start_app') => run('rabbitmqctl', [command]);
const postgresCluster = (action: 'restart' | 'start') =>
  run('pg_ctlcluster', ['--skip-systemctl-redirect', readdirSync('/etc/postgresql')[0], 'main', action]);

export const faults: Fault[] = [
  {
    option: 'worker-kills',
    defaultCount: 3,
    name: 'SIGKILL a worker and restart it',
    async run(ctx, occurrence) {
      const worker = ctx.workers[occurrence % ctx.workers.length];
      await worker.stop('SIGKILL');
      await sleep(1_000);
      worker.start();
      await ctx.untilBridgesConsume('the restarted worker to consume');
    },
  },
  {
    option: 'rabbit-restarts',
    defaultCount: 1,
    name: 'restart RabbitMQ',
    async run(ctx) {
      await rabbitmqctl('stop_app');
      await sleep(3_000);
      await rabbitmqctl('start_app');
      await untilReachable(ctx.config, ['rabbitmq']);
      await ctx.untilBridgesConsume('every bridge to re-subscribe');
    },
    restore: () => rabbitmqctl('start_app'),
  },
  {
    option: 'postgres-restarts',
    defaultCount: 1,
    name: 'restart Postgres',
    async run(ctx) {
      await postgresCluster('restart');
      await untilReachable(ctx.config, ['postgres']);
    },
    restore: () => postgresCluster('start'),
  },
  {
    option: 'temporal-restarts',
    defaultCount: 1,
    name: 'restart the Temporal server',
    async run(ctx) {
      await ctx.temporal.stop('SIGTERM', 15_000);
      await sleep(1_000);
      ctx.temporal.start();
      await untilReachable(ctx.config, ['temporal']);
    },
  },
  {
    option: 'deploys',
    defaultCount: 1,
    name: 'deploy: SIGTERM an API and a worker, let them drain, start them again',
    async run(ctx) {
      // The API answers what it has in flight before exiting; clients meanwhile reach the other API.
      const api = ctx.apis[ctx.apis.length - 1];
      const worker = ctx.workers[ctx.workers.length - 1];
      await Promise.all([api.stop('SIGTERM'), worker.stop('SIGTERM')]);
      api.start();
      worker.start();
      await ctx.untilBridgesConsume('the redeployed worker to consume');
    },
  },
];

/** One injection of a fault, as the runner schedules it. */
export interface PlannedFault {
  name: string;
  run(ctx: ChaosContext): Promise<void>;
}

/** Messages that break the contract, put straight on the queue: the account expects each as a poison letter. */
export function poisonMessages(ids: string[]): PlannedFault {
  return {
    name: `put ${ids.length} poison messages on the queue`,
    async run({ config }) {
      for (const id of ids) await publishRaw(config.amqp.url, config.amqp.exchange, config.amqp.routingKey, Buffer.from(`{"poison": "${id}"}`), id);
    },
  };
}

/** A run's faults in the order they happen: the kinds taken in turn, round after round, with `middle` half-way. */
export function planFaults(counts: Map<Fault, number>, middle: PlannedFault): PlannedFault[] {
  const rounds = Math.max(0, ...counts.values());
  const plan: PlannedFault[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [fault, count] of counts) {
      if (round < count) plan.push({ name: fault.name, run: (ctx) => fault.run(ctx, round) });
    }
  }
  plan.splice(Math.floor(plan.length / 2), 0, middle);
  return plan;
}
