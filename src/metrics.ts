/**
 * The service's Prometheus metrics. Each process creates one Registry and passes it (or the
 * metrics made on it) to what records; prom-client's global default registry is never used,
 * so two apps in one process (as in tests) never share or collide on a series.
 */
import express from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Registry };

export function createRegistry(process: 'api' | 'worker'): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** GET /metrics in the Prometheus text format. */
export function metricsRouter(registry: Registry): express.Router {
  const router = express.Router();
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType).send(await registry.metrics());
  });
  return router;
}

/** What the API records. `hashLimit` is read at every scrape, once the app has made it. */
export function createApiMetrics(registry: Registry) {
  let hashLimit: { active(): number; waiting(): number } | undefined;
  return {
    /** Where the hash gauges read from: the app's argon2id limit. */
    observeHashLimit(limit: { active(): number; waiting(): number }): void {
      hashLimit = limit;
    },
    signupsShed: new Counter({
      name: 'onboarding_signups_shed_total',
      help: 'Signups answered 503 at once because every argon2id slot and wait place was taken (HASH_CONCURRENCY, HASH_QUEUE_LIMIT)',
      registers: [registry],
    }),
    hashesInFlight: new Gauge({
      name: 'onboarding_hashes_in_flight',
      help: 'argon2id hashes running now (at most HASH_CONCURRENCY)',
      registers: [registry],
      collect() {
        if (hashLimit) this.set(hashLimit.active());
      },
    }),
    hashesWaiting: new Gauge({
      name: 'onboarding_hashes_waiting',
      help: 'Signups waiting for an argon2id slot now (at most HASH_QUEUE_LIMIT)',
      registers: [registry],
      collect() {
        if (hashLimit) this.set(hashLimit.waiting());
      },
    }),
    signupsAccepted: new Counter({
      name: 'onboarding_signups_accepted_total',
      help: 'Signups answered 202: published and confirmed by the broker',
      registers: [registry],
    }),
    signupsRejected: new Counter({
      name: 'onboarding_signups_rejected_total',
      help: 'Signups answered with an error, by reason (the problem type)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    publishConfirmSeconds: new Histogram({
      name: 'onboarding_publish_confirm_seconds',
      help: 'Time from publish to the broker confirm (or its refusal or timeout)',
      labelNames: ['result'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;

/** What the bridge's metrics read at scrape time. */
export interface BridgeMetricSources {
  /** Messages in the DLQ, asked of the broker. */
  deadLetterDepth: () => Promise<number>;
  consuming: () => boolean;
  temporalCircuitOpen: () => boolean;
}

/** What the worker's bridge records. The gauges are read from `sources` at every scrape. */
export function createBridgeMetrics(registry: Registry, sources: BridgeMetricSources) {
  return {
    deliveries: new Counter({
      name: 'onboarding_bridge_deliveries_total',
      help: 'Messages delivered to the bridge (redeliveries included)',
      labelNames: ['redelivered'] as const,
      registers: [registry],
    }),
    acks: new Counter({
      name: 'onboarding_bridge_acks_total',
      help: 'Messages acked after their onboarding run completed',
      registers: [registry],
    }),
    nacks: new Counter({
      name: 'onboarding_bridge_nacks_total',
      help: 'Messages nacked into the DLQ, by reason (contract_violation, the run failure type, or what no process could handle)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    handBacks: new Counter({
      name: 'onboarding_bridge_hand_backs_total',
      help: 'Deliveries handed back to the queue (nack with requeue) for a later or another consumer, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    deliveryErrors: new Counter({
      name: 'onboarding_bridge_delivery_errors_total',
      help: 'Errors handling a delivery, by kind: transport, undecodable_result, unknown_contract_version, unexpected',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    consumerLost: new Counter({
      name: 'onboarding_bridge_consumer_lost_total',
      help: 'Times the consumer channel closed or the broker cancelled the consumer (each is recovered by itself)',
      labelNames: ['what'] as const,
      registers: [registry],
    }),
    consuming: new Gauge({
      name: 'onboarding_bridge_consuming',
      help: '1 while the bridge is subscribed to the signup queue, 0 while it is down or paused',
      registers: [registry],
      collect() {
        this.set(sources.consuming() ? 1 : 0);
      },
    }),
    temporalCircuitOpen: new Gauge({
      name: 'onboarding_bridge_temporal_circuit_open',
      help: '1 while the bridge has paused consuming because Temporal does not answer',
      registers: [registry],
      collect() {
        this.set(sources.temporalCircuitOpen() ? 1 : 0);
      },
    }),
    workflowOutcomes: new Counter({
      name: 'onboarding_workflow_outcomes_total',
      help: 'Onboarding runs the bridge saw end, by outcome and failure type',
      labelNames: ['outcome', 'failure_type'] as const,
      registers: [registry],
    }),
    endToEndSeconds: new Histogram({
      name: 'onboarding_end_to_end_seconds',
      help: 'From requested_at in the message (the API accepted it) to the completed onboarding run',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    deadLetterDepth: new Gauge({
      name: 'onboarding_dlq_messages',
      help: 'Messages waiting in the dead-letter queue (read from the broker at scrape time)',
      registers: [registry],
      async collect() {
        try {
          this.set(await sources.deadLetterDepth());
        } catch {
          // Broker unreachable: NaN says "unknown"; a stale count or a 0 would mislead an alert.
          this.set(Number.NaN);
        }
      },
    }),
  };
}

/** What the worker's verification activities record (docs/verification.md). */
export function createVerificationMetrics(registry: Registry) {
  return {
    mailsSent: new Counter({
      name: 'onboarding_verification_mails_sent_total',
      help: 'Verification mails the SMTP server accepted, by kind (verification, reminder, resend)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    mailFailures: new Counter({
      name: 'onboarding_verification_mail_failures_total',
      help: 'Attempts to send a verification mail that failed (each is retried)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    // Worker-only (never on the public listener): a public count of hidden duplicates would undo
    // DUPLICATE_SIGNUP_RESPONSE=accepted.
    duplicateSignupNotices: new Counter({
      name: 'onboarding_duplicate_signup_notices_total',
      help: 'Signups for a registered address answered as new (accepted mode), by what became of the owner\'s notice mail: sent, limited (past DUPLICATE_SIGNUP_NOTICE_LIMIT), failed, no_owner',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'onboarding_events_published_total',
      help: 'CloudEvents confirmed by the broker, by type (a retried publish counts again)',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
  };
}
export type VerificationMetrics = ReturnType<typeof createVerificationMetrics>;
