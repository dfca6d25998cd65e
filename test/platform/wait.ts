/**
 * Polls `predicate` until it holds, at most `attempts` times with `intervalMs` between tries, and
 * throws if it never does. Asynchronous delivery is awaited this way instead of by sleeping for a
 * fixed time, so no test depends on how fast the machine is, only on an upper bound of patience.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  attempts = 400,
  intervalMs = 25,
  what = "condition",
): Promise<void> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what} did not hold after ${attempts} attempts`);
}
