/**
 * String formats used by DAMM's schemas, registered for TypeBox's Value
 * checker (clients verifying signed documents). Fastify's Ajv has its own
 * (ajv-formats); these agree with it on every value DAMM produces.
 */
import { FormatRegistry } from '@sinclair/typebox';
import { parseIPv4, parseIPv6 } from './ipam.js';
import { isDateTime, isUuid } from './format-checks.js';

export function registerFormats(): void {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isDateTime);
  if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', isUuid);
  if (!FormatRegistry.Has('ipv4')) FormatRegistry.Set('ipv4', (v) => parseIPv4(v) !== null);
  if (!FormatRegistry.Has('ipv6')) FormatRegistry.Set('ipv6', (v) => parseIPv6(v) !== null);
}

registerFormats();
