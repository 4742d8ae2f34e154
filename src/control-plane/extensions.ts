/**
 * Pieces that plug into a control-plane process beyond the core API (the
 * gateway change feed, the /get/ wizard). `damm serve` and the tests build
 * the same process from `defaultExtensions()`.
 */
import type { FastifyInstance } from 'fastify';
import type { Ctx, DeviceChangeListener } from './context.js';
import { wizardExtension } from './wizard-extension.js';
import { feedExtension } from './feed-extension.js';

export interface ControlPlaneExtension {
  name: string;
  /** Runs inside every device-changing transaction. */
  deviceListener?(ctx: Ctx): DeviceChangeListener;
  /** Adds routes or hooks to the app. */
  register?(app: FastifyInstance, ctx: Ctx): Promise<void>;
  /** Background work for the life of the process; returns its stopper. */
  start?(ctx: Ctx): Promise<() => Promise<void>>;
}

export function defaultExtensions(): ControlPlaneExtension[] {
  return [feedExtension(), wizardExtension()];
}
