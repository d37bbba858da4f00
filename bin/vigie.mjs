#!/usr/bin/env node
// The `vigie` command: runs the TypeScript sources through tsx, so there is no build step on Node 20, 22 or 24.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv.slice(2));
