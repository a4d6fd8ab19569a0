import type { BearerChallenge } from './challenge-verifier.js';
import {
  CLIENT_ACTIONS,
  decideClientAction,
  type ClientActionKey,
} from './client-actions.js';

function challenge(
  fields: Partial<Omit<BearerChallenge, 'params'>> = {},
): BearerChallenge {
  return { scheme: 'Bearer', ...fields, params: {} };
}

describe('CLIENT_ACTIONS', () => {
  it("holds the seed's client action per error code, the 401 without a code and the 500", () => {
    const rows = Object.fromEntries(
      Object.entries(CLIENT_ACTIONS).map(([key, row]) => [
        key,
        [row.status, row.action],
      ]),
    );
    expect(rows).toEqual({
      invalid_request: [400, 'fix_request'],
      invalid_token: [401, 'refresh_token_once'],
      insufficient_scope: [403, 'reauthorize_with_scope'],
      insufficient_access: [403, 'switch_account_or_request_access'],
      insufficient_claims: [401, 'reauthorize_with_claims'],
      insufficient_user_authentication: [401, 'step_up'],
      use_dpop_nonce: [401, 'retry_with_dpop_nonce'],
      authentication_required: [401, 'authenticate'],
      server_error: [500, 'retry_later'],
    } satisfies Record<ClientActionKey, unknown>);
  });

  it('describes each action in one sentence and cannot be changed', () => {
    for (const row of Object.values(CLIENT_ACTIONS)) {
      expect(row.description).toMatch(/^[A-Z].+\.$/);
    }
    expect(Object.isFrozen(CLIENT_ACTIONS)).toBe(true);
  });
});

describe('decideClientAction', () => {
  it('invalid_token: a new token at once, then report and retry after delays', () => {
    const c = challenge({ error: 'invalid_token' });
    expect(decideClientAction(401, c, 0)).toEqual({
      key: 'invalid_token',
      action: 'refresh_token_once',
      retry: 'now',
      token: { forceRefresh: true },
      report: false,
    });
    for (const attempt of [1, 2, 5]) {
      expect(decideClientAction(401, c, attempt)).toEqual({
        key: 'invalid_token',
        action: 'refresh_token_once',
        retry: 'after_delay',
        token: { forceRefresh: false },
        report: true,
      });
    }
  });

  it("insufficient_scope: re-authorize once asking for the challenge's scope", () => {
    const c = challenge({ error: 'insufficient_scope', scope: ['a', 'b'] });
    const decision = decideClientAction(403, c, 0);
    expect(decision).toMatchObject({
      action: 'reauthorize_with_scope',
      retry: 'now',
      token: { scopes: ['a', 'b'], forceRefresh: true },
    });
    // A copy: changing the decision does not change the challenge.
    decision.token?.scopes?.push('c');
    expect(c.scope).toEqual(['a', 'b']);
    expect(decideClientAction(403, c, 1).retry).toBe('no');
    expect(
      decideClientAction(403, challenge({ error: 'insufficient_scope' }), 0),
    ).toMatchObject({ action: 'reauthorize_with_scope', retry: 'no' });
  });

  it('insufficient_access and invalid_request: no retry', () => {
    expect(
      decideClientAction(403, challenge({ error: 'insufficient_access' }), 0),
    ).toEqual({
      key: 'insufficient_access',
      action: 'switch_account_or_request_access',
      retry: 'no',
      report: false,
    });
    expect(
      decideClientAction(400, challenge({ error: 'invalid_request' }), 0),
    ).toMatchObject({ action: 'fix_request', retry: 'no' });
  });

  it('500: retry later with the same token, on every attempt', () => {
    for (const attempt of [0, 1, 7]) {
      expect(decideClientAction(500, undefined, attempt)).toEqual({
        key: 'server_error',
        action: 'retry_later',
        retry: 'after_delay',
        report: false,
      });
    }
  });

  it('401 without an error code: authenticate once with a fresh token', () => {
    for (const c of [
      undefined,
      challenge(),
      challenge({ error: 'x_custom' }),
    ]) {
      expect(decideClientAction(401, c, 0)).toMatchObject({
        key: 'authentication_required',
        action: 'authenticate',
        retry: 'now',
        token: { forceRefresh: true },
      });
      expect(decideClientAction(401, c, 1).retry).toBe('no');
    }
  });

  it('claims and step-up challenges: one retry with their parameters', () => {
    expect(
      decideClientAction(
        401,
        challenge({ error: 'insufficient_claims', claims: '{"a":1}' }),
        0,
      ),
    ).toMatchObject({
      action: 'reauthorize_with_claims',
      retry: 'now',
      token: { claims: '{"a":1}', forceRefresh: true },
    });
    expect(
      decideClientAction(401, challenge({ error: 'insufficient_claims' }), 0)
        .retry,
    ).toBe('no');
    expect(
      decideClientAction(
        401,
        challenge({
          error: 'insufficient_user_authentication',
          acrValues: ['c1'],
          maxAge: 0,
        }),
        0,
      ),
    ).toMatchObject({
      action: 'step_up',
      retry: 'now',
      token: { acrValues: ['c1'], maxAge: 0, forceRefresh: true },
    });
    expect(
      decideClientAction(
        401,
        challenge({ error: 'insufficient_user_authentication' }),
        0,
      ).retry,
    ).toBe('no');
  });

  it('use_dpop_nonce: retry at once with the same token, whatever the attempt', () => {
    const c = challenge({ scheme: 'DPoP', error: 'use_dpop_nonce' });
    for (const attempt of [0, 1, 5]) {
      expect(decideClientAction(401, c, attempt)).toEqual({
        key: 'use_dpop_nonce',
        action: 'retry_with_dpop_nonce',
        retry: 'now',
        report: false,
      });
    }
  });

  it('invalid_dpop_proof: a new token (and so a new proof) once, as any 401 without a known code', () => {
    const c = challenge({ scheme: 'DPoP', error: 'invalid_dpop_proof' });
    expect(decideClientAction(401, c, 0)).toMatchObject({
      key: 'authentication_required',
      retry: 'now',
      token: { forceRefresh: true },
    });
    expect(decideClientAction(401, c, 1).retry).toBe('no');
  });

  it('anything else: none', () => {
    expect(decideClientAction(200, undefined, 0)).toEqual({
      key: undefined,
      action: 'none',
      retry: 'no',
      report: false,
    });
    expect(decideClientAction(403, undefined, 0).action).toBe('none');
    expect(
      decideClientAction(403, challenge({ error: 'x_custom' }), 0).action,
    ).toBe('none');
  });
});
