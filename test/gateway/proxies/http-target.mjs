// The web server a proxy test reaches through a door, run inside the
// gateway's (or an outside) namespace: `node http-target.mjs HOST PORT`.
//   GET /hello        -> "hello through the door"
//   GET /bytes/N      -> N bytes of 'x'
//   GET /slow/N/MS    -> N chunks of 16 KiB, one every MS ms (a transfer in progress);
//                        prints "slow-started" on stdout when the first chunk leaves
//   GET /stream/N     -> N bytes of 'x' written from one 1 MiB buffer as the socket drains
//                        (bulk transfers: no N-byte allocation, so the target's own cost stays flat)
import http from 'node:http';

const [host, port] = process.argv.slice(2);
const chunk = Buffer.alloc(16384, 0x78);
const bulk = Buffer.alloc(1 << 20, 0x78);
const server = http.createServer((req, res) => {
  const parts = (req.url ?? '/').split('/').filter(Boolean);
  if (parts[0] === 'hello') return res.end('hello through the door');
  if (parts[0] === 'bytes') {
    res.setHeader('content-length', Number(parts[1]));
    return res.end(Buffer.alloc(Number(parts[1]), 0x78));
  }
  if (parts[0] === 'stream') {
    let left = Number(parts[1]);
    res.setHeader('content-length', left);
    const pump = () => {
      while (left > 0) {
        const piece = left >= bulk.length ? bulk : bulk.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (parts[0] === 'slow') {
    let left = Number(parts[1]);
    const every = Number(parts[2]);
    res.setHeader('content-length', left * chunk.length);
    const tick = () => {
      if (left-- <= 0) return res.end();
      res.write(chunk);
      if (left === Number(parts[1]) - 1) process.stdout.write('slow-started\n');
      setTimeout(tick, every);
    };
    return tick();
  }
  res.statusCode = 404;
  res.end();
});
server.listen(Number(port), host, () => process.stdout.write(`listening ${host}:${port}\n`));
process.on('SIGTERM', () => process.exit(0));
