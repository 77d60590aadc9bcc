// Initial snapshot at the size, the bridge as a separate process (as users run it):
// N Account records, a route with `initial: snapshot` into fsync'd files, 50 records renamed while
// the export runs, 20 created after it. Checks the sink against the emulator's records: every
// record's latest Name (snapshot, then change events in order), the late records' events.
//   npm run build && node bench/snapshot.mjs [--records 50000]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, freePort, runBridge, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const N = Number(arg('records', 50_000));
const emu = await startEmulatorProcess([]);
const dir = mkdtempSync(join(tmpdir(), 'sfbridge-snapshot-'));
try {
  const ids = (await emu.admin('records/create', { object: 'Account', count: N, fields: { Industry: 'Energy' } })).ids;
  const port = await freePort();
  const out = join(dir, 'out');
  const cfg = writeBridgeConfig(join(dir, 'bridge.json'), {
    emu,
    dir,
    port,
    routes: [
      {
        name: 'acc',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'snapshot' },
        sinks: [{ type: 'file', dir: out }],
      },
    ],
  });
  let renames = null;
  let late = null;
  const run = await runBridge(
    cfg,
    port,
    (s) => {
      const st = s.routes[0];
      // Live updates while the export runs, and new records once it is done.
      if (!renames && st.sourceStats.snapshotDone > 0)
        renames = Promise.all(
          ids.slice(0, 50).map((id) => emu.rest('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { Name: `renamed ${id}` })),
        );
      if (!late && st.sourceStats.snapshotDone >= N)
        late = emu.admin('records/create', { object: 'Account', count: 20, fields: { Industry: 'Late' } });
      // Snapshot N + the creates from the skew margin re-streamed (N) + 50 renames + 20 late creates.
      return late !== null && st.eventsAcked >= 2 * N + 50 + 20;
    },
    { sampleMs: 500, timeoutMs: 900_000 },
  );
  await renames;
  const lateIds = (await late).ids;
  const state = new Map();
  let snapshots = 0;
  for (const f of readdirSync(out).sort())
    for (const line of readFileSync(join(out, f), 'utf8').split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line);
      if (e.kind !== 'snapshot' && e.kind !== 'cdc') continue;
      if (e.kind === 'snapshot') snapshots++;
      const id = e.changeHeader.recordIds[0];
      state.set(id, { ...(e.kind === 'snapshot' ? {} : state.get(id)), ...e.payload });
    }
  const rows = (await emu.rest('GET', `/services/data/v63.0/query?q=${encodeURIComponent('SELECT Id, Name FROM Account')}`)).json.records;
  let wrong = 0;
  for (const r of rows) if (state.get(r.Id)?.Name !== r.Name) wrong++;
  console.log(
    JSON.stringify({
      records: N,
      secs: Number(run.secs.toFixed(1)),
      cpuSeconds: run.cpu,
      peakRssMb: Math.round(run.peakRss),
      snapshots,
      recordsInOrg: rows.length,
      recordsWithWrongLatestState: wrong,
      lateRecordsSeen: lateIds.filter((id) => state.has(id)).length,
      exit: run.exitCode,
    }),
  );
} finally {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
