import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { WebSocket } from 'ws';
import { AppError } from '../core/errors.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { makePki, type Pki } from '../test/helpers/pki.ts';
import {
  certificateIdentity,
  certificateLogin,
  createListeners,
  gateReads,
  type ListenerName,
  listenersConfigSchema,
} from './listeners.ts';

const run = promisify(execFile);

/** Devices logging in with a password (plain TCP, WebSocket, TLS without a client certificate). */
const SECRETS: Record<string, string> = { 'WM-A': 'secret-of-a', 'WM-B': 'secret-of-b', 'WM-C': 'secret-of-c' };
const topicOf = (deviceId: string) => `vigie/v1/water-meter/${deviceId}/telemetry`;

function authError(returnCode: 4 | 5, message: string): AuthenticateError {
  const err = new AppError('ERR_AUTH_REFUSED', message);
  (err as unknown as AuthenticateError).returnCode = returnCode;
  return err as unknown as AuthenticateError;
}

describe('listeners', () => {
  let pki: Pki;
  let ca: string;

  beforeAll(async () => {
    pki = await makePki();
    ca = await readFile(pki.caFile, 'utf8');
  });
  afterAll(async () => {
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  /**
   * A minimal aedes broker on the listeners: its authenticate hook follows certificateLogin, then a password;
   * authorizePublish records who published what, and holds messages while `held.on` (read gate test).
   */
  async function start(config: Record<string, unknown>, options: { maxConnections?: number } = {}) {
    const published: Array<{ deviceId: string | undefined; topic: string; listener: ListenerName }> = [];
    const refusals: string[] = [];
    const identities = new WeakMap<Client, string>();
    const listenerOf = new WeakMap<Client, ListenerName>();
    const held = { on: false, dones: [] as Array<() => void>, calls: 0 };
    const streams: Array<{ stream: Duplex; listener: ListenerName; gated: boolean }> = [];

    const broker = new Aedes({
      authenticate(client, username, password, done) {
        const login = certificateLogin(certificateIdentity(client.conn), username);
        if (login.outcome === 'refused') {
          refusals.push(login.reason);
          return done(authError(5, login.message), false);
        }
        if (login.outcome === 'certificate') {
          identities.set(client, login.deviceId);
          return done(null, true);
        }
        if (username && SECRETS[username] !== undefined && password?.toString('utf8') === SECRETS[username]) {
          identities.set(client, username);
          return done(null, true);
        }
        refusals.push('bad_credentials');
        done(authError(4, 'connection refused: bad credentials'), false);
      },
      authorizePublish(client, packet, done) {
        const deviceId = client ? identities.get(client) : undefined;
        if (!client || packet.topic !== topicOf(deviceId ?? '')) {
          refusals.push('foreign_topic');
          return done(new AppError('ERR_PUBLISH_REFUSED', `publish refused: ${packet.topic}`));
        }
        held.calls++;
        published.push({ deviceId, topic: packet.topic, listener: listenerOf.get(client) ?? 'tcp' });
        if (held.on) held.dones.push(() => done(null));
        else done(null);
      },
    });
    await broker.listen();
    const metrics = new Metrics();
    const listeners = createListeners({
      config: listenersConfigSchema.parse(config),
      host: '127.0.0.1',
      tcpPort: 0,
      maxConnections: options.maxConnections ?? 100,
      handshakeTimeoutMs: 5_000,
      maxWsMessageBytes: 1024 * 1024 + 65_536,
      metrics,
      logger: silentLogger(),
      onStream(stream, info) {
        const client = broker.handle(stream, info.request);
        listenerOf.set(client, info.listener);
        streams.push({
          stream,
          listener: info.listener,
          gated: gateReads(client, stream, () => held.dones.length > 0),
        });
      },
    });
    const ports = await listeners.listen();
    onTestFinished(async () => {
      release();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await listeners.close();
    });
    function release() {
      held.on = false;
      for (const done of held.dones.splice(0)) done();
    }
    return { ports, metrics, published, refusals, held, release, streams, listeners };
  }

  const tlsConfig = (clientCerts: 'off' | 'optional' | 'required') => ({
    tlsPort: 0,
    tlsCertFile: pki.serverCertFile,
    tlsKeyFile: pki.serverKeyFile,
    tlsCaFile: pki.caFile,
    tlsClientCerts: clientCerts,
  });

  async function device(url: string, options: IClientOptions): Promise<MqttClient> {
    // allowRetries false: a connection closed before its CONNACK (a refused handshake) rejects.
    const client = await connectAsync(
      url,
      {
        clientId: `test-${randomUUID().slice(0, 8)}`,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
        ...options,
      },
      false,
    );
    onTestFinished(() => client.endAsync(true));
    return client;
  }
  const withCert = (name: 'WM-A' | 'WM-B' | 'ROGUE-B'): IClientOptions => ({
    ca,
    cert: pki.device(name).cert,
    key: pki.device(name).key,
  });

  it('identifies the device by its certificate CN when it connects over mqtts without a username', async () => {
    const { ports, published, metrics } = await start(tlsConfig('required'));
    const client = await device(`mqtts://127.0.0.1:${ports.tls}`, withCert('WM-A'));
    await client.publishAsync(topicOf('WM-A'), '{"indexL":1}', { qos: 1 });
    expect(published).toEqual([{ deviceId: 'WM-A', topic: topicOf('WM-A'), listener: 'tls' }]);
    expect(await metrics.value('ingest_connections', { listener: 'tls' })).toBe(1);
  });

  it('accepts the username when it equals the certificate CN and no password is given', async () => {
    const { ports, published } = await start(tlsConfig('required'));
    const client = await device(`mqtts://127.0.0.1:${ports.tls}`, { ...withCert('WM-A'), username: 'WM-A' });
    await client.publishAsync(topicOf('WM-A'), '{"indexL":2}', { qos: 1 });
    expect(published.map((p) => p.deviceId)).toEqual(['WM-A']);
  });

  it("refuses with CONNACK 5 (not authorized) when device A's certificate comes with device B's username", async () => {
    const { ports, published, refusals } = await start(tlsConfig('required'));
    const attempt = device(`mqtts://127.0.0.1:${ports.tls}`, {
      ...withCert('WM-A'),
      username: 'WM-B',
      password: SECRETS['WM-B'],
    });
    await expect(attempt).rejects.toMatchObject({ code: 5 });
    expect(refusals).toEqual(['certificate_mismatch']);
    expect(published).toEqual([]);
  });

  it('refuses the handshake when a client certificate is required and none is given', async () => {
    const { ports, published, metrics } = await start(tlsConfig('required'));
    await expect(
      device(`mqtts://127.0.0.1:${ports.tls}`, { ca, username: 'WM-A', password: SECRETS['WM-A'] }),
    ).rejects.toThrow();
    await expect
      .poll(() => metrics.value('ingest_tls_failures_total', { reason: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' }), {
        timeout: 5_000,
      })
      .toBe(1);
    expect(published).toEqual([]);
  });

  it("refuses the handshake when a certificate with device B's CN is signed by another CA", async () => {
    const { ports, published, metrics } = await start(tlsConfig('required'));
    await expect(device(`mqtts://127.0.0.1:${ports.tls}`, withCert('ROGUE-B'))).rejects.toThrow();
    await expect
      .poll(() => metrics.value('ingest_tls_failures_total', { reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), {
        timeout: 5_000,
      })
      .toBe(1);
    expect(published).toEqual([]);
  });

  it('lets a device without a certificate log in with its password when client certificates are optional', async () => {
    const { ports, published } = await start(tlsConfig('optional'));
    const byPassword = await device(`mqtts://127.0.0.1:${ports.tls}`, {
      ca,
      username: 'WM-C',
      password: SECRETS['WM-C'],
    });
    await byPassword.publishAsync(topicOf('WM-C'), '{"indexL":3}', { qos: 1 });
    // An untrusted certificate gives no identity: the device must then log in with a password, and has none here.
    await expect(device(`mqtts://127.0.0.1:${ports.tls}`, withCert('ROGUE-B'))).rejects.toMatchObject({ code: 4 });
    const byCert = await device(`mqtts://127.0.0.1:${ports.tls}`, withCert('WM-B'));
    await byCert.publishAsync(topicOf('WM-B'), '{"indexL":4}', { qos: 1 });
    expect(published.map((p) => p.deviceId)).toEqual(['WM-C', 'WM-B']);
  });

  it('serves TLS without client certificates when they are off', async () => {
    const { ports, published } = await start({ ...tlsConfig('off'), tlsCaFile: undefined });
    const client = await device(`mqtts://127.0.0.1:${ports.tls}`, {
      ...withCert('WM-A'),
      username: 'WM-C',
      password: SECRETS['WM-C'],
    });
    await client.publishAsync(topicOf('WM-C'), '{"indexL":5}', { qos: 1 });
    expect(published.map((p) => p.deviceId)).toEqual(['WM-C']);
  });

  it("accepts Debian's mosquitto_pub over TLS when it presents device B's certificate", async () => {
    const { ports, published } = await start(tlsConfig('required'));
    const b = pki.device('WM-B');
    await run('/usr/bin/mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(ports.tls), '-V', 'mqttv311', '-q', '1', '-i', `mosq-${randomUUID()}`],
      ...['--cafile', pki.caFile, '--cert', b.certFile, '--key', b.keyFile],
      ...['-t', topicOf('WM-B'), '-m', '{"indexL":6}'],
    ]);
    expect(published).toEqual([{ deviceId: 'WM-B', topic: topicOf('WM-B'), listener: 'tls' }]);
    await expect(
      run('/usr/bin/mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(ports.tls), '-V', 'mqttv311', '-q', '1', '-u', 'WM-A'],
        ...['--cafile', pki.caFile, '--cert', b.certFile, '--key', b.keyFile],
        ...['-t', topicOf('WM-A'), '-m', '{"indexL":7}'],
      ]),
    ).rejects.toThrow();
    expect(published).toHaveLength(1);
  });

  it('delivers a publish over WebSocket when a tool connects to ws://host:port/mqtt', async () => {
    const { ports, published, streams } = await start({ wsPort: 0 });
    const client = await device(`ws://127.0.0.1:${ports.ws}/mqtt`, { username: 'WM-A', password: SECRETS['WM-A'] });
    await client.publishAsync(topicOf('WM-A'), '{"indexL":8}', { qos: 1 });
    expect(published).toEqual([{ deviceId: 'WM-A', topic: topicOf('WM-A'), listener: 'ws' }]);
    expect(streams.map((s) => [s.listener, s.gated])).toEqual([['ws', true]]);
    // Another path is not MQTT.
    const other = new WebSocket(`ws://127.0.0.1:${ports.ws}/other`, 'mqtt');
    const status = await new Promise<number | undefined>((resolve) => {
      other.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      other.on('error', () => resolve(undefined));
    });
    expect(status).toBe(404);
  });

  it('keeps serving plain TCP next to TLS and WebSocket when all three are on', async () => {
    const { ports, published, streams } = await start({ ...tlsConfig('required'), wsPort: 0 });
    expect(new Set([ports.tcp, ports.tls, ports.ws]).size).toBe(3);
    const tcp = await device(`mqtt://127.0.0.1:${ports.tcp}`, { username: 'WM-C', password: SECRETS['WM-C'] });
    await tcp.publishAsync(topicOf('WM-C'), '{"indexL":9}', { qos: 1 });
    expect(published).toEqual([{ deviceId: 'WM-C', topic: topicOf('WM-C'), listener: 'tcp' }]);
    expect(streams.map((s) => [s.listener, s.gated])).toEqual([['tcp', true]]);
  });

  it('drops and counts a connection beyond maxConnections, whichever listener it comes to', async () => {
    const { ports, metrics, published } = await start({ ...tlsConfig('required'), wsPort: 0 }, { maxConnections: 2 });
    const a = await device(`mqtts://127.0.0.1:${ports.tls}`, withCert('WM-A'));
    const c = await device(`ws://127.0.0.1:${ports.ws}/mqtt`, { username: 'WM-C', password: SECRETS['WM-C'] });
    const closed = (socket: {
      once(event: 'close', fn: () => void): unknown;
      on(e: 'error', f: () => void): unknown;
    }) =>
      new Promise<void>((resolve) => {
        socket.on('error', () => {});
        socket.once('close', () => resolve());
      });
    await closed(createConnection({ host: '127.0.0.1', port: ports.tcp as number }));
    await closed(tlsConnect({ host: '127.0.0.1', port: ports.tls as number, ca }));
    await closed(createConnection({ host: '127.0.0.1', port: ports.ws as number }));
    for (const listener of ['tcp', 'tls', 'ws']) {
      expect(await metrics.value('ingest_connections_dropped_total', { listener })).toBe(1);
    }
    expect(await metrics.value('ingest_tls_failures_total')).toBe(0);
    await a.publishAsync(topicOf('WM-A'), '{"indexL":10}', { qos: 1 });
    await c.publishAsync(topicOf('WM-C'), '{"indexL":11}', { qos: 1 });
    expect(published.map((p) => p.deviceId)).toEqual(['WM-A', 'WM-C']);
    expect(await metrics.value('ingest_connections')).toBe(2);
  });

  for (const listener of ['tls', 'ws'] as const) {
    it(`pushes back on the client over ${listener} when a held message gates the reads`, async () => {
      const broker = await start({ ...tlsConfig('required'), wsPort: 0 });
      const client =
        listener === 'tls'
          ? await device(`mqtts://127.0.0.1:${broker.ports.tls}`, withCert('WM-A'))
          : await device(`ws://127.0.0.1:${broker.ports.ws}/mqtt`, { username: 'WM-A', password: SECRETS['WM-A'] });
      const server = broker.streams[0] as { stream: Duplex; gated: boolean };
      expect(server.gated).toBe(true);
      broker.held.on = true;
      // 1. One message alone is held (as a device's QoS 1 message waits for the bus).
      client.publish(topicOf('WM-A'), 'first', { qos: 0 });
      await expect.poll(() => broker.held.calls, { timeout: 5_000 }).toBe(1);
      // 2. 16 MiB more: beyond the kernel's socket buffers on loopback (4 MiB send + a window not read).
      const count = 8_000;
      const payload = Buffer.alloc(2_048, 'x');
      for (let i = 0; i < count; i++) client.publish(topicOf('WM-A'), payload, { qos: 0 });
      const unsent = () => (client.stream as Duplex).writableLength;
      // Wait until the client cannot send any more: its unsent bytes stop changing.
      let last = -1;
      await expect
        .poll(
          () => {
            const now = unsent();
            const stable = now === last;
            last = now;
            return stable;
          },
          { timeout: 30_000, interval: 250 },
        )
        .toBe(true);
      expect(unsent()).toBeGreaterThan(4 * 1024 * 1024);
      // Nothing more was read while the first message was held (ungated, aedes reads a batch per `readable`
      // event), and the server's stream buffer stays bounded: TCP pushed back on the client.
      expect(broker.held.calls).toBe(1);
      expect(server.stream.readableLength).toBeLessThanOrEqual(256 * 1024);
      // 3. Released: everything arrives.
      broker.release();
      await expect.poll(() => broker.held.calls, { timeout: 30_000 }).toBe(count + 1);
    });
  }

  it('stops accepting and closes open connections when closed', async () => {
    const { ports, listeners, metrics } = await start({ ...tlsConfig('required'), wsPort: 0 });
    const a = await device(`mqtts://127.0.0.1:${ports.tls}`, withCert('WM-A'));
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    await listeners.close();
    await closed;
    expect(await metrics.value('ingest_connections')).toBe(0);
    await expect(
      device(`mqtt://127.0.0.1:${ports.tcp}`, { username: 'WM-C', password: SECRETS['WM-C'] }),
    ).rejects.toThrow();
  });

  it('serves a renewed certificate to new connections when reloadTls is called', async () => {
    const certFile = join(pki.dir, 'reload.pem');
    const keyFile = join(pki.dir, 'reload.key');
    await writeFile(certFile, await readFile(pki.serverCertFile));
    await writeFile(keyFile, await readFile(pki.serverKeyFile));
    const { ports, listeners } = await start({ ...tlsConfig('required'), tlsCertFile: certFile, tlsKeyFile: keyFile });
    const before = await certificateSerial(ports.tls as number);
    // The files are replaced in place, as a renewal does.
    await writeFile(certFile, await readFile(pki.renewedCertFile));
    await writeFile(keyFile, await readFile(pki.renewedKeyFile));
    listeners.reloadTls();
    expect(await certificateSerial(ports.tls as number)).not.toBe(before);
  });

  async function certificateSerial(port: number): Promise<string> {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      cert: pki.device('WM-A').cert,
      key: pki.device('WM-A').key,
    });
    onTestFinished(() => {
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const serial = socket.getPeerCertificate().serialNumber;
    socket.destroy();
    return serial;
  }
});
