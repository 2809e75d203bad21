/**
 * What a test asks of the shared broker through rabbitmqctl: close one connection of its own,
 * and (chaos tests only, restored in a finally) the broker-wide consumer timeout.
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
