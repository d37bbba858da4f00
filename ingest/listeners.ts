/**
 * The MQTT listeners: plain TCP (1883), MQTT over TLS (`mqtts`, 8883) and MQTT over WebSocket (`ws://host:port/mqtt`,
 * subprotocol `mqtt`, for browser-based tools). Each accepted connection's duplex stream is handed to the caller
 * (`broker.handle(stream, request)`), so every listener gets the same authentication, ACL and acknowledgement.
 *
 * - One `maxConnections` over all listeners, checked on the raw TCP socket before any TLS handshake or HTTP upgrade:
 *   one more is destroyed at once and counted (`ingest_connections_dropped_total{listener}`).
 * - Server errors after listening (EMFILE, ENFILE) are counted and logged, never thrown; failed TLS handshakes are
 *   counted by OpenSSL code (`ingest_tls_failures_total{reason}`).
 * - `noDelay` on every socket (an MQTT packet is small and a PUBACK must not wait for Nagle).
 * - Client certificates (`tlsClientCerts`): `required` refuses a handshake without a certificate signed by `tlsCaFile`;
 *   `optional` asks for one and lets a client without it log in with its password. A verified certificate's subject
 *   CN is the device identity ({@link certificateIdentity}, {@link certificateLogin}).
 * - Read gate ({@link gateReads}): aedes reads every stream through one `readable` listener, for a `net.Socket`, a
 *   `tls.TLSSocket` (a `net.Socket` subclass) and the `ws` duplex (`createWebSocketStream`) alike. Not reading it
 *   fills the stream's buffer; the TLS socket then stops reading its TCP socket, and the WebSocket duplex pauses its
 *   WebSocket (`ws.pause()`, which stops reading the TCP socket): TCP pushes back on the client on all three (tested).
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, createServer as createTlsServer, TLSSocket, type Server as TlsServer } from 'node:tls';
import type { Client } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { z } from 'zod';
import { DeviceId } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { type Logger, rateLimited } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';

const Port = z.coerce.number().int().min(0).max(65_535);

/** The TLS and WebSocket listeners' configuration (keys of the `ingest` section, docs/config.md). */
export const listenersConfigSchema = z
  .strictObject({
    tlsPort: Port.default(8883).describe(
      'Port of MQTT over TLS (mqtts); the listener is on when tlsCertFile and tlsKeyFile are set (0: any free port).',
    ),
    tlsCertFile: z
      .string()
      .min(1)
      .optional()
      .describe('PEM file of the server certificate (followed by its intermediate CAs); unset: no TLS listener.'),
    tlsKeyFile: z.string().min(1).optional().describe('PEM file of the private key of tlsCertFile (unencrypted).'),
    tlsCaFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of the CA(s) that sign device client certificates; needed when tlsClientCerts is not off. ' +
          "Only these CAs are trusted for devices, never the system's.",
      ),
    tlsClientCerts: z
      .enum(['off', 'optional', 'required'])
      .default('off')
      .describe(
        'Client certificates on the TLS listener: off; optional (asked for, a device without one logs in with ' +
          'its password); required (a handshake without a certificate signed by tlsCaFile fails). A verified ' +
          "certificate's subject CN is the device id: the MQTT username must then be empty or that id.",
      ),
    wsPort: Port.optional().describe(
      'Port of MQTT over WebSocket (ws://host:port<wsPath>, subprotocol mqtt) for browser-based tools; unset: off.',
    ),
    wsPath: z
      .string()
      .regex(/^\/[A-Za-z0-9._~/-]*$/, 'a URL path such as /mqtt')
      .default('/mqtt')
      .describe('URL path of MQTT over WebSocket; other paths get HTTP 404.'),
  })
  .superRefine((c, ctx) => {
    for (const p of listenersConfigProblems(c)) ctx.addIssue({ code: 'custom', path: [p.key], message: p.message });
  });
/** The listeners' configuration after defaults. */
export type ListenersConfig = z.output<typeof listenersConfigSchema>;

/** Cross-key problems of a listeners configuration (also for a schema that embeds its keys, e.g. ingest's). */
export function listenersConfigProblems(c: ListenersConfig): Array<{ key: keyof ListenersConfig; message: string }> {
  const problems: Array<{ key: keyof ListenersConfig; message: string }> = [];
  if (c.tlsCertFile && !c.tlsKeyFile)
    problems.push({ key: 'tlsKeyFile', message: 'tlsKeyFile is required with tlsCertFile' });
  if (c.tlsKeyFile && !c.tlsCertFile)
    problems.push({ key: 'tlsCertFile', message: 'tlsCertFile is required with tlsKeyFile' });
  if (c.tlsClientCerts !== 'off') {
    if (!c.tlsCaFile) {
      problems.push({
        key: 'tlsCaFile',
        message: `tlsCaFile is required when tlsClientCerts is ${c.tlsClientCerts} (the CA that signs device certificates)`,
      });
    }
    if (!c.tlsCertFile) {
      problems.push({
        key: 'tlsCertFile',
        message: `tlsCertFile and tlsKeyFile are required when tlsClientCerts is ${c.tlsClientCerts}`,
      });
    }
  }
  if (c.tlsCertFile && c.wsPort !== undefined && c.wsPort !== 0 && c.wsPort === c.tlsPort) {
    problems.push({ key: 'wsPort', message: `wsPort ${c.wsPort} is also tlsPort (one port per listener)` });
  }
  return problems;
}

/** A listener's name (the `listener` label of the metrics). */
export type ListenerName = 'tcp' | 'tls' | 'ws';

/** What comes with an accepted stream. */
export interface StreamInfo {
  readonly listener: ListenerName;
  /** The HTTP upgrade request of a WebSocket connection (aedes' `client.req`). */
  readonly request?: IncomingMessage;
}

/** What {@link createListeners} needs. */
export interface ListenersOptions {
  readonly config: ListenersConfig;
  /** Address every listener binds. */
  readonly host: string;
  /** Port of plain MQTT over TCP; null: no plain listener. */
  readonly tcpPort: number | null;
  /** Most connections at once over all listeners; one more is closed on accept and counted. */
  readonly maxConnections: number;
  /** A TLS handshake or a WebSocket upgrade not done within it is abandoned (ms). */
  readonly handshakeTimeoutMs: number;
  /** Largest WebSocket message; a larger one closes the connection (bytes; about maxRawPayloadBytes + 64 KiB). */
  readonly maxWsMessageBytes: number;
  /** Called with each accepted stream, typically `(stream, info) => broker.handle(stream, info.request)`. */
  readonly onStream: (stream: Duplex, info: StreamInfo) => void;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** The bound ports, null for a listener that is off. */
export interface ListenerPorts {
  readonly tcp: number | null;
  readonly tls: number | null;
  readonly ws: number | null;
}

/** The running listeners. */
export interface Listeners {
  /** Binds every configured listener; on a failure the others are closed and the error is thrown. */
  listen(): Promise<ListenerPorts>;
  /** Reads the TLS files again (certificate renewal); new handshakes use them, open connections stay. */
  reloadTls(): void;
  /** Stops accepting, destroys every open connection and waits for the servers to close. */
  close(): Promise<void>;
}

interface TlsFiles {
  key: Buffer;
  cert: Buffer;
  ca: Buffer | undefined;
}

/**
 * Creates the listeners of `config` (not yet bound). Throws `ERR_CONFIG_INVALID` when a TLS file cannot be read or
 * the certificate, key or CA is invalid, so a bad file stops startup.
 */
export function createListeners(options: ListenersOptions): Listeners {
  const { config, host, onStream } = options;
  const log = options.logger.child({ component: 'ingest-listeners' });
  const connections = options.metrics.gauge('ingest_connections', 'Open MQTT connections, by listener', ['listener']);
  const dropped = options.metrics.counter(
    'ingest_connections_dropped_total',
    'Connections closed on accept because maxConnections was reached, by listener',
    ['listener'],
  );
  const serverErrors = options.metrics.counter(
    'ingest_server_errors_total',
    'Listener server errors (EMFILE, ...), by listener and code',
    ['listener', 'code'],
  );
  const tlsFailures = options.metrics.counter(
    'ingest_tls_failures_total',
    'Failed TLS handshakes (no or untrusted client certificate, timeout, ...), by OpenSSL or Node code',
    ['reason'],
  );
  const serverErrorLog = rateLimited(10_000);

  const sockets = new Set<Socket>();
  const droppedSockets = new WeakSet<Socket>();
  let closing = false;

  /** Counts a new TCP connection, or destroys it when closing or at `maxConnections`. */
  function admit(raw: Socket, listener: ListenerName): boolean {
    if (closing || sockets.size >= options.maxConnections) {
      droppedSockets.add(raw);
      if (!closing) dropped.inc({ listener });
      raw.destroy();
      return false;
    }
    raw.setNoDelay(true);
    sockets.add(raw);
    connections.inc({ listener });
    raw.once('close', () => {
      sockets.delete(raw);
      connections.dec({ listener });
    });
    return true;
  }

  const servers: Array<{ listener: ListenerName; server: NetServer; port: number }> = [];

  if (options.tcpPort !== null) {
    const server = createNetServer({ noDelay: true });
    server.on('connection', (raw: Socket) => {
      if (admit(raw, 'tcp')) onStream(raw, { listener: 'tcp' });
    });
    servers.push({ listener: 'tcp', server, port: options.tcpPort });
  }

  let tlsServer: TlsServer | null = null;
  if (config.tlsCertFile && config.tlsKeyFile) {
    const files = readTlsFiles(config);
    const server = createTlsServer({
      ...files,
      minVersion: 'TLSv1.2',
      requestCert: config.tlsClientCerts !== 'off',
      rejectUnauthorized: config.tlsClientCerts === 'required',
      handshakeTimeout: options.handshakeTimeoutMs,
      noDelay: true,
    });
    server.prependListener('connection', (raw: Socket) => void admit(raw, 'tls'));
    server.on('secureConnection', (socket: TLSSocket) => {
      if (closing) {
        socket.destroy();
        return;
      }
      onStream(socket, { listener: 'tls' });
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      // A connection dropped on accept also ends here (ECONNRESET): it was counted as dropped already.
      if (droppedSockets.has((socket as unknown as { _parent?: Socket })._parent as Socket)) return;
      // An untrusted client certificate is refused by Node after the handshake: the reason is authorizationError.
      const reason = String(socket.authorizationError ?? err.code ?? 'unknown');
      tlsFailures.inc({ reason });
      log.debug({ reason, err: err.message, remoteAddress: socket.remoteAddress }, 'TLS handshake failed');
    });
    tlsServer = server;
    servers.push({ listener: 'tls', server, port: config.tlsPort });
  }

  let wsServer: WebSocketServer | null = null;
  if (config.wsPort !== undefined) {
    const path = config.wsPath;
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxWsMessageBytes,
      // MQTT 3.1.1 §6: the client offers `mqtt` (mqtt.js: `mqttv3.1` for protocol 3). A client offering none is
      // served too (command-line tools); one offering only others gets no protocol and closes.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
    });
    const server: HttpServer = createHttpServer({ noDelay: true });
    server.headersTimeout = options.handshakeTimeoutMs;
    server.requestTimeout = options.handshakeTimeoutMs;
    server.prependListener('connection', (raw: Socket) => void admit(raw, 'ws'));
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close', upgrade: 'websocket' });
      res.end(`MQTT over WebSocket only: ws://<host>:<port>${path}, subprotocol mqtt\n`);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {});
      const pathname = (req.url ?? '').split('?')[0];
      if (closing || pathname !== path) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (websocket) => {
        const stream = createWebSocketStream(websocket);
        // createWebSocketStream turns the WebSocket's error into the stream's, which aedes handles.
        websocket.on('error', () => {});
        onStream(stream, { listener: 'ws', request: req });
      });
    });
    wsServer = wss;
    servers.push({ listener: 'ws', server, port: config.wsPort });
  }

  return {
    async listen() {
      const ports: ListenerPorts = { tcp: null, tls: null, ws: null };
      try {
        for (const entry of servers) {
          const port = await bind(entry.server, entry.port, host);
          // Accept errors (EMFILE, ENFILE) must not crash the process: counted, logged, the server keeps going.
          entry.server.on('error', (err: NodeJS.ErrnoException) => {
            serverErrors.inc({ listener: entry.listener, code: err.code ?? 'unknown' });
            serverErrorLog(() => log.error({ err, listener: entry.listener }, 'MQTT listener error'));
          });
          (ports as { -readonly [K in ListenerName]: number | null })[entry.listener] = port;
        }
      } catch (err) {
        await closeServers();
        throw err;
      }
      log.info(ports, 'MQTT listeners bound');
      return ports;
    },
    reloadTls() {
      if (!tlsServer) return;
      tlsServer.setSecureContext({ ...readTlsFiles(config), minVersion: 'TLSv1.2' });
      log.info({ certFile: config.tlsCertFile }, 'TLS certificate reloaded');
    },
    async close() {
      closing = true;
      await closeServers();
    },
  };

  async function closeServers(): Promise<void> {
    const closed = servers
      .filter((s) => s.server.listening)
      .map((s) => new Promise<void>((resolve) => s.server.close(() => resolve())));
    wsServer?.close();
    for (const socket of sockets) socket.destroy();
    await Promise.all(closed);
  }

  function readTlsFiles(c: ListenersConfig): TlsFiles {
    const files: TlsFiles = {
      cert: readPem('tlsCertFile', c.tlsCertFile as string),
      key: readPem('tlsKeyFile', c.tlsKeyFile as string),
      ca: c.tlsCaFile ? readPem('tlsCaFile', c.tlsCaFile) : undefined,
    };
    try {
      createSecureContext({ ...files, minVersion: 'TLSv1.2' });
    } catch (err) {
      throw new AppError(
        'ERR_CONFIG_INVALID',
        `invalid TLS files: ${(err as Error).message} (tlsCertFile: a PEM certificate and its chain, ` +
          'tlsKeyFile: its unencrypted private key, tlsCaFile: PEM CA certificates)',
        { cause: err },
      );
    }
    const validToMs = Date.parse(new X509Certificate(files.cert).validTo);
    if (validToMs < Date.now())
      log.warn({ certFile: c.tlsCertFile, validTo: new Date(validToMs) }, 'TLS certificate expired');
    return files;
  }
}

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new AppError(
      'ERR_CONFIG_INVALID',
      `ingest.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (a readable PEM file)`,
      { cause: err },
    );
  }
}

function bind(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * The device id of a connection from its client certificate: the subject CN of a certificate the TLS listener
 * verified against `tlsCaFile`. Null for a plain TCP or WebSocket stream, no or an unverified certificate, no or
 * several CNs, or a CN that is not a valid device id.
 */
export function certificateIdentity(stream: unknown): string | null {
  if (!(stream instanceof TLSSocket) || !stream.authorized) return null;
  const cn = stream.getPeerCertificate()?.subject?.CN;
  if (typeof cn !== 'string') return null;
  return DeviceId.safeParse(cn).success ? cn : null;
}

/** How a connection logs in given its certificate identity: by certificate, refused, or by password (no identity). */
export type CertificateLogin =
  | { readonly outcome: 'password' }
  | { readonly outcome: 'certificate'; readonly deviceId: string }
  | { readonly outcome: 'refused'; readonly reason: 'certificate_mismatch'; readonly message: string };

/**
 * The login rule of client certificates: a verified certificate names the device, and the MQTT username must then be
 * empty or that same id (the password is not needed); another username is another device's: refused (CONNACK 5,
 * not authorized). Without an identity the connection logs in with username and password as before.
 */
export function certificateLogin(identity: string | null, username: string | undefined): CertificateLogin {
  if (identity === null) return { outcome: 'password' };
  if (username === undefined || username === '' || username === identity) {
    return { outcome: 'certificate', deviceId: identity };
  }
  return {
    outcome: 'refused',
    reason: 'certificate_mismatch',
    message: `connection refused: username ${username.slice(0, 64)} with the certificate of ${identity} (empty or ${identity})`,
  };
}

/**
 * Gates aedes' reads of one connection's stream (a `net.Socket`, `tls.TLSSocket` or WebSocket duplex): a `readable`
 * event while `isHeld()` is true reads nothing, so the stream's buffer fills and TCP pushes back on the client; the
 * held packet's completion reads what arrived meanwhile (aedes calls its `_nextBatch` when a packet is done).
 * Returns false, gating nothing, when aedes' internals changed.
 */
export function gateReads(client: Client, stream: Duplex, isHeld: () => boolean): boolean {
  const nextBatch = (client as unknown as { _nextBatch?: unknown })._nextBatch;
  if (typeof nextBatch !== 'function' || !stream.listeners('readable').includes(nextBatch as () => void)) return false;
  stream.removeListener('readable', nextBatch as () => void);
  stream.on('readable', () => {
    if (!isHeld()) (nextBatch as () => void)();
  });
  return true;
}
