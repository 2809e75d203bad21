/**
 * What a test or the chaos run asks of the shared broker through rabbitmqctl: close connections
 * and channels of its own, how deep a queue of its own is, and (chaos only, restored soon) the
 * broker-wide consumer timeout.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 30_000 });
  return stdout;
}

/** Pids of the broker's connections whose client named itself `connectionName` (connection_name). */
export async function connectionPids(connectionName: string): Promise<string[]> {
  const out = await rabbitmqctl('list_connections', 'pid', 'client_properties', '--quiet', '--no-table-headers');
  const wanted = `{"connection_name","${connectionName}"}`;
  return out
    .split('\n')
    .filter((line) => line.includes(wanted))
    .map((line) => line.split('\t')[0]);
}

/** Closes every connection named `connectionName` from the broker's side, as an operator or a failover would. */
export async function closeConnectionsNamed(connectionName: string, reason: string): Promise<number> {
  const pids = await connectionPids(connectionName);
  for (const pid of pids) await rabbitmqctl('close_connection', pid, reason);
  return pids.length;
}

/** Pids of the channels of connections named `connectionName` that carry a consumer now. */
export async function consumerChannelPids(connectionName: string): Promise<string[]> {
  const connections = new Set(await connectionPids(connectionName));
  const out = await rabbitmqctl('list_channels', 'pid', 'connection', 'consumer_count', '--quiet', '--no-table-headers');
  return out
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(([pid, connection, consumers]) => pid && connections.has(connection) && Number(consumers) > 0)
    .map(([pid]) => pid);
}

/** The queue a channel closed by closeChannelsFromBroker was asked about: its name explains the close in the client's log. */
export const BROKER_CLOSE_QUEUE = 'chaos: the broker closes this channel';

/**
 * Has the broker close each of these channels the way it closes a channel on any channel-level
 * error: the channel process is handed a passive declare of a queue that does not exist, and
 * answers with `channel.close 404 NOT_FOUND - no queue 'chaos: the broker closes this channel'`.
 * The client sent nothing; its connection and other channels stay open; the broker changes
 * nothing else (a passive declare creates nothing). What the channel held goes back to its queue.
 */
export async function closeChannelsFromBroker(pids: string[]): Promise<void> {
  if (pids.length === 0) return;
  const passiveDeclare = `{'queue.declare', 0, <<"${BROKER_CLOSE_QUEUE}">>, true, false, false, false, false, []}`;
  const list = pids.map((pid) => JSON.stringify(pid)).join(', ');
  await rabbitmqctl('eval', `[rabbit_channel:do(rabbit_misc:string_to_pid(P), ${passiveDeclare}) || P <- [${list}]], ok.`);
}

/** Messages in a queue, ready and held unacknowledged by consumers together. */
export async function queueDepth(queue: string): Promise<number> {
  const out = await rabbitmqctl('list_queues', 'name', 'messages', '--quiet', '--no-table-headers');
  const line = out.split('\n').find((l) => l.split('\t')[0] === queue);
  if (!line) throw new Error(`no queue ${queue} on the broker`);
  return Number(line.split('\t')[1]);
}

/** The names of every queue and exchange on the broker's default vhost. */
export async function brokerNames(): Promise<{ queues: string[]; exchanges: string[] }> {
  const names = (out: string) => out.split('\n').map((l) => l.trim()).filter(Boolean);
  return {
    queues: names(await rabbitmqctl('list_queues', 'name', '--quiet', '--no-table-headers')),
    exchanges: names(await rabbitmqctl('list_exchanges', 'name', '--quiet', '--no-table-headers')),
  };
}

export const BROKER_DEFAULTS = { consumerTimeoutMs: 1_800_000, channelTickIntervalMs: 60_000 };

/**
 * Sets RabbitMQ's consumer_timeout for the whole broker; channels opened from now on pick it up.
 * Other engineers' tests share this broker: restore BROKER_DEFAULTS in a finally, soon.
 */
export async function setBrokerConsumerTimeout(consumerTimeoutMs: number, channelTickIntervalMs: number): Promise<void> {
  await rabbitmqctl(
    'eval',
    `application:set_env(rabbit, consumer_timeout, ${consumerTimeoutMs}), application:set_env(rabbit, channel_tick_interval, ${channelTickIntervalMs}).`,
  );
}

export async function brokerConsumerTimeout(): Promise<string> {
  return (await rabbitmqctl('eval', 'application:get_env(rabbit, consumer_timeout).')).trim();
}
