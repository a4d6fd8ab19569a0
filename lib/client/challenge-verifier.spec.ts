import fc from 'fast-check';
import { formatChallenge, quoteString } from '../www-authenticate.js';
import {
  AZURE_AUTHORITY_HOSTS,
  verifyChallenge,
  type VerifyOptions,
  type VerifyResult,
} from './challenge-verifier.js';

// The seed's examples ("Errors from Secured Resources"), kept byte for byte: the typo host
// login.window.net, the double spaces and the trailing comma are part of the fixture.
const SEED_MISSING_TOKEN_HEADER =
  'Bearer authorization_uri="https://login.window.net/contoso.com/oauth2/authorize",  error="invalid_token",  error_description="The access token is missing.",';
// The expired-token response folds its header over two lines; unfolded here.
const SEED_EXPIRED_TOKEN_HEADER =
  'Bearer authorization_uri="https://login.window.net/contoso.com/oauth2/authorize", error="invalid_token", error_description="The access token is expired."';
const SEED_EXPIRED_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik5HVEZ2ZEstZnl0aEV1THdqcHdBSk9NOW4tQSJ9.eyJhdWQiOiJodHRwczovL3NlcnZpY2UuY29udG9zby5jb20vIiwiaXNzIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQvN2ZlODE0NDctZGE1Ny00Mzg1LWJlY2ItNmRlNTdmMjE0NzdlLyIsImlhdCI6MTM4ODQ0MDg2MywibmJmIjoxMzg4NDQwODYzLCJleHAiOjEzODg0NDQ3NjMsInZlciI6IjEuMCIsInRpZCI6IjdmZTgxNDQ3LWRhNTctNDM4NS1iZWNiLTZkZTU3ZjIxNDc3ZSIsIm9pZCI6IjY4Mzg5YWUyLTYyZmEtNGIxOC05MWZlLTUzZGQxMDlkNzRmNSIsInVwbiI6ImZyYW5rbUBjb250b3NvLmNvbSIsInVuaXF1ZV9uYW1lIjoiZnJhbmttQGNvbnRvc28uY29tIiwic3ViIjoiZGVOcUlqOUlPRTlQV0pXYkhzZnRYdDJFYWJQVmwwQ2o4UUFtZWZSTFY5OCIsImZhbWlseV9uYW1lIjoiTWlsbGVyIiwiZ2l2ZW5fbmFtZSI6IkZyYW5rIiwiYXBwaWQiOiIyZDRkMTFhMi1mODE0LTQ2YTctODkwYS0yNzRhNzJhNzMwOWUiLCJhcHBpZGFjciI6IjAiLCJzY3AiOiJ1c2VyX2ltcGVyc29uYXRpb24iLCJhY3IiOiIxIn0.JZw8jC0gptZxVC-7l5sFkdnJgP3_tRjeQEPgUn28XctVe3QqmheLZw7QVZDPCyGycDWBaqy7FLpSekET_BftDkewRhyHk9FW_KeEz0ch2c3i08NGNDbr6XYGVayNuSesYk5Aw_p3ICRlUV1bqEwk-Jkzs9EEkQg4hbefqJS6yS1HoV_2EsEhpd_wCQpxK89WPs3hLYZETRJtG5kvCCEOvSHXmDE6eTHGTnEgsIk--UlPe275Dvou4gEAwLofhLDQbMSjnlV5VLsjimNBVcSRFShoxmQwBJR_b2011Y5IuD6St5zPnzruBbZYkGNurQK63TJPWmRd3mbJsGM0mf3CUQ';
const SEED_RESOURCE_ID_TYPO = 'htttps://service.contoso.com/';

const API = 'https://service.contoso.com/data';
const TENANT = '7fe81447-da57-4385-becb-6de57f21477e';

function decodeClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(
    Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'),
  ) as Record<string, unknown>;
}

function verify(
  params: Record<string, string>,
  options: Partial<VerifyOptions> = {},
): VerifyResult {
  return verifyChallenge(formatChallenge(params), {
    requestUrl: API,
    ...options,
  });
}

function reasonOf(result: VerifyResult): string {
  return result.trusted ? 'trusted' : result.reason;
}

describe('verifyChallenge: the seed examples', () => {
  it('parses the missing-token header (trailing comma) and refuses its login.window.net host', () => {
    const result = verifyChallenge(SEED_MISSING_TOKEN_HEADER, {
      requestUrl: 'https://service.contoso.com/resource',
    });
    expect(result).toEqual({
      trusted: false,
      reason: 'authorization_uri_untrusted_host',
      message: expect.stringContaining('"login.window.net"'),
    });
  });

  it('reads the missing-token header when login.window.net is trusted explicitly', () => {
    const result = verifyChallenge(SEED_MISSING_TOKEN_HEADER, {
      requestUrl: 'https://service.contoso.com/resource',
      trustedAuthorityHosts: ['login.window.net'],
      expectedTenant: 'contoso.com',
    });
    expect(result).toEqual({
      trusted: true,
      challenge: {
        scheme: 'Bearer',
        authorizationUri:
          'https://login.window.net/contoso.com/oauth2/authorize',
        error: 'invalid_token',
        errorDescription: 'The access token is missing.',
        params: {
          authorization_uri:
            'https://login.window.net/contoso.com/oauth2/authorize',
          error: 'invalid_token',
          error_description: 'The access token is missing.',
        },
      },
    });
  });

  it('refuses the expired-token header on the default hosts, reads it when trusted', () => {
    const requestUrl = 'https://server.example.com/resource';
    expect(
      reasonOf(verifyChallenge(SEED_EXPIRED_TOKEN_HEADER, { requestUrl })),
    ).toBe('authorization_uri_untrusted_host');
    const result = verifyChallenge(SEED_EXPIRED_TOKEN_HEADER, {
      requestUrl,
      trustedAuthorityHosts: ['login.window.net'],
    });
    expect(result.trusted && result.challenge.errorDescription).toBe(
      'The access token is expired.',
    );
  });

  it('accepts a challenge built from the seed token: its audience as resource_id, its tenant', () => {
    const claims = decodeClaims(SEED_EXPIRED_TOKEN);
    expect(claims).toMatchObject({
      iss: `https://sts.windows.net/${TENANT}/`,
      ver: '1.0',
      tid: TENANT,
      scp: 'user_impersonation',
      aud: 'https://service.contoso.com/',
    });
    const result = verify(
      {
        authorization_uri: `https://login.windows.net/${String(claims.tid)}/oauth2/authorize`,
        resource_id: String(claims.aud),
        error: 'invalid_token',
        error_description: 'The access token is expired.',
      },
      { expectedTenant: TENANT },
    );
    expect(result.trusted && result.challenge.resourceId).toBe(
      'https://service.contoso.com/',
    );
  });

  it("rejects the seed's htttps://service.contoso.com/ resource id", () => {
    const result = verify({ resource_id: SEED_RESOURCE_ID_TYPO });
    expect(result).toEqual({
      trusted: false,
      reason: 'resource_id_mismatch',
      message: expect.stringContaining('https://service.contoso.com/'),
    });
  });
});

describe('verifyChallenge: finding the Bearer challenge', () => {
  it('reports a missing header or a header without a Bearer challenge', () => {
    for (const header of [undefined, null, '', '   ', 'Basic realm="x"']) {
      expect(reasonOf(verifyChallenge(header, { requestUrl: API }))).toBe(
        'no_bearer_challenge',
      );
    }
  });

  it('picks the Bearer challenge among several, matching the scheme case-insensitively', () => {
    const header = `Basic realm="basic", bEaReR realm="api", error="invalid_token", DPoP algs="ES256"`;
    const result = verifyChallenge(header, { requestUrl: API });
    expect(result.trusted && result.challenge).toEqual({
      scheme: 'Bearer',
      realm: 'api',
      error: 'invalid_token',
      params: { realm: 'api', error: 'invalid_token' },
    });
  });

  it('reads Headers and Response objects', () => {
    const headers = new Headers({ 'WWW-Authenticate': 'Bearer realm="api"' });
    expect(verifyChallenge(headers, { requestUrl: API }).trusted).toBe(true);
    const response = new Response(null, { status: 401, headers });
    expect(verifyChallenge(response, { requestUrl: API }).trusted).toBe(true);
    expect(reasonOf(verifyChallenge(new Headers(), { requestUrl: API }))).toBe(
      'no_bearer_challenge',
    );
  });

  it('refuses a malformed header and a token68 Bearer challenge', () => {
    expect(
      reasonOf(verifyChallenge('Bearer error="x', { requestUrl: API })),
    ).toBe('malformed_challenge');
    expect(reasonOf(verifyChallenge('Bearer abc==', { requestUrl: API }))).toBe(
      'malformed_challenge',
    );
  });

  it('types scope, claims, acr_values and max_age', () => {
    const claims =
      '{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}';
    const result = verify(
      {
        error: 'insufficient_scope',
        scope: 'read https://service.contoso.com/Files.Read',
        claims: Buffer.from(claims).toString('base64'),
        acr_values: 'c1 c2',
        max_age: '300',
      },
      { resource: 'api://files' },
    );
    expect(result.trusted && result.challenge).toMatchObject({
      error: 'insufficient_scope',
      scope: ['api://files/read', 'https://service.contoso.com/Files.Read'],
      claims,
      acrValues: ['c1', 'c2'],
      maxAge: 300,
    });
  });

  it('refuses bad scope, claims and max_age values', () => {
    const header = (extra: string): string => `Bearer realm="api", ${extra}`;
    const cases: [string, string][] = [
      ['scope="a  b"', 'scope_invalid'],
      ['scope="read \\"x\\""', 'scope_invalid'],
      ['claims="not base64!"', 'claims_invalid'],
      [`claims="${Buffer.from('[1]').toString('base64')}"`, 'claims_invalid'],
      ['claims="{nope"', 'claims_invalid'],
      ['max_age="-1"', 'max_age_invalid'],
      ['max_age="1e3"', 'max_age_invalid'],
    ];
    for (const [extra, reason] of cases) {
      expect([
        extra,
        reasonOf(verifyChallenge(header(extra), { requestUrl: API })),
      ]).toEqual([extra, reason]);
    }
  });
});

describe('verifyChallenge: authorization_uri', () => {
  const authorize = (host: string, path = `/${TENANT}/oauth2/v2.0/authorize`) =>
    `https://${host}${path}`;

  it.each(AZURE_AUTHORITY_HOSTS)('trusts %s by default', (host) => {
    expect(reasonOf(verify({ authorization_uri: authorize(host) }))).toBe(
      'trusted',
    );
  });

  it('trusts the sovereign clouds and refuses the retired German cloud by default', () => {
    expect(AZURE_AUTHORITY_HOSTS).toEqual(
      expect.arrayContaining([
        'login.microsoftonline.us',
        'login.partner.microsoftonline.cn',
        'login.chinacloudapi.cn',
        'sts.windows.net',
      ]),
    );
    expect(
      reasonOf(
        verify({ authorization_uri: authorize('login.microsoftonline.de') }),
      ),
    ).toBe('authorization_uri_untrusted_host');
  });

  it.each([
    [
      'http://login.microsoftonline.com/t/oauth2/authorize',
      'authorization_uri_not_https',
    ],
    [
      'https://login.microsoftonline.com.evil.com/t/',
      'authorization_uri_untrusted_host',
    ],
    [
      'https://evil-login.microsoftonline.com/t/',
      'authorization_uri_untrusted_host',
    ],
    [
      'https://xlogin.microsoftonline.com/t/',
      'authorization_uri_untrusted_host',
    ],
    [
      'https://login.microsoftonline.com./t/',
      'authorization_uri_untrusted_host',
    ],
    ['https://login.windows.net@evil.com/t/', 'authorization_uri_has_userinfo'],
    ['https://evil.com@login.windows.net/t/', 'authorization_uri_has_userinfo'],
    ['https://login.windows.net:8443/t/', 'authorization_uri_bad_port'],
    ['https:\\\\login.windows.net/t/', 'authorization_uri_invalid'],
    ['https:login.windows.net/t/', 'authorization_uri_invalid'],
    ['https://login%2Ewindows.net/t/', 'authorization_uri_invalid'],
    ['https://login.windows.net /t/', 'authorization_uri_invalid'],
    ['/t/oauth2/authorize', 'authorization_uri_invalid'],
  ])('refuses %s (%s)', (uri, reason) => {
    expect(reasonOf(verify({ authorization_uri: uri }))).toBe(reason);
  });

  it('accepts an upper-case host and the explicit default port', () => {
    expect(
      reasonOf(
        verify({ authorization_uri: 'HTTPS://LOGIN.MicrosoftOnline.com/t/' }),
      ),
    ).toBe('trusted');
    expect(
      reasonOf(
        verify({ authorization_uri: 'https://login.windows.net:443/t/' }),
      ),
    ).toBe('trusted');
  });

  it('uses trustedAuthorityHosts instead of the Azure list', () => {
    const options = { trustedAuthorityHosts: ['id.example.com'] };
    expect(
      reasonOf(
        verify(
          { authorization_uri: 'https://id.example.com/authorize' },
          options,
        ),
      ),
    ).toBe('trusted');
    expect(
      reasonOf(
        verify(
          { authorization_uri: authorize('login.microsoftonline.com') },
          options,
        ),
      ),
    ).toBe('authorization_uri_untrusted_host');
  });

  it('refuses trustedAuthorityHosts entries that are not host names', () => {
    for (const host of [
      'https://id.example.com',
      'id.example.com/x',
      'a@b',
      'h:8443',
      '',
    ]) {
      expect(() => verify({}, { trustedAuthorityHosts: [host] })).toThrow(
        TypeError,
      );
    }
  });

  it('requires the expected tenant, never a multi-tenant alias', () => {
    const options = { expectedTenant: TENANT };
    const host = 'login.microsoftonline.com';
    expect(
      reasonOf(verify({ authorization_uri: authorize(host) }, options)),
    ).toBe('trusted');
    expect(
      reasonOf(
        verify(
          {
            authorization_uri: authorize(
              host,
              `/${TENANT.toUpperCase()}/oauth2/authorize`,
            ),
          },
          options,
        ),
      ),
    ).toBe('trusted');
    for (const alias of ['common', 'organizations', 'Consumers']) {
      expect(
        reasonOf(
          verify(
            {
              authorization_uri: authorize(host, `/${alias}/oauth2/authorize`),
            },
            options,
          ),
        ),
      ).toBe('authorization_uri_not_tenant_specific');
    }
    expect(
      reasonOf(verify({ authorization_uri: `https://${host}` }, options)),
    ).toBe('authorization_uri_not_tenant_specific');
    expect(
      reasonOf(
        verify(
          {
            authorization_uri: authorize(
              host,
              '/fabrikam.com/oauth2/authorize',
            ),
          },
          options,
        ),
      ),
    ).toBe('authorization_uri_wrong_tenant');
    // Without an expected tenant, any tenant segment is accepted.
    expect(
      reasonOf(verify({ authorization_uri: authorize(host, '/common/') })),
    ).toBe('trusted');
  });

  it.each([
    `/${TENANT}/../common/oauth2/authorize`,
    `/${TENANT}/%2E%2e/fabrikam.com/oauth2/authorize`,
    `/${TENANT}/./../common`,
    `/${TENANT}/..?x=1`,
  ])(
    'refuses dot segments that would move the path off the tenant: %s',
    (path) => {
      expect(
        reasonOf(
          verify(
            { authorization_uri: authorize('login.microsoftonline.com', path) },
            { expectedTenant: TENANT },
          ),
        ),
      ).toBe('authorization_uri_invalid');
    },
  );

  it('keeps dots that are not whole segments', () => {
    expect(
      reasonOf(
        verify({
          authorization_uri: authorize(
            'login.microsoftonline.com',
            `/${TENANT}/oauth2/v2.0/..authorize.?next=/../x`,
          ),
        }),
      ),
    ).toBe('trusted');
  });
});

describe('verifyChallenge: resource_id', () => {
  it.each([
    'https://service.contoso.com/',
    'https://service.contoso.com',
    'https://service.contoso.com/data',
    'HTTPS://Service.Contoso.COM/',
    'https://service.contoso.com:443/',
  ])('accepts %s', (id) => {
    expect(reasonOf(verify({ resource_id: id }))).toBe('trusted');
  });

  it.each([
    'https://service.contoso.com.evil.com/',
    'https://service.contoso.community/',
    'https://service.contoso.com:8443/',
    'http://service.contoso.com/',
    'https://service.contoso.com@evil.com/',
    'https://evil.com/https://service.contoso.com/',
    'https://service.contoso.com?x=1',
    'api://2d4d11a2-f814-46a7-890a-274a72a7309e',
    'service.contoso.com',
    '',
  ])('rejects %s', (id) => {
    expect(reasonOf(verify({ resource_id: id }))).toBe('resource_id_mismatch');
  });

  it('accepts an allowed resource id exactly, with scopes under it', () => {
    const id = 'api://2d4d11a2-f814-46a7-890a-274a72a7309e';
    const options = { allowedResourceIds: [id] };
    expect(
      reasonOf(
        verify({ resource_id: id, scope: `${id}/user_impersonation` }, options),
      ),
    ).toBe('trusted');
    expect(reasonOf(verify({ resource_id: `${id}x` }, options))).toBe(
      'resource_id_mismatch',
    );
  });

  it('compares with the port of a non-default request URL', () => {
    const options = { requestUrl: 'http://127.0.0.1:8080/orders' };
    expect(
      reasonOf(verify({ resource_id: 'http://127.0.0.1:8080/' }, options)),
    ).toBe('trusted');
    expect(
      reasonOf(verify({ resource_id: 'http://127.0.0.1/' }, options)),
    ).toBe('resource_id_mismatch');
  });

  it('refuses scopes of another resource', () => {
    for (const scope of [
      'https://graph.microsoft.com/Mail.Read',
      'https://service.contoso.com.evil.com/x',
      'api://other/user_impersonation',
    ]) {
      expect(
        reasonOf(
          verify(
            { error: 'insufficient_scope', scope },
            { resource: 'api://files' },
          ),
        ),
      ).toBe('scope_untrusted_resource');
    }
    expect(
      reasonOf(
        verify(
          { scope: 'openid read https://service.contoso.com/Files.Read' },
          { resource: 'api://files' },
        ),
      ),
    ).toBe('trusted');
  });

  it('throws TypeError for a request URL that is not absolute http(s)', () => {
    expect(() =>
      verifyChallenge('Bearer', { requestUrl: '/relative' }),
    ).toThrow(TypeError);
    expect(() => verifyChallenge('Bearer', { requestUrl: 'ftp://x/' })).toThrow(
      TypeError,
    );
  });
});

describe('verifyChallenge: properties', () => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
  const trusted = fc.constantFrom(...AZURE_AUTHORITY_HOSTS);
  // Hosts close to trusted ones: extra labels before or after, a changed character.
  const nearHost = fc.oneof(
    fc.tuple(trusted, label).map(([h, l]) => `${h}.${l}`),
    fc.tuple(label, trusted).map(([l, h]) => `${l}${h}`),
    fc.tuple(label, trusted).map(([l, h]) => `${l}.${h}`),
    fc
      .tuple(trusted, fc.nat(), fc.constantFrom('x', '-', '0', '.'))
      .map(([h, i, c]) => {
        const at = i % h.length;
        return h.slice(0, at) + c + h.slice(at + 1);
      }),
    fc.domain(),
  );

  it('never trusts an authorization_uri host unless it is exactly a trusted host', () => {
    fc.assert(
      fc.property(nearHost, label, (host, tenant) => {
        const result = verify({
          authorization_uri: `https://${host}/${tenant}/oauth2/authorize`,
        });
        expect(result.trusted).toBe(
          AZURE_AUTHORITY_HOSTS.includes(host.toLowerCase()),
        );
      }),
      { numRuns: 400 },
    );
  });

  it('trusts an arbitrary URL only when it is https on a trusted host, port and no userinfo', () => {
    const url = fc.oneof(
      fc.webUrl({
        authoritySettings: { withPort: true, withUserInfo: true },
        withQueryParameters: true,
        withFragments: true,
      }),
      fc
        .tuple(fc.constantFrom('https', 'http', 'HTTPS'), trusted, fc.webPath())
        .map(([scheme, host, path]) => `${scheme}://${host}${path}`),
    );
    fc.assert(
      fc.property(url, (uri) => {
        const result = verify({ authorization_uri: uri });
        if (!result.trusted) return;
        const parsed = new URL(uri);
        expect(parsed.protocol).toBe('https:');
        expect(parsed.port).toBe('');
        expect(parsed.username + parsed.password).toBe('');
        expect(AZURE_AUTHORITY_HOSTS).toContain(parsed.hostname);
      }),
      { numRuns: 400 },
    );
  });

  it('rejects a resource_id that has the base URL as a string prefix but not a segment prefix', () => {
    // Printable ASCII, so that every generated value reaches the header unchanged.
    const printable = fc
      .integer({ min: 0x20, max: 0x7e })
      .map((c) => String.fromCharCode(c));
    const suffix = fc
      .string({ unit: printable, minLength: 1, maxLength: 12 })
      .filter((s) => !s.startsWith('/') && !/^:443(\/|$)/.test(s));
    fc.assert(
      fc.property(fc.webUrl(), suffix, (requestUrl, tail) => {
        const origin = new URL(requestUrl).origin;
        const result = verifyChallenge(
          `Bearer resource_id=${quoteString(origin + tail)}`,
          { requestUrl },
        );
        expect(reasonOf(result)).toBe('resource_id_mismatch');
      }),
      { numRuns: 400 },
    );
  });

  it('accepts a resource_id of the base URL followed by any path', () => {
    fc.assert(
      fc.property(fc.webUrl(), fc.webPath(), (requestUrl, path) => {
        const origin = new URL(requestUrl).origin;
        const result = verifyChallenge(
          formatChallenge({ resource_id: origin + path }),
          { requestUrl },
        );
        expect(reasonOf(result)).toBe('trusted');
      }),
      { numRuns: 200 },
    );
  });

  it('returns a result, never throws, for any header value', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.stringMatching(
            /^(Bearer|Basic)( [a-z_]{1,8}=("[^"]{0,12}"|[a-z]{1,5}),?){0,3}$/,
          ),
        ),
        (header) => {
          const result = verifyChallenge(header, { requestUrl: API });
          expect(typeof result.trusted).toBe('boolean');
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('verifyChallenge: repeated parameters', () => {
  it('refuses a challenge that names resource_id twice', () => {
    const result = verifyChallenge(
      'Bearer resource_id="https://service.contoso.com/", resource_id="https://evil.example/"',
      { requestUrl: 'https://service.contoso.com/data' },
    );
    expect(result).toMatchObject({
      trusted: false,
      reason: 'malformed_challenge',
    });
  });
});

describe("verifyChallenge: scopes only of the API's own resource", () => {
  const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
  const ORDERS = 'api://orders';
  const scopesOf = (
    scope: string,
    options: Partial<VerifyOptions> = {},
  ): string[] | string => {
    const result = verify({ error: 'insufficient_scope', scope }, options);
    return result.trusted ? (result.challenge.scope ?? []) : result.reason;
  };

  it.each([
    ['a Microsoft Graph URI', 'https://graph.microsoft.com/Mail.Read'],
    ['another App ID URI', 'api://other/x'],
    ['Graph by its application id', `${GRAPH_APP_ID}/.default`],
    [
      'Graph by its application id, upper case',
      `${GRAPH_APP_ID.toUpperCase()}/Mail.Read`,
    ],
    [
      'another application id',
      '6e4f4c30-7d6a-4b61-9f4c-1b2e3d4c5b6a/Orders.Read',
    ],
    ['a host without a scheme', 'graph.microsoft.com/Mail.Read'],
    ['a scheme-relative URI', '//graph.microsoft.com/Mail.Read'],
    ['an App ID URI that only starts like ours', 'api://orders-admin/x'],
    ['dot segments out of our resource', 'api://orders/../other/x'],
    ['encoded dot segments out of our resource', 'api://orders/%2E%2e/other/x'],
    ['dot segments under the base URL', 'https://service.contoso.com/../x'],
  ])('refuses a scope of %s', (_what, scope) => {
    expect(scopesOf(`Orders.Read ${scope}`, { resource: ORDERS })).toBe(
      'scope_untrusted_resource',
    );
  });

  it('qualifies a bare scope with the resource, keeps qualified scopes of the API', () => {
    expect(
      scopesOf(
        'Orders.Read api://orders/Orders.Write https://service.contoso.com/Files.Read .default',
        { resource: ORDERS },
      ),
    ).toEqual([
      'api://orders/Orders.Read',
      'api://orders/Orders.Write',
      'https://service.contoso.com/Files.Read',
      'api://orders/.default',
    ]);
  });

  it('refuses a bare scope when the resource is not configured', () => {
    for (const scope of ['Mail.Read', 'api://orders/x Mail.Read']) {
      const result = verify(
        { error: 'insufficient_scope', scope },
        { allowedResourceIds: [ORDERS] },
      );
      expect(result).toEqual({
        trusted: false,
        reason: 'scope_resource_unknown',
        message: expect.stringContaining('"Mail.Read"'),
      });
    }
    // Qualified scopes of the API need no resource option.
    expect(
      scopesOf('api://orders/x https://service.contoso.com/y', {
        allowedResourceIds: [ORDERS],
      }),
    ).toEqual(['api://orders/x', 'https://service.contoso.com/y']);
  });

  it('qualifies the Entra way for a resource with a trailing slash or an application id', () => {
    expect(
      scopesOf('user_impersonation', {
        resource: 'https://management.azure.com/',
        requestUrl: 'https://management.azure.com/subscriptions',
      }),
    ).toEqual(['https://management.azure.com//user_impersonation']);
    const appId = '6e4f4c30-7d6a-4b61-9f4c-1b2e3d4c5b6a';
    expect(
      scopesOf(`Orders.Read ${appId}/Orders.Write`, { resource: appId }),
    ).toEqual([`${appId}/Orders.Read`, `${appId}/Orders.Write`]);
    // The application id of the API does not make Graph's acceptable.
    expect(scopesOf(`${GRAPH_APP_ID}/.default`, { resource: appId })).toBe(
      'scope_untrusted_resource',
    );
  });

  it('accepts scopes under the verified resource_id and resource as resource_id', () => {
    expect(
      verify(
        {
          resource_id: ORDERS,
          error: 'insufficient_scope',
          scope: 'api://orders/x y',
        },
        { resource: ORDERS },
      ),
    ).toMatchObject({
      trusted: true,
      challenge: {
        resourceId: ORDERS,
        scope: ['api://orders/x', 'api://orders/y'],
      },
    });
    expect(
      reasonOf(verify({ resource_id: 'api://other' }, { resource: ORDERS })),
    ).toBe('resource_id_mismatch');
  });

  it('keeps the scope as sent in params', () => {
    const result = verify(
      { error: 'insufficient_scope', scope: 'Orders.Read' },
      { resource: ORDERS },
    );
    expect(result.trusted && result.challenge.params.scope).toBe('Orders.Read');
  });

  it.each([
    ['', /non-empty string/],
    ['orders', /absolute URI or an application id/],
    ['api://orders/x y', /character/],
    ['api://orders"', /character/],
    ['https://api.example.com/?x=1', /query or a fragment/],
    ['https://api.example.com/#x', /query or a fragment/],
    ['api://orders/../graph', /segment/],
    ['https:\\\\api.example.com', /character/],
  ])(
    'refuses resource %p with a TypeError that names it',
    (resource, message) => {
      expect(() => verify({}, { resource })).toThrow(TypeError);
      expect(() => verify({}, { resource })).toThrow(message);
      expect(() => verify({}, { resource })).toThrow(/^resource/);
    },
  );

  it('never lets a scope through that names another resource (property)', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._%-]{1,10}$/);
    const foreign = fc.oneof(
      fc
        .tuple(fc.webUrl(), segment)
        .map(([u, s]) => `${u.replace(/[?#].*$/, '')}/${s}`),
      fc.tuple(fc.uuid(), segment).map(([id, s]) => `${id}/${s}`),
      fc.tuple(segment, segment).map(([a, s]) => `api://${a}/${s}`),
    );
    fc.assert(
      fc.property(foreign, (scope) => {
        fc.pre(isSafeScopeText(scope));
        const result = verify(
          { error: 'insufficient_scope', scope },
          { resource: ORDERS },
        );
        if (!result.trusted) return;
        // Trusted only when it is really the API's: under its base URL or under api://orders/.
        const [kept] = result.challenge.scope ?? [];
        expect(
          kept.startsWith('https://service.contoso.com/') ||
            kept.startsWith('api://orders/'),
        ).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

function isSafeScopeText(value: string): boolean {
  return /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(value);
}

describe('verifyChallenge: DPoP challenges (RFC 9449 section 7.1)', () => {
  const dpop = (
    header: Parameters<typeof verifyChallenge>[0],
    options: Partial<VerifyOptions> = {},
  ) =>
    verifyChallenge(header, {
      requestUrl: API,
      schemes: ['DPoP', 'Bearer'],
      ...options,
    });

  it('ignores DPoP challenges by default, as before', () => {
    expect(
      reasonOf(verifyChallenge('DPoP algs="ES256"', { requestUrl: API })),
    ).toBe('no_bearer_challenge');
  });

  it('reads a DPoP challenge alone, with its algs', () => {
    expect(dpop('DPoP error="invalid_token", algs="ES256 EdDSA"')).toEqual({
      trusted: true,
      challenge: {
        scheme: 'DPoP',
        error: 'invalid_token',
        algs: ['ES256', 'EdDSA'],
        params: { error: 'invalid_token', algs: 'ES256 EdDSA' },
      },
    });
    expect(reasonOf(dpop('dpop algs="ES256"'))).toBe('trusted');
  });

  it('takes the error from whichever challenge carries it, in one field or two', () => {
    const both = [
      'Bearer realm="api", DPoP error="use_dpop_nonce", algs="ES256"',
      'Bearer realm="api", error="insufficient_scope", scope="api://orders/x", DPoP algs="ES256"',
    ];
    expect(dpop(both[0])).toMatchObject({
      trusted: true,
      challenge: { scheme: 'DPoP', error: 'use_dpop_nonce', algs: ['ES256'] },
    });
    expect(dpop(both[1], { resource: 'api://orders' })).toMatchObject({
      trusted: true,
      challenge: {
        scheme: 'Bearer',
        error: 'insufficient_scope',
        scope: ['api://orders/x'],
      },
    });
    // Two WWW-Authenticate fields, as Headers joins them.
    const headers = new Headers();
    headers.append('WWW-Authenticate', 'Bearer realm="api"');
    headers.append(
      'WWW-Authenticate',
      'DPoP error="invalid_dpop_proof", algs="ES256"',
    );
    expect(dpop(headers)).toMatchObject({
      trusted: true,
      challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' },
    });
  });

  it('prefers the first listed scheme when both or neither carry an error', () => {
    const neither = 'Bearer realm="a", DPoP realm="b", algs="ES256"';
    expect(dpop(neither)).toMatchObject({
      challenge: { scheme: 'DPoP', realm: 'b' },
    });
    expect(dpop(neither, { schemes: ['Bearer', 'DPoP'] })).toMatchObject({
      challenge: { scheme: 'Bearer', realm: 'a' },
    });
    const both =
      'Bearer error="invalid_token", DPoP error="invalid_dpop_proof"';
    expect(dpop(both)).toMatchObject({
      challenge: { error: 'invalid_dpop_proof' },
    });
  });

  it('checks every challenge of an accepted scheme: one untrusted one is enough to refuse', () => {
    const evil = `https://login.evil.example/${TENANT}/oauth2/authorize`;
    expect(
      reasonOf(
        dpop(`Bearer authorization_uri="${evil}", DPoP error="use_dpop_nonce"`),
      ),
    ).toBe('authorization_uri_untrusted_host');
    expect(
      reasonOf(
        dpop(
          'Bearer realm="a", DPoP error="insufficient_scope", scope="https://graph.microsoft.com/Mail.Read"',
        ),
      ),
    ).toBe('scope_untrusted_resource');
    expect(
      reasonOf(
        verifyChallenge(
          `Bearer realm="a", Bearer authorization_uri="${evil}"`,
          { requestUrl: API },
        ),
      ),
    ).toBe('authorization_uri_untrusted_host');
    expect(reasonOf(dpop('Bearer realm="a", DPoP abc=='))).toBe(
      'malformed_challenge',
    );
    expect(reasonOf(dpop('DPoP algs="ES256", ALGS="none"'))).toBe(
      'malformed_challenge',
    );
  });

  it('refuses algs that is not a list of algorithm names', () => {
    for (const algs of ['ES256  EdDSA', ' ES256', 'ES256 ', 'ES\\"256']) {
      expect([algs, reasonOf(dpop(`DPoP algs=${quoteString(algs)}`))]).toEqual([
        algs,
        'algs_invalid',
      ]);
    }
    // algs means nothing on a Bearer challenge: kept as sent, not typed.
    expect(dpop('Bearer algs=" x"')).toMatchObject({
      trusted: true,
      challenge: { scheme: 'Bearer', params: { algs: ' x' } },
    });
  });

  it('refuses bad schemes options with a TypeError that names them', () => {
    for (const schemes of [[], ['Basic'], ['DPoP', 'DPoP'], 'DPoP']) {
      expect(() =>
        verifyChallenge('Bearer', {
          requestUrl: API,
          schemes: schemes as VerifyOptions['schemes'],
        }),
      ).toThrow(/^schemes/);
    }
  });

  it('says which schemes it looked for', () => {
    expect(dpop('Basic realm="x"')).toEqual({
      trusted: false,
      reason: 'no_bearer_challenge',
      message: 'The WWW-Authenticate header has no DPoP or Bearer challenge.',
    });
  });
});
