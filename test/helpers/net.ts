import { get } from 'node:http';

/** One HTTP GET with a 3 s timeout (traffic only to loopback or namespaces the tests made). */
export function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Retries `fn` until it resolves, or rethrows its last error after `ms`. */
export async function retry<T>(fn: () => Promise<T>, ms: number, intervalMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
