/**
 * The events publisher on the real RabbitMQ: confirmed CloudEvents on a topic exchange, and
 * recovery after the broker closes its channel (here: the exchange deleted under it).
 */
import amqplib from 'amqplib';
import { userEvent, UserEventType } from '../../src/events/cloud-event';
import { createEventPublisher } from '../../src/events/event-publisher';
import { EventSubscriber } from '../support/events';
import { eventually, silentLogger, testConfig, uniqueSuffix } from '../support/stack';

const config = testConfig(uniqueSuffix());
const publisher = createEventPublisher({ url: config.events.url, exchange: config.events.exchange, confirmTimeoutMs: 5_000, logger: silentLogger });
let subscriber: EventSubscriber;

beforeAll(async () => {
  subscriber = await EventSubscriber.bind(config);
});

afterAll(async () => {
  await subscriber.close();
  await publisher.close();
  const connection = await amqplib.connect(config.amqp.url);
  await (await connection.createChannel()).deleteExchange(config.events.exchange);
  await connection.close();
});

const event = (userId: string) => userEvent('/test', UserEventType.Verified, { user_id: userId, verification_state: 'VERIFIED' });

it('publishes a confirmed event that a bound queue receives, structured mode, routed by type', async () => {
  await publisher.publish(event('u-1'));
  const received = await subscriber.waitFor('u-1', 'user.verified');
  expect(received).toMatchObject({ routingKey: 'user.verified', contentType: 'application/cloudevents+json', messageId: received.event.id });
});

it('reopens its channel on the next publish after the broker closed it', async () => {
  const connection = await amqplib.connect(config.amqp.url);
  await (await connection.createChannel()).deleteExchange(config.events.exchange);
  await connection.close();
  // The broker closes the channel for publishing to an exchange that is gone: this publish fails.
  await expect(publisher.publish(event('u-2'))).rejects.toThrow(/events broker|publish failed/);
  // The next one opens a new channel, declares the exchange again, and is confirmed.
  await eventually(async () => publisher.publish(event('u-3')).then(() => true), 10_000, 'a publish to succeed again');
  const again = await EventSubscriber.bind(config);
  try {
    await publisher.publish(event('u-4'));
    await again.waitFor('u-4', 'user.verified');
  } finally {
    await again.close();
  }
});
