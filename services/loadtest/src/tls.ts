// Trusting the edge's certificate. The stack serves HTTPS with a certificate of its own local CA (secrets/generate.sh
// writes the CA to secrets/tls_ca.pem), which no system trust store holds. The load tool loads that CA into its
// connection pool itself: EDGE_TLS_CA, else this checkout's secrets/tls_ca.pem when it exists. It does so even when
// Node was started with NODE_EXTRA_CA_CERTS (which may name another bundle, e.g. a proxy's CA): the pool trusts what
// Node trusts by default (its CAs and NODE_EXTRA_CA_CERTS) plus that CA.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { rootCertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';

/** secrets/tls_ca.pem of this checkout (from src/ or dist/ alike) */
export const DEFAULT_CA_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../secrets/tls_ca.pem');

/** The CA file to load: EDGE_TLS_CA (which must exist), else `defaultFile` when it exists, else none. */
export function caFileFor(env: NodeJS.ProcessEnv = process.env, defaultFile = DEFAULT_CA_FILE): string | undefined {
  if (env.EDGE_TLS_CA) {
    if (!existsSync(env.EDGE_TLS_CA)) throw new Error(`EDGE_TLS_CA=${env.EDGE_TLS_CA}: no such file (the stack's CA is secrets/tls_ca.pem)`);
    return resolve(env.EDGE_TLS_CA);
  }
  return existsSync(defaultFile) ? defaultFile : undefined;
}

/** The `ca` option for TLS connections: Node's default trust (its CAs, NODE_EXTRA_CA_CERTS) and the CA in `caFile`. */
export function trustWith(caFile: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = env.NODE_EXTRA_CA_CERTS && existsSync(env.NODE_EXTRA_CA_CERTS) ? [readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8')] : [];
  return [...rootCertificates, ...extra, readFileSync(caFile, 'utf8')];
}

/** Node's codes for a certificate it does not accept (chain, dates, name). */
export function isCertificateError(code: string | undefined): boolean {
  return /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED|CERT_|ERR_TLS_CERT_ALTNAME_INVALID$)/.test(code ?? '');
}

/** The message for a target whose certificate was refused: which CA was tried and what to do. */
export function untrustedMessage(target: string, code: string, caFile: string | undefined): string {
  const head = `the edge's certificate at ${target} is not trusted (${code})`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${head}: it does not name ${new URL(target).hostname}; use a name or address it has (127.0.0.1, localhost, this machine's addresses) or redeploy with TLS_SERVER_NAMES`;
  if (caFile) return `${head}: the CA in ${caFile} did not sign it (a CA of another deploy? set EDGE_TLS_CA to the stack's secrets/tls_ca.pem)`;
  return `${head}: no CA file to trust it with: ${DEFAULT_CA_FILE} does not exist; set EDGE_TLS_CA to the stack's CA (secrets/tls_ca.pem of the checkout that deployed it)`;
}
