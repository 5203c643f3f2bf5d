import { z } from 'zod';
import { readSecret } from './secrets.js';

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the environment once at start-up against a zod object schema.
 * Keys listed in `secrets` may come as `KEY_FILE` (Docker secrets). Every bad variable is reported at once.
 */
export function loadConfig<S extends z.ZodRawShape>(shape: S, opts: { secrets?: (keyof S & string)[]; env?: NodeJS.ProcessEnv } = {}): z.infer<z.ZodObject<S>> {
  const env = opts.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const key of Object.keys(shape)) {
    try {
      raw[key] = opts.secrets?.includes(key) ? readSecret(key, env) : env[key];
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const parsed = z.object(shape).safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

/** loadConfig for an entry point: prints every problem and exits 1 instead of throwing. */
export function loadConfigOrExit<S extends z.ZodRawShape>(
  shape: S,
  opts: { secrets?: (keyof S & string)[]; env?: NodeJS.ProcessEnv } = {},
): z.infer<z.ZodObject<S>> {
  try {
    return loadConfig(shape, opts);
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: (err as Error).message })}\n`);
    process.exit(1);
  }
}

/** Common zod helpers for env strings. */
export const env = {
  int: (def?: number) => (def === undefined ? z.coerce.number().int() : z.coerce.number().int().default(def)),
  bool: (def = false) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  list: (def = '') =>
    z
      .string()
      .default(def)
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
  url: () => z.string().url(),
};
export { z };
