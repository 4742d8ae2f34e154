/** Trust that survives key loss: root of trust, rotation, and verification of online-signed documents. */
export * from './root.js';
export * from './verify.js';
export { MAX_CLOCK_SKEW_SECONDS, parseTimestamp, withinWindow } from './time.js';
