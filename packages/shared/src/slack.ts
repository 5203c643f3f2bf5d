import type { Logger } from 'pino';

export type SlackColor = 'good' | 'warning' | 'danger' | string;

export interface SlackMessage {
  text: string;
  color?: SlackColor;
  fields?: Record<string, string | number>;
  channel?: string;
}

/** The Slack incoming-webhook body: `text` fallback, a section block, and the coloured bar via `attachments[].color`. */
export function slackBody(msg: SlackMessage) {
  const fields = Object.entries(msg.fields ?? {}).map(([k, v]) => ({ title: k, value: String(v), short: true }));
  return {
    ...(msg.channel ? { channel: msg.channel } : {}),
    text: msg.text,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: msg.text } }],
    attachments: [{ color: msg.color ?? 'good', fallback: msg.text, fields }],
  };
}

/**
 * Posts to a Slack incoming webhook. Never throws: a dead hook is logged (Slack answers e.g. `no_active_hooks`)
 * and reported as false, so an alert path never fails because Slack is down.
 */
export async function postSlack(webhookUrl: string | undefined, msg: SlackMessage, logger: Logger, timeoutMs = 5000): Promise<boolean> {
  if (!webhookUrl) {
    logger.debug({ text: msg.text }, 'slack: no webhook configured, message not sent');
    return false;
  }
  try {
    const res = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slackBody(msg)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) {
      logger.warn({ status: res.status, body: (await res.text()).slice(0, 200) }, 'slack webhook refused the message');
      return false;
    }
    return true;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'slack webhook unreachable');
    return false;
  }
}
