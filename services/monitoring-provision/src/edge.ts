/**
 * The monitoring VM reaches the stack only through the edge: NGINX routes `/ops/ipblock/v1/...` and
 * `/ops/autoscaler/v1/...` (configs/nginx/forum.conf) to the services' `/v1/...`. Generated artefacts carry the
 * placeholder `${EDGE_URL}` (e.g. `http://<edge-host>`, the keepalived VIP or an edge node), substituted at install
 * time like the tokens, so the committed files name no deployment.
 */
export const EDGE_URL = '${EDGE_URL}';
export const IPBLOCK_ROUTE = '/ops/ipblock';
export const AUTOSCALER_ROUTE = '/ops/autoscaler';

export const ipblockHook = (name: 'watcher' | 'kibana', edge = EDGE_URL): string => `${edge}${IPBLOCK_ROUTE}/v1/hooks/${name}`;
export const autoscalerHook = (name: 'kapacitor' | 'alertmanager' | 'kibana', edge = EDGE_URL): string => `${edge}${AUTOSCALER_ROUTE}/v1/hooks/${name}`;

/** Replaces `${NAME}` placeholders; a missing value keeps the placeholder (the caller checks what it needs). */
export function subst(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Z_]+)\}/g, (m, k: string) => vars[k] ?? m);
}
