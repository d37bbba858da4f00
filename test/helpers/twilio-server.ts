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
 * - scripted answers (429 with Retry-After, 500, …) and delays, queued with `failNext` / `delayNext`; an answer lost
 *   after the message was accepted (`loseNextAnswer`), as when a connection drops on the way back.
 * And `GET /2010-04-01/Accounts/{AccountSid}/Messages.json` (Twilio's list, https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources):
 * the accepted messages, newest first, filtered by `To`, `From` and `DateSent`/`DateSent>`/`DateSent<` (per day,
 * as Twilio does), paged by `PageSize` (default 50) and `Page`, in Twilio's shape
 * `{messages: [...], next_page_uri, page, page_size, …}`. Scripts and delays apply to the next request of either kind.
 */

/** One request the server received. */
export interface RecordedTwilioRequest {
  readonly accountSid: string;
  readonly form: Record<string, string>;
  readonly headers: http.IncomingHttpHeaders;
  /** The status the server answered (or will answer). */
  readonly statusCode: number;
}

/** One list request the server received. */
export interface RecordedTwilioList {
  readonly query: Record<string, string>;
  readonly statusCode: number;
}

/** A message the stand-in accepted, as its list returns it. */
interface StoredTwilioMessage {
  readonly sid: string;
  readonly to: string;
  readonly from: string | null;
  readonly messagingServiceSid: string | null;
  readonly body: string;
  readonly createdMs: number;
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
  /** Every message creation request (POST), in arrival order. */
  readonly requests: RecordedTwilioRequest[];
  /** Every list request (GET), in arrival order. */
  readonly lists: RecordedTwilioList[];
  /** Messages answered 201. */
  accepted(): RecordedTwilioRequest[];
  /** Queues scripted answers, one per coming request, before the normal behaviour resumes. */
  failNext(...answers: ScriptedAnswer[]): void;
  /** Delays the answer to the next request by `ms`. */
  delayNext(ms: number): void;
  /** Handles the next request normally (a message is accepted), then drops the connection instead of answering. */
  loseNextAnswer(): void;
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
  const lists: RecordedTwilioList[] = [];
  const messages: StoredTwilioMessage[] = [];
  const script: ScriptedAnswer[] = [];
  const delays: number[] = [];
  let answersToLose = 0;
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
    const lose = answersToLose > 0;
    if (lose) answersToLose--;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (lose) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(url.pathname);
    if ((req.method !== 'POST' && req.method !== 'GET') || !match) {
      return send(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    }
    const listing = req.method === 'GET';
    const query = Object.fromEntries(url.searchParams);
    const form = Object.fromEntries(new URLSearchParams(raw));
    const record = (statusCode: number) =>
      listing
        ? lists.push({ query, statusCode })
        : requests.push({ accountSid: match[1] ?? '', form, headers: req.headers, statusCode });
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
    if (listing) {
      record(200);
      return send(200, list(match[1] ?? '', url));
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
    const createdMs = Date.now();
    const now = new Date(createdMs).toUTCString();
    messages.push({
      sid,
      to,
      from: form.From ?? null,
      messagingServiceSid: form.MessagingServiceSid ?? null,
      body: form.Body,
      createdMs,
    });
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

  /** Twilio's list answer: newest first, filtered, one page. */
  function list(account: string, url: URL) {
    const q = url.searchParams;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const pageSize = Math.min(1000, Math.max(1, Number(q.get('PageSize') ?? 50) || 50));
    const page = Math.max(0, Number(q.get('Page') ?? 0) || 0);
    const matching = messages
      .filter((m) => !q.has('To') || m.to === q.get('To'))
      .filter((m) => !q.has('From') || m.from === q.get('From'))
      // DateSent filters compare whole days (YYYY-MM-DD, GMT), as Twilio's do.
      .filter((m) => !q.has('DateSent') || day(m.createdMs) === q.get('DateSent')?.slice(0, 10))
      .filter((m) => !q.has('DateSent>') || day(m.createdMs) >= (q.get('DateSent>') ?? '').slice(0, 10))
      .filter((m) => !q.has('DateSent<') || day(m.createdMs) <= (q.get('DateSent<') ?? '').slice(0, 10))
      .sort((a, b) => b.createdMs - a.createdMs);
    const slice = matching.slice(page * pageSize, (page + 1) * pageSize);
    const base = `/2010-04-01/Accounts/${account}/Messages.json`;
    const pageUri = (n: number) => {
      const params = new URLSearchParams(q);
      params.set('PageSize', String(pageSize));
      params.set('Page', String(n));
      return `${base}?${params.toString()}`;
    };
    return {
      messages: slice.map((m) => {
        const date = new Date(m.createdMs).toUTCString();
        return {
          sid: m.sid,
          account_sid: account,
          to: m.to,
          from: m.from,
          messaging_service_sid: m.messagingServiceSid,
          body: m.body,
          status: 'sent',
          direction: 'outbound-api',
          num_segments: '1',
          api_version: '2010-04-01',
          date_created: date,
          date_updated: date,
          date_sent: date,
          uri: `${base.replace('.json', '')}/${m.sid}.json`,
        };
      }),
      end: page * pageSize + slice.length - 1,
      first_page_uri: pageUri(0),
      next_page_uri: (page + 1) * pageSize < matching.length ? pageUri(page + 1) : null,
      page,
      page_size: pageSize,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      start: page * pageSize,
      uri: pageUri(page),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    lists,
    accepted: () => requests.filter((r) => r.statusCode === 201),
    failNext: (...answers) => script.push(...answers),
    delayNext: (ms) => delays.push(ms),
    loseNextAnswer: () => {
      answersToLose++;
    },
    openConnections: () => sockets.size,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
