/**
 * Polls `fn` every `intervalMs` until it returns something other than undefined/false (that value is returned),
 * or throws after `timeoutMs` naming `label` and the last error `fn` threw.
 */
export async function waitFor<T>(
  label: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}${lastErr ? `: ${(lastErr as Error).message ?? String(lastErr)}` : ''}`);
}

export type WaitFor = <T>(
  label: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs?: number,
  intervalMs?: number,
) => Promise<T>;

/** waitFor with other default timeout/interval (a suite's own pace), same semantics. */
export function waitForWith(defaults: { timeoutMs: number; intervalMs: number }): WaitFor {
  return (label, fn, timeoutMs = defaults.timeoutMs, intervalMs = defaults.intervalMs) => waitFor(label, fn, timeoutMs, intervalMs);
}
