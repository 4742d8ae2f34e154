/**
 * String formats used by DAMM's schemas, registered for TypeBox's Value
 * checker (clients verifying signed documents). Fastify's Ajv has its own
 * (ajv-formats); these agree with it on every value DAMM produces.
 */
import { FormatRegistry } from '@sinclair/typebox';
import { parseIPv4, parseIPv6 } from './ipam.js';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function registerFormats(): void {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
  if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));
  if (!FormatRegistry.Has('ipv4')) FormatRegistry.Set('ipv4', (v) => parseIPv4(v) !== null);
  if (!FormatRegistry.Has('ipv6')) FormatRegistry.Set('ipv6', (v) => parseIPv6(v) !== null);
}

registerFormats();
