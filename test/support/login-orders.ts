/**
 * Login fencing as a rule to test against: login A and login B of one player, and A
 * disconnecting, in every order in which a login is sent before it is answered. Used by
 * the engine contract suite (both engines) and by the gateway-level fencing test.
 */

export type Step = 'sendA' | 'releaseA' | 'sendB' | 'releaseB' | 'closeA';

/** Every order of the five steps in which a request is sent before it is answered, and A sends before it closes. */
export function interleavings(): Step[][] {
  const steps: Step[] = ['sendA', 'releaseA', 'sendB', 'releaseB', 'closeA'];
  const out: Step[][] = [];
  const permute = (rest: Step[], acc: Step[]): void => {
    if (rest.length === 0) {
      const at = (s: Step): number => acc.indexOf(s);
      if (at('sendA') < at('releaseA') && at('sendB') < at('releaseB') && at('sendA') < at('closeA'))
        out.push(acc);
      return;
    }
    rest.forEach((s, i) => {
      permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, s]);
    });
  };
  permute(steps, []);
  return out;
}

/** What the rule predicts: who holds the player at the end, and who was REPLACED. */
export function predict(order: Step[]): { holder: 'A' | 'B' | null; replaced: Array<'A' | 'B'> } {
  let holder: 'A' | 'B' | null = null;
  let aClosed = false;
  const replaced: Array<'A' | 'B'> = [];
  for (const step of order) {
    if (step === 'releaseA' && !aClosed) {
      if (holder === 'B') replaced.push('B');
      holder = 'A';
    } else if (step === 'releaseB') {
      if (holder === 'A') {
        replaced.push('A');
        aClosed = true;
      }
      holder = 'B';
    } else if (step === 'closeA') {
      aClosed = true;
      if (holder === 'A') holder = null;
    }
  }
  return { holder, replaced };
}
