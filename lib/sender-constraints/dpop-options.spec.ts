import {
  ASYMMETRIC_ALGORITHMS,
  AuthConfigurationError,
  resolveAuthOptions,
  type ResolvedAuthOptions,
} from '../auth-options.js';

const BASE = {
  issuer: 'https://login.example.com/tenant/v2.0',
  audience: 'api://app',
};
const SECRET = 'n'.repeat(32);

function resolve(extra: Record<string, unknown>): ResolvedAuthOptions {
  return resolveAuthOptions({ ...BASE, ...extra });
}

function configError(extra: Record<string, unknown>): AuthConfigurationError {
  try {
    resolve(extra);
  } catch (error) {
    if (error instanceof AuthConfigurationError) return error;
    throw error;
  }
  throw new Error('expected an AuthConfigurationError');
}

function expectRefused(
  extra: Record<string, unknown>,
  option: string,
  problem: string | RegExp,
): void {
  const error = configError(extra);
  expect(error.option).toBe(option);
  expect(error.message).toContain(`option "${option}"`);
  if (typeof problem === 'string') {
    expect(error.message).toBe(`nestjs-bearer: option "${option}" ${problem}`);
  } else {
    expect(error.message).toMatch(problem);
  }
}

describe('the dpop option', () => {
  describe('defaults', () => {
    it('is off when unset, with the default algorithms and window', () => {
      expect(resolve({}).dpop).toEqual({
        mode: 'off',
        algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
        nonce: undefined,
        iatWindow: 60,
        origins: undefined,
      });
    });

    it('is allowed when given as an empty object', () => {
      expect(resolve({ dpop: {} }).dpop.mode).toBe('allowed');
    });

    it('is allowed when given options without a mode', () => {
      expect(resolve({ dpop: { iatWindow: 30 } }).dpop).toMatchObject({
        mode: 'allowed',
        iatWindow: 30,
      });
    });

    it.each(['off', 'allowed', 'required'] as const)(
      'takes the mode %j as a string',
      (mode) => {
        expect(resolve({ dpop: mode }).dpop.mode).toBe(mode);
        expect(resolve({ dpop: { mode } }).dpop.mode).toBe(mode);
      },
    );

    it('is frozen', () => {
      const { dpop } = resolve({ dpop: { origins: ['https://a.example'] } });
      expect(Object.isFrozen(dpop)).toBe(true);
      expect(Object.isFrozen(dpop.algorithms)).toBe(true);
      expect(Object.isFrozen(dpop.origins)).toBe(true);
    });

    it('has no trusted proxies and no certificate header', () => {
      const options = resolve({});
      expect(options.trustedProxies).toEqual([]);
      expect(options.clientCertificateHeader).toBeUndefined();
    });
  });

  describe('nonce', () => {
    it('is off unless asked for', () => {
      expect(resolve({ dpop: {} }).dpop.nonce).toBeUndefined();
      expect(resolve({ dpop: { nonce: false } }).dpop.nonce).toBeUndefined();
    });

    it('is off when DPoP is off, whatever it says', () => {
      expect(
        resolve({ dpop: { mode: 'off', nonce: true } }).dpop.nonce,
      ).toBeUndefined();
    });

    it('takes a random 32-byte key per resolution when true', () => {
      const a = resolve({ dpop: { nonce: true } }).dpop.nonce;
      const b = resolve({ dpop: { nonce: true } }).dpop.nonce;
      expect(a?.secret).toHaveLength(32);
      expect(a?.lifetime).toBe(300);
      expect(a?.secret.equals(b?.secret ?? Buffer.alloc(0))).toBe(false);
    });

    it('takes the secret it is given, as UTF-8', () => {
      const secret = `${SECRET}é`;
      const nonce = resolve({ dpop: { nonce: { secret, lifetime: 60 } } }).dpop
        .nonce;
      expect(nonce?.secret).toEqual(Buffer.from(secret, 'utf8'));
      expect(nonce?.lifetime).toBe(60);
    });

    it.each([10, 86_400])('accepts a lifetime of %d seconds', (lifetime) => {
      expect(
        resolve({ dpop: { nonce: { lifetime } } }).dpop.nonce?.lifetime,
      ).toBe(lifetime);
    });
  });

  describe('algorithms', () => {
    it('keeps each algorithm once, in order', () => {
      expect(
        resolve({ dpop: { algorithms: ['PS256', 'ES256', 'PS256'] } }).dpop
          .algorithms,
      ).toEqual(['PS256', 'ES256']);
    });

    it('accepts every asymmetric algorithm', () => {
      expect(
        resolve({ dpop: { algorithms: [...ASYMMETRIC_ALGORITHMS] } }).dpop
          .algorithms,
      ).toEqual([...ASYMMETRIC_ALGORITHMS]);
    });
  });

  describe('origins', () => {
    it('keeps the origin of each, without the default port or a trailing slash', () => {
      expect(
        resolve({
          dpop: {
            origins: [
              'https://API.example.com:443/',
              'http://localhost:3000',
              'https://api.example.com:8443',
            ],
          },
        }).dpop.origins,
      ).toEqual([
        'https://api.example.com',
        'http://localhost:3000',
        'https://api.example.com:8443',
      ]);
    });

    it('takes a single string', () => {
      expect(
        resolve({ dpop: { origins: 'https://api.example.com' } }).dpop.origins,
      ).toEqual(['https://api.example.com']);
    });
  });

  describe('refusals', () => {
    it.each([
      [{ dpop: { mode: 'allowed', window: 60 } }, 'dpop.window'],
      [{ dpop: { nonce: { secret: SECRET, ttl: 60 } } }, 'dpop.nonce.ttl'],
    ])('refuses an unknown key (%j)', (extra, option) => {
      expectRefused(extra, option, 'is not a known option.');
    });

    it.each([
      ['a string', 'sometimes'],
      ['in another case', 'Required'],
      ['an object mode', { mode: 'on' }],
      ['a boolean mode', { mode: true }],
    ])('refuses a mode that is %s', (_name, dpop) => {
      expectRefused(
        { dpop },
        'dpop.mode',
        'must be "off", "allowed" or "required".',
      );
    });

    it.each([
      ['a number', 1],
      ['true', true],
      ['null', null],
      ['an array', ['required']],
    ])('refuses a dpop that is %s', (_name, dpop) => {
      expectRefused({ dpop }, 'dpop', 'must be an object.');
    });

    it.each([[['header', 'body']], [['header', 'query']], [['body']]])(
      'refuses required with tokenLocations %j',
      (tokenLocations) => {
        expectRefused(
          { dpop: 'required', tokenLocations },
          'tokenLocations',
          'must be ["header"] when dpop.mode is "required": DPoP tokens travel only in the Authorization header.',
        );
      },
    );

    it('allows other token locations when DPoP is only allowed', () => {
      expect(
        resolve({ dpop: 'allowed', tokenLocations: ['header', 'body'] }).dpop
          .mode,
      ).toBe('allowed');
      expect(
        resolve({ dpop: 'required', tokenLocations: ['header'] }).dpop.mode,
      ).toBe('required');
    });

    it.each([
      ['empty', []],
      ['a string', 'ES256'],
    ])('refuses algorithms that are %s', (_name, algorithms) => {
      expectRefused(
        { dpop: { algorithms } },
        'dpop.algorithms',
        'must be a non-empty array.',
      );
    });

    it.each(['HS256', 'none', 'XX256', 'es256', 7])(
      'refuses the algorithm %j',
      (alg) => {
        expectRefused(
          { dpop: { algorithms: ['ES256', alg] } },
          'dpop.algorithms',
          `must contain only ${ASYMMETRIC_ALGORITHMS.join(', ')}.`,
        );
      },
    );

    it.each([
      'https://api.example.com/v1',
      'https://api.example.com/?a=1',
      'https://api.example.com/#top',
    ])('refuses the origin %j', (origin) => {
      expectRefused(
        { dpop: { origins: ['https://ok.example.com', origin] } },
        'dpop.origins',
        `must hold origins only (scheme, host and port), not "${origin}".`,
      );
    });

    it.each([
      'https://alice@api.example.com',
      'https://alice:secret@api.example.com',
    ])(
      'refuses the origin %j, as every URL option with credentials',
      (origin) => {
        expectRefused(
          { dpop: { origins: ['https://ok.example.com', origin] } },
          'dpop.origins',
          'must not carry a user name or password.',
        );
      },
    );

    it.each([
      ['not a URL', 'api.example.com', 'must be an absolute URL.'],
      [
        'another scheme',
        'wss://api.example.com',
        'must be an http: or https: URL.',
      ],
      ['empty', [], 'must not be an empty array.'],
      ['an empty string', [''], 'must not be an empty string.'],
    ])('refuses origins that are %s', (_name, origins, problem) => {
      expectRefused({ dpop: { origins } }, 'dpop.origins', problem);
    });

    it.each([
      ['too short', 'n'.repeat(31)],
      ['a number', 12345],
      ['a Buffer', Buffer.alloc(32)],
    ])('refuses a nonce secret that is %s', (_name, secret) => {
      expectRefused(
        { dpop: { nonce: { secret } } },
        'dpop.nonce.secret',
        'must be a string of at least 32 characters.',
      );
    });

    it.each(['yes', 1, null])('refuses a nonce of %j', (nonce) => {
      expectRefused({ dpop: { nonce } }, 'dpop.nonce', 'must be an object.');
    });

    it.each([9, 86_401, 0, -300])(
      'refuses a nonce lifetime of %d',
      (lifetime) => {
        expectRefused(
          { dpop: { nonce: { lifetime } } },
          'dpop.nonce.lifetime',
          'must be between 10 and 86400.',
        );
      },
    );

    it.each([Number.NaN, '300'])(
      'refuses a nonce lifetime of %j',
      (lifetime) => {
        expectRefused(
          { dpop: { nonce: { lifetime } } },
          'dpop.nonce.lifetime',
          'must be a finite number.',
        );
      },
    );

    it.each([0, 3601])('refuses an iatWindow of %d', (iatWindow) => {
      expectRefused(
        { dpop: { iatWindow } },
        'dpop.iatWindow',
        'must be between 1 and 3600.',
      );
    });
  });
});

describe('the trustedProxies option', () => {
  it('keeps IPv4 and IPv6 addresses', () => {
    expect(
      resolve({ trustedProxies: ['10.0.0.2', '::1', '2001:db8::2'] })
        .trustedProxies,
    ).toEqual(['10.0.0.2', '::1', '2001:db8::2']);
  });

  it.each([
    ['a host name', 'proxy.internal'],
    ['localhost', 'localhost'],
    ['a CIDR range', '10.0.0.0/8'],
    ['an IPv6 range', '2001:db8::/32'],
    ['an address with a port', '10.0.0.2:8080'],
    ['an empty string', ''],
    ['a number', 167772162],
  ])('refuses %s', (_name, address) => {
    expectRefused(
      { trustedProxies: ['10.0.0.2', address] },
      'trustedProxies',
      'must contain only IP addresses (no host names, no ranges).',
    );
  });

  it.each([
    ['a string', '10.0.0.2'],
    ['an object', { address: '10.0.0.2' }],
  ])('refuses %s instead of an array', (_name, trustedProxies) => {
    expectRefused(
      { trustedProxies },
      'trustedProxies',
      'must be an array of IP addresses.',
    );
  });
});

describe('the clientCertificateHeader option', () => {
  it('is kept in lower case', () => {
    expect(
      resolve({
        trustedProxies: ['10.0.0.2'],
        clientCertificateHeader: 'X-Client-Cert',
      }).clientCertificateHeader,
    ).toBe('x-client-cert');
  });

  it.each([[[]], [undefined]])(
    'needs trustedProxies (%j)',
    (trustedProxies) => {
      expectRefused(
        { trustedProxies, clientCertificateHeader: 'Client-Cert' },
        'clientCertificateHeader',
        'needs trustedProxies: the header is only believed from a proxy you list.',
      );
    },
  );

  it.each([
    ['a space', 'client cert'],
    ['a colon', 'client-cert:'],
    ['a newline', 'client-cert\r\nx-injected'],
    ['empty', ''],
    ['a non-ASCII letter', 'clïent-cert'],
    ['not a string', 42],
  ])('refuses a header name with %s', (_name, clientCertificateHeader) => {
    expectRefused(
      { trustedProxies: ['10.0.0.2'], clientCertificateHeader },
      'clientCertificateHeader',
      'must be a header name.',
    );
  });
});

describe('trustedProxies normalization', () => {
  it('compares entries as peer addresses are compared: lower case, IPv4-mapped as IPv4', () => {
    const resolved = resolveAuthOptions({
      issuer: 'https://issuer.example.com/',
      audience: 'api://x',
      trustedProxies: ['::FFFF:10.0.0.2', '2001:DB8::2', '127.0.0.1'],
    });
    expect(resolved.trustedProxies).toEqual([
      '10.0.0.2',
      '2001:db8::2',
      '127.0.0.1',
    ]);
  });
});
