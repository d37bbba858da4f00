/**
 * A throw-away public-key infrastructure for TLS tests, made with Debian's openssl (3.x) in a temp folder: a CA,
 * the server's certificate (and a renewal), and device client certificates whose CN is the device id.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files made with Debian's openssl in the test: a CA, the server's certificate and devices' certificates. */
export interface Pki {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A renewal of the server's certificate (another key, same CA and name). */
  renewedCertFile: string;
  renewedKeyFile: string;
  /** Certificate and key of a device, by CN: WM-A and WM-B signed by the CA, ROGUE-B (CN WM-B) by another CA. */
  device(name: 'WM-A' | 'WM-B' | 'ROGUE-B'): { cert: string; key: string; certFile: string; keyFile: string };
}

export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'vigie-tls-'));
  const f = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'];
  const ca = async (name: string, cn: string) =>
    run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
      '-subj',
      `/CN=${cn}`,
    ]);
  const leaf = async (name: string, cn: string, caName: string, usage: string, san?: string) =>
    run('openssl', [
      ...['req', '-x509', '-CA', f(`${caName}.pem`), '-CAkey', f(`${caName}.key`), ...ec],
      ...['-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-subj', `/CN=${cn}`],
      ...['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', `extendedKeyUsage=${usage}`],
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    ]);
  await Promise.all([ca('ca', 'Vigie test CA'), ca('rogue-ca', 'Another CA')]);
  await Promise.all([
    leaf('server', 'localhost', 'ca', 'serverAuth', 'DNS:localhost,IP:127.0.0.1'),
    leaf('server-renewed', 'localhost', 'ca', 'serverAuth', 'DNS:localhost,IP:127.0.0.1'),
    leaf('WM-A', 'WM-A', 'ca', 'clientAuth'),
    leaf('WM-B', 'WM-B', 'ca', 'clientAuth'),
    leaf('ROGUE-B', 'WM-B', 'rogue-ca', 'clientAuth'),
  ]);
  const devices = new Map<string, { cert: string; key: string; certFile: string; keyFile: string }>();
  for (const name of ['WM-A', 'WM-B', 'ROGUE-B']) {
    devices.set(name, {
      cert: await readFile(f(`${name}.pem`), 'utf8'),
      key: await readFile(f(`${name}.key`), 'utf8'),
      certFile: f(`${name}.pem`),
      keyFile: f(`${name}.key`),
    });
  }
  return {
    dir,
    caFile: f('ca.pem'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
    renewedCertFile: f('server-renewed.pem'),
    renewedKeyFile: f('server-renewed.key'),
    device: (name) => devices.get(name) as { cert: string; key: string; certFile: string; keyFile: string },
  };
}
