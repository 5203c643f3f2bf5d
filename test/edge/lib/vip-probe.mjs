// Runs inside a client network namespace: one new TCP connection + GET every INTERVAL ms (not waiting for the
// previous one), 1 s timeout each; prints one JSON line per request: {t (start, ms epoch), ms, ok, body|err}.
import http from 'node:http';

const [url, intervalArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 50);
function once() {
  const t = Date.now();
  const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () =>
      process.stdout.write(`${JSON.stringify({ t, ms: Date.now() - t, ok: res.statusCode === 200, status: res.statusCode, body: body.trim() })}\n`),
    );
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => process.stdout.write(`${JSON.stringify({ t, ms: Date.now() - t, ok: false, err: err.code ?? err.message })}\n`));
}
setInterval(once, interval);
process.on('SIGTERM', () => setTimeout(() => process.exit(0), 1100));
