import pg from 'pg';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { openStore } from '../core/store/open.ts';
import { consultationsMigrations, createConsultationsStore } from '../services/consultations/index.ts';
import { cyclingSurvey, DAY_MS, OPENS_MS } from '../services/consultations/test-helpers.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { queriesOf } from './check.ts';
import { UIDS } from './common.ts';
import { generateDashboards } from './generate.ts';
import { SQL_DATASOURCE_UID } from './sql.ts';

/**
 * The consultations dashboard's SQL, executed: every query of the committed-to-be JSON runs against PostgreSQL as
 * Grafana's login `vigie_grafana` (the role docker-compose's PostgreSQL creates), with Grafana's `$survey` and
 * `$__timeFilter(…)` substituted, and answers the hand-computed counts — while that login is refused the tables
 * themselves (citizen ids, answers, free texts).
 */

const GRAFANA_ROLE = 'vigie_grafana';

/** The dashboard's SQL texts by where they sit (panel title or variable). */
function dashboardSql(): Map<string, string> {
  const json = JSON.parse(generateDashboards()[`${UIDS.consultations}.json`] as string);
  const out = new Map<string, string>();
  for (const q of queriesOf(json)) if (q.datasourceUid === SQL_DATASOURCE_UID) out.set(q.where, q.text);
  return out;
}

/** What Grafana does to a query before sending it (the macros and variables the dashboard uses). */
function substitute(sql: string, surveyId: number, fromMs: number, toMs: number): string {
  return sql
    .replaceAll('$survey', String(surveyId))
    .replace(
      /\$__timeFilter\((\w+)\)/g,
      (_m, column: string) =>
        `${column} BETWEEN '${new Date(fromMs).toISOString()}' AND '${new Date(toMs).toISOString()}'`,
    );
}

describe('the consultations dashboard on PostgreSQL', () => {
  it('answers every panel and the variable with the hand-computed counts, as a login that cannot read the tables', async () => {
    const server = inject('databaseUrl');
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    // Roles are the server's: made once, whichever test database runs first.
    await admin.query(
      `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${GRAFANA_ROLE}') THEN CREATE ROLE ${GRAFANA_ROLE} LOGIN; END IF; END $$`,
    );
    await admin.end();
    const db = await createTestDatabase(server);
    onTestFinished(() => db.drop().catch(() => {}));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [consultationsMigrations]);
    onTestFinished(() => store.close());

    // Six citizens answer the cycling survey over two days.
    const consultations = createConsultationsStore(store);
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const usage = ['daily', 'daily', 'daily', 'weekly', 'never', 'weekly'];
    for (const [i, u] of usage.entries()) {
      const answers = {
        usage: u,
        safety: i < 3 ? 4 : 2,
        ...(i % 2 === 0 ? { priorities: ['lanes', 'lighting'] } : {}),
      };
      const result = await consultations.submit(id, 100 + i, { answers }, OPENS_MS + (i < 4 ? 1 : 2) * DAY_MS + i);
      expect(result.outcome).toBe('accepted');
    }

    const url = new URL(db.url);
    url.username = GRAFANA_ROLE;
    const grafana = new pg.Client({ connectionString: url.toString() });
    await grafana.connect();
    onTestFinished(() => grafana.end());
    const sql = dashboardSql();
    expect([...sql.keys()].map((w) => w.replace(/^dashboard "vigie-consultations", /, ''))).toEqual([
      'panel "Participants" (A)',
      'panel "Réponses par jour" (A)',
      'panel "Réponses par choix" (A)',
      'panel "Résultats" (A)',
      'variable "survey"',
    ]);
    const run = async (where: string) => {
      const text = [...sql].find(([w]) => w.includes(where))?.[1] as string;
      return (await grafana.query(substitute(text, id, OPENS_MS - DAY_MS, OPENS_MS + 30 * DAY_MS))).rows;
    };

    expect(await run('variable "survey"')).toEqual([{ __value: String(id), __text: 'Itinéraires cyclables' }]);
    expect(await run('"Participants"')).toEqual([{ participants: 6 }]);
    const perDay = await run('"Réponses par jour"');
    expect(perDay.map((r) => [new Date(r.time).toISOString(), r['réponses']])).toEqual([
      [new Date(Date.parse('2026-05-01T00:00:00Z')).toISOString(), 4],
      [new Date(Date.parse('2026-05-02T00:00:00Z')).toISOString(), 2],
    ]);
    const bars = await run('"Réponses par choix"');
    expect(bars.map((r) => [r.choix, r['réponses']])).toEqual([
      ['À quelle fréquence faites-vous du vélo en ville ? — Tous les jours', 3],
      ['À quelle fréquence faites-vous du vélo en ville ? — Chaque semaine', 2],
      ['À quelle fréquence faites-vous du vélo en ville ? — Jamais', 1],
      ['Vos priorités ? — Pistes séparées', 3],
      ['Vos priorités ? — Stationnement vélo', 0],
      ['Vos priorités ? — Éclairage', 3],
      ['Vos priorités ? — Signalisation', 0],
      ['Vous sentez-vous en sécurité ? — 1', 0],
      ['Vous sentez-vous en sécurité ? — 2', 3],
      ['Vous sentez-vous en sécurité ? — 3', 0],
      ['Vous sentez-vous en sécurité ? — 4', 3],
      ['Vous sentez-vous en sécurité ? — 5', 0],
    ]);
    const table = await run('"Résultats"');
    expect(table[0]).toEqual({
      question: 'À quelle fréquence faites-vous du vélo en ville ?',
      réponse: 'Tous les jours',
      réponses: 3,
      '% des participants': '50.0',
    });

    // The login reads the views, never the tables behind them.
    await expect(grafana.query('SELECT answers FROM consultations_responses')).rejects.toThrow(/permission denied/);
    await expect(grafana.query('SELECT definition FROM consultations_surveys')).rejects.toThrow(/permission denied/);
  });
});
