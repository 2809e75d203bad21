/** Reading workflow histories in tests: the recorded ones under test/unit/histories, and a run's markers. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';

/**
 * A history saved as JSON.stringify(handle.fetchHistory()): protobufjs's own toJSON, which
 * fromObject reverses. (historyFromJSON would do, but @temporalio/common and @temporalio/proto
 * each carry a protobufjs of their own here, and it refuses the other's types.)
 */
export function recordedHistory(name: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(__dirname, '..', 'unit', 'histories', name), 'utf8')));
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Marker = temporal.api.history.v1.IMarkerRecordedEventAttributes;

export function markersOf(events: HistoryEvent[]): Marker[] {
  return events.flatMap((e) => (e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes] : []));
}

/** The ids of the patches among a run's markers, in the order recorded. */
export function patchIds(markers: Marker[]): string[] {
  return markers
    .filter((m) => m.markerName === 'core_patch')
    .map((m) => JSON.parse(Buffer.from(m.details?.['patch-data']?.payloads?.[0]?.data as Uint8Array).toString('utf8')).id);
}
