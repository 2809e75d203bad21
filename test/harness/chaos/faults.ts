/**
 * What the chaos run does to the stack under load. A fault is one small function and the
 * command-line option that says how many times a run injects it; the runner spreads them over
 * the load, one at a time, and names each in the account with what it saw.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { bridgeConnectionName } from '../../../src/bridge/signup-bridge';
import type { Config, Env } from '../../../src/config';
import { listening } from '../../../src/local-stack/mailpit';
import { runPayloadKeys } from '../env';
import type { ManagedProcess } from '../managed-process';
import { publishRaw } from '../queues';
import { BROKER_CLOSE_QUEUE, BROKER_DEFAULTS, closeChannelsFromBroker, consumerChannelPids, setBrokerConsumerTimeout } from '../rabbit-admin';
import { untilReachable } from '../reachable';
import { eventually, sleep } from '../wait';
import { readMailbox } from './mail';

const run = promisify(execFile);

/** What a fault acts on: the run's own processes, and the shared services through its config. */
export interface ChaosContext {
  config: Config;
  temporal: ManagedProcess;
  apis: ManagedProcess[];
  workers: ManagedProcess[];
  /** The run's SMTP server, and where its HTTP API answers. */
  mailpit: ManagedProcess;
  mail: { smtpPort: number; apiUrl: string };
  /** Waits until every worker's bridge consumes the signup queue: how a supervisor sees a worker back. */
  untilBridgesConsume(what: string): Promise<void>;
  /** Starts one more worker, with `env` over the run's own; a crash of it counts as any other. */
  startExtraWorker(name: string, env: Env): Promise<{ process: ManagedProcess; baseUrl: string }>;
}

export interface Fault {
  /** The option that says how many times a run injects it, e.g. `--worker-kills`. */
  option: string;
  defaultCount: number;
  /** What the log and the account call it. */
  name: string;
  /** What every process of a run that plans this fault needs, over the run's own settings. */
  env?: Env;
  /** Processes one injection restarts on purpose; the account tells them from any restart by hand. */
  restarts?: number;
  /**
   * It can cut a send off from its recording (a worker killed or stopped, Temporal, Postgres or the
   * SMTP server down), so a run mails again what the SMTP server had accepted: e-mail is
   * at-least-once. The account allows a repeated verification mail only in such a fault's window.
   */
  mayRepeatMail?: boolean;
  /**
   * Injects it once; `occurrence` counts this fault's injections in the run from 0. Resolves with
   * what it saw of the service healing, for the account; throws when it did not see it.
   */
  run(ctx: ChaosContext, occurrence: number): Promise<string | void>;
  /** Puts a shared service back as the run found it, whatever happened; called at the end of every run that planned this fault. */
  restore?(): Promise<unknown>;
}

const rabbitmqctl = (command: 'stop_app' | 'start_app') => run('rabbitmqctl', [command]);
const postgresCluster = (action: 'restart' | 'start') =>
  run('pg_ctlcluster', ['--skip-systemctl-redirect', readdirSync('/etc/postgresql')[0], 'main', action]);

/** Lines the processes have logged that hold every one of `parts`. */
function loggedLines(processes: ManagedProcess[], ...parts: string[]): number {
  const lines = (p: ManagedProcess) => {
    try {
      return readFileSync(p.logFile, 'utf8').split('\n');
    } catch {
      return [];
    }
  };
  return processes.reduce((n, p) => n + lines(p).filter((line) => parts.every((part) => line.includes(part))).length, 0);
}

/** What a bridge logs when its consumer channel closes (src/messaging/channel-supervisor.ts), and the broker's words for an ack timeout. */
const CHANNEL_LOST = 'consumer channel lost; reopening it';
const ACK_TIMED_OUT = 'delivery acknowledgement on channel';

/**
 * Has the broker close every bridge's consumer channel, then waits until each bridge consumes
 * again on a channel the broker opened since; resolves with how many it closed.
 */
async function reopenConsumerChannels(ctx: ChaosContext): Promise<number> {
  await ctx.untilBridgesConsume('every bridge to consume before its channel is closed');
  const connectionName = bridgeConnectionName(ctx.config.amqp.queue);
  const closed = await consumerChannelPids(connectionName);
  if (closed.length < ctx.workers.length) throw new Error(`found ${closed.length} consumer channels for ${ctx.workers.length} bridges`);
  await closeChannelsFromBroker(closed);
  await eventually(
    async () => {
      const open = await consumerChannelPids(connectionName);
      return open.length >= closed.length && open.every((pid) => !closed.includes(pid));
    },
    90_000,
    'every bridge consuming again on a fresh channel',
  );
  return closed.length;
}

/**
 * RabbitMQ 3.10 has no per-queue consumer timeout, so this one is the whole broker's: it is set
 * only inside the fault (which no broker restart can interrupt: faults run one at a time),
 * restored as soon as the broker has struck, and again by the fault's restore at the end of the run.
 */
const SHORT_BROKER_TIMEOUT = { consumerTimeoutMs: 10_000, channelTickIntervalMs: 2_000 };
const restoreBrokerTimeout = () => setBrokerConsumerTimeout(BROKER_DEFAULTS.consumerTimeoutMs, BROKER_DEFAULTS.channelTickIntervalMs);

/** Freezes the run's Temporal until the broker has closed a consumer channel on its ack timeout; resolves with how long it was frozen. */
async function freezeTemporalPastAckTimeout(ctx: ChaosContext, ackTimeouts: () => number): Promise<number> {
  const before = ackTimeouts();
  const frozenAt = Date.now();
  ctx.temporal.signal('SIGSTOP');
  try {
    await eventually(async () => ackTimeouts() > before, 90_000, 'the broker to close a consumer channel on its ack timeout (406)');
    await restoreBrokerTimeout();
    // Frozen for at least twice the broker's timeout: the channels the bridges reopened meanwhile time out too.
    const until = frozenAt + 2 * SHORT_BROKER_TIMEOUT.consumerTimeoutMs;
    if (Date.now() < until) await sleep(until - Date.now());
    return Date.now() - frozenAt;
  } finally {
    ctx.temporal.signal('SIGCONT');
  }
}

// A rotation half done: every process encrypts with the new key and still decrypts with the
// run's own (chaos1), except one worker started with the old key alone.
const NEW_PAYLOAD_KEY_ID = 'chaos2';
const NEW_PAYLOAD_KEY = `${NEW_PAYLOAD_KEY_ID}:${randomBytes(32).toString('base64')}`;
/** How long the worker that lacks the key takes its share of the load once its readiness has said so. */
const LAGGING_WORKER_MS = 10_000;

/** The worker's readiness error for its bridge, once it names `words`. */
async function bridgeReadinessNaming(baseUrl: string, words: string): Promise<string> {
  return eventually(
    async () => {
      const res = await fetch(`${baseUrl}/readyz`);
      const body = (await res.json()) as { dependencies?: { bridge?: { error?: string } } };
      const error = body.dependencies?.bridge?.error;
      return res.status === 503 && error?.includes(words) ? error : undefined;
    },
    120_000,
    `the worker's readiness to say "${words}"`,
  );
}

/** How long the SMTP outage lasts: several of the mail activity's retries (1, 2, 4, 8 s …) fail meanwhile. */
const SMTP_OUTAGE_MS = 15_000;

export const faults: Fault[] = [
  {
    option: 'worker-kills',
    defaultCount: 3,
    name: 'SIGKILL a worker and restart it',
    mayRepeatMail: true,
    restarts: 1,
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
    mayRepeatMail: true,
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
    mayRepeatMail: true,
    restarts: 1,
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
    mayRepeatMail: true,
    restarts: 2,
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
  {
    option: 'smtp-outages',
    defaultCount: 1,
    name: `stop the SMTP server (Mailpit) for ${SMTP_OUTAGE_MS / 1000} s, then start it again`,
    restarts: 1,
    mayRepeatMail: true,
    async run(ctx) {
      const before = (await readMailbox(ctx.mail.apiUrl)).length;
      await ctx.mailpit.stop('SIGTERM');
      if (await listening(ctx.mail.smtpPort)) throw new Error('SMTP still answers with Mailpit stopped');
      await sleep(SMTP_OUTAGE_MS);
      ctx.mailpit.start();
      await eventually(async () => (await listening(ctx.mail.smtpPort)) && (await fetch(`${ctx.mail.apiUrl}/api/v1/info`)).ok, 30_000, 'Mailpit to listen again');
      // It kept what it had; the sends that failed meanwhile are retried by their runs and arrive now.
      const kept = (await readMailbox(ctx.mail.apiUrl)).length;
      if (kept < before) throw new Error(`Mailpit had ${before} mails before the outage and ${kept} after it`);
      const after = await eventually(async () => {
        const n = (await readMailbox(ctx.mail.apiUrl)).length;
        return n > kept ? n : undefined;
      }, 120_000, 'a mail to arrive after the outage');
      return `SMTP refused for ${SMTP_OUTAGE_MS / 1000} s; Mailpit kept its ${before} mails, and mail arrived again once it was back (${after - kept} so far)`;
    },
  },
  {
    option: 'temporal-freezes',
    defaultCount: 1,
    name: "freeze Temporal (SIGSTOP) past the broker's consumer timeout, shortened to 10 s, then resume it",
    mayRepeatMail: true,
    // The bridge's watchdog, asking Temporal every 15 s, opens its circuit 17 to 32 s into a
    // freeze: after the broker's 10 s timeout (checked every 2 s) has closed the channel, which is
    // what this fault is about. AMQP_CONSUMER_TIMEOUT_MS stays as configured (30 min): the broker's
    // timeout is shorter than the service was told, or the outage longer than the real one.
    env: { BRIDGE_TEMPORAL_PROBE_INTERVAL_MS: '15000' },
    async run(ctx) {
      const ackTimeouts = () => loggedLines(ctx.workers, CHANNEL_LOST, ACK_TIMED_OUT);
      const before = ackTimeouts();
      let frozenMs: number;
      await setBrokerConsumerTimeout(SHORT_BROKER_TIMEOUT.consumerTimeoutMs, SHORT_BROKER_TIMEOUT.channelTickIntervalMs);
      try {
        // A channel takes the broker's timeout when it opens: every bridge moves onto a fresh one.
        await reopenConsumerChannels(ctx);
        frozenMs = await freezeTemporalPastAckTimeout(ctx, ackTimeouts);
      } finally {
        await restoreBrokerTimeout();
      }
      await untilReachable(ctx.config, ['temporal']);
      // Channels opened while the timeout was short keep it: every bridge moves onto one with the default.
      await reopenConsumerChannels(ctx);
      return (
        `Temporal frozen ${Math.round(frozenMs / 1000)} s; ${ackTimeouts() - before} consumer channel close(s) by the broker ` +
        `(406 PRECONDITION_FAILED, delivery acknowledgement timed out) logged and reopened by the bridges; ` +
        `broker consumer_timeout back to ${BROKER_DEFAULTS.consumerTimeoutMs} ms; every bridge consuming again`
      );
    },
    restore: restoreBrokerTimeout,
  },
  {
    option: 'channel-closes',
    defaultCount: 1,
    name: "have the broker close every bridge's consumer channel",
    async run(ctx) {
      const closes = () => loggedLines(ctx.workers, CHANNEL_LOST, BROKER_CLOSE_QUEUE);
      const before = closes();
      const closed = await reopenConsumerChannels(ctx);
      await eventually(async () => closes() >= before + closed, 15_000, 'each bridge to log its channel closed');
      return `${closed} consumer channel(s) closed by the broker (404 NOT_FOUND on a passive declare), each close logged by its bridge, each bridge consuming again on a fresh channel`;
    },
  },
  {
    option: 'key-rotations',
    defaultCount: 1,
    name: 'start a worker that lacks the new payload key (a rotation half done), then replace it',
    mayRepeatMail: true,
    env: { PAYLOAD_ENCRYPTION_KEYS: `${NEW_PAYLOAD_KEY},${runPayloadKeys('chaos')}` },
    async run(ctx, occurrence) {
      const lagging = await ctx.startExtraWorker(`worker-old-key-${occurrence}`, { PAYLOAD_ENCRYPTION_KEYS: runPayloadKeys('chaos') });
      try {
        const problem = await bridgeReadinessNaming(lagging.baseUrl, `payload key ${NEW_PAYLOAD_KEY_ID} missing`);
        await sleep(LAGGING_WORKER_MS);
        return `readiness of the worker that lacks the key: 503, bridge "${problem}"`;
      } finally {
        // The rotation completed: the worker is replaced (its runs and deliveries go to the others).
        await lagging.process.stop('SIGTERM');
      }
    },
  },
];

/** One injection of a fault, as the runner schedules it. */
export interface PlannedFault {
  name: string;
  restarts: number;
  mayRepeatMail: boolean;
  run(ctx: ChaosContext): Promise<string | void>;
}

/** Messages that break the contract, put straight on the queue: the account expects each as a poison letter. */
export function poisonMessages(ids: string[]): PlannedFault {
  return {
    name: `put ${ids.length} poison messages on the queue`,
    restarts: 0,
    mayRepeatMail: false,
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
      if (round < count) plan.push({ name: fault.name, restarts: fault.restarts ?? 0, mayRepeatMail: fault.mayRepeatMail ?? false, run: (ctx) => fault.run(ctx, round) });
    }
  }
  plan.splice(Math.floor(plan.length / 2), 0, middle);
  return plan;
}

/** What the planned faults need of every process, together. */
export function plannedEnv(counts: Map<Fault, number>): Env {
  return Object.assign({}, ...[...counts].filter(([, count]) => count > 0).map(([fault]) => fault.env ?? {}));
}
