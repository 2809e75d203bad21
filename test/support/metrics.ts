import type { Registry } from '../../src/metrics';

/** One series' value on a registry, or undefined if it has not been recorded. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  // Histograms list their _count and _sum series under the histogram's own name.
  const values = (await registry.getMetricsAsJSON()).flatMap((m) =>
    m.values.map((v) => ({ ...v, name: (v as { metricName?: string }).metricName ?? m.name })),
  );
  const value = values.find(
    (v) => v.name === name && Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return value?.value;
}
