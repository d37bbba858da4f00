import { z } from 'zod';

/** The operators' console configuration (root section `console`; VIGIE_CONSOLE_* variables). */
export const consoleConfigSchema = z.strictObject({
  hourRetentionDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(3660)
    .default(93)
    .describe('How long hourly device series are kept, in days (93, about a quarter); older hours are deleted.'),
  dayRetentionDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(36_600)
    .default(1100)
    .describe('How long daily device series are kept, in days (1100, three years); older days are deleted.'),
  tileUrl: z
    .preprocess(
      (v) => (v === 'none' ? '' : v),
      z
        .string()
        .trim()
        .max(500)
        .refine(
          (s) => s === '' || (/^https?:\/\//.test(s) && s.includes('{z}') && s.includes('{x}') && s.includes('{y}')),
          'an http(s) tile URL with {z}, {x} and {y}, or empty / "none" for no map tiles',
        ),
    )
    .default('https://tile.openstreetmap.org/{z}/{x}/{y}.png')
    .describe(
      'Map tiles of the console, an XYZ URL template ({z}/{x}/{y}; OpenStreetMap’s by default); empty or "none": ' +
        'no tiles, devices on a blank background (offline, or no tile usage agreement).',
    ),
  tileAttribution: z
    .string()
    .max(300)
    .default('© OpenStreetMap contributors')
    .describe('Attribution shown on the map, as the tile provider requires (© OpenStreetMap contributors).'),
  mapCenter: z
    .strictObject({
      lat: z.coerce.number().min(-90).max(90).describe('Latitude of the map’s initial center, WGS 84 degrees'),
      lon: z.coerce.number().min(-180).max(180).describe('Longitude of the map’s initial center, WGS 84 degrees'),
    })
    .default({ lat: 47.7508, lon: 7.3359 })
    .describe('Initial center of the console’s map, WGS 84 degrees (Mulhouse, 47.7508 N 7.3359 E).'),
  mapZoom: z.coerce
    .number()
    .int()
    .min(1)
    .max(19)
    .default(13)
    .describe('Initial zoom level of the console’s map (13: a city).'),
  refreshIntervalMs: z.coerce
    .number()
    .int()
    .min(1000)
    .max(3_600_000)
    .default(5000)
    .describe('How often the console pages ask for what changed, in milliseconds (5 s).'),
});
/** The operators' console configuration. */
export type ConsoleConfig = z.output<typeof consoleConfigSchema>;
