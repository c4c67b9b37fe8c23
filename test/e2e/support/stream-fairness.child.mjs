// Clients in their own processes for test/e2e/stream-fairness.e2e.test.ts, so that neither the
// server's event loop nor the stream reader's (busy hashing megabytes) delays a probe's timing.
// Argument: one JSON object.
//
// { mode: 'read', port, path, body, streams }: opens `streams` concurrent POSTs of `body` to
// `path` and reads them as fast as it can; prints `STARTED <epoch ms>` once every stream has sent
// its first bytes, then one JSON line { streams: [{ status, xCache, bytes, sha256, endedAt }] }
// (`endedAt`: epoch ms).
//
// { mode: 'probe', port, probes, probeEveryMs }: sends each GET of `probes` again and again (a
// fresh connection each time, `probeEveryMs` apart) until it receives SIGTERM, then prints one
// JSON line { [path]: [{ status, xCache, ms, endedAt }] }.
import { createHash } from 'node:crypto';
import http from 'node:http';

const args = JSON.parse(process.argv[2]);
const epochNow = () => performance.timeOrigin + performance.now();

function read({ port, path, body, streams }) {
  let started = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent: false,
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
              if (++started === streams) process.stdout.write(`STARTED ${epochNow()}\n`);
            }
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode,
              xCache: res.headers['x-cache'] ?? null,
              bytes,
              sha256: hash.digest('hex'),
              endedAt: epochNow(),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  return Promise.all(Array.from({ length: streams }, one)).then((r) => ({ streams: r }));
}

function probe({ port, probes, probeEveryMs }) {
  let stopped = false;
  const results = Object.fromEntries(probes.map((p) => [p, []]));
  const get = (path) =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            xCache: res.headers['x-cache'] ?? null,
            ms: performance.now() - t0,
            endedAt: epochNow(),
          }),
        );
      });
      req.on('error', (e) =>
        resolve({ status: 0, xCache: String(e.code ?? e), ms: -1, endedAt: epochNow() }),
      );
    });
  const loop = async (path) => {
    while (!stopped) {
      results[path].push(await get(path));
      await new Promise((resolve) => setTimeout(resolve, probeEveryMs));
    }
  };
  const loops = probes.map(loop);
  return new Promise((resolve) =>
    process.once('SIGTERM', () => {
      stopped = true;
      void Promise.all(loops).then(() => resolve(results));
    }),
  );
}

const result = await (args.mode === 'read' ? read(args) : probe(args));
process.stdout.write(JSON.stringify(result) + '\n');
