import type { Command } from '../command.ts';
import { bench } from './bench.ts';
import { devices } from './devices.ts';
import { replay } from './replay.ts';
import { serve } from './serve.ts';
import { simulate } from './simulate.ts';
import { alert, ingest, processStage, sinkStage } from './stages.ts';
import { start } from './start.ts';
import { subscribe } from './subscribe.ts';
import { tokens } from './tokens.ts';
import { vault } from './vault.ts';

/** Every `vigie` command, in the order `vigie --help` lists them. */
export const COMMANDS: readonly Command[] = [
  start,
  ingest,
  processStage,
  alert,
  sinkStage,
  serve,
  simulate,
  replay,
  bench,
  devices,
  subscribe,
  tokens,
  vault,
];
