/**
 * BENCHMARK BASELINE ONLY. The Phase-0 JSON store behind a minimal HTTP
 * server with DAMM's enroll request and response shape, so the baseline is
 * driven by exactly the same HTTP workload as DAMM. Run as its own process:
 *   node --import tsx bench/baselines/phase0-server.ts <state.json> <ipv4Pool> <ipv6Prefix>
 * Prints {"url": …} on stdout once listening.
 */
import http from 'node:http';
import { DammError } from '../../src/core/errors.js';
import { Phase0JsonStore } from './phase0-json-store.js';

const [file, ipv4Pool, ipv6Prefix] = process.argv.slice(2);
if (!file || !ipv4Pool || !ipv6Prefix) {
  process.stderr.write('usage: phase0-server.ts <state.json> <ipv4Pool> <ipv6Prefix>\n');
  process.exit(2);
}
const store = new Phase0JsonStore(file, { ipv4Pool, ipv6Prefix });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== 'POST' || req.url !== '/v1/enroll') return send(404, { error: { code: 'not_found' } });
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { installPass?: unknown; publicKey?: unknown };
      if (typeof body.installPass !== 'string' || typeof body.publicKey !== 'string') return send(400, { error: { code: 'invalid_argument' } });
      send(201, store.enroll({ installPass: body.installPass, publicKey: body.publicKey }));
    } catch (err) {
      if (err instanceof DammError) return send(409, { error: { code: err.code, message: err.message } });
      send(500, { error: { code: 'internal', message: String(err) } });
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${a.port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
