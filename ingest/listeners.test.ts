import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { certificateIdentity, certificateLogin, createListeners, listenersConfigSchema } from './listeners.ts';

const create = (config: Record<string, unknown>) =>
  createListeners({
    config: listenersConfigSchema.parse(config),
    host: '127.0.0.1',
    tcpPort: 0,
    maxConnections: 10,
    handshakeTimeoutMs: 1_000,
    maxWsMessageBytes: 65_536,
    onStream: () => {},
    metrics: new Metrics(),
    logger: silentLogger(),
  });

describe('listeners', () => {
  it('applies the defaults when nothing is configured: no TLS, no WebSocket', () => {
    expect(listenersConfigSchema.parse({})).toEqual({ tlsPort: 8883, tlsClientCerts: 'off', wsPath: '/mqtt' });
  });

  it('rejects a configuration naming the missing key when client certificates lack a CA or a certificate', () => {
    const result = listenersConfigSchema.safeParse({ tlsClientCerts: 'required', tlsKeyFile: '/k.pem' });
    expect(result.success).toBe(false);
    const issues = result.error?.issues.map((i) => [i.path.join('.'), i.message]) ?? [];
    expect(issues).toEqual([
      ['tlsCertFile', 'tlsCertFile is required with tlsKeyFile'],
      ['tlsCaFile', 'tlsCaFile is required when tlsClientCerts is required (the CA that signs device certificates)'],
      ['tlsCertFile', 'tlsCertFile and tlsKeyFile are required when tlsClientCerts is required'],
    ]);
  });

  it('rejects a bad value naming its key when a port, a mode or a path is invalid', () => {
    const result = listenersConfigSchema.safeParse({
      tlsPort: 70_000,
      tlsClientCerts: 'yes',
      wsPath: 'mqtt',
      extra: 1,
    });
    expect(result.error?.issues.map((i) => i.path.join('.') || i.code).sort()).toEqual([
      'tlsClientCerts',
      'tlsPort',
      'unrecognized_keys',
      'wsPath',
    ]);
  });

  it('refuses the same port for TLS and WebSocket when both are on', () => {
    const result = listenersConfigSchema.safeParse({
      tlsCertFile: '/c.pem',
      tlsKeyFile: '/k.pem',
      tlsPort: 8883,
      wsPort: 8883,
    });
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['wsPort']);
  });

  it.each([
    ['no identity: password login', null, 'WM-A', { outcome: 'password' }],
    ['identity, no username', 'WM-A', undefined, { outcome: 'certificate', deviceId: 'WM-A' }],
    ['identity, empty username', 'WM-A', '', { outcome: 'certificate', deviceId: 'WM-A' }],
    ['identity, same username', 'WM-A', 'WM-A', { outcome: 'certificate', deviceId: 'WM-A' }],
  ] as const)('logs in by %s', (_name, identity, username, expected) => {
    expect(certificateLogin(identity, username)).toEqual(expected);
  });

  it("refuses the login when the username is another device's than the certificate's", () => {
    expect(certificateLogin('WM-A', 'WM-B')).toMatchObject({ outcome: 'refused', reason: 'certificate_mismatch' });
  });

  it('has no certificate identity when the stream is not TLS', () => {
    expect(certificateIdentity(new Socket())).toBeNull();
    expect(certificateIdentity(null)).toBeNull();
  });

  it('fails with ERR_CONFIG_INVALID naming the key when a TLS file cannot be read', () => {
    expect(() => create({ tlsCertFile: '/nonexistent/cert.pem', tlsKeyFile: '/nonexistent/key.pem' })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('ingest.tlsCertFile') }),
    );
  });

  it('fails with ERR_CONFIG_INVALID when a TLS file is not PEM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigie-tls-unit-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'cert.pem'), 'not a certificate');
    await writeFile(join(dir, 'key.pem'), 'not a key');
    expect(() => create({ tlsCertFile: join(dir, 'cert.pem'), tlsKeyFile: join(dir, 'key.pem') })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('invalid TLS files') }),
    );
  });
});
