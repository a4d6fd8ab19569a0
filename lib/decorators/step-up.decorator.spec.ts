import { Reflector } from '@nestjs/core';
import { STEP_UP_KEY } from '../auth.constants.js';
import type { AuthenticationRequirement } from '../bearer.errors.js';
import type { JwtClaims } from '../claims.js';
import { meetsAuthenticationRequirement, StepUp } from './step-up.decorator.js';

const NOW = 1_700_000_000;
const MFA = 'urn:example:mfa';
const PWD = 'urn:example:pwd';

function meets(
  claims: JwtClaims,
  requirement: AuthenticationRequirement,
  clockTolerance = 0,
  now = NOW,
): boolean {
  return meetsAuthenticationRequirement(
    claims,
    requirement,
    clockTolerance,
    now,
  );
}

describe('meetsAuthenticationRequirement', () => {
  describe('maxAge', () => {
    const MAX_AGE = { maxAge: 300 };

    it.each([
      [0, 299, true],
      [0, 300, true],
      [0, 301, false],
      [30, 329, true],
      [30, 330, true],
      [30, 331, false],
    ])(
      'with tolerance %d, an auth_time %d s old meets it: %p',
      (tolerance, age, expected) => {
        expect(meets({ auth_time: NOW - age }, MAX_AGE, tolerance)).toBe(
          expected,
        );
      },
    );

    it('accepts an auth_time of right now, and one within maxAge 0', () => {
      expect(meets({ auth_time: NOW }, MAX_AGE)).toBe(true);
      expect(meets({ auth_time: NOW }, { maxAge: 0 })).toBe(true);
      expect(meets({ auth_time: NOW - 1 }, { maxAge: 0 })).toBe(false);
    });

    it('accepts fractional times', () => {
      expect(meets({ auth_time: NOW - 299.5 }, MAX_AGE, 0, NOW)).toBe(true);
      expect(meets({ auth_time: NOW - 300.5 }, MAX_AGE, 0, NOW)).toBe(false);
    });

    it.each([
      [0, 1, false],
      [0, 0, true],
      [30, 30, true],
      [30, 31, false],
      [0, 3600, false],
      [0, 1e9, false],
    ])(
      'with tolerance %d, an auth_time %d s in the future meets it: %p',
      (tolerance, ahead, expected) => {
        expect(meets({ auth_time: NOW + ahead }, MAX_AGE, tolerance)).toBe(
          expected,
        );
      },
    );

    it('refuses an auth_time later than the token was issued', () => {
      const iat = NOW - 100;
      expect(meets({ auth_time: iat, iat }, MAX_AGE)).toBe(true);
      expect(meets({ auth_time: iat - 50, iat }, MAX_AGE)).toBe(true);
      expect(meets({ auth_time: iat + 1, iat }, MAX_AGE)).toBe(false);
      expect(meets({ auth_time: iat + 30, iat }, MAX_AGE, 30)).toBe(true);
      expect(meets({ auth_time: iat + 31, iat }, MAX_AGE, 30)).toBe(false);
    });

    it('compares auth_time with iat only when iat is a number', () => {
      for (const iat of [undefined, null, 'yesterday', [NOW - 100]]) {
        expect(meets({ auth_time: NOW - 10, iat }, MAX_AGE)).toBe(true);
      }
    });

    it.each([
      ['missing', undefined],
      ['a string', String(NOW)],
      ['null', null],
      ['an array', [NOW]],
      ['a boolean', true],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
    ])('refuses an auth_time that is %s', (_what, authTime) => {
      expect(meets({ auth_time: authTime }, MAX_AGE)).toBe(false);
    });

    it('reads auth_time only as an own property', () => {
      const claims = Object.create({ auth_time: NOW }) as JwtClaims;
      expect(meets(claims, MAX_AGE)).toBe(false);
    });

    it('ignores auth_time without maxAge', () => {
      expect(
        meets({ acr: MFA, auth_time: NOW + 3600 }, { acrValues: [MFA] }),
      ).toBe(true);
    });

    it('uses the current time by default', () => {
      const now = Date.now() / 1000;
      expect(
        meetsAuthenticationRequirement({ auth_time: now - 10 }, MAX_AGE, 0),
      ).toBe(true);
      expect(
        meetsAuthenticationRequirement({ auth_time: now - 400 }, MAX_AGE, 0),
      ).toBe(false);
      expect(
        meetsAuthenticationRequirement({ auth_time: now + 400 }, MAX_AGE, 0),
      ).toBe(false);
    });
  });

  describe('acrValues', () => {
    it('accepts an acr that is one of acrValues', () => {
      expect(meets({ acr: MFA }, { acrValues: [MFA] })).toBe(true);
      expect(meets({ acr: PWD }, { acrValues: [MFA, PWD] })).toBe(true);
    });

    it.each([
      ['another acr', PWD],
      ['another case', MFA.toUpperCase()],
      ['a prefix', 'urn:example:m'],
      ['acr values joined by a space', `${MFA} ${PWD}`],
      ['missing', undefined],
      ['a number', 2],
      ['an array holding the value', [MFA]],
      ['null', null],
    ])('refuses an acr that is %s', (_what, acr) => {
      expect(meets({ acr }, { acrValues: [MFA] })).toBe(false);
    });

    it('reads acr only as an own property', () => {
      const claims = Object.create({ acr: MFA }) as JwtClaims;
      expect(meets(claims, { acrValues: [MFA] })).toBe(false);
    });

    it('accepts a token without auth_time when only acrValues are required', () => {
      expect(meets({ acr: MFA }, { acrValues: [MFA] })).toBe(true);
    });
  });

  describe('both', () => {
    const BOTH = { acrValues: [MFA], maxAge: 300 };

    it('needs the acr and a fresh auth_time', () => {
      expect(meets({ acr: MFA, auth_time: NOW - 10 }, BOTH)).toBe(true);
      expect(meets({ acr: PWD, auth_time: NOW - 10 }, BOTH)).toBe(false);
      expect(meets({ acr: MFA, auth_time: NOW - 301 }, BOTH)).toBe(false);
      expect(meets({ acr: MFA, auth_time: NOW + 60 }, BOTH)).toBe(false);
      expect(meets({ acr: MFA }, BOTH)).toBe(false);
    });
  });

  it('meets an empty requirement', () => {
    expect(meets({}, {})).toBe(true);
  });
});

describe('StepUp', () => {
  const reflector = new Reflector();

  it('stores a frozen copy of the requirement', () => {
    const requirement = { acrValues: [MFA], maxAge: 300 };
    class Handler {
      @StepUp(requirement)
      route(): void {}
    }
    const stored = reflector.get<AuthenticationRequirement>(
      STEP_UP_KEY,
      Handler.prototype.route,
    );
    expect(stored).toEqual(requirement);
    expect(stored).not.toBe(requirement);
    expect(Object.isFrozen(stored)).toBe(true);
  });

  it('applies to a class', () => {
    @StepUp({ maxAge: 0 })
    class Controller {}
    expect(reflector.get(STEP_UP_KEY, Controller)).toEqual({ maxAge: 0 });
  });

  it('requires acrValues or maxAge', () => {
    expect(() => StepUp({})).toThrow(TypeError);
  });

  it.each([
    ['empty', []],
    ['with an empty string', ['']],
    ['with a space', ['urn:a b']],
    ['with a quote', ['urn:"a']],
    ['with a backslash', ['urn:\\a']],
    ['with a non-ASCII character', ['urn:é']],
    ['with a non-string', [7]],
  ])('refuses acrValues %s', (_what, acrValues) => {
    expect(() =>
      StepUp({ acrValues: acrValues as unknown as string[] }),
    ).toThrow(/acrValues/);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses maxAge %p',
    (maxAge) => {
      expect(() => StepUp({ maxAge })).toThrow(/maxAge/);
    },
  );
});
