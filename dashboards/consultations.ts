import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { UIDS, vigieDashboard, withPanels } from './common.ts';
import { sqlPanel, sqlVariable } from './sql.ts';

/**
 * "Consultations": a survey's participation and results, from the operational store's dashboard views (never a
 * citizen id, an answer or a free text): participants, responses per day, every choice's count as bars and as a
 * table with its share of the participants. Variable `survey` (newest first).
 */

/** The survey variable: id as value, title as text. */
export const SURVEY_VARIABLE_SQL =
  'SELECT survey_id AS __value, title AS __text FROM consultations_survey_list ORDER BY survey_id DESC';

export function participantsStat(): stat.PanelBuilder {
  return sqlPanel(new stat.PanelBuilder(), {
    title: 'Participants',
    description: 'Citoyens qui ont répondu à la consultation (une réponse par personne).',
    query: {
      rawSql: 'SELECT respondents AS "participants" FROM consultations_survey_list WHERE survey_id = $survey',
      format: 'table',
    },
    noValue: '0',
    span: 6,
    height: 5,
  })
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None);
}

export function responsesPerDayPanel(): timeseries.PanelBuilder {
  return sqlPanel(new timeseries.PanelBuilder(), {
    title: 'Réponses par jour',
    description: 'Réponses reçues chaque jour (UTC) sur la période affichée.',
    query: {
      rawSql:
        'SELECT day AS "time", responses AS "réponses" FROM consultations_daily_responses ' +
        'WHERE survey_id = $survey AND $__timeFilter(day) ORDER BY day',
      format: 'time_series',
    },
    span: 18,
    height: 5,
  })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(80);
}

export function choicesBarchart(): barchart.PanelBuilder {
  return sqlPanel(new barchart.PanelBuilder(), {
    title: 'Réponses par choix',
    description:
      'Pour chaque question à choix ou à note, combien de participants ont choisi chaque réponse (les textes libres ' +
      'sont lus par les services, jamais comptés ici).',
    query: {
      rawSql:
        'SELECT question || \' — \' || choice AS "choix", responses AS "réponses" FROM consultations_choice_counts ' +
        'WHERE survey_id = $survey ORDER BY question_position, choice_position',
      format: 'table',
    },
    span: 12,
    height: 14,
  })
    .xField('choix')
    .orientation(common.VizOrientation.Horizontal)
    .showValue(common.VisibilityMode.Always)
    .fillOpacity(80);
}

export function resultsTable(): table.PanelBuilder {
  return sqlPanel(new table.PanelBuilder(), {
    title: 'Résultats',
    description:
      'Chaque réponse possible, son nombre et sa part des participants (une question à choix multiples peut dépasser 100 %).',
    query: {
      rawSql:
        'SELECT c.question AS "question", c.choice AS "réponse", c.responses AS "réponses", ' +
        'round(100.0 * c.responses / NULLIF(l.respondents, 0), 1) AS "% des participants" ' +
        'FROM consultations_choice_counts c JOIN consultations_survey_list l ON l.survey_id = c.survey_id ' +
        'WHERE c.survey_id = $survey ORDER BY c.question_position, c.choice_position',
      format: 'table',
    },
    span: 12,
    height: 14,
  });
}

/** The consultations dashboard. */
export function consultationsDashboard(): dashboard.Dashboard {
  const builder = vigieDashboard(
    UIDS.consultations,
    'Consultations',
    'Participation et résultats des consultations citoyennes (sondages), depuis la base opérationnelle.',
  )
    .time({ from: 'now-90d', to: 'now' })
    .withVariable(
      sqlVariable({
        name: 'survey',
        label: 'Consultation',
        description: 'La consultation affichée (la plus récente d’abord).',
        rawSql: SURVEY_VARIABLE_SQL,
      }),
    );
  return withPanels(builder, [participantsStat(), responsesPerDayPanel(), choicesBarchart(), resultsTable()]);
}
