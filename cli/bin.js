#!/usr/bin/env node
// The `media-ingest` bin: registers tsx's ESM loader, then runs the TypeScript CLI.
// The CLI ships as source (like the rest of the package), so `npx media-ingest …` and
// `node cli/bin.js …` work straight from a clone with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
