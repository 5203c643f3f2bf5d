import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackMessage {
  text: string;
  /** attachments[0].color */
  color?: string;
  attachments?: Array<{ color?: string }>;
  blocks?: unknown[];
  /** the whole JSON body */
  body: Record<string, unknown>;
}

export interface SlackReceiver {
  url: string;
  messages: SlackMessage[];
  close(): Promise<void>;
}

/**
 * A local stand-in for a Slack incoming webhook: records each JSON body and answers "ok" like Slack does
 * (400 invalid_payload otherwise). `strict`: also refuse a body that is not `application/json` with a string `text`.
 */
export async function startSlackReceiver(opts: { host?: string; strict?: boolean } = {}): Promise<SlackReceiver> {
  const host = opts.host ?? '127.0.0.1';
  const messages: SlackMessage[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      try {
        const body = JSON.parse(raw);
        if (opts.strict && (req.headers['content-type'] !== 'application/json' || typeof body.text !== 'string')) throw new Error('bad');
        messages.push({ ...body, text: body.text, color: body.attachments?.[0]?.color, body });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid_payload');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://${host}:${port}/services/T000/B000/XXXX`, messages, close: () => new Promise((r) => server.close(() => r())) };
}
