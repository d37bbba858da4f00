import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { createAccounts, csrfTokenOf } from './accounts.ts';
import { residentsConfigSchema } from './config.ts';
import { openTestStore } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const config = residentsConfigSchema.parse({});

describe.each(['pglite', 'postgres'] as const)('residents accounts on %s', (engine) => {
  it('signs in once with the code, creates the account and a session, and stores only hashes', async () => {
    const store = await openTestStore(engine);
    const clock = new ManualClock(T0);
    const accounts = createAccounts(store, config, { clock });
    const { code, expiresAtMs } = await accounts.issueCode('sms', '+33612345678');
    expect(code).toMatch(/^\d{6}$/);
    expect(expiresAtMs).toBe(T0 + 600_000);
    const dump = JSON.stringify((await store.query('SELECT * FROM residents_sign_in_codes')).rows);
    expect(dump).not.toContain(code);

    const result = await accounts.verify('sms', '+33612345678', code);
    if (result.outcome !== 'signed-in') throw new Error(`expected signed-in, got ${result.outcome}`);
    expect(result.session.account).toEqual({ id: expect.any(Number), channel: 'sms', address: '+33612345678' });
    expect(result.session.csrfToken).toBe(csrfTokenOf(result.secret));
    expect(result.session.expiresAtMs).toBe(T0 + 30 * 86_400_000);
    const sessions = JSON.stringify((await store.query('SELECT * FROM residents_sessions')).rows);
    expect(sessions).not.toContain(result.secret);
    expect(await accounts.session(result.secret)).toEqual(result.session);
    // Spent: the same code does not sign in twice.
    expect(await accounts.verify('sms', '+33612345678', code)).toEqual({ outcome: 'none' });

    // A second sign-in reuses the account.
    const again = await accounts.issueCode('sms', '+33612345678');
    const second = await accounts.verify('sms', '+33612345678', again.code);
    expect(second.outcome === 'signed-in' && second.session.account.id).toBe(result.session.account.id);
  });

  it('counts wrong codes and refuses the right one after the last try or once expired', async () => {
    const store = await openTestStore(engine);
    const clock = new ManualClock(T0);
    const accounts = createAccounts(store, config, { clock });
    const { code } = await accounts.issueCode('email', 'ana@example.org');
    const wrong = code === '000000' ? '000001' : '000000';
    for (let left = 4; left >= 0; left--) {
      expect(await accounts.verify('email', 'ana@example.org', wrong)).toEqual({
        outcome: 'wrong-code',
        attemptsLeft: left,
      });
    }
    expect(await accounts.verify('email', 'ana@example.org', code)).toEqual({ outcome: 'none' });
    // Asking again gives a new code with fresh tries; it dies after 10 minutes.
    const fresh = await accounts.issueCode('email', 'ana@example.org');
    expect(await accounts.verify('email', 'ana@example.org', 'abc')).toEqual({
      outcome: 'wrong-code',
      attemptsLeft: 4,
    });
    clock.advance(600_000);
    expect(await accounts.verify('email', 'ana@example.org', fresh.code)).toEqual({ outcome: 'none' });
    // A code is for its own address only.
    const other = await accounts.issueCode('email', 'bob@example.org');
    expect((await accounts.verify('email', 'ana@example.org', other.code)).outcome).toBe('none');
  });

  it('ends a session at sign-out, every session with everywhere, and any session after 30 days', async () => {
    const store = await openTestStore(engine);
    const clock = new ManualClock(T0);
    const accounts = createAccounts(store, config, { clock });
    const signIn = async () => {
      const { code } = await accounts.issueCode('sms', '+33700000001');
      const r = await accounts.verify('sms', '+33700000001', code);
      if (r.outcome !== 'signed-in') throw new Error(r.outcome);
      return r;
    };
    const a = await signIn();
    const b = await signIn();
    const c = await signIn();
    expect(await accounts.signOut(a.session.sessionHash)).toBe(1);
    expect(await accounts.session(a.secret)).toBeUndefined();
    expect(await accounts.session(b.secret)).toBeDefined();
    expect(await accounts.signOut(b.session.sessionHash, { everywhere: true })).toBe(2);
    expect(await accounts.session(c.secret)).toBeUndefined();

    const d = await signIn();
    // Ended sessions of the account are removed at the next sign-in.
    expect((await store.query('SELECT 1 FROM residents_sessions')).rows).toHaveLength(1);
    clock.advance(30 * 86_400_000 - 1);
    expect(await accounts.session(d.secret)).toBeDefined();
    clock.advance(1);
    expect(await accounts.session(d.secret)).toBeUndefined();
    expect(await accounts.session('not-a-secret')).toBeUndefined();
  });
});
