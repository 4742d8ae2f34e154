// A DNS responder a proxy test reaches over UDP through a door:
// `node dns-target.mjs HOST PORT` answers every query with one A record,
// 192.0.2.77, for the name asked. Prints "listening" when bound.
import dgram from 'node:dgram';

const [host, port] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
sock.on('message', (q, from) => {
  if (q.length < 12) return;
  // The question runs from byte 12 to the end of its name + 4 bytes (type, class).
  let i = 12;
  while (i < q.length && q[i] !== 0) i += q[i] + 1;
  const question = q.subarray(12, i + 5);
  const header = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77]);
  sock.send(Buffer.concat([header, question, answer]), from.port, from.address);
  process.stdout.write('answered\n');
});
sock.bind(Number(port), host, () => process.stdout.write(`listening ${host}:${port}\n`));
process.on('SIGTERM', () => process.exit(0));
