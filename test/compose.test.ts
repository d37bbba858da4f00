import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCommandArgs } from '../cli/command.ts';
import { COMMANDS } from '../cli/commands/index.ts';
import { ENV_BINDINGS, loadConfig } from '../cli/config.ts';
import { DASHBOARDS_DIR, generateDashboards } from '../dashboards/generate.ts';

/**
 * docker-compose.yml, checked without a Docker engine (none runs on this machine kind): the YAML parses, third-party
 * images are pinned, every Vigie service's environment passes Vigie's configuration loader, its commands and options
 * exist, ports, mounts, dependencies and the InfluxDB credentials agree across services.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COMPOSE_TEXT = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: string[];
  volumes?: string[];
  healthcheck?: unknown;
  depends_on?: string[] | Record<string, { condition?: string; required?: boolean }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(COMPOSE_TEXT, { merge: true }) as Compose;
const services = Object.entries(compose.services);

/**
 * Host ports published, by service: 1883 MQTT and 8080 HTTP API (all-in-one `vigie`, or `ingest` and `serve`, never
 * both at once: `--scale vigie=0`), 8086 InfluxDB, 3000 Grafana — the README's table of ports says the same (tested).
 */
const EXPECTED_PUBLISHED_PORTS: Record<string, string[]> = {
  vigie: ['1883:1883', '8080:8080'],
  ingest: ['1883:1883'],
  serve: ['8080:8080'],
  influxdb: ['8086:8086'],
  grafana: ['3000:3000'],
};

/** Replaces `${X:-default}` / `${X-default}` by the default, `${X}` by '' and `$$` by `$`, as compose does unset. */
function substitute(value: string): string {
  return value
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_m, _name: string, fallback?: string) => fallback ?? '')
    .replaceAll('$$', '$');
}

/** Names of the variables the file interpolates (`${X…}`). */
function interpolatedNames(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? ''));
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((line) => {
        const i = line.indexOf('=');
        return [line.slice(0, i), line.slice(i + 1)] as const;
      })
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)] as const);
  return Object.fromEntries(entries.map(([k, v]) => [k, substitute(v)]));
}

function isVigie(service: Service): boolean {
  return service.build !== undefined || substitute(service.image ?? '').startsWith('vigie:');
}

const vigieServices = services.filter(([, s]) => isVigie(s));
const thirdParty = services.filter(([, s]) => !isVigie(s));

/** Every `vigie <command> args…` a service runs: the exec form, or each `node bin/vigie.mjs …` of a `sh -c` line. */
function vigieInvocations(service: Service): string[][] {
  const command = service.command;
  if (command === undefined) return [];
  const script = Array.isArray(command)
    ? command[0] === 'sh' && command[1] === '-c'
      ? (command[2] ?? '')
      : command.join(' ')
    : command;
  const tokens = substitute(script).split(/\s+/).filter(Boolean);
  const segments: string[][] = [[]];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (['|', '&&', '||', ';'].includes(token)) segments.push([]);
    else if (token === '>' || token === '2>') i++;
    else segments[segments.length - 1]?.push(token.replace(/^"(.*)"$/, '$1'));
  }
  return segments
    .map((s) => (s[0] === 'exec' ? s.slice(1) : s))
    .filter((s) => s[0] === 'node' && s[1] === 'bin/vigie.mjs')
    .map((s) => s.slice(2));
}

function dependencies(service: Service): Array<[string, string | undefined]> {
  const deps = service.depends_on ?? [];
  return Array.isArray(deps)
    ? deps.map((d) => [d, undefined])
    : Object.entries(deps).map(([d, spec]) => [d, spec.condition]);
}

function hostPath(volume: string): { host: string; container: string } | undefined {
  const [host, container] = volume.split(':');
  if (!host || !container || !(host.startsWith('./') || host.startsWith('/'))) return undefined;
  return { host: resolve(ROOT, host), container };
}

describe('docker-compose.yml', () => {
  it('parses, with Vigie services and third-party services when read as YAML', () => {
    expect(vigieServices.map(([n]) => n).sort()).toEqual([
      'alert',
      'ingest',
      'process',
      'serve',
      'simulate',
      'sink',
      'vigie',
    ]);
    expect(thirdParty.map(([n]) => n).sort()).toEqual(['grafana', 'influxdb', 'kafka', 'postgres']);
  });

  it.each(thirdParty)('pins the image of %s to an explicit version', (_name, service) => {
    const image = service.image ?? '';
    expect(image).not.toMatch(/\$\{/);
    expect(image, 'a third-party image needs a tag of at least major.minor (or a digest), never latest').toMatch(
      /^[a-z0-9./_-]+(:\d+\.\d+(\.\d+)?([-.][A-Za-z0-9.]+)?|@sha256:[0-9a-f]{64})$/,
    );
  });

  it('tags the image Vigie builds through a variable, the same for every Vigie service', () => {
    const images = new Set(vigieServices.map(([, s]) => s.image));
    expect([...images]).toEqual([`vigie:\${IMAGE_TAG:-local}`]);
    for (const [name, s] of vigieServices) expect(s.build, `${name} builds the image`).toBe('.');
  });

  it.each(vigieServices)('gives %s an environment the configuration loader accepts', (name, service) => {
    const env = environmentOf(service);
    const bound = new Set(ENV_BINDINGS.map((b) => b.variable));
    for (const variable of Object.keys(env)) {
      if (/^(VIGIE_|TWILIO_)/.test(variable) || variable === 'DATABASE_URL' || variable === 'SMTP_URL') {
        expect(bound.has(variable), `${name}: ${variable} is not a variable Vigie reads (cli/config.ts)`).toBe(true);
      }
    }
    // Throws ERR_CONFIG_INVALID naming every bad or unknown variable.
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('refuses a compose environment holding an unknown VIGIE_ variable when loaded (the check above bites)', () => {
    const env = environmentOf({ environment: { VIGIE_INFLUX_BUCKT: `\${INFLUX_BUCKET:-telemetry}` } });
    expect(() => loadConfig(env)).toThrow(/VIGIE_INFLUX_BUCKT: unknown variable/);
  });

  it.each(vigieServices)('runs in %s only vigie commands and options that exist', (name, service) => {
    const invocations = vigieInvocations(service);
    expect(invocations.length, `${name} runs no vigie command`).toBeGreaterThan(0);
    for (const [commandName, ...args] of invocations) {
      const command = COMMANDS.find((c) => c.name === commandName);
      expect(command, `${name}: vigie ${commandName} is not a command (cli/commands/index.ts)`).toBeDefined();
      if (command) expect(() => parseCommandArgs(command, args), `${name}: vigie ${commandName}`).not.toThrow();
    }
  });

  it('gives every Kafka stage the brokers, and the sink InfluxDB, where compose runs them', () => {
    const stages = ['ingest', 'process', 'alert', 'sink'];
    const kafka = environmentOf(compose.services.kafka ?? {});
    for (const stage of stages) {
      const service = compose.services[stage] ?? {};
      const env = environmentOf(service);
      const config = loadConfig(env);
      expect(config.kafka.brokers, `${stage}: VIGIE_KAFKA_BROKERS`).toEqual(['kafka:9092']);
      expect(kafka.KAFKA_ADVERTISED_LISTENERS).toContain(`PLAINTEXT://${config.kafka.brokers?.[0]}`);
      expect(config.databaseUrl, `${stage}: DATABASE_URL`).toMatch(/@postgres:5432\//);
    }
    expect(compose.services.process?.profiles).toEqual(['distributed']);
    expect((compose.services.process as { deploy?: { replicas?: number } }).deploy?.replicas).toBe(2);
  });

  it('writes to InfluxDB with the org, bucket and token it was initialised with, and Grafana reads them', () => {
    const influx = environmentOf(compose.services.influxdb ?? {});
    const grafana = environmentOf(compose.services.grafana ?? {});
    for (const name of ['vigie', 'sink']) {
      const config = loadConfig(environmentOf(compose.services[name] ?? {}));
      expect(config.influx.url, name).toBe('http://influxdb:8086');
      expect(config.influx.org, name).toBe(influx.DOCKER_INFLUXDB_INIT_ORG);
      expect(config.influx.bucket, name).toBe(influx.DOCKER_INFLUXDB_INIT_BUCKET);
      expect(String(config.influx.token), name).toBe(influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
    }
    expect(grafana).toMatchObject({
      INFLUX_ORG: influx.DOCKER_INFLUXDB_INIT_ORG,
      INFLUX_BUCKET: influx.DOCKER_INFLUXDB_INIT_BUCKET,
      INFLUX_TOKEN: influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN,
    });
    // Every $VARIABLE the datasource provisioning expands is in Grafana's environment.
    const datasource = readFileSync(join(ROOT, 'grafana/provisioning/datasources/influxdb.yaml'), 'utf8');
    const expanded = [...datasource.matchAll(/^[^#\n]*\$\{?([A-Z_][A-Z0-9_]*)/gm)].map((m) => m[1] ?? '');
    expect(expanded.sort()).toEqual(['INFLUX_BUCKET', 'INFLUX_ORG', 'INFLUX_TOKEN']);
    for (const variable of expanded) expect(grafana[variable], variable).toBeTruthy();
  });

  it('publishes the expected host ports, MQTT on the port the stage listens on', () => {
    const published = Object.fromEntries(
      services.filter(([, s]) => s.ports && s.ports.length > 0).map(([n, s]) => [n, (s.ports ?? []).map(substitute)]),
    );
    expect(published).toEqual(EXPECTED_PUBLISHED_PORTS);
    for (const name of ['vigie', 'ingest']) {
      const mqttPort = loadConfig(environmentOf(compose.services[name] ?? {})).ingest.mqttPort;
      expect(published[name]?.[0]).toEqual(`${mqttPort}:${mqttPort}`);
    }
    for (const name of ['vigie', 'serve']) {
      const httpPort = loadConfig(environmentOf(compose.services[name] ?? {})).http.port;
      expect(published[name]).toContain(`${httpPort}:${httpPort}`);
    }
  });

  it('publishes exactly the host ports the README’s table of ports lists', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Deploying with Docker Compose'));
    const rows = [...section.matchAll(/^\| (\d+) +\| (.+?) +\|$/gm)].map((m) => ({ port: m[1]!, what: m[2]! }));
    expect(rows.length, 'README: a table of ports under "Deploying with Docker Compose"').toBeGreaterThan(0);
    const documented = rows.filter((r) => !/not published/.test(r.what)).map((r) => r.port);
    const published = services.flatMap(([, s]) => (s.ports ?? []).map((p) => substitute(p).split(':')[0]!));
    expect(new Set(documented)).toEqual(new Set(published));
  });

  it('gives every long-running service a health check, on the port the stage serves', () => {
    for (const [name, service] of services) {
      if (name !== 'simulate') expect(service.healthcheck, `${name} has no healthcheck`).toBeDefined();
    }
    const testOf = (name: string) =>
      JSON.stringify(((compose.services[name]?.healthcheck ?? {}) as { test?: unknown }).test);
    for (const name of ['vigie', 'ingest']) {
      const mqttPort = loadConfig(environmentOf(compose.services[name] ?? {})).ingest.mqttPort;
      expect(testOf(name)).toContain(`connect(${mqttPort}, '127.0.0.1')`);
    }
    const httpPort = loadConfig(environmentOf(compose.services.serve ?? {})).http.port;
    expect(testOf('serve')).toContain(`http://127.0.0.1:${httpPort}/healthz`);
    for (const name of ['process', 'alert', 'sink']) {
      // The /healthz endpoint's port (VIGIE_METRICS_PORT): 9464 by default.
      const config = loadConfig(environmentOf(compose.services[name] ?? {})) as {
        observability?: { metricsPort?: number };
      };
      expect(testOf(name)).toContain(`http://127.0.0.1:${config.observability?.metricsPort ?? 9464}/healthz`);
    }
  });

  it('mounts into Grafana the folder `npm run dashboards` writes, where the provisioning provider reads it', () => {
    const grafana = compose.services.grafana ?? {};
    const mounts = (grafana.volumes ?? []).map(hostPath).filter((m) => m !== undefined);
    const provider = parse(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/vigie.yaml'), 'utf8')) as {
      providers: Array<{ options: { path: string } }>;
    };
    expect(mounts).toContainEqual({ host: DASHBOARDS_DIR, container: provider.providers[0]?.options.path });
    expect(mounts).toContainEqual({
      host: join(ROOT, 'grafana', 'provisioning'),
      container: '/etc/grafana/provisioning',
    });
    const home = environmentOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    const homeFile = home.replace(/^\/var\/lib\/grafana\/dashboards\//, '');
    expect(Object.keys(generateDashboards())).toContain(homeFile);
    expect(existsSync(join(DASHBOARDS_DIR, homeFile))).toBe(true);
  });

  it('depends only on services that exist, run in the same profiles and have a health check when waited on', () => {
    for (const [name, service] of services) {
      for (const [target, condition] of dependencies(service)) {
        const dependency = compose.services[target];
        expect(dependency, `${name} depends on ${target}, which is not a service`).toBeDefined();
        const needs = dependency?.profiles ?? [];
        if (needs.length > 0) {
          expect(
            (service.profiles ?? []).some((p) => needs.includes(p)),
            `${name} depends on ${target}, which only runs with --profile ${needs.join('|')}`,
          ).toBe(true);
        }
        if (condition === 'service_healthy') {
          expect(
            dependency?.healthcheck,
            `${name} waits for ${target} to be healthy: it has no healthcheck`,
          ).toBeDefined();
        }
      }
    }
  });

  it('declares every named volume it mounts, and gives the sink its own for the on-disk buffer', () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] ?? '';
        if (!source.startsWith('.') && !source.startsWith('/')) {
          expect(declared.has(source), `${name} mounts undeclared volume ${source}`).toBe(true);
        }
      }
    }
    const sink = compose.services.sink ?? {};
    const dataDir = loadConfig(environmentOf(sink)).dataDir;
    expect(sink.volumes).toContain(`sink-data:${dataDir}`);
  });

  it('lists in .env.example only variables the compose file interpolates', () => {
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const names = [...example.matchAll(/^#?\s*([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? '');
    expect(names.length).toBeGreaterThan(0);
    const interpolated = interpolatedNames(COMPOSE_TEXT);
    for (const name of names) expect(interpolated.has(name), `${name} is not used by docker-compose.yml`).toBe(true);
  });
});
