import { type CpuProfile, parsePerfReport, profileSelfTimes, stackShares, topTable } from '../../bench/profile';

// A tiny V8 profile: root → main → (pino write, codec encrypt); samples 10 ms apart.
const node = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 0 }, children });
const profile: CpuProfile = {
  nodes: [
    node(1, '(root)', '', [2, 5]),
    node(2, 'main', 'file:///app/dist/src/worker/main.js', [3, 4]),
    node(3, 'write', 'file:///app/node_modules/pino/lib/proto.js', [6]),
    node(4, 'encryptOne', 'file:///app/dist/src/temporal/payload-encryption.js'),
    node(5, '(idle)', ''),
    node(6, 'writev', ''),
  ],
  // The last sample has no duration of its own.
  samples: [6, 6, 4, 2, 5, 5, 6],
  timeDeltas: [0, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000],
  startTime: 0,
  endTime: 60_000,
};

describe('profile summaries', () => {
  it('gives each function its self time, leaving idle out of the shares', () => {
    const { busy_ms, functions } = profileSelfTimes(profile);
    expect(busy_ms).toBe(40);
    expect(functions.map((f) => [f.name, f.self_ms])).toEqual([
      ['writev', 20],
      ['encryptOne (dist/src/temporal/payload-encryption.js:1)', 10],
      ['main (dist/src/worker/main.js:1)', 10],
    ]);
    expect(functions[0].share).toBeCloseTo(0.5);
  });

  it('puts each sample in the innermost named part of its stack', () => {
    const shares = stackShares(profile, [
      ['logging', (url) => url.includes('/pino/')],
      ['codec', (url) => url.includes('payload-encryption')],
    ]);
    // writev has no URL: it belongs to pino, which called it.
    expect(shares).toEqual([
      { name: 'logging', share: 0.5 },
      { name: 'codec', share: 0.25 },
      { name: 'other', share: 0.25 },
    ]);
  });

  it('reads perf report lines and scales shares to ms per run', () => {
    const rows = parsePerfReport(['# comment', '     5.90%  [k] finish_task_switch.isra.0', '     1.33%  [.] modernc.org/sqlite/lib._walChecksumBytes', ''].join('\n'));
    expect(rows.map((r) => r.name)).toEqual(['finish_task_switch.isra.0', 'modernc.org/sqlite/lib._walChecksumBytes']);
    expect(rows[0].share).toBeCloseTo(0.059, 6);
    expect(rows[1].share).toBeCloseTo(0.0133, 6);
    expect(topTable(rows, 20, 1)).toBe('| function | self ms/run | share |\n| --- | ---: | ---: |\n| `finish_task_switch.isra.0` | 1.18 | 5.9 % |');
  });
});
