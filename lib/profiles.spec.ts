import { AuthConfigurationError, resolveAuthOptions } from './auth-options.js';

const ISSUER = 'https://issuer.example.com/';
const MCP = 'https://mcp.example.com/mcp';

function refusal(options: Record<string, unknown>): AuthConfigurationError {
  try {
    resolveAuthOptions(options);
  } catch (error) {
    if (error instanceof AuthConfigurationError) return error;
    throw error;
  }
  throw new Error('the options were accepted');
}

describe('profile "mcp"', () => {
  const base = {
    issuer: ISSUER,
    profile: 'mcp',
    protectedResourceMetadata: { resource: MCP },
  };

  it('binds the audience to the resource, reads the header only and allows DPoP', () => {
    const resolved = resolveAuthOptions(base);
    expect(resolved.audiences).toEqual([MCP]);
    expect(resolved.tokenLocations).toEqual(['header']);
    expect(resolved.dpop.mode).toBe('allowed');
    expect(resolved.profile).toBe('mcp');
    expect(resolved.requireSenderConstraint).toBe(false);
  });

  it('keeps an audience that includes the resource, and an explicit DPoP mode', () => {
    const resolved = resolveAuthOptions({
      ...base,
      audience: ['api://other', MCP],
      dpop: 'required',
    });
    expect(resolved.audiences).toEqual(['api://other', MCP]);
    expect(resolved.dpop.mode).toBe('required');
  });

  it.each<[Record<string, unknown>, string, RegExp]>([
    [
      { issuer: ISSUER, profile: 'mcp', audience: MCP },
      'protectedResourceMetadata',
      /is required with profile "mcp"/,
    ],
    [
      { ...base, audience: 'api://other' },
      'audience',
      /must include the resource/,
    ],
    [
      { ...base, tokenLocations: ['header', 'query'] },
      'tokenLocations',
      /\["header"\]/,
    ],
    [{ ...base, tokenLocations: ['body'] }, 'tokenLocations', /\["header"\]/],
  ])('refuses %p', (options, option, problem) => {
    const error = refusal(options);
    expect(error.option).toBe(option);
    expect(error.message).toMatch(problem);
  });
});

describe('profile "oauth2.1"', () => {
  it('reads the header only and keeps the strict typ off', () => {
    const resolved = resolveAuthOptions({
      issuer: ISSUER,
      audience: 'api://x',
      profile: 'oauth2.1',
    });
    expect(resolved.tokenLocations).toEqual(['header']);
    expect(resolved.requireAtJwt).toBe(false);
    expect(resolved.dpop.mode).toBe('off');
  });

  it('refuses query tokens', () => {
    const error = refusal({
      issuer: ISSUER,
      audience: 'api://x',
      profile: 'oauth2.1',
      tokenLocations: ['query'],
    });
    expect(error.option).toBe('tokenLocations');
  });
});

describe('profile "fapi2"', () => {
  const base = { issuer: ISSUER, audience: 'api://x', profile: 'fapi2' };

  it('requires DPoP and sender-constrained tokens, with PS256, ES256 or EdDSA', () => {
    const resolved = resolveAuthOptions(base);
    expect(resolved.dpop.mode).toBe('required');
    expect(resolved.requireSenderConstraint).toBe(true);
    expect(resolved.algorithms).toEqual(['PS256', 'ES256', 'EdDSA']);
  });

  it('allows dpop "off" for mTLS-bound tokens, still requiring a binding', () => {
    const resolved = resolveAuthOptions({ ...base, dpop: 'off' });
    expect(resolved.dpop.mode).toBe('off');
    expect(resolved.requireSenderConstraint).toBe(true);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ ...base, algorithms: ['RS256'] }, 'algorithms'],
    [{ ...base, algorithms: ['ES256', 'RS512'] }, 'algorithms'],
    [{ ...base, dpop: 'allowed' }, 'dpop.mode'],
    [{ ...base, dpop: { nonce: true } }, 'dpop.mode'],
    [{ ...base, tokenLocations: ['query'] }, 'tokenLocations'],
  ])('refuses %p', (options, option) => {
    expect(refusal(options).option).toBe(option);
  });
});

it('refuses an unknown profile', () => {
  const error = refusal({
    issuer: ISSUER,
    audience: 'api://x',
    profile: 'fapi',
  });
  expect(error.option).toBe('profile');
  expect(error.message).toContain('"mcp", "oauth2.1", "fapi2"');
});

it('without a profile, nothing changes', () => {
  const resolved = resolveAuthOptions({ issuer: ISSUER, audience: 'api://x' });
  expect(resolved.profile).toBeUndefined();
  expect(resolved.requireSenderConstraint).toBe(false);
});
