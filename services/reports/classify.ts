import type { Category } from './store.ts';

/**
 * Reading an SMS report (pure functions): its category guessed from keywords, and an address when the text holds
 * one. Matching ignores case and accents ("eclairage" finds "éclairage"). The first category in {@link KEYWORDS}
 * with a match wins; nothing matches: `other`, and an operator corrects it.
 */

/** Keywords of each category, without accents, lower case; a keyword matches at word starts. */
export const KEYWORDS: ReadonlyArray<readonly [Category, readonly string[]]> = [
  [
    'public-lighting',
    ['lampadaire', 'eclairage', 'lampe', 'ampoule', 'reverbere', 'lumiere', 'candelabre', 'eteint', 'street light'],
  ],
  [
    'roads',
    [
      'nid de poule',
      'nids de poule',
      'trou',
      'chaussee',
      'trottoir',
      'voirie',
      'route',
      'bitume',
      'goudron',
      'pothole',
      'panneau',
      'feu rouge',
      'marquage',
      'bouche d egout',
      'plaque',
    ],
  ],
  [
    'cleanliness',
    [
      'dechet',
      'ordure',
      'poubelle',
      'depot sauvage',
      'encombrant',
      'tag',
      'graffiti',
      'sale',
      'salete',
      'crotte',
      'detritus',
      'proprete',
      'rubbish',
      'litter',
    ],
  ],
  [
    'green-spaces',
    ['arbre', 'branche', 'pelouse', 'parc', 'jardin', 'haie', 'espace vert', 'square', 'massif', 'tonte', 'herbe'],
  ],
];

/** Plural and feminine endings a keyword may take ("dechets", "trous", "eteintes", "taguee"), and no other. */
const ENDINGS = ['s', 'x', 'e', 'es', 'ee', 'ees', 'ue', 'ues', 'uee', 'uees'];

/** Lower case, accents removed, apostrophes and punctuation as spaces, spaces collapsed. */
export function normalizeText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/** The category a report's text most likely belongs to (`other` when no keyword matches). */
export function guessCategory(text: string): Category {
  const normal = ` ${normalizeText(text)} `;
  for (const [category, words] of KEYWORDS) {
    if (words.some((w) => normal.includes(` ${w} `) || ENDINGS.some((e) => normal.includes(` ${w}${e} `)))) {
      return category;
    }
  }
  return 'other';
}

const STREET_TYPES =
  'rue|avenue|av\\.?|boulevard|bd|place|pl\\.?|chemin|impasse|all[ée]e|quai|route|cours|square|passage|rond[- ]point|chauss[ée]e|parvis|esplanade|sentier|promenade|r[ée]sidence|cit[ée]|lotissement';
const ADDRESS = new RegExp(
  `(?:\\b\\d{1,4}\\s?(?:bis|ter|[a-c])?,?\\s+)?\\b(?:${STREET_TYPES})\\s+[^\\n,.;!?()]{2,80}`,
  'iu',
);

/** The street address a text gives ("12 rue des Lilas", "place de la Mairie"), or undefined. */
export function findAddress(text: string): string | undefined {
  const match = ADDRESS.exec(text);
  if (!match) return undefined;
  // Stop at words that start another clause: "rue Victor Hugo depuis hier" → "rue Victor Hugo".
  const cut =
    match[0].split(/\s+(?:depuis|devant|depuis|il y a|c'est|ca|ça|merci|svp|since|please)\b/iu)[0] ?? match[0];
  const address = cut.trim();
  return address.length >= 5 ? address.slice(0, 300) : undefined;
}
