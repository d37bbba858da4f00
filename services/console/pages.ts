import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { FastifyReply } from 'fastify';
import { escapeHtml } from '../../core/html.ts';
import type { Logger } from '../../core/logging.ts';
import type { HttpPlugin } from '../http/index.ts';

/**
 * The web pages (issue 7): the citizens' "Signaler un problème" (phone first), "Mon compteur" and "Mon compte"
 * (issue 8), and the operators' console. The browser code is TypeScript in `web/`, bundled by esbuild (tsx's own, already installed) when the
 * server starts — ≈ 0.3 s, kept in memory, no build step — with Leaflet and uPlot from node_modules, so nothing is
 * fetched from another site: the pages work offline, map tiles aside (and the map without them).
 *
 * Every page is served with a strict Content-Security-Policy (scripts, styles, fetches from this origin only;
 * images also from the tile server and `blob:` for a photo's preview), `X-Frame-Options: DENY`, `nosniff` and a
 * same-origin referrer. Assets have content-hashed names and are cached for a year; pages are not cached. A
 * page's settings (time zone, map, photo limit) go in a JSON block the scripts read, never in inline script.
 */

/** What the map shows: a tile server (none: the map without a background, offline), where it opens. */
export interface MapSettings {
  /** A tile URL template (`{z}/{x}/{y}`, `{s}` subdomains); empty: no tiles. */
  readonly tileUrl: string;
  readonly tileAttribution: string;
  readonly center: { readonly lat: number; readonly lon: number };
  readonly zoom: number;
}

/** What the pages need. */
export interface ConsolePagesOptions {
  readonly map: MapSettings;
  /** How often the console refreshes the map, the alerts and the queue. */
  readonly refreshIntervalMs: number;
  /** The city's time zone (VIGIE_TZ): dates and chart axes. */
  readonly timeZone: string;
  /** The largest photo the report form accepts (reports.photoMaxBytes), checked before sending. */
  readonly photoMaxBytes: number;
  readonly logger: Logger;
}

const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));
const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** One bundled file in memory. */
interface Asset {
  readonly body: Buffer;
  /** The body gzipped once at start (text assets), for browsers that accept it: the console's script is 165 → 50 KB. */
  readonly gzipped?: Buffer;
  readonly type: string;
}

const TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
};

/** Bundles the pages' scripts and styles; returns the assets by URL path and each entry's URL. */
async function bundle(): Promise<{ assets: Map<string, Asset>; entries: Record<string, string> }> {
  const result = await build({
    absWorkingDir: ROOT_DIR,
    entryPoints: {
      report: `${WEB_DIR}report.ts`,
      meter: `${WEB_DIR}meter.ts`,
      account: `${WEB_DIR}account.ts`,
      console: `${WEB_DIR}console.ts`,
      styles: `${WEB_DIR}styles.css`,
    },
    bundle: true,
    splitting: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    write: false,
    metafile: true,
    outdir: `${ROOT_DIR}assets-out`,
    publicPath: '/assets',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.png': 'file', '.svg': 'file' },
    logLevel: 'silent',
  });
  const outdir = `${ROOT_DIR}assets-out/`;
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(outdir.length);
    const ext = name.slice(name.lastIndexOf('.') + 1);
    const body = Buffer.from(file.contents);
    const text = ext === 'js' || ext === 'css' || ext === 'svg';
    assets.set(`/assets/${name}`, {
      body,
      ...(text ? { gzipped: gzipSync(body, { level: 9 }) } : {}),
      type: TYPES[ext] ?? 'application/octet-stream',
    });
  }
  const entries: Record<string, string> = {};
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    const entry = output.entryPoint
      ?.split('/')
      .pop()
      ?.replace(/\.(ts|css)$/, '');
    if (entry) entries[entry] = `/assets/${path.slice('assets-out/'.length)}`;
  }
  return { assets, entries };
}

/** The origin(s) of a tile URL template for the CSP's img-src (`{s}` subdomains become a wildcard). */
export function tileOrigin(tileUrl: string): string | null {
  const match = /^(https?):\/\/([^/]+)/.exec(tileUrl);
  if (!match) return null;
  return `${match[1]}://${(match[2] as string).replace(/\{s\}/g, '*')}`;
}

/** The pages' Content-Security-Policy. */
export function contentSecurityPolicy(map: MapSettings): string {
  const tiles = tileOrigin(map.tileUrl);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob:${tiles ? ` ${tiles}` : ''}`,
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** A page: the shell the script fills, with its settings as JSON (`<` escaped, so it cannot close the block). */
function page(options: {
  title: string;
  styles: string;
  script?: string;
  settings?: unknown;
  wide?: boolean;
  body?: string;
  /** The header's links: the citizens' pages, or the console's alone. */
  nav: 'citizen' | 'console';
}): string {
  const settings = JSON.stringify(options.settings ?? {}).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)} · Vigie</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${options.styles}">
${options.script ? `<script type="module" src="${options.script}"></script>` : ''}
</head>
<body>
<header class="top">${options.nav === 'console' ? CONSOLE_NAV : CITIZEN_NAV}<span class="who" id="who"></span></header>
<main id="app"${options.wide ? ' class="wide"' : ''}>${options.body ?? '<p class="muted">Chargement…</p>'}</main>
<noscript><p class="notice notice-error">Cette page a besoin de JavaScript.</p></noscript>
<script type="application/json" id="vigie-config">${settings}</script>
</body>
</html>
`;
}

const CITIZEN_NAV =
  '<a href="/">Mulhouse</a><a href="/signaler">Signaler</a><a href="/mon-compteur">Mon compteur</a><a href="/mon-compte">Mon compte</a>';
const CONSOLE_NAV = '<a href="/console">Vigie · Console</a>';

const HOME = `<h1>Services de la ville</h1>
<div class="card"><h2><a href="/signaler">Signaler un problème</a></h2><p>Un nid-de-poule, un dépôt sauvage, un lampadaire éteint : envoyez une photo et le lieu, suivez le traitement par SMS ou e-mail.</p></div>
<div class="card"><h2><a href="/mon-compteur">Mon compteur d’eau</a></h2><p>Votre consommation jour par jour, l’historique des fuites détectées et vos alertes SMS ou e-mail.</p></div>
<div class="card"><h2><a href="/mon-compte">Mon compte</a></h2><p>Votre profil, vos factures de mobilité, vos documents administratifs en coffre-fort et les consultations de la ville.</p></div>
<div class="card"><h2><a href="/console">Console des opérateurs</a></h2><p>Carte des équipements, alertes en cours, signalements à traiter (accès par jeton).</p></div>`;

/** The pages and their assets, as a plugin for the HTTP server (bundles once, when registered). */
export function consolePages(options: ConsolePagesOptions): HttpPlugin {
  return async (app) => {
    const startedMs = Date.now();
    const { assets, entries } = await bundle();
    options.logger.debug({ assets: assets.size, ms: Date.now() - startedMs }, 'web pages bundled');
    const styles = entries.styles as string;
    const csp = contentSecurityPolicy(options.map);
    const common = { timeZone: options.timeZone };
    const pages: Record<string, string> = {
      '/': page({ title: 'Accueil', styles, body: HOME, nav: 'citizen' }),
      '/signaler': page({
        title: 'Signaler un problème',
        styles,
        script: entries.report as string,
        settings: { ...common, photoMaxBytes: options.photoMaxBytes },
        nav: 'citizen',
      }),
      '/mon-compteur': page({
        title: 'Mon compteur',
        styles,
        script: entries.meter as string,
        settings: common,
        nav: 'citizen',
      }),
      '/mon-compte': page({
        title: 'Mon compte',
        styles,
        script: entries.account as string,
        settings: common,
        nav: 'citizen',
      }),
      '/console': page({
        title: 'Console',
        styles,
        script: entries.console as string,
        wide: true,
        settings: { ...common, map: options.map, refreshIntervalMs: options.refreshIntervalMs },
        nav: 'console',
      }),
    };
    const etags = new Map<string, string>();
    for (const [path, asset] of assets) {
      etags.set(path, `"${createHash('sha256').update(asset.body).digest('base64url').slice(0, 22)}"`);
    }

    const secure = (reply: FastifyReply) =>
      reply
        .header('content-security-policy', csp)
        .header('x-frame-options', 'DENY')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'same-origin');

    for (const [path, html] of Object.entries(pages)) {
      app.get(path, { schema: { hide: true } }, async (_request, reply) =>
        secure(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html),
      );
    }
    app.get('/assets/*', { schema: { hide: true } }, async (request, reply) => {
      const path = request.url.split('?')[0] as string;
      const asset = assets.get(path);
      if (!asset) {
        return reply
          .code(404)
          .send({ error: { code: 'ERR_HTTP_NOT_FOUND', message: `asset: ${path} (no such file)` } });
      }
      const etag = etags.get(path) as string;
      secure(reply).header('cache-control', 'public, max-age=31536000, immutable').header('etag', etag);
      if (asset.gzipped) reply.header('vary', 'accept-encoding');
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      if (asset.gzipped && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
        return reply.type(asset.type).header('content-encoding', 'gzip').send(asset.gzipped);
      }
      return reply.type(asset.type).send(asset.body);
    });
  };
}
