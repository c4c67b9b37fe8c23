// A client in its own process (so the server's event loop is not also the reader's): opens
// `streams` concurrent POSTs of `body` to `path`, reads them as fast as it can, and once every
// stream has sent its first bytes sends each GET of `probes`. It records, by event order only,
// how many streams were still open when each probe's answer ended, and the SHA-256 of each
// stream's bytes. Argument: one JSON object { port, path, body, streams, probes }.
// Output (stdout, one JSON line): { streams: [{ status, bytes, sha256 }], probes: [{ path,
// status, xCache, openStreams }] }.
import { createHash } from 'node:crypto';
import http from 'node:http';

const { port, path, body, streams, probes } = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive: false, maxSockets: 64 });
let open = streams;
let started = 0;
const streamResults = [];
const probeResults = [];

function get(probePath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: probePath, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          path: probePath,
          status: res.statusCode,
          xCache: res.headers['x-cache'] ?? null,
          openStreams: open,
        }),
      );
    });
    req.on('error', reject);
  });
}

function stream() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        let first = true;
        res.on('data', (chunk) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (first) {
            first = false;
            if (++started === streams) sendProbes();
          }
        });
        res.on('end', () => {
          open--;
          resolve({ status: res.statusCode, bytes, sha256: hash.digest('hex') });
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

let probesDone;
function sendProbes() {
  probesDone = Promise.all(probes.map((p) => get(p))).then((r) => probeResults.push(...r));
}

const results = await Promise.all(Array.from({ length: streams }, () => stream()));
streamResults.push(...results);
if (probesDone) await probesDone;
process.stdout.write(JSON.stringify({ streams: streamResults, probes: probeResults }) + '\n');
agent.destroy();
