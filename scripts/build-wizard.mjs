#!/usr/bin/env node
// Builds the /get/ wizard (src/wizard) into dist/wizard. Until the wizard
// sources exist this only reports that there is nothing to build.
import { existsSync } from 'node:fs';
if (!existsSync('src/wizard/main.ts')) {
  console.log('wizard: no sources yet (src/wizard/main.ts); skipping');
  process.exit(0);
}
await import('./build-wizard-impl.mjs');
