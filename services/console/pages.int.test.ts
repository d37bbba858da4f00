import { describe, expect, it, onTestFinished } from 'vitest';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { httpConfigSchema, httpMigrations, startHttp } from '../http/index.ts';
import { consoleConfigSchema } from './config.ts';
import { consolePages, contentSecurityPolicy, tileOrigin } from './pages.ts';

const defaults = consoleConfigSchema.parse({});
const MAP = {
  tileUrl: 'https://{s}.tile.example.org/{z}/{x}/{y}.png',
  tileAttribution: '© Example',
  center: defaults.mapCenter,
  zoom: defaults.mapZoom,
};

async function serve(map = MAP) {
  const store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations]);
  onTestFinished(() => store.close());
  const http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics: new Metrics(),
    plugins: [
      consolePages({
        map,
        refreshIntervalMs: 5000,
        timeZone: 'Europe/Paris',
        photoMaxBytes: 1234,
        logger: silentLogger(),
      }),
    ],
  });
  onTestFinished(() => http.close());
  return http.url;
}

describe('console pages', () => {
  it('takes the tile server’s origin, subdomains as a wildcard, for the CSP', () => {
    expect(tileOrigin('https://{s}.tile.example.org/{z}/{x}/{y}.png')).toBe('https://*.tile.example.org');
    expect(tileOrigin('http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png')).toBe('http://127.0.0.1:8081');
    expect(tileOrigin('')).toBeNull();
    expect(contentSecurityPolicy({ ...MAP, tileUrl: '' })).toContain("img-src 'self' data: blob:;");
    expect(contentSecurityPolicy(MAP)).toContain("img-src 'self' data: blob: https://*.tile.example.org;");
  });

  it('serves every page in French with a strict CSP, its settings as JSON, and its hashed assets', async () => {
    const url = await serve();
    for (const path of ['/', '/signaler', '/mon-compteur', '/console']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self';");
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      const html = await response.text();
      expect(html).toContain('<html lang="fr">');
      // No inline script: only module scripts from /assets and the JSON settings block.
      expect(html.match(/<script(?![^>]*(src="\/assets\/|type="application\/json"))/g)).toBeNull();
      for (const [, asset] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
        const a = await fetch(`${url}${asset}`);
        expect(a.status, asset).toBe(200);
        expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
        const again = await fetch(`${url}${asset}`, { headers: { 'if-none-match': a.headers.get('etag') as string } });
        expect(again.status).toBe(304);
      }
    }
    const report = await (await fetch(`${url}/signaler`)).text();
    const settings = JSON.parse(
      /<script type="application\/json" id="vigie-config">(.*)<\/script>/.exec(report)?.[1] ?? '',
    );
    expect(settings).toEqual({ timeZone: 'Europe/Paris', photoMaxBytes: 1234 });
    expect((await fetch(`${url}/assets/nope.js`)).status).toBe(404);
    // Scripts travel gzipped to a browser that accepts it (fetch does, and unzips), as they are to one that does not.
    const console = await (await fetch(`${url}/console`)).text();
    const script = /src="(\/assets\/console-[^"]+)"/.exec(console)?.[1] as string;
    const zipped = await fetch(`${url}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('vary')).toBe('accept-encoding');
    const plain = await fetch(`${url}${script}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await zipped.text()).toBe(await plain.text());
  });

  it('escapes the settings so a tile attribution cannot close the JSON block', async () => {
    const url = await serve({ ...MAP, tileAttribution: '</script><script>alert(1)</script>' });
    const html = await (await fetch(`${url}/console`)).text();
    expect(html).not.toContain('</script><script>alert(1)');
    const settings = JSON.parse(/id="vigie-config">(.*)<\/script>/.exec(html)?.[1] ?? '');
    expect(settings.map.tileAttribution).toBe('</script><script>alert(1)</script>');
  });
});
