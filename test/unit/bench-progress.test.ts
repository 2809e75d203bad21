import { Progress } from '../../bench/backlog';

// A drain's wait ends when its count stops growing, however long the count keeps growing.
describe('Progress: how long a benchmark drain waits', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('keeps waiting while the count grows, past any multiple of the stall window', () => {
    const progress = new Progress(1_000);
    for (let second = 0; second < 60; second++) {
      expect(progress.stalled(second)).toBe(false);
      jest.advanceTimersByTime(900);
    }
  });

  it('gives up once the count has not grown for the stall window', () => {
    const progress = new Progress(1_000);
    expect(progress.stalled(5)).toBe(false);
    jest.advanceTimersByTime(1_000);
    expect(progress.stalled(5)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(progress.stalled(5)).toBe(true);
  });

  it('counts a count that falls back (a read that saw fewer) as no progress', () => {
    const progress = new Progress(1_000);
    progress.stalled(10);
    jest.advanceTimersByTime(600);
    expect(progress.stalled(9)).toBe(false);
    jest.advanceTimersByTime(600);
    expect(progress.stalled(9)).toBe(true);
  });
});
