import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';

/**
 * A stand-in for Twilio's MMS media URLs: serves files by path behind HTTP basic auth (account SID and auth token,
 * as Twilio requires), records every request, and closes when the test ends.
 */
export async function startTwilioMedia(
  credentials: { accountSid: string; authToken: string },
  files: Record<string, { status?: number; type: string; body: Buffer }>,
) {
  const requests: Array<{ path: string; authorized: boolean }> = [];
  const expected = `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    const authorized = req.headers.authorization === expected;
    requests.push({ path: req.url ?? '', authorized });
    const file = files[req.url ?? ''];
    if (!authorized) return void res.writeHead(401).end('{"code":20003}');
    if (!file) return void res.writeHead(404).end('{"code":20404}');
    res.writeHead(file.status ?? 200, { 'content-type': file.type, 'content-length': file.body.length }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { host, url: (path: string) => `http://${host}${path}`, requests };
}
