import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A loopback stand-in for the part of Twilio's Messages API Vigie calls — a third party, not our code
 * (STYLE.md §8). `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic auth
 * (AccountSid:AuthToken). Answers follow Twilio's documented shapes (https://www.twilio.com/docs/usage/twilios-response):
 * - 201 `{sid: "SM…", status: "queued", …}`;
 * - 400 `{code: 21211, message: "Invalid 'To' Phone Number", …}` for a To that is not E.164 or is Twilio's magic
 *   invalid test number +15005550001; 400 code 21602 when Body is missing;
 * - 401 code 20003 for wrong credentials;
 * - scripted answers (429 with Retry-After, 500, …) and delays, queued with `failNext` / `delayNext`.
 */

/** One request the server received. */
export interface RecordedTwilioRequest {
  readonly accountSid: string;
  readonly form: Record<string, string>;
  readonly headers: http.IncomingHttpHeaders;
  /** The status the server answered (or will answer). */
  readonly statusCode: number;
}

/** A scripted answer for the next request. */
export interface ScriptedAnswer {
  readonly status: number;
  readonly code?: number;
  readonly message?: string;
  readonly retryAfterSeconds?: number;
}

/** A running Twilio stand-in. */
export interface TwilioServer {
  /** `http://127.0.0.1:<port>`: the channel's `apiBaseUrl`. */
  readonly url: string;
  readonly accountSid: string;
  readonly authToken: string;
  /** Every request, in arrival order. */
  readonly requests: RecordedTwilioRequest[];
  /** Messages answered 201. */
  accepted(): RecordedTwilioRequest[];
  /** Queues scripted answers, one per coming request, before the normal behaviour resumes. */
  failNext(...answers: ScriptedAnswer[]): void;
  /** Delays the answer to the next request by `ms`. */
  delayNext(ms: number): void;
  /** Open client connections right now. */
  openConnections(): number;
  close(): Promise<void>;
}

const E164 = /^\+[1-9]\d{7,14}$/;
const MAGIC_INVALID = '+15005550001';

/** Starts the stand-in on 127.0.0.1, port 0. */
export async function startTwilioServer(
  options: { accountSid?: string; authToken?: string } = {},
): Promise<TwilioServer> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = options.authToken ?? randomBytes(16).toString('hex');
  const requests: RecordedTwilioRequest[] = [];
  const script: ScriptedAnswer[] = [];
  const delays: number[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const delayMs = delays.shift() ?? 0;
      const answer = () => respond(req, res, Buffer.concat(chunks).toString('utf8'));
      if (delayMs <= 0) return answer();
      const t = setTimeout(() => {
        timers.delete(t);
        if (!res.destroyed) answer();
      }, delayMs);
      timers.add(t);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function respond(req: http.IncomingMessage, res: http.ServerResponse, raw: string) {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) {
      return send(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    }
    const form = Object.fromEntries(new URLSearchParams(raw));
    const record = (statusCode: number) =>
      requests.push({ accountSid: match[1] ?? '', form, headers: req.headers, statusCode });
    const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
    if (req.headers.authorization !== expected || match[1] !== accountSid) {
      record(401);
      return send(401, {
        code: 20003,
        message: 'Authenticate',
        more_info: 'https://www.twilio.com/docs/errors/20003',
        status: 401,
      });
    }
    const scripted = script.shift();
    if (scripted) {
      record(scripted.status);
      return send(
        scripted.status,
        {
          code: scripted.code ?? (scripted.status === 429 ? 20429 : 20500),
          message: scripted.message ?? (scripted.status === 429 ? 'Too Many Requests' : 'Internal Server Error'),
          more_info: `https://www.twilio.com/docs/errors/${scripted.code ?? 20500}`,
          status: scripted.status,
        },
        scripted.retryAfterSeconds === undefined ? {} : { 'retry-after': String(scripted.retryAfterSeconds) },
      );
    }
    const to = form.To ?? '';
    if (!E164.test(to) || to === MAGIC_INVALID) {
      record(400);
      return send(400, {
        code: 21211,
        message: `The 'To' number ${to} is not a valid phone number.`,
        more_info: 'https://www.twilio.com/docs/errors/21211',
        status: 400,
      });
    }
    if (!form.Body) {
      record(400);
      return send(400, { code: 21602, message: 'Message body is required.', status: 400 });
    }
    if (!form.From && !form.MessagingServiceSid) {
      record(400);
      return send(400, { code: 21603, message: "A 'From' phone number is required.", status: 400 });
    }
    record(201);
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const now = new Date().toUTCString();
    send(201, {
      sid,
      account_sid: accountSid,
      to,
      from: form.From ?? null,
      messaging_service_sid: form.MessagingServiceSid ?? null,
      body: form.Body,
      status: 'queued',
      num_segments: '1',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      date_created: now,
      date_updated: now,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    accepted: () => requests.filter((r) => r.statusCode === 201),
    failNext: (...answers) => script.push(...answers),
    delayNext: (ms) => delays.push(ms),
    openConnections: () => sockets.size,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
