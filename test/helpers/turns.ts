/**
 * How many event-loop turns this process makes until `work` settles: work that never lets the
 * loop turn (a synchronous SQLite read behind promises) makes none, however long it takes.
 * A count, not a time, so a loaded machine does not change the verdict.
 */
export async function turnsDuring<T>(work: Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let done = false;
  const spin = () => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  try {
    return { result: await work, turns };
  } finally {
    done = true;
  }
}
