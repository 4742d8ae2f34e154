#!/usr/bin/env node
// Builds the browser pages (the /get/ wizard and the /console/ operator
// console) into dist/; scripts/build-wizard-impl.mjs does the work and
// skips a page whose sources are absent.
await import('./build-wizard-impl.mjs');
