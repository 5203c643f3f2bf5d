/** A browser-like cookie jar (name -> value) for API clients in tests. */

/** The Cookie request header for the jar, or undefined when it is empty. */
export function cookieHeader(jar: Map<string, string>): string | undefined {
  return jar.size ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
}

/** Applies a response's Set-Cookie headers: an empty value, Max-Age=0 or an expiry in 1970 deletes the cookie. */
export function storeCookies(jar: Map<string, string>, headers: Headers): void {
  for (const c of headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    if (value === '' || /;\s*max-age=0\s*(;|$)|expires=thu, 01 jan 1970/i.test(c)) jar.delete(name);
    else jar.set(name, value);
  }
}

/** A response body as text plus its JSON (undefined when empty or not JSON). */
export async function readBody(res: Response): Promise<{ text: string; json: any }> {
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { text, json };
}
