// A forum client run inside a test network namespace (so NGINX sees its own address).
//   node client.mjs get <url>                 -> {"status": n}
//   node client.mjs bad-logins <base> <n>     -> {"statuses": [...]}  (CSRF cookie first, then n wrong passwords)
//   node client.mjs burst <method> <url> <n> <concurrency>
//                                             -> {"statuses": [...], "limited": {status, retryAfter, contentType, body}}
//      n requests (no cookies, empty JSON body for POST), at most <concurrency> at once; `limited` is the first 429
const [cmd, url, n] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
try {
  if (cmd === 'get') {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    out({ status: res.status });
  } else if (cmd === 'bad-logins') {
    const first = await fetch(`${url}/api/auth/`, { signal: AbortSignal.timeout(5000) });
    const cookies = first.headers.getSetCookie().map((c) => c.split(';')[0]);
    const csrf = cookies.find((c) => c.startsWith('csrftoken='))?.slice('csrftoken='.length) ?? '';
    // n failed logins the API actually judged (400, or 429 for the one that trips the limit); answers of an API
    // replica that is unavailable (502/503/504) do not count and are retried, within 30 s in total
    const statuses = [];
    const started = Date.now();
    let counted = 0;
    for (let i = 0; counted < Number(n) && Date.now() - started < 30000 && i < 40; i++) {
      const res = await fetch(`${url}/api/auth/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: cookies.join('; '), 'x-csrftoken': csrf, referer: `${url}/` },
        body: JSON.stringify({ username: 'edge-test-nobody', password: `wrong-${i}` }),
        signal: AbortSignal.timeout(15000),
      });
      statuses.push(res.status);
      if (res.status === 400 || res.status === 429) counted++;
      await res.arrayBuffer();
    }
    process.stderr.write(`all statuses: ${statuses.join(',')}\n`);
    const judged = statuses.filter((s) => s === 400 || s === 429 || s === 403);
    out({ statuses: judged, all: statuses, at: Date.now() });
  } else if (cmd === 'burst') {
    const [, method, target, count, concurrency] = process.argv.slice(2);
    const statuses = [];
    let limited;
    let next = 0;
    const worker = async () => {
      while (next < Number(count)) {
        const i = next++;
        const res = await fetch(target, {
          method,
          headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
          body: method === 'POST' ? '{}' : undefined,
          signal: AbortSignal.timeout(15000),
        });
        const body = await res.text();
        statuses[i] = res.status;
        if (res.status === 429 && !limited) {
          limited = { status: res.status, retryAfter: res.headers.get('retry-after'), contentType: res.headers.get('content-type'), body };
        }
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    out({ statuses, limited });
  } else throw new Error(`unknown command ${cmd}`);
} catch (err) {
  out({ error: err.message });
  process.exit(1);
}
