/**
 * The value of the sample `name` whose labels include every one of `labels`, read from Prometheus text (a /metrics
 * body). Other labels may be there too: createMetrics of @forum/shared adds `service` to every sample. Undefined when
 * no sample matches; throws when several do (the labels given do not name one series).
 */
export function promSample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) found.push(Number(m[3]));
  }
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)}: ${found.length} samples match`);
  return found[0];
}
