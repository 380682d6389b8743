// Waiting in tests: for a condition, never for a fixed time. The machine may be loaded,
// so a deadline is a bound on failure, not the time a thing is expected to take.
// (fixture.mjs re-exports both; this module exists so that server.mjs and dcmtk.mjs, which
// fixture.mjs imports, can use them too.)

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` every `everyMs` until it returns something truthy, and returns that; throws
// "timed out waiting for WHAT" after `timeoutMs`. `what` may be a function, called at the
// deadline, so the message can say what was last seen. An exception from `fn` ends the
// wait at once (a condition that can no longer come true).
export async function eventually(what, fn, timeoutMs = 30_000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(everyMs);
  }
}
