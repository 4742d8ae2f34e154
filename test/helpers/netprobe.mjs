#!/usr/bin/env node
// Reachability probes for the router-regime harness (test/helpers/router.ts),
// run inside a network namespace with `ip netns exec NS node netprobe.mjs …`.
// Plain JavaScript so it starts without tsx.
//
//   node netprobe.mjs server UDP_PORTS TCP_PORTS   echo every UDP datagram and
//       TCP byte back; prints "ready" once every port listens; ports comma separated
//   node netprobe.mjs client HOST PROBES_JSON       runs the probes in parallel
//       and prints {"<name>": true|false} (true: the payload came back whole)
//
// A probe: {"name", "proto": "udp"|"tcp", "port", "hex": first payload, "timeoutMs"},
// and for TCP optionally "then": a second payload written on the same
// connection once the first came back (both must come back).
// UDP probes resend every 250 ms until the echo or the timeout.
import dgram from 'node:dgram';
import net from 'node:net';

const [mode, a, b] = process.argv.slice(2);

function ports(list) {
  return (list ?? '').split(',').filter(Boolean).map(Number);
}

if (mode === 'server') {
  const waits = [];
  for (const port of ports(a)) {
    const s = dgram.createSocket('udp4');
    s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    waits.push(new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, '0.0.0.0', resolve);
    }));
  }
  for (const port of ports(b)) {
    const srv = net.createServer((c) => {
      c.on('error', () => c.destroy());
      c.pipe(c);
    });
    waits.push(new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '0.0.0.0', resolve);
    }));
  }
  Promise.all(waits).then(
    () => process.stdout.write('ready\n'),
    (err) => {
      process.stderr.write(`netprobe server: ${err.message}\n`);
      process.exit(1);
    },
  );
} else if (mode === 'client') {
  const host = a;
  const probes = JSON.parse(b);
  const run = (p) =>
    new Promise((resolve) => {
      const payload = Buffer.from(p.hex, 'hex');
      let done = false;
      const finish = (ok, close) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        close();
        resolve([p.name, ok]);
      };
      let close = () => undefined;
      const timer = setTimeout(() => finish(false, close), p.timeoutMs);
      if (p.proto === 'udp') {
        const s = dgram.createSocket('udp4');
        let resend;
        close = () => {
          clearInterval(resend);
          s.close();
        };
        s.on('message', (msg) => {
          if (msg.equals(payload)) finish(true, close);
        });
        s.on('error', () => finish(false, close));
        const send = () => s.send(payload, p.port, host);
        send();
        resend = setInterval(send, 250);
      } else {
        const c = net.connect({ host, port: p.port });
        close = () => c.destroy();
        const then = p.then ? Buffer.from(p.then, 'hex') : Buffer.alloc(0);
        const whole = Buffer.concat([payload, then]);
        let got = Buffer.alloc(0);
        let second = false;
        c.on('connect', () => c.write(payload));
        c.on('data', (d) => {
          got = Buffer.concat([got, d]);
          if (!second && then.length && got.length >= payload.length) {
            second = true;
            c.write(then);
          }
          if (got.length >= whole.length) finish(got.subarray(0, whole.length).equals(whole), close);
        });
        c.on('error', () => finish(false, close));
      }
    });
  Promise.all(probes.map(run)).then((results) => {
    process.stdout.write(`${JSON.stringify(Object.fromEntries(results))}\n`);
  });
} else {
  process.stderr.write('usage: netprobe.mjs server UDP_PORTS TCP_PORTS | client HOST PROBES_JSON\n');
  process.exit(2);
}
