/** Trust that survives key loss: root of trust, rotation, and the keys each online role may sign with at an instant. */
export * from './root.js';
export * from './pin.js';
export { MAX_CLOCK_SKEW_SECONDS, parseTimestamp, withinWindow } from './time.js';
