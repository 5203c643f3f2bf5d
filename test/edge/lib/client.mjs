// A forum client run inside a test network namespace (so NGINX sees its own address).
//   node client.mjs get <url>                 -> {"status": n}
//   node client.mjs bad-logins <base> <n>     -> {"statuses": [...]}  (CSRF cookie first, then n wrong passwords)
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
    const statuses = [];
    for (let i = 0; i < Number(n); i++) {
      const res = await fetch(`${url}/api/auth/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: cookies.join('; '), 'x-csrftoken': csrf, referer: `${url}/` },
        body: JSON.stringify({ username: 'edge-test-nobody', password: `wrong-${i}` }),
        signal: AbortSignal.timeout(5000),
      });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    out({ statuses, at: Date.now() });
  } else throw new Error(`unknown command ${cmd}`);
} catch (err) {
  out({ error: err.message });
  process.exit(1);
}
