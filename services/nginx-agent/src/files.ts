import { rename, writeFile } from 'node:fs/promises';

/** Writes `file` whole or not at all (a temporary file renamed over it), so NGINX never reads half a file. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, file);
}
