import { readFileSync } from 'node:fs';
import { AppError } from './errors.js';

/**
 * Reads a secret the Docker way: `NAME_FILE` points at a file (a Docker secret), else `NAME`.
 * Setting both is an error (docker-library's `file_env` rule), so a stale env value never shadows a secret.
 */
export function readSecret(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) {
    throw new AppError('config_invalid', 500, `both ${name} and ${name}_FILE are set; set only one`, false);
  }
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new AppError('config_invalid', 500, `${name}_FILE=${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`, false);
    }
  }
  return direct;
}
